//! `image-process`: what becomes of an uploaded image. The event is an SQS batch whose bodies
//! are S3 notifications (`uploads/products/<product>/<upload>` or
//! `uploads/stores/<store>/<product>/<upload>` created); a
//! direct S3 event works too (locally, in tests). A message whose processing fails (storage
//! down) is reported in `batchItemFailures`, so SQS redelivers only it, and after
//! [`IMAGE_MAX_RECEIVES`] moves it to the dead-letter queue. A file that is not a usable image
//! is not a failure: the product (or the item) records why.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

use super::{
    Delivery, Trigger, TriggerContext, TriggerSource, bad_event, created_keys, deliveries,
    is_s3_event, redeliver, s3_notification,
};
use crate::app::App;
use crate::error_chain::ErrorChain;
use crate::services::ServiceError;

/// Deliveries of an image message before SQS moves it to the dead-letter queue (the queue's
/// `maxReceiveCount` in infra/template.yaml).
pub const IMAGE_MAX_RECEIVES: u32 = 5;

pub static IMAGE_PROCESS: Trigger = Trigger {
    function: "image-process",
    source: TriggerSource::S3,
    handler: |app, event, _ctx: TriggerContext| Box::pin(image_process(app, event)),
    warm_up: None,
    webhook_sender: None,
};

/// Processes the upload at `key`; its summary.
async fn process(app: &App, key: &str) -> Result<Value, ServiceError> {
    let processed = app.catalog.process_upload(key).await?;
    Ok(json!({
        "key": key,
        "image_state": processed.status(),
    }))
}

async fn image_process(app: Arc<App>, event: Value) -> Result<Value, ServiceError> {
    if is_s3_event(&event) {
        let s3 = serde_json::from_value(event).map_err(bad_event)?;
        let mut done = Vec::new();
        for key in created_keys(&s3) {
            done.push(process(&app, &key).await?);
        }
        return Ok(json!({ "images": done }));
    }
    let sqs: SqsEvent = serde_json::from_value(event).map_err(bad_event)?;
    let mut failed = Vec::new();
    let mut done = Vec::new();
    let keys = |body: &str| s3_notification(body).map(|s3| created_keys(&s3));
    for Delivery { id, work, .. } in deliveries(&sqs, keys) {
        for key in work {
            match process(&app, &key).await {
                Ok(summary) => done.push(summary),
                Err(e) => {
                    tracing::error!(message = %id, key, error = %ErrorChain(&e), "image processing failed; SQS will redeliver the message");
                    failed.push(id);
                    break;
                }
            }
        }
    }
    let images = Value::Array(done);
    tracing::info!(%images, "image-process batch done");
    Ok(redeliver(failed))
}
