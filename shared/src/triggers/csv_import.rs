//! `csv-import`: the bulk import an uploaded CSV asks for, or the rest of one a paused run
//! left to resume itself.

use std::sync::Arc;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

use super::{
    Delivery, Trigger, TriggerContext, TriggerSource, bad_event, created_keys, deliveries,
    is_s3_event, redeliver, s3_notification,
};
use crate::app::App;
use crate::domain::job::ResumeMessage;
use crate::domain::{JobId, StoreId};
use crate::error_chain::ErrorChain;
use crate::services::ServiceError;
use crate::services::imports::{RunOptions, RunOutcome};

/// `csv-import`: runs the import an uploaded CSV asks for. The event is an SQS batch whose
/// bodies are S3 notifications (`imports/{store_id}/{job_id}.csv` created) or the messages a
/// paused run left to resume itself ([`ResumeMessage`]); a direct S3 event works too. A message
/// that fails is reported in `batchItemFailures`, so SQS redelivers only it (and after its
/// retries, moves it to the dead-letter queue).
pub static CSV_IMPORT: Trigger = Trigger {
    function: "csv-import",
    source: TriggerSource::S3,
    handler: |app, event, ctx| Box::pin(csv_import(app, event, ctx)),
    // Every import matches its rows: the index loads while the first import claims its job
    // and opens its file.
    warm_up: Some(|app| Box::pin(app.catalog.warm_match_index())),
    webhook_sender: None,
};

/// Deliveries of an import message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml). A run that fails on the last one fails its job.
pub const IMPORT_MAX_RECEIVES: u32 = 5;

/// One unit of import work an event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ImportWork {
    /// An object was created under this (decoded) key.
    Upload(String),
    Resume(StoreId, JobId),
}

/// The work in an S3 notification.
fn s3_work(event: &S3Event) -> Vec<ImportWork> {
    created_keys(event)
        .into_iter()
        .map(ImportWork::Upload)
        .collect()
}

/// The work in one SQS message body; `None` for a body that is neither (logged, dropped).
fn message_work(body: &str) -> Option<Vec<ImportWork>> {
    if let Ok(m) = serde_json::from_str::<ResumeMessage>(body) {
        return Some(vec![ImportWork::Resume(m.store_id, m.resume_job)]);
    }
    s3_notification(body).map(|e| s3_work(&e))
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
    if is_s3_event(&event) {
        let s3: S3Event = serde_json::from_value(event).map_err(bad_event)?;
        let mut done = Vec::new();
        // Invoked by S3 directly (locally or in tests): a busy job's own run carries on.
        for work in s3_work(&s3) {
            done.push(run_work(&app, &work, ctx).await?.0);
        }
        return Ok(json!({ "runs": done }));
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut failed = Vec::new();
    let mut done = Vec::new();
    for Delivery { id, receives, work } in deliveries(&sqs, message_work) {
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
                    if receives >= IMPORT_MAX_RECEIVES {
                        tracing::error!(message = %id, error = %ErrorChain(&e), receives, "import run failed on its last delivery; failing the job");
                        give_up(&app, &w).await;
                    } else {
                        tracing::error!(message = %id, error = %ErrorChain(&e), receives, "import run failed; SQS will redeliver the message");
                    }
                    true
                }
            };
            if retry {
                failed.push(id);
                break;
            }
        }
    }
    let runs = Value::Array(done);
    tracing::info!(%runs, "csv-import batch done");
    Ok(redeliver(failed))
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
        tracing::error!(job = %job, error = %ErrorChain(&e), "could not fail the job either");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobId, StoreId};

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
