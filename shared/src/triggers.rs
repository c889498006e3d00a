//! The functions that are not API routes: each runs on an AWS event (a schedule, an S3
//! notification) rather than an HTTP request.
//!
//! Owns the event-to-service translation for them, as `api` does for routes. [`ALL`] is the
//! list the Lambda functions, the SAM template check and the sample events follow.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;

use serde_json::{Value, json};

use crate::app::App;
use crate::domain::job::ResumeMessage;
use crate::domain::{JobId, StoreId};
use crate::services::ServiceError;
use crate::services::imports::{RunOptions, RunOutcome};

/// What starts a trigger function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerSource {
    /// An EventBridge schedule.
    Schedule,
    /// S3 object-created notifications, delivered through an SQS queue.
    S3,
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
}

impl Trigger {
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
};

/// `stock-alerts`: announces the stock alerts still in the outbox (a change whose function
/// died, or whose EventBridge call failed, before its announcement), pages of 100 until none
/// are left or the deadline nears. The event (a scheduled EventBridge event) carries nothing
/// it needs.
pub static STOCK_ALERTS: Trigger = Trigger {
    function: "stock-alerts",
    source: TriggerSource::Schedule,
    handler: |app, _event, ctx| {
        Box::pin(async move {
            let mut announced = 0;
            loop {
                let n = app.catalog.announce_pending().await?;
                announced += n;
                let near_deadline = ctx
                    .deadline
                    .is_some_and(|d| d.saturating_duration_since(Instant::now()).as_secs() < 10);
                if n < 100 || near_deadline {
                    break;
                }
            }
            Ok(serde_json::json!({ "announced": announced }))
        })
    },
};

/// `csv-import`: runs the import an uploaded CSV asks for. The event is an SQS batch whose
/// bodies are S3 notifications (`imports/{store_id}/{job_id}.csv` created) or the messages a
/// paused run left to resume itself ([`ResumeMessage`]); a direct S3 event works too. A message
/// that fails is reported in `batchItemFailures`, so SQS redelivers only it (and after its
/// retries, moves it to the dead-letter queue).
pub static CSV_IMPORT: Trigger = Trigger {
    function: "csv-import",
    source: TriggerSource::S3,
    handler: |app, event, ctx| Box::pin(csv_import(app, event, ctx)),
};

/// Deliveries of an import message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml). A run that fails on the last one fails its job.
pub const IMPORT_MAX_RECEIVES: u32 = 5;

/// Every trigger function.
pub static ALL: &[&Trigger] = &[&INDEX_BUILD, &STOCK_ALERTS, &CSV_IMPORT];

/// One unit of import work an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ImportWork {
    /// An object was created under this (decoded) key.
    Upload(String),
    Resume(StoreId, JobId),
}

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

/// The work in an S3 notification (object-created records only; S3's test event has none).
fn s3_work(event: &S3Event) -> Vec<ImportWork> {
    event
        .records
        .iter()
        .filter(|r| {
            r.event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated"))
        })
        .filter_map(|r| r.s3.object.key.as_deref())
        .map(|k| ImportWork::Upload(decode_s3_key(k)))
        .collect()
}

/// The work in one SQS message body; `None` for a body that is neither (logged, dropped).
fn message_work(body: &str) -> Option<Vec<ImportWork>> {
    if let Ok(m) = serde_json::from_str::<ResumeMessage>(body) {
        return Some(vec![ImportWork::Resume(m.store_id, m.resume_job)]);
    }
    let value: Value = serde_json::from_str(body).ok()?;
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Some(vec![]);
    }
    serde_json::from_value::<S3Event>(value)
        .ok()
        .map(|e| s3_work(&e))
}

