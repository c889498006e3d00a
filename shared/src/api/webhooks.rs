//! A store's webhooks (`/v1/stores/{store_id}/webhooks`): its owners subscribe a URL to the
//! store's events (the secret shown once), list them, see each one's deliveries and delete one.
//! Admins manage the catalog's own under `/v1/stores/_catalog/webhooks`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::domain::webhook::{MAX_DESCRIPTION_CHARS, MAX_URL_CHARS};
use crate::domain::{EventType, FieldErrors, StoreId, WebhookId, clean_text};
use crate::http::extract::{Caller, Id, JsonBody, PageParams, Paged};
use crate::http::{ApiResult, response};
use crate::services::Listing;
use crate::services::webhooks::{CreatedWebhook, DeliveryView, NewWebhook, WebhookView};

/// A webhook to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Where deliveries go: an `https` URL on a public address (up to 2,000 characters).
    #[schema(value_type = String, required, example = "https://pos.example.com/hooks/catalog")]
    url: Option<String>,
    /// The event types it receives: a store's, one or more of `job.completed`,
    /// `inventory.low_stock`, `inventory.out_of_stock`; the catalog's (`_catalog`),
    /// `product.created`, `product.updated`, `product.approved`, `product.rejected`,
    /// `product.merged` and `job.completed` (its Open Food Facts loads).
    #[schema(value_type = Vec<EventType>, required, min_items = 1, example = json!(["job.completed", "inventory.low_stock"]))]
    events: Option<Vec<String>>,
    /// What it is for, up to 120 characters.
    #[schema(value_type = String, example = "Counter POS")]
    description: Option<String>,
}

impl NewWebhookBody {
    fn check(self) -> Result<NewWebhook, FieldErrors> {
        let mut errors = FieldErrors::new();
        let url = self.url.unwrap_or_default();
        if url.trim().is_empty() {
            errors.add("url", "required", "give the URL deliveries go to");
        } else if url.chars().count() > MAX_URL_CHARS {
            errors.add(
                "url",
                "too_long",
                format!("at most {MAX_URL_CHARS} characters"),
            );
        }
        let mut events = BTreeSet::new();
        match self.events.as_deref() {
            None | Some([]) => errors.add(
                "events",
                "required",
                format!("give at least one event type: {}", EventType::names()),
            ),
            Some(given) => {
                for (i, t) in given.iter().enumerate() {
                    match EventType::parse(t) {
                        Some(t) => {
                            events.insert(t);
                        }
                        None => errors.add(
                            format!("events[{i}]"),
                            "unknown_event_type",
                            format!(
                                "'{}' is not an event type; the types are {}",
                                t.chars().take(40).collect::<String>(),
                                EventType::names()
                            ),
                        ),
                    }
                }
            }
        }
        let description = match self.description.as_deref() {
            None | Some("") => Some(String::new()),
            Some(d) => errors.check("description", clean_text(d, MAX_DESCRIPTION_CHARS, false)),
        };
        match description {
            Some(description) if errors.is_empty() => Ok(NewWebhook {
                url: url.trim().to_string(),
                events,
                description,
            }),
            _ => Err(errors),
        }
    }
}

/// A store's webhooks.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookView>,
}

/// `POST /v1/stores/{store_id}/webhooks` (admins, the store's owners): a new webhook, its
/// secret shown once.
#[utoipa::path(
    post, path = "/v1/stores/{store_id}/webhooks", operation_id = "store-webhooks-create", tag = "webhooks",
    summary = "Subscribe a URL to the store's events",
    description = "Admins and the store's owners (the catalog's own events, `product.*` and its jobs' `job.completed`, under `_catalog`: admins). Each event of the chosen types is POSTed to `url` as JSON (the event: `id`, `type`, `timestamp`, `store_id`, `version`, `data`), signed as the Standard Webhooks spec says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`) with `secret`, which is shown this once. A 2xx answer within 10 s delivers it; anything else is retried 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 8 h and 8 h later, then the delivery is parked (`failed`): see the deliveries. Redirects are not followed. The URL must be `https` on a public address (`private_target` otherwise: loopback, private and link-local addresses are refused, also when a name resolves to one at delivery). At most 10 webhooks a store.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    request_body(content = NewWebhookBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook and its secret (shown once)", body = CreatedWebhook, headers(("Location" = String))),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 409, description = "`too_many_webhooks`"),
        (status = 422, description = "`validation_failed`: `url` (`required`, `invalid_url`, `https_required`, `private_target`), `events` (`required`, `unknown_event_type`, `wrong_place`: product events under a store, stock events under `_catalog`), `description`"),
    ),
)]
pub async fn create(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    JsonBody(body): JsonBody<NewWebhookBody>,
) -> ApiResult {
    let new = body.check()?;
    let created = app.webhooks.create(&who, &store, new).await?;
    let location = format!("/v1/stores/{store}/webhooks/{}", created.webhook.webhook_id);
    Ok(response::with_location(
        response::json(StatusCode::CREATED, created),
        &location,
    ))
}

/// `GET /v1/stores/{store_id}/webhooks` (admins, the store's owners).
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/webhooks", operation_id = "store-webhooks-list", tag = "webhooks",
    summary = "A store's webhooks",
    description = "Admins and the store's owners: every webhook, oldest first, with its URL and event types. Never the secret.",
    security(("bearer" = [])),
    params(Id<StoreId>),
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
    ),
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
) -> ApiResult {
    let items = app.webhooks.list(&who, &store).await?;
    Ok(response::json(StatusCode::OK, WebhookList { items }))
}

/// `DELETE /v1/stores/{store_id}/webhooks/{webhook_id}` (admins, the store's owners).
#[utoipa::path(
    delete, path = "/v1/stores/{store_id}/webhooks/{webhook_id}", operation_id = "store-webhooks-delete", tag = "webhooks",
    summary = "Delete a webhook",
    description = "Admins and the store's owners. Nothing more is delivered to it: a delivery still pending is parked at its next attempt.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<WebhookId>),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`webhook_not_found`"),
    ),
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(webhook): Id<WebhookId>,
) -> ApiResult {
    app.webhooks.delete(&who, &store, &webhook).await?;
    Ok(response::no_content())
}

/// `GET /v1/stores/{store_id}/webhooks/{webhook_id}/deliveries?cursor=&limit=`.
#[utoipa::path(
    get, path = "/v1/stores/{store_id}/webhooks/{webhook_id}/deliveries", operation_id = "store-webhook-deliveries", tag = "webhooks",
    summary = "A webhook's deliveries, newest event first",
    description = "Admins and the store's owners. Each delivery of an event to the webhook: `status` (`pending`, `delivered`, or `failed`: parked after its last attempt), `attempts`, `next_attempt_at`, and the last attempt's time, HTTP status and error. Kept 30 days.",
    security(("bearer" = [])),
    params(Id<StoreId>, Id<WebhookId>, PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = Listing<DeliveryView>),
        (status = 403, description = "`forbidden_role`, `forbidden_store`"),
        (status = 404, description = "`webhook_not_found`"),
    ),
)]
pub async fn deliveries(
    State(app): State<Arc<App>>,
    Caller(who): Caller,
    Id(store): Id<StoreId>,
    Id(webhook): Id<WebhookId>,
    Paged(_, page): Paged,
) -> ApiResult {
    let listing = app
        .webhooks
        .deliveries(&who, &store, &webhook, &page)
        .await?;
    Ok(response::json(StatusCode::OK, listing))
}
