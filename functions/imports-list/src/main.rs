//! `GET /v1/stores/{store_id}/imports`: the `imports-list` Lambda function. The handler is
//! `catalog_core::api::routes::IMPORTS_LIST`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::IMPORTS_LIST).await
}
