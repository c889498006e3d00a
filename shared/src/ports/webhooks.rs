//! The webhooks ports: where a store's webhooks and their deliveries are kept, and the door
//! deliveries leave by.
//!
//! Owns what the adapters promise: an event is delivered to a webhook once (a delivery is
//! inserted only if its id is new), a delivery changes only from the version it was read at
//! (two runs racing to attempt it: one wins the claim), and the due deliveries can be found
//! without reading the others.

use async_trait::async_trait;

use super::{Page, PageQuery, StorageResult};
use crate::domain::{Delivery, StoreId, Timestamp, Webhook, WebhookId};

/// Webhooks and deliveries are kept with the accounts (one table, one adapter).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// `AlreadyExists` when the id is taken in the store.
    async fn insert_webhook(&self, webhook: &Webhook) -> StorageResult<()>;
    async fn get_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<Option<Webhook>>;
    /// Every webhook of the store (at most [`crate::domain::webhook::MAX_WEBHOOKS`] in
    /// practice), in any order.
    async fn webhooks_of(&self, store: &StoreId) -> StorageResult<Vec<Webhook>>;
    /// `NotFound` when there is no such webhook. Its deliveries stay until they expire.
    async fn delete_webhook(&self, store: &StoreId, id: &WebhookId) -> StorageResult<()>;

    /// `AlreadyExists` when a delivery with its id is there (the event was announced before).
    async fn insert_delivery(&self, delivery: &Delivery) -> StorageResult<()>;
    /// Replaces the delivery if it is still at `next.version - 1`; otherwise
    /// `VersionConflict` (another run changed it), or `NotFound` when it expired.
    async fn update_delivery(&self, next: &Delivery) -> StorageResult<()>;
    /// The webhook's deliveries, the newest event first, kept
    /// [`crate::domain::webhook::DELIVERIES_KEPT`] (or a little longer).
    async fn deliveries_of(
        &self,
        store: &StoreId,
        webhook: &WebhookId,
        page: &PageQuery,
    ) -> StorageResult<Page<Delivery>>;
    /// Up to `limit` pending deliveries due at `now`, the longest due first (any store's).
    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> StorageResult<Vec<Delivery>>;
}

/// One signed request to a webhook's URL.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: String,
    /// The Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    pub headers: Vec<(&'static str, String)>,
    /// JSON.
    pub body: String,
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAnswer {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused, timed out, not a public address, ... (the reason).
    NoAnswer(String),
}

/// Sends a webhook's request (HTTP in both runtimes; the adapter refuses targets that resolve
/// to non-public addresses unless told otherwise).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: &WebhookRequest) -> WebhookAnswer;
}
