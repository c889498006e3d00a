//! `POST /v1/scan`: the `scan` Lambda function. The handler is
//! `catalog_core::api::routes::SCAN`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::SCAN).await
}
