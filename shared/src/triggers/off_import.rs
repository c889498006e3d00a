//! `off-import`: loads an Open Food Facts export uploaded under `off/` (see
//! [`crate::services::off_import::upload`]). The event is an SQS batch from its queue whose
//! bodies are S3 notifications (an export created under `off/`) or the messages a run that
//! handed over sent itself ([`OffResumeMessage`]); a direct S3 event works too. A message that
//! fails is reported in `batchItemFailures`, so SQS redelivers it (the load goes on from its
//! last place); after [`OFF_IMPORT_MAX_RECEIVES`] the load's job fails as `unavailable` (a
//! message redriven from the dead-letter queue resumes it). A message for a load another run
//! holds is let go: that run carries it on.

use std::sync::Arc;

use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

use super::{
    Delivery, Trigger, TriggerContext, TriggerSource, bad_event, created_objects, decode_s3_key,
    deliveries, is_s3_event, redeliver, s3_notification,
};
use crate::app::App;
use crate::error_chain::ErrorChain;
use crate::services::ServiceError;
use crate::services::off_import::upload::{OffResumeMessage, OffUpload, OffUploadOutcome};

/// Deliveries of a message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml). A run that fails on the last one fails the job.
pub const OFF_IMPORT_MAX_RECEIVES: u32 = 5;

pub static OFF_IMPORT: Trigger = Trigger {
    function: "off-import",
    source: TriggerSource::S3,
    handler: |app, event, ctx| Box::pin(off_import(app, event, ctx)),
    warm_up: None,
    webhook_sender: None,
};

/// The uploads an S3 notification says were created, each with its version (S3's ETag).
fn s3_work(event: &S3Event) -> Vec<OffUpload> {
    created_objects(event)
        .filter_map(|o| {
            Some(OffUpload {
                key: decode_s3_key(o.key.as_deref()?),
                etag: o.e_tag.clone().filter(|t| !t.is_empty()),
                size: o.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            })
        })
        .collect()
}

/// The work in one SQS message body; `None` for a body that is neither (logged, dropped).
fn message_work(body: &str) -> Option<Vec<OffUpload>> {
    if let Ok(m) = serde_json::from_str::<OffResumeMessage>(body) {
        return Some(vec![m.resume_off_import]);
    }
    s3_notification(body).map(|e| s3_work(&e))
}

/// Runs one load; its summary.
async fn run_work(app: &App, work: &OffUpload, ctx: TriggerContext) -> Result<Value, ServiceError> {
    let outcome = app
        .catalog
        .load_off_upload(work, ctx.deadline, ctx.lease)
        .await?;
    let (status, job) = match &outcome {
        OffUploadOutcome::Finished(j) => (j.status.as_str(), Some(j)),
        OffUploadOutcome::Paused(j) => ("handed over", Some(j)),
        OffUploadOutcome::Skipped(why) => (*why, None),
    };
    Ok(json!({
        "key": work.key,
        "outcome": status,
        "job_id": job.map(|j| j.job_id),
        "stats": job.and_then(|j| j.off_stats.clone()),
    }))
}

async fn off_import(
    app: Arc<App>,
    event: Value,
    ctx: TriggerContext,
) -> Result<Value, ServiceError> {
    if is_s3_event(&event) {
        let s3: S3Event = serde_json::from_value(event).map_err(bad_event)?;
        let mut done = Vec::new();
        for work in s3_work(&s3) {
            done.push(run_work(&app, &work, ctx).await?);
        }
        return Ok(json!({ "runs": done }));
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut failed = Vec::new();
    for Delivery { id, receives, work } in deliveries(&sqs, message_work) {
        for w in work {
            let e = match run_work(&app, &w, ctx).await {
                Ok(summary) => {
                    tracing::info!(%summary, "off-import run");
                    continue;
                }
                Err(e) => e,
            };
            if receives >= OFF_IMPORT_MAX_RECEIVES {
                tracing::error!(message = %id, error = %ErrorChain(&e), receives, "the load failed on its last delivery; failing its job");
                let why = format!("failed {receives} times, the last: {e}");
                if let Err(e) = app.catalog.abandon_off_upload(&w, &why).await {
                    tracing::error!(error = %ErrorChain(&e), "could not fail the job either");
                }
            } else {
                tracing::error!(message = %id, error = %ErrorChain(&e), receives, "the load failed; SQS will redeliver the message and it goes on from its place");
            }
            failed.push(id);
            break;
        }
    }
    Ok(redeliver(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_their_work() {
        let upload = OffUpload {
            key: "off/india/p.jsonl.gz".into(),
            etag: Some("abc".into()),
            size: 10,
        };
        let resume = OffResumeMessage {
            resume_off_import: upload.clone(),
        };
        assert_eq!(
            message_work(&serde_json::to_string(&resume).unwrap()),
            Some(vec![upload])
        );
        let created = super::super::s3_object_created("uploads", "off/india/a b.jsonl", 10);
        assert_eq!(
            message_work(&created.to_string()),
            Some(vec![OffUpload {
                key: "off/india/a b.jsonl".into(),
                etag: None,
                size: 10,
            }])
        );
        assert_eq!(message_work("not json"), None);
        // The sample event's notification names its ETag.
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/off-import.json")).unwrap();
        let body = sample["Records"][0]["body"].as_str().unwrap();
        let work = message_work(body).unwrap();
        assert_eq!(
            work[0].etag.as_deref(),
            Some("9b2cf535f27731c974343645a3985328-2")
        );
    }
}
