//! `GET /v1/health/ready`: the `health-ready` Lambda function. The handler is
//! `catalog_core::api::routes::HEALTH_READY`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::HEALTH_READY).await
}
