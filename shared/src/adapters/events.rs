//! Events in AWS: `job.completed` and stock alerts on EventBridge (the envelope as the detail), and a paused import's
//! continuation as a message on its function's own queue (the same queue S3 notifications
//! arrive on, so the same function picks it up).

use async_trait::async_trait;

use crate::ports::{Events, StorageError, StorageResult};

/// The `source` of the events this service puts on the bus.
pub const EVENT_SOURCE: &str = "kirana.catalog";

#[derive(Clone, Debug)]
pub struct AwsEvents {
    pub sqs: aws_sdk_sqs::Client,
    /// The function's own queue (`IMPORT_QUEUE_URL`; only the import functions have one:
    /// `csv-import`'s import queue, `off-import`'s).
    pub queue_url: Option<String>,
    pub events: aws_sdk_eventbridge::Client,
    /// The bus (`EVENT_BUS_NAME`, default `default`).
    pub bus: String,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::Unavailable(Box::new(e))
}

#[async_trait]
impl Events for AwsEvents {
    async fn publish(&self, event: &crate::domain::Event) -> StorageResult<()> {
        let detail_type = event.kind.as_str();
        // The envelope is the detail: rules match on `detail-type` (the event's type), and the
        // webhooks' queue receives the event as webhooks will.
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(detail_type)
            .detail(serde_json::to_string(event).map_err(StorageError::backend)?)
            .time(aws_smithy_types::DateTime::from_millis(
                event.timestamp.unix_millis(),
            ))
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(unavailable)?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StorageError::Unavailable(
                format!("EventBridge refused {detail_type}: {why}").into(),
            ));
        }
        Ok(())
    }

    async fn run_again(&self, message: serde_json::Value) -> StorageResult<()> {
        let Some(queue_url) = &self.queue_url else {
            return Err(StorageError::backend(
                "this function has no queue of its own to run again from",
            ));
        };
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(message.to_string())
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
