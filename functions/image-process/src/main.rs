//! The `image-process` Lambda function: S3 notifications of uploaded product images (through
//! the image queue) are processed into the product's image. The handler is
//! `catalog_core::triggers::IMAGE_PROCESS`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::IMAGE_PROCESS).await
}
