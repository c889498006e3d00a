//! `GET /v1/stores/{store_id}`: the `stores-get` Lambda function. The handler is
//! `catalog_core::api::routes::STORES_GET`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORES_GET).await
}
