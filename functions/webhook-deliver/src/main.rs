//! The `webhook-deliver` Lambda function: the catalog's events (forwarded by the event bus's
//! rule to the webhooks' queue) are delivered to the stores' webhooks, and a schedule every
//! minute attempts the retries that came due. The handler is
//! `catalog_core::triggers::WEBHOOK_DELIVER`.

#[tokio::main]
async fn main() -> Result<(), catalog_core::lambda::Error> {
    catalog_core::lambda::run_trigger(&catalog_core::triggers::WEBHOOK_DELIVER).await
}
