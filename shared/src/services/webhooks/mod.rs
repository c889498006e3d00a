//! Webhooks: a store's owners subscribe a URL to the store's events (admins subscribe to the
//! catalog's own, under `_catalog`), see each delivery, and remove a subscription.
//!
//! Owns who may manage which webhooks and what a subscription must be (a public https target,
//! known event types, at most [`MAX_WEBHOOKS`] a store). Delivering lives in `deliver`,
//! signing in `sign`, the local runtime's bus in `bus`.

mod bus;
mod deliver;
pub mod sign;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

pub use bus::WebhookBus;
pub use deliver::{Attempted, fan_out};

use super::{Listing, PageRequest, ServiceError, ServiceResult};
use crate::auth::{Principal, Role};
use crate::cursor::CursorKey;
use crate::domain::webhook::{MAX_WEBHOOKS, TargetError, check_target};
use crate::domain::{
    Delivery, DeliveryStatus, EventType, FieldErrors, StoreId, Timestamp, Webhook, WebhookId,
};
use crate::metrics::Metrics;
use crate::ports::{DEFAULT_PAGE_SIZE, PageQuery, StorageError, WebhookSender, WebhookStore};
use sign::WebhookKey;

/// What the webhooks need besides storage: where requests leave, whether private targets are
/// allowed (local runs and tests), and the key their secrets derive from.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    /// None in a function that does not deliver (every one but `webhook-deliver`).
    sender: Option<Arc<dyn WebhookSender>>,
    key: WebhookKey,
    cursors: CursorKey,
    allow_private: bool,
    metrics: Metrics,
    /// Woken when deliveries are due now (the local bus after an event): the local server's
    /// delivery loop waits on it.
    pub wake: Arc<tokio::sync::Notify>,
}

/// Makes the sender deliveries leave by, allowing private targets or not.
///
/// A function pointer the caller names, not a sender every app builds: only `webhook-deliver`
/// (its trigger's static names it) and the local server send, and a sender built in every
/// app put its HTTP client (reqwest) in every function's binary.
pub type MakeSender = fn(allow_private: bool) -> Arc<dyn WebhookSender>;

/// How an app's webhooks are set up.
#[derive(Clone, Default)]
pub struct WebhookConfig {
    /// How deliveries leave; None: this process does not deliver (the webhooks can still be
    /// made, listed and fanned out to).
    pub sender: Option<MakeSender>,
    /// Targets on loopback and private addresses, and over plain http, are allowed (local runs
    /// and tests; never in AWS unless `WEBHOOK_ALLOW_PRIVATE_TARGETS` says so).
    pub allow_private: bool,
    /// What the local bus notifies when deliveries are due (the local server's loop waits on
    /// it).
    pub wake: Arc<tokio::sync::Notify>,
}

/// A webhook to make, its fields checked by the edge.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: BTreeSet<EventType>,
    pub description: String,
}

/// A webhook as its store's owners see it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: WebhookId,
    pub store_id: StoreId,
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub webhook: WebhookView,
    /// `whsec_...`: verify each delivery's `webhook-signature` with it, as the Standard
    /// Webhooks spec says. Shown this once: a lost secret means a new webhook.
    pub secret: String,
}

