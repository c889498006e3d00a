//! `DELETE /v1/stores/{store_id}/webhooks/{webhook_id}`: the `store-webhooks-delete` Lambda function. The handler is
//! `catalog_core::api::routes::STORE_WEBHOOKS_DELETE`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run(&catalog_core::api::routes::STORE_WEBHOOKS_DELETE).await
}
