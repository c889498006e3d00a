//! `webhook-deliver`: events to the stores' webhooks. Two events start it:
//! - an SQS batch from the webhooks' queue, each body an EventBridge event whose detail is one
//!   of the catalog's events (the bus's rule forwards every `kirana.catalog` event there): its
//!   deliveries are written and attempted at once. One whose deliveries could not be written
//!   (storage) is reported in `batchItemFailures`, so SQS delivers it again (written once: a
//!   delivery's id names its webhook and event); after [`WEBHOOK_MAX_RECEIVES`], the
//!   dead-letter queue;
//! - its schedule, every minute (an EventBridge scheduled event): the sweep, which attempts the
//!   retries that came due (and deliveries whose run died mid-attempt, once their hold ends).

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

use super::{Trigger, TriggerContext, TriggerSource, bad_event, deliveries, redeliver};
use crate::app::App;
use crate::domain::{Event, Timestamp};
use crate::error_chain::ErrorChain;
use crate::services::ServiceError;

/// Deliveries of a message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml).
pub const WEBHOOK_MAX_RECEIVES: u32 = 5;
/// Due deliveries a sweep reads at once: 8 attempted at a time, each up to 10 s, so a page
/// takes at most about 50 s.
const SWEEP_PAGE: usize = 40;
/// A sweep starts no page with less than this left before its deadline (an attempt cut off
/// by the deadline is counted, and taken up again when its hold ends).
const PAGE_TIME: std::time::Duration = std::time::Duration::from_secs(60);

pub static WEBHOOK_DELIVER: Trigger = Trigger {
    function: "webhook-deliver",
    source: TriggerSource::Queue,
    handler: |app, event, ctx| Box::pin(deliver(app, event, ctx)),
    warm_up: None,
    webhook_sender: Some(crate::adapters::webhook_http::HttpWebhooks::make),
};

/// The catalog's event in an SQS body: EventBridge's envelope around it (`detail`), or the
/// event itself (a message sent by hand).
fn catalog_event(body: &str) -> Option<Vec<Event>> {
    let value: Value = serde_json::from_str(body).ok()?;
    let event = match value.get("detail") {
        Some(detail) => detail.clone(),
        None => value,
    };
    serde_json::from_value(event).ok().map(|e| vec![e])
}

async fn deliver(app: Arc<App>, event: Value, ctx: TriggerContext) -> Result<Value, ServiceError> {
    if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        return sweep(&app, ctx).await;
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut failed = Vec::new();
    let mut outcomes = Vec::new();
    for message in deliveries(&sqs, catalog_event) {
        for event in &message.work {
            match app.webhooks.deliver_event(event).await {
                Ok(done) => outcomes.extend(done),
                Err(e) => {
                    tracing::error!(message = %message.id, event = %event.id, error = %ErrorChain(&e), "webhook deliveries not written; SQS will deliver the event again");
                    failed.push(message.id.clone());
                }
            }
        }
    }
    tracing::info!(attempts = ?outcomes, "webhook batch done");
    Ok(redeliver(failed))
}

/// Attempts the due deliveries, a page at a time, until none are left or the deadline nears.
async fn sweep(app: &App, ctx: TriggerContext) -> Result<Value, ServiceError> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    loop {
        let enough_time = ctx
            .deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) > PAGE_TIME);
        if !enough_time {
            break;
        }
        let done = app
            .webhooks
            .deliver_due(Timestamp::now(), SWEEP_PAGE)
            .await
            .map_err(ServiceError::storage)?;
        for outcome in &done {
            *counts.entry(outcome.as_str()).or_default() += 1;
        }
        if done.len() < SWEEP_PAGE {
            break;
        }
    }
    tracing::info!(?counts, "webhook sweep done");
    Ok(json!(counts))
}
