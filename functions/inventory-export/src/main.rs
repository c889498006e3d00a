//! `GET /v1/stores/{store_id}/inventory/export`: the `inventory-export` Lambda function. The handler is
//! `catalog_core::api::routes::INVENTORY_EXPORT`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::INVENTORY_EXPORT).await
}
