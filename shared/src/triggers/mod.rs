//! The functions that are not API routes: each runs on an AWS event (a schedule, an S3
//! notification, a message of its queue) rather than an HTTP request. One file per trigger
//! with its own work (`csv_import`, `image_process`, `enrich`, `off_import`,
//! `webhook_deliver`); this one holds what they share (the trigger type, S3
//! notifications) and the scheduled ones, which only call a service.
//!
//! Owns the event-to-service translation for them, as `api` does for routes. [`ALL`] is the
//! list the Lambda functions, the SAM template check and the sample events follow.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::s3::{S3Event, S3Object};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::BoxFuture;

use serde_json::{Value, json};

use crate::app::App;
use crate::services::ServiceError;

mod csv_import;
mod enrich;
mod image_process;
mod off_import;
mod webhook_deliver;

pub use csv_import::{CSV_IMPORT, IMPORT_MAX_RECEIVES};
pub use enrich::{ENRICH, ENRICH_MAX_RECEIVES, STALLED_AFTER};
pub use image_process::{IMAGE_MAX_RECEIVES, IMAGE_PROCESS};
pub use off_import::{OFF_IMPORT, OFF_IMPORT_MAX_RECEIVES};
pub use webhook_deliver::{WEBHOOK_DELIVER, WEBHOOK_MAX_RECEIVES};

/// What starts a trigger function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerSource {
    /// An EventBridge schedule.
    Schedule,
    /// S3 object-created notifications, delivered through an SQS queue.
    S3,
    /// Messages the catalog itself puts on an SQS queue (and a schedule for its sweep).
    Queue,
}

/// What the runtime tells a handler besides the event.
#[derive(Debug, Clone, Copy, Default)]
pub struct TriggerContext {
    /// When the invocation is cut off (Lambda's deadline); `None` runs to the end.
    pub deadline: Option<Instant>,
    /// An import run's claim on its job between progress saves (`None`: the default lease).
    pub lease: Option<time::Duration>,
}

/// A trigger's handler: the app and the raw event in, a JSON summary (logged by Lambda, and
/// for SQS the partial batch response) out.
pub type TriggerHandler =
    fn(Arc<App>, Value, TriggerContext) -> BoxFuture<'static, Result<Value, ServiceError>>;

pub struct Trigger {
    /// The Lambda function (and crate under `functions/`).
    pub function: &'static str,
    pub source: TriggerSource,
    pub handler: TriggerHandler,
    /// What the function's init starts doing before its first event needs it. A field, not a
    /// match on the trigger, so that a function's binary links only its own trigger's code.
    pub warm_up: Option<for<'a> fn(&'a App) -> BoxFuture<'a, ()>>,
    /// How its app sends webhooks, for the trigger that delivers them. A field for the same
    /// reason: only that binary links the HTTP client.
    pub webhook_sender: Option<crate::services::webhooks::MakeSender>,
}

impl Trigger {
    /// Prepares what the trigger's events need besides the app: csv-import's match index.
    /// `lambda` starts it when the app is made (or, ahead of any event, waits for it at init).
    pub async fn warm_up(&self, app: &App) {
        if let Some(warm_up) = self.warm_up {
            warm_up(app).await;
        }
    }

    pub async fn call(
        &self,
        app: Arc<App>,
        event: Value,
        ctx: TriggerContext,
    ) -> Result<Value, ServiceError> {
        (self.handler)(app, event, ctx).await
    }
}

/// `index-build`: rebuilds the matching index from the catalog and publishes its snapshot.
/// The event (a scheduled EventBridge event) carries nothing it needs.
pub static INDEX_BUILD: Trigger = Trigger {
    function: "index-build",
    source: TriggerSource::Schedule,
    handler: |app, _event, _ctx| {
        Box::pin(async move {
            let published = app.catalog.publish_match_index().await?;
            Ok(serde_json::to_value(published).unwrap_or(Value::Null))
        })
    },
    warm_up: None,
    webhook_sender: None,
};

