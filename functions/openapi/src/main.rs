//! `GET /v1/openapi.json`: the `openapi` Lambda function. The handler is
//! `catalog_core::api::routes::OPENAPI`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::OPENAPI).await
}
