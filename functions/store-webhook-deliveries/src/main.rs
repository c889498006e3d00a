//! `GET /v1/stores/{store_id}/webhooks/{webhook_id}/deliveries`: the `store-webhook-deliveries` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_WEBHOOK_DELIVERIES`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_WEBHOOK_DELIVERIES).await
}
