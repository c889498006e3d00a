//! `GET /v1/stores/{store_id}/inventory/{product_id}/movements`: the `inventory-movements` Lambda function. The handler is
//! `catalog_core::api::routes::INVENTORY_MOVEMENTS`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::INVENTORY_MOVEMENTS).await
}
