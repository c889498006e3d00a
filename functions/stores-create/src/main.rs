//! `POST /v1/stores`: the `stores-create` Lambda function. The handler is
//! `catalog_core::api::routes::STORES_CREATE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORES_CREATE).await
}