/// Runs one unit of work; its summary, and whether it must be asked for again later (another
/// run held the job).
async fn run_work(
    app: &App,
    work: &ImportWork,
    ctx: TriggerContext,
) -> Result<(Value, bool), ServiceError> {
    let opts = RunOptions {
        deadline: ctx.deadline,
        progress: None,
        lease: ctx.lease,
    };
    let (outcome, stats) = match work {
        ImportWork::Upload(key) => app.catalog.import_uploaded(key, &opts).await?,
        ImportWork::Resume(store, job) => app.catalog.run_import(store, job, &opts).await?,
    };
    let (status, job) = match &outcome {
        RunOutcome::Finished(j) => (j.status.as_str(), Some(j.job_id)),
        RunOutcome::Paused(j) => ("paused", Some(j.job_id)),
        RunOutcome::Skipped(why) => (*why, None),
        RunOutcome::Busy => ("another run holds the job", None),
    };
    let summary =
        json!({ "work": format!("{work:?}"), "outcome": status, "job_id": job, "stats": stats });
    Ok((summary, outcome == RunOutcome::Busy))
}

async fn csv_import(
    app: Arc<App>,
    event: Value,
    ctx: TriggerContext,
) -> Result<Value, ServiceError> {
    if event
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:s3")
    {
        let s3: S3Event = serde_json::from_value(event).map_err(bad_event)?;
        let mut done = Vec::new();
        // Invoked by S3 directly (locally or in tests): a busy job's own run carries on.
        for work in s3_work(&s3) {
            done.push(run_work(&app, &work, ctx).await?.0);
        }
        return Ok(json!({ "runs": done }));
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut response = SqsBatchResponse::default();
    let mut done = Vec::new();
    for message in &sqs.records {
        let id = message.message_id.clone().unwrap_or_default();
        let Some(work) = message.body.as_deref().and_then(message_work) else {
            tracing::warn!(message = %id, "dropping a message that is neither an S3 notification nor a resume request");
            continue;
        };
        for w in work {
            let retry = match run_work(&app, &w, ctx).await {
                Ok((summary, busy)) => {
                    done.push(summary);
                    if busy {
                        tracing::info!(message = %id, "the job is held by another run; SQS will ask again");
                    }
                    busy
                }
                Err(e) => {
                    let receives: u32 = message
                        .attributes
                        .get("ApproximateReceiveCount")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1);
                    if receives >= IMPORT_MAX_RECEIVES {
                        tracing::error!(message = %id, error = %e, receives, "import run failed on its last delivery; failing the job");
                        give_up(&app, &w).await;
                    } else {
                        tracing::error!(message = %id, error = %e, receives, "import run failed; SQS will redeliver the message");
                    }
                    true
                }
            };
            if retry {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.clone();
                response.batch_item_failures.push(failure);
                break;
            }
        }
    }
    let runs = Value::Array(done);
    tracing::info!(%runs, "csv-import batch done");
    Ok(serde_json::to_value(response).unwrap_or(Value::Null))
}

/// Fails the job `work` is for, after its last delivery failed (logged if even that fails).
async fn give_up(app: &App, work: &ImportWork) {
    let (store, job) = match work {
        ImportWork::Upload(key) => match crate::domain::parse_upload_key(key) {
            Some(ids) => ids,
            None => return,
        },
        ImportWork::Resume(store, job) => (store.clone(), *job),
    };
    if let Err(e) = app.catalog.abandon_import(&store, &job).await {
        tracing::error!(job = %job, error = %e, "could not fail the job either");
    }
}

fn bad_event(e: serde_json::Error) -> ServiceError {
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
            s3_work(&event),
            vec![ImportWork::Upload("imports/store-1/x y.csv".into())]
        );
    }

    #[test]
    fn messages_name_their_work() {
        let store = StoreId::parse("store-1").unwrap();
        let job = JobId::new();
        let resume = serde_json::to_string(&ResumeMessage {
            resume_job: job,
            store_id: store.clone(),
        })
        .unwrap();
        assert_eq!(
            message_work(&resume),
            Some(vec![ImportWork::Resume(store, job)])
        );
        assert_eq!(
            message_work(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#),
            Some(vec![])
        );
        assert_eq!(message_work("not json"), None);
    }
}