/// One delivery of an event to a webhook, as the store's owners see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(value_type = String, format = Uuid)]
    pub delivery_id: uuid::Uuid,
    pub webhook_id: WebhookId,
    /// The event's id (the request's `webhook-id`).
    #[schema(value_type = String, format = Uuid)]
    pub event_id: uuid::Uuid,
    pub event_type: EventType,
    /// When the event happened (the listing's order, newest first).
    pub event_time: Timestamp,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (`pending` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last answer (none: no answer, see `last_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            delivery_id: d.delivery_id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            event_time: d.event_time,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
        }
    }
}

fn view(w: &Webhook) -> WebhookView {
    WebhookView {
        webhook_id: w.webhook_id,
        store_id: w.store_id.clone(),
        url: w.url.clone(),
        events: w.events.iter().copied().collect(),
        description: w.description.clone(),
        created_by: w.created_by.clone(),
        created_at: w.created_at,
    }
}

fn storage(e: StorageError) -> ServiceError {
    ServiceError::storage(e)
}

fn not_found(id: &WebhookId) -> ServiceError {
    ServiceError::NotFound {
        what: "webhook",
        id: id.to_string(),
    }
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sender: Option<Arc<dyn WebhookSender>>,
        service_secret: &[u8],
        cursors: CursorKey,
        allow_private: bool,
    ) -> Self {
        Webhooks {
            store,
            sender,
            key: WebhookKey::derive(service_secret),
            cursors,
            allow_private,
            metrics: Metrics::none(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The same webhooks, recording delivery outcomes in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same webhooks, woken by `wake` (the local bus's).
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Where the webhooks and their deliveries are kept.
    pub fn store(&self) -> Arc<dyn WebhookStore> {
        self.store.clone()
    }

    /// Whether targets on private addresses are allowed here.
    pub fn allows_private_targets(&self) -> bool {
        self.allow_private
    }

    /// Who may manage `store`'s webhooks: admins and the store's owners; the catalog's own
    /// (`_catalog`), admins only.
    fn may_manage(who: &Principal, store: &StoreId) -> ServiceResult<()> {
        if store.as_str() == StoreId::CATALOG {
            who.require_role(&[Role::Admin])?;
        }
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        Ok(())
    }

    /// Makes a webhook; its secret is shown this once.
    pub async fn create(
        &self,
        who: &Principal,
        store: &StoreId,
        new: NewWebhook,
    ) -> ServiceResult<CreatedWebhook> {
        Self::may_manage(who, store)?;
        let url = check_target(&new.url, self.allow_private).map_err(|e: TargetError| {
            let mut errors = FieldErrors::new();
            errors.add("url", e.code(), format!("the URL {e}"));
            ServiceError::Invalid(errors)
        })?;
        // Product events are the catalog's (announced under `_catalog`); the catalog has no
        // stock.
        let catalog = store.as_str() == StoreId::CATALOG;
        let misplaced: Vec<&str> = new
            .events
            .iter()
            .filter(|t| !t.announced_under(catalog))
            .map(|t| t.as_str())
            .collect();
        if !misplaced.is_empty() {
            let mut errors = FieldErrors::new();
            let why = if catalog {
                "the catalog (_catalog) has product events and its jobs' job.completed"
            } else {
                "product events are the catalog's: an admin subscribes to them under _catalog"
            };
            errors.add(
                "events",
                "wrong_place",
                format!("{} cannot be subscribed here: {why}", misplaced.join(", ")),
            );
            return Err(ServiceError::Invalid(errors));
        }
        let existing = self.store.webhooks_of(store).await.map_err(storage)?;
        if existing.len() >= MAX_WEBHOOKS {
            return Err(ServiceError::Conflict {
                code: "too_many_webhooks",
                detail: format!(
                    "store {store} has {} webhooks, the most it may have; delete one first",
                    existing.len()
                ),
            });
        }
        let webhook = Webhook {
            webhook_id: WebhookId::new(),
            store_id: store.clone(),
            url: url.to_string(),
            events: new.events,
            description: new.description,
            created_by: who.sub.clone(),
            created_at: Timestamp::now(),
        };
        self.store.insert_webhook(&webhook).await.map_err(storage)?;
        tracing::info!(store = %store, webhook = %webhook.webhook_id, url = %webhook.url, by = %who.sub, "webhook made");
        Ok(CreatedWebhook {
            secret: self.key.secret_text(store, &webhook.webhook_id),
            webhook: view(&webhook),
        })
    }

    /// The store's webhooks, oldest first.
    pub async fn list(&self, who: &Principal, store: &StoreId) -> ServiceResult<Vec<WebhookView>> {
        Self::may_manage(who, store)?;
        let mut all = self.store.webhooks_of(store).await.map_err(storage)?;
        all.sort_by_key(|w| (w.created_at, w.webhook_id));
        Ok(all.iter().map(view).collect())
    }

    /// Deletes a webhook: nothing more is delivered to it (a delivery pending is parked).
    pub async fn delete(
        &self,
        who: &Principal,
        store: &StoreId,
        id: &WebhookId,
    ) -> ServiceResult<()> {
        Self::may_manage(who, store)?;
        match self.store.delete_webhook(store, id).await {
            Ok(()) => {
                tracing::info!(store = %store, webhook = %id, by = %who.sub, "webhook deleted");
                Ok(())
            }
            Err(StorageError::NotFound) => Err(not_found(id)),
            Err(e) => Err(storage(e)),
        }
    }

    /// A webhook's deliveries, the newest event first.
    pub async fn deliveries(
        &self,
        who: &Principal,
        store: &StoreId,
        id: &WebhookId,
        page: &PageRequest,
    ) -> ServiceResult<Listing<DeliveryView>> {
        Self::may_manage(who, store)?;
        if self
            .store
            .get_webhook(store, id)
            .await
            .map_err(storage)?
            .is_none()
        {
            return Err(not_found(id));
        }
        let scope = format!("deliveries|{store}|{id}");
        let after = match &page.cursor {
            Some(c) => Some(self.cursors.open(&scope, c)?),
            None => None,
        };
        let query = PageQuery {
            after,
            limit: page.limit.unwrap_or(DEFAULT_PAGE_SIZE),
        };
        let found = match self.store.deliveries_of(store, id, &query).await {
            Err(StorageError::BadContinuation) => {
                return Err(crate::cursor::InvalidCursor.into());
            }
            other => other.map_err(storage)?,
        };
        Ok(Listing {
            items: found.items.into_iter().map(DeliveryView::from).collect(),
            next_cursor: found.next.map(|c| self.cursors.seal(&scope, &c)),
        })
    }
}
