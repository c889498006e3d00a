//! The enrichment queue: products on their way to their Open Food Facts lookup.
//!
//! - [`SqsEnrichQueue`] (AWS): one message per product on the enrich queue (`ENRICH_QUEUE_URL`),
//!   sent in batches of ten, delayed as asked; the `enrich` function reads them.
//! - [`LocalEnrichQueue`] (the local server): an in-process channel a task reads, with the
//!   delays kept by timers. A product already waiting is not queued twice; what a restart
//!   loses the local sweep finds again (the product says it is queued).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::domain::ProductId;
use crate::ports::{EnrichQueue, MAX_REQUEST_DELAY, StorageResult};

/// The body of an enrich queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichMessage {
    /// The product to look up.
    pub enrich: ProductId,
}

#[cfg(feature = "aws")]
pub use aws::SqsEnrichQueue;

#[cfg(feature = "aws")]
mod aws {
    use super::*;
    use crate::ports::StorageError;

    #[derive(Clone, Debug)]
    pub struct SqsEnrichQueue {
        pub sqs: aws_sdk_sqs::Client,
        pub queue_url: String,
    }

    #[async_trait]
    impl EnrichQueue for SqsEnrichQueue {
        async fn request(&self, products: &[ProductId], delay: Duration) -> StorageResult<()> {
            let delay = delay.min(MAX_REQUEST_DELAY).as_secs() as i32;
            for chunk in products.chunks(10) {
                let mut batch = self.sqs.send_message_batch().queue_url(&self.queue_url);
                for (i, id) in chunk.iter().enumerate() {
                    let body = serde_json::to_string(&EnrichMessage { enrich: *id })
                        .map_err(StorageError::backend)?;
                    batch = batch.entries(
                        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body)
                            .delay_seconds(delay)
                            .build()
                            .map_err(StorageError::backend)?,
                    );
                }
                let out = batch
                    .send()
                    .await
                    .map_err(|e| StorageError::Unavailable(Box::new(e)))?;
                if let Some(f) = out.failed().first() {
                    return Err(StorageError::Unavailable(
                        format!(
                            "SQS refused {} of {} enrich messages: {}",
                            out.failed().len(),
                            chunk.len(),
                            f.message().unwrap_or(f.code())
                        )
                        .into(),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The local server's queue: a channel, and the products waiting in it or in a timer.
#[derive(Clone)]
pub struct LocalEnrichQueue {
    tx: mpsc::UnboundedSender<ProductId>,
    waiting: Arc<Mutex<HashSet<ProductId>>>,
}

/// The reading end of a [`LocalEnrichQueue`].
pub struct LocalEnrichReceiver {
    rx: mpsc::UnboundedReceiver<ProductId>,
    tx: mpsc::UnboundedSender<ProductId>,
    waiting: Arc<Mutex<HashSet<ProductId>>>,
}

impl LocalEnrichQueue {
    pub fn new() -> (Self, LocalEnrichReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(HashSet::new()));
        (
            LocalEnrichQueue {
                tx: tx.clone(),
                waiting: waiting.clone(),
            },
            LocalEnrichReceiver { rx, tx, waiting },
        )
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashSet<ProductId>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LocalEnrichReceiver {
    /// The next product to look up (`None` once every queue handle is gone). It stays
    /// waiting (requests for it change nothing) until [`LocalEnrichReceiver::finish`].
    pub async fn next(&mut self) -> Option<ProductId> {
        self.rx.recv().await
    }

    /// The lookup of `id` is done (`again: None`), or comes back after `again`.
    pub fn finish(&self, id: ProductId, again: Option<Duration>) {
        let Some(delay) = again else {
            self.waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return;
        };
        let (tx, waiting) = (self.tx.clone(), self.waiting.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay.min(MAX_REQUEST_DELAY)).await;
            if tx.send(id).is_err() {
                waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            }
        });
    }
}

#[async_trait]
impl EnrichQueue for LocalEnrichQueue {
    async fn request(&self, products: &[ProductId], delay: Duration) -> StorageResult<()> {
        let delay = delay.min(MAX_REQUEST_DELAY);
        for id in products {
            if !self.waiting().insert(*id) {
                continue;
            }
            if delay.is_zero() {
                if self.tx.send(*id).is_err() {
                    // Nobody reads the queue here: the product stays queued in storage.
                    self.waiting().remove(id);
                }
            } else {
                let (tx, waiting, id) = (self.tx.clone(), self.waiting.clone(), *id);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    if tx.send(id).is_err() {
                        waiting
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                    }
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_product_is_queued_once_and_delays_hold() {
        let (q, mut rx) = LocalEnrichQueue::new();
        let (a, b) = (ProductId::new(), ProductId::new());
        q.request(&[a, a], Duration::ZERO).await.unwrap();
        q.request(&[b], Duration::from_secs(60)).await.unwrap();
        q.request(&[b], Duration::ZERO).await.unwrap();
        assert_eq!(rx.next().await, Some(a));
        let start = tokio::time::Instant::now();
        assert_eq!(rx.next().await, Some(b));
        assert_eq!(start.elapsed().as_secs(), 60);
        // Being looked up: a request changes nothing; done, it may come again.
        q.request(&[a], Duration::ZERO).await.unwrap();
        rx.finish(a, None);
        q.request(&[a], Duration::ZERO).await.unwrap();
        assert_eq!(rx.next().await, Some(a));
        // Back after a pause, whatever is asked meanwhile.
        rx.finish(a, Some(Duration::from_secs(30)));
        q.request(&[a], Duration::ZERO).await.unwrap();
        let start = tokio::time::Instant::now();
        assert_eq!(rx.next().await, Some(a));
        assert_eq!(start.elapsed().as_secs(), 30);
    }
}
