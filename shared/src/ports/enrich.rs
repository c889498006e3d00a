//! The enrichment ports: Open Food Facts as a source of product facts, and the queue that
//! carries products to their lookup.
//!
//! Owns what adapters promise: a lookup says found, not found, or that OFF could not answer
//! now (worth retrying later, never a final answer); a request to look products up is
//! at-least-once and may be delayed, and the lookup is idempotent, so a product asked twice
//! is looked up once and filled once.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::StorageResult;
use crate::domain::{Gtin, ProductId};
use crate::off::OffProduct;

/// What Open Food Facts says of a barcode.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Box<OffProduct>),
    NotFound,
}

/// OFF did not answer usefully now: down, slow, throttling us (`retry_after` when it said),
/// or an answer that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Open Food Facts is unavailable: {detail}")]
pub struct Unavailable {
    pub detail: String,
    pub retry_after: Option<Duration>,
}

/// Open Food Facts, read-only: its product API and its image server.
#[async_trait]
pub trait OpenFoodFacts: Send + Sync {
    /// The product OFF has for `barcode`.
    async fn lookup(&self, barcode: &Gtin) -> Result<Lookup, Unavailable>;

    /// The image at `url` (an OFF image URL from a product record), at most `max_bytes`:
    /// `Ok(None)` when there is none to use (gone, too large, not OFF's).
    async fn image(&self, url: &str, max_bytes: u64) -> Result<Option<Bytes>, Unavailable>;
}

/// Where products go to be looked up: SQS and the `enrich` function in AWS, a task in the
/// local server.
#[async_trait]
pub trait EnrichQueue: Send + Sync {
    /// Asks for the lookup of `products`, not before `delay` (at most 15 minutes, SQS's
    /// longest delay). A failure here loses nothing: the products stay queued in storage and
    /// the sweep asks again.
    async fn request(&self, products: &[ProductId], delay: Duration) -> StorageResult<()>;
}

/// Longest delay a request may ask for (SQS's `DelaySeconds` limit).
pub const MAX_REQUEST_DELAY: Duration = Duration::from_secs(15 * 60);

/// A queue that only logs: products stay queued until a sweep (or a run of `catalog enrich`)
/// finds them.
pub struct NoEnrichQueue;

#[async_trait]
impl EnrichQueue for NoEnrichQueue {
    async fn request(&self, products: &[ProductId], _delay: Duration) -> StorageResult<()> {
        tracing::debug!(
            products = products.len(),
            "no enrichment queue here: the products stay queued for the sweep"
        );
        Ok(())
    }
}
