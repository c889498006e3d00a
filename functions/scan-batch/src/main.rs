//! `POST /v1/scan/batch`: the `scan-batch` Lambda function. The handler is
//! `catalog_core::api::routes::SCAN_BATCH`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::SCAN_BATCH).await
}
