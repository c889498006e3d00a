//! `GET /v1/stores/{store_id}/webhooks`: the `store-webhooks-list` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_WEBHOOKS_LIST`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_WEBHOOKS_LIST).await
}
