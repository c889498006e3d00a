//! The local runtime's event bus: what EventBridge, its rule and the webhooks' queue are in
//! AWS. An event is passed on (the log, a test's recorder) and fanned out into its deliveries
//! before `publish` returns, so an event announced is never lost between the two (the caller
//! announces again when `publish` fails, and a delivery is written once); then the delivery
//! loop is woken to attempt them.

use std::sync::Arc;

use async_trait::async_trait;

use super::fan_out;
use crate::domain::Event;
use crate::ports::{Events, StorageResult, WebhookStore};

pub struct WebhookBus {
    inner: Arc<dyn Events>,
    store: Arc<dyn WebhookStore>,
    wake: Arc<tokio::sync::Notify>,
}

impl WebhookBus {
    /// Events go to `inner` and to the webhooks in `store`; `wake` is notified when deliveries
    /// are due.
    pub fn new(
        inner: Arc<dyn Events>,
        store: Arc<dyn WebhookStore>,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        WebhookBus { inner, store, wake }
    }
}

#[async_trait]
impl Events for WebhookBus {
    async fn publish(&self, event: &Event) -> StorageResult<()> {
        self.inner.publish(event).await?;
        if !fan_out(self.store.as_ref(), event).await?.is_empty() {
            self.wake.notify_one();
        }
        Ok(())
    }

    async fn run_again(&self, message: serde_json::Value) -> StorageResult<()> {
        self.inner.run_again(message).await
    }
}
