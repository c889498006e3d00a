//! `GET /v1/health`: the `health` Lambda function. The handler is
//! `catalog_core::api::routes::HEALTH`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::HEALTH).await
}
