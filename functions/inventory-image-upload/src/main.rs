//! `POST /v1/stores/{store_id}/inventory/{product_id}/images`: the `inventory-image-upload`
//! Lambda function. The handler is `catalog_core::api::routes::INVENTORY_IMAGE_UPLOAD`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::INVENTORY_IMAGE_UPLOAD).await
}