/// `stock-alerts`: announces what is left in the outboxes: stock alerts (a change whose
/// function died, or whose EventBridge call failed, before its announcement) and product
/// events (announced only here), pages of 100 until none are left or the deadline nears. The
/// event (a scheduled EventBridge event) carries nothing it needs.
pub static STOCK_ALERTS: Trigger = Trigger {
    function: "stock-alerts",
    source: TriggerSource::Schedule,
    handler: |app, _event, ctx| {
        Box::pin(async move {
            let near_deadline = || {
                ctx.deadline
                    .is_some_and(|d| d.saturating_duration_since(Instant::now()).as_secs() < 10)
            };
            // Each outbox on its own: one that fails (or is long) does not hold back the other.
            let mut announced = 0;
            let mut failed = Vec::new();
            loop {
                match app.catalog.announce_pending().await {
                    Ok(n) => {
                        announced += n;
                        if n < 100 || near_deadline() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %crate::error_chain::ErrorChain(&e), "stock alerts not announced; the next run tries again");
                        failed.push(e);
                        break;
                    }
                }
            }
            let mut product_events = 0;
            loop {
                match app.catalog.announce_product_events().await {
                    Ok(n) => {
                        product_events += n;
                        if n < crate::services::EVENTS_PER_PAGE || near_deadline() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %crate::error_chain::ErrorChain(&e), "product events not announced; the next run tries again");
                        failed.push(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed.into_iter().next() {
                return Err(e);
            }
            Ok(serde_json::json!({ "announced": announced, "product_events": product_events }))
        })
    },
    warm_up: None,
    webhook_sender: None,
};

/// Every trigger function.
pub static ALL: &[&Trigger] = &[
    &INDEX_BUILD,
    &STOCK_ALERTS,
    &CSV_IMPORT,
    &IMAGE_PROCESS,
    &ENRICH,
    &OFF_IMPORT,
    &WEBHOOK_DELIVER,
];

/// The S3 notification for an object created under `key` (what the local blob store sends the
/// import when an upload lands, as S3 would).
pub fn s3_object_created(bucket: &str, key: &str, size: u64) -> Value {
    let encoded = percent_encoding::utf8_percent_encode(key, S3_KEY_ESCAPES).to_string();
    json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "local",
        "eventTime": crate::domain::Timestamp::now().to_string(),
        "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "local" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "local-uploads",
            "bucket": { "name": bucket, "ownerIdentity": { "principalId": "local" }, "arn": format!("arn:aws:s3:::{bucket}") },
            "object": { "key": encoded, "size": size }
        }
    }]})
}

/// What S3 escapes in notification keys (everything but unreserved characters and `/`).
const S3_KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// S3 sends object keys URL-encoded (`+` for a space).
pub fn decode_s3_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The objects an S3 notification says were created (S3's test event has none).
pub fn created_objects(event: &S3Event) -> impl Iterator<Item = &S3Object> {
    event
        .records
        .iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated"))
        })
        .map(|r| &r.s3.object)
}

/// The keys of the objects an S3 notification says were created (decoded).
pub fn created_keys(event: &S3Event) -> Vec<String> {
    created_objects(event)
        .filter_map(|o| o.key.as_deref())
        .map(decode_s3_key)
        .collect()
}

/// One SQS message to work on: its id (for the log and the partial batch response), how many
/// times SQS has delivered it, and the work its body asks for.
#[derive(Debug, Clone)]
pub(crate) struct Delivery<W> {
    pub id: String,
    pub receives: u32,
    pub work: Vec<W>,
}

/// The messages of an SQS batch with the work `work` reads from each body; a body that is
/// none of this function's (`work` says `None`) is logged and let go.
pub(crate) fn deliveries<W>(
    sqs: &SqsEvent,
    work: impl Fn(&str) -> Option<Vec<W>>,
) -> Vec<Delivery<W>> {
    sqs.records
        .iter()
        .filter_map(|message| {
            let id = message.message_id.clone().unwrap_or_default();
            let Some(work) = message.body.as_deref().and_then(&work) else {
                tracing::warn!(message = %id, "dropping a message that is not one of this function's");
                return None;
            };
            Some(Delivery {
                id,
                receives: receive_count(message),
                work,
            })
        })
        .collect()
}

/// How many times SQS has delivered `message` (1 the first time).
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The partial batch response naming the messages (by id) SQS must deliver again.
pub(crate) fn redeliver(ids: impl IntoIterator<Item = String>) -> Value {
    let mut response = SqsBatchResponse::default();
    for id in ids {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    serde_json::to_value(response).unwrap_or(Value::Null)
}

/// Whether `event` is an S3 notification itself (a function invoked by S3, locally or in
/// tests), not an SQS batch of them.
pub fn is_s3_event(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:s3")
}

/// The S3 notifications in an SQS message body: `None` for a body that is not one, an empty
/// list for S3's test event.
pub fn s3_notification(body: &str) -> Option<S3Event> {
    let value: Value = serde_json::from_str(body).ok()?;
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Some(S3Event::default());
    }
    serde_json::from_value::<S3Event>(value).ok()
}

pub(crate) fn bad_event(e: serde_json::Error) -> ServiceError {
    ServiceError::Internal(crate::ports::StorageError::backend(format!(
        "not an S3 or SQS event: {e}"
    )))
}

/// The trigger a Lambda function runs, by function name.
pub fn by_function(name: &str) -> Option<&'static Trigger> {
    ALL.iter().copied().find(|t| t.function == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_as_s3_encodes_them() {
        assert_eq!(
            decode_s3_key("imports/store-1/a%2Bb+c.csv"),
            "imports/store-1/a+b c.csv"
        );
        assert_eq!(
            decode_s3_key("imports/store%2D1/x.csv"),
            "imports/store-1/x.csv"
        );
    }

    #[test]
    fn a_synthesized_notification_reads_back() {
        let event: S3Event =
            serde_json::from_value(s3_object_created("uploads", "imports/store-1/x y.csv", 10))
                .unwrap();
        assert_eq!(
            created_keys(&event),
            vec!["imports/store-1/x y.csv".to_string()]
        );
    }
}
