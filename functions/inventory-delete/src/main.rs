//! `DELETE /v1/stores/{store_id}/inventory/{product_id}`: the `inventory-delete` Lambda function. The handler is
//! `catalog_core::api::routes::INVENTORY_DELETE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::INVENTORY_DELETE).await
}
