//! `enrich`: Open Food Facts lookups of new products. Two events start it:
//! - an SQS batch from the enrich queue, each body an [`EnrichMessage`]: each product is looked
//!   up; one OFF could not answer goes back on the queue with a pause (a new, delayed message:
//!   this one is done), and one whose lookup failed in storage is reported in
//!   `batchItemFailures`, so SQS redelivers only it (after [`ENRICH_MAX_RECEIVES`], to the
//!   dead-letter queue; the product stays queued and the sweep asks again);
//! - its hourly schedule (an EventBridge scheduled event): the sweep, which asks again for the
//!   lookups still queued whose try was due over [`STALLED_AFTER`] ago (a lost message).
//!
//! With lookups off (`OFF_BASE_URL=off`) both let their event go: the products stay queued.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

use super::{Trigger, TriggerContext, TriggerSource, bad_event, redeliver};
use crate::adapters::queues::EnrichMessage;
use crate::app::App;
use crate::error_chain::ErrorChain;
use crate::services::ServiceError;
use crate::services::enrichment::EnrichOutcome;

/// Deliveries of an enrich message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml).
pub const ENRICH_MAX_RECEIVES: u32 = 5;
/// A queued lookup whose try was due longer ago than this is asked for again by the sweep
/// (its message was lost: a delivered one is run within seconds of its due time).
pub const STALLED_AFTER: Duration = Duration::from_secs(20 * 60);

pub static ENRICH: Trigger = Trigger {
    function: "enrich",
    source: TriggerSource::Queue,
    handler: |app, event, _ctx: TriggerContext| Box::pin(enrich(app, event)),
    warm_up: None,
    webhook_sender: None,
};

/// Whether `event` is an EventBridge scheduled event (the sweep's).
fn is_schedule(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
}

async fn enrich(app: Arc<App>, event: Value) -> Result<Value, ServiceError> {
    let Some(off) = app.off.get() else {
        // Lookups are off here (OFF_BASE_URL=off): messages are let go and nothing is swept.
        // The products stay queued; once lookups are on again, the next sweep asks for them.
        tracing::warn!("Open Food Facts lookups are off in this function; requests let go");
        return Ok(json!({ "lookups": "off" }));
    };
    if is_schedule(&event) {
        let requested = app
            .catalog
            .request_stalled_enrichments(STALLED_AFTER)
            .await?;
        tracing::info!(requested, "enrichment sweep done");
        return Ok(json!({ "requested": requested }));
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut failed = Vec::new();
    let mut done = Vec::new();
    for message in &sqs.records {
        let id = message.message_id.clone().unwrap_or_default();
        let Some(EnrichMessage { enrich: product }) = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
        else {
            tracing::warn!(message = %id, "dropping a message that is not an enrich request");
            continue;
        };
        match app.catalog.enrich(off.as_ref(), &product).await {
            Ok(EnrichOutcome::Retry { after, detail }) => {
                tracing::info!(%product, retry_in_s = after.as_secs(), detail, "Open Food Facts did not answer; asked again later");
                if let Err(e) = app.catalog.enrich_queue.request(&[product], after).await {
                    tracing::error!(%product, error = %e, "could not queue the retry; SQS will redeliver the message");
                    failed.push(id);
                }
                done.push(json!({ "product_id": product, "outcome": "retry" }));
            }
            Ok(outcome) => done.push(json!({ "product_id": product, "result": outcome })),
            Err(e) => {
                tracing::error!(message = %id, %product, error = %ErrorChain(&e), "enrichment failed; SQS will redeliver the message");
                failed.push(id);
            }
        }
    }
    let lookups = Value::Array(done);
    tracing::info!(%lookups, "enrich batch done");
    Ok(redeliver(failed))
}
