//! `POST /v1/products/{product_id}/images`: the `products-image-upload` Lambda function. The handler is
//! `catalog_core::api::routes::PRODUCTS_IMAGE_UPLOAD`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::PRODUCTS_IMAGE_UPLOAD).await
}
