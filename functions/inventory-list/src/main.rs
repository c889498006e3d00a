//! `GET /v1/stores/{store_id}/inventory`: the `inventory-list` Lambda function. The handler is
//! `catalog_core::api::routes::INVENTORY_LIST`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::INVENTORY_LIST).await
}
