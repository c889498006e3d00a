//! Enrichment as a service: a product created with a barcode the catalog did not know (by a
//! scan, an import or the API) is looked up in Open Food Facts and filled from it.
//!
//! The product is the outbox: it is written `queued` with its creation (the same atomic
//! write), then a request goes on the enrich queue (best effort). A lookup reads the product
//! and acts only while it is still queued, so a repeated or late request changes nothing:
//! - found: what the product lacks is filled (`Product::enriched`), with OFF's attribution and
//!   a history entry; its front image, when the product still has none, is handed to the
//!   image pipeline as an upload (whose own history entry and `image_state` say what became
//!   of it); the review status stays (never approved by this);
//! - not found: the product says so (OFF is not asked again for it);
//! - OFF down, slow or throttling: asked again later, after a pause that doubles with the
//!   time the product has waited (1 minute to 15), for up to [`GIVE_UP_AFTER`]; then the
//!   product says `failed` and why. The next try's due time is kept on the product, so the
//!   sweep leaves waiting lookups alone and an early request ends at once: one chain of
//!   retries per product, whatever was redelivered. Nothing of this blocks or fails what
//!   created the product.
//!
//! A request lost (the queue refused it, the process died) is found by the sweep
//! ([`Catalog::request_stalled_enrichments`]): the local server's every few seconds, the
//! `enrich` function's on a schedule in AWS.

use std::time::Duration;

use bytes::Bytes;

use super::{Catalog, ServiceError, ServiceResult};
use crate::auth::{Principal, REVIEWERS};
use crate::domain::{
    Actor, HistoryEntry, Product, ProductAction, ProductId, Timestamp, VerificationStatus,
};
use crate::images::MAX_UPLOAD_BYTES;
use crate::off::product_url;
use crate::ports::{BlobKey, Lookup, MAX_REQUEST_DELAY, OpenFoodFacts, StorageError};

/// How long a lookup is retried while OFF does not answer, counted from when it was queued.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The shortest pause before a lookup is tried again.
pub const FIRST_RETRY: Duration = Duration::from_secs(60);
/// Times an enrichment write is tried again when the product changed meanwhile.
const WRITE_ATTEMPTS: usize = 5;
/// Products one sweep asks for again.
pub const SWEEP_LIMIT: usize = 500;

/// What a lookup did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum EnrichOutcome {
    /// OFF knew the product: these fields were filled.
    Found {
        filled: Vec<String>,
    },
    NotFound,
    /// OFF did not answer for [`GIVE_UP_AFTER`]: the product says `failed`.
    Failed {
        detail: String,
    },
    /// OFF did not answer now: ask again after `after`.
    Retry {
        #[serde(with = "secs")]
        after: Duration,
        detail: String,
    },
    /// Nothing to do: the product is gone, or its lookup is not queued (done before: a
    /// repeated request).
    NotQueued,
    /// The lookup's next try is not due yet: another request waits for it, this one ends.
    NotDue,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// Who the history says made an enrichment.
fn enricher() -> Actor {
    Actor::system(crate::domain::enrichment::OFF_SOURCE)
}

/// The pause before the next try of a lookup queued `waited` ago: as long as it has waited,
/// from 1 to 15 minutes (so the pauses double until they reach 15 minutes).
pub fn retry_delay(waited: Duration, asked: Option<Duration>) -> Duration {
    waited
        .max(asked.unwrap_or_default())
        .clamp(FIRST_RETRY, MAX_REQUEST_DELAY)
}

fn since(at: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(now.unix_millis() - at.unix_millis()).unwrap_or(0))
}

impl Catalog {
    /// Puts new products' lookups on the enrich queue: after a creation, best effort (a
    /// failure is logged; the sweep asks again).
    pub(crate) async fn request_enrichment(&self, products: &[&Product]) {
        let ids: Vec<ProductId> = products
            .iter()
            .filter(|p| p.enrichment.as_ref().is_some_and(|e| e.is_queued()))
            .map(|p| p.product_id)
            .collect();
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.enrich_queue.request(&ids, Duration::ZERO).await {
            tracing::warn!(error = %e, products = ids.len(), "enrich queue refused the lookups; the sweep will ask again");
        }
    }

    /// Asks again for the lookups still queued whose try was due more than `older_than` ago
    /// (at most [`SWEEP_LIMIT`], the longest overdue first): the requests a crash or a
    /// refused send lost. A lookup waiting out a retry is due later, so it is not asked for;
    /// were it asked anyway (a late retry), the request that comes before its due time ends
    /// at once ([`EnrichOutcome::NotDue`]).
    pub async fn request_stalled_enrichments(&self, older_than: Duration) -> ServiceResult<usize> {
        let before =
            Timestamp::now().plus(-time::Duration::try_from(older_than).unwrap_or_default());
        let ids = self
            .products
            .awaiting_enrichment(before, SWEEP_LIMIT)
            .await
            .map_err(ServiceError::storage)?;
        if !ids.is_empty() {
            self.enrich_queue
                .request(&ids, Duration::ZERO)
                .await
                .map_err(ServiceError::storage)?;
        }
        Ok(ids.len())
    }

    /// An admin or reviewer asks for a product's lookup again (one that failed, was not found, or found
    /// before OFF knew more): queued, and requested now.
    pub async fn request_lookup(&self, who: &Principal, id: &ProductId) -> ServiceResult<Product> {
        who.require_role(REVIEWERS)?;
        for _ in 0..WRITE_ATTEMPTS {
            let product = self.get_product(who, id).await?;
            if product.verification_status == VerificationStatus::Merged {
                return Err(ServiceError::Conflict {
                    code: "product_merged",
                    detail: format!("product {id} was merged into another; look that one up"),
                });
            }
            if product.barcode.is_none() {
                return Err(ServiceError::Conflict {
                    code: "no_barcode",
                    detail: format!("product {id} has no barcode to look up"),
                });
            }
            if product.enrichment.as_ref().is_some_and(|e| e.is_queued()) {
                // Waiting out a pause: its next try is due now.
                match self
                    .products
                    .defer_lookup(id, product.version, Timestamp::now())
                    .await
                {
                    Ok(()) => {}
                    Err(StorageError::VersionConflict { .. }) => continue,
                    Err(e) => return Err(ServiceError::storage(e)),
                }
                self.request_enrichment(&[&product]).await;
                return Ok(product);
            }
            let next = product.lookup_queued(Timestamp::now());
            let history = HistoryEntry::of(
                Some(&product),
                &next,
                ProductAction::Enriched,
                super::actor(who),
                Some("Open Food Facts lookup asked for again".into()),
            );
            match self.products.update(&product, &next, &history).await {
                Ok(()) => {
                    self.request_enrichment(&[&next]).await;
                    return Ok(next);
                }
                Err(StorageError::VersionConflict { .. }) => continue,
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        Err(busy())
    }

    /// Looks product `id` up in `off` and records what it said (see the module's docs).
    pub async fn enrich(
        &self,
        off: &dyn OpenFoodFacts,
        id: &ProductId,
    ) -> ServiceResult<EnrichOutcome> {
        let Some(product) = self.queued_product(id).await? else {
            return Ok(EnrichOutcome::NotQueued);
        };
        let now = Timestamp::now();
        let (queued_at, due) = product
            .enrichment
            .as_ref()
            .map_or((now, None), |e| (e.queued_at, e.due));
        // A request early for the next try: another request waits for it (a duplicate, or the
        // sweep's), and this one ends here, so retries never multiply.
        if due.is_some_and(|d| d > now.plus(time::Duration::seconds(2))) {
            return Ok(EnrichOutcome::NotDue);
        }
        // A product merged meanwhile stands for another (and one without a barcode has
        // nothing to look up): its lookup ends.
        let barcode = match &product.barcode {
            Some(b) if product.verification_status != VerificationStatus::Merged => b.clone(),
            _ => {
                let detail =
                    "the product was merged into another (or lost its barcode) before its lookup";
                let done = self
                    .write_enrichment(id, detail, |p| p.lookup_failed(detail, Timestamp::now()))
                    .await?;
                return Ok(
                    done.map_or(EnrichOutcome::NotQueued, |_| EnrichOutcome::Failed {
                        detail: detail.into(),
                    }),
                );
            }
        };
        match off.lookup(&barcode).await {
            Ok(Lookup::Found(record)) => {
                let facts = record.facts(product_url(barcode.as_str()));
                // OFF's front image, for a product without one (fetched before the write,
                // decided again on the product the write reads).
                let image = match (&product.canonical_image_urls, &facts.image_url) {
                    (None, Some(url)) => self.fetch_image(off, url).await,
                    _ => None,
                };
                let image_wanted = std::sync::atomic::AtomicBool::new(false);
                let filled = std::sync::Mutex::new(Vec::new());
                let written = self
                    .write_enrichment(id, "filled from Open Food Facts", |p| {
                        image_wanted.store(
                            p.canonical_image_urls.is_none(),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        let (next, new) = p.enriched(&facts, Timestamp::now());
                        *filled.lock().unwrap_or_else(|e| e.into_inner()) = new;
                        next
                    })
                    .await?;
                if written.is_none() {
                    return Ok(EnrichOutcome::NotQueued);
                }
                // The image goes through the pipeline as an upload of the product's image
                // (after the write: a crash between them costs only the image).
                if let Some(bytes) = image
                    && image_wanted.load(std::sync::atomic::Ordering::Relaxed)
                {
                    self.hand_image_over(id, bytes).await;
                }
                Ok(EnrichOutcome::Found {
                    filled: filled.into_inner().unwrap_or_else(|e| e.into_inner()),
                })
            }
            Ok(Lookup::NotFound) => {
                let done = self
                    .write_enrichment(id, "not in Open Food Facts", |p| {
                        p.not_found_upstream(Timestamp::now())
                    })
                    .await?;
                Ok(done.map_or(EnrichOutcome::NotQueued, |_| EnrichOutcome::NotFound))
            }
            Err(unavailable) => {
                let waited = since(queued_at, now);
                if waited < GIVE_UP_AFTER {
                    let after = retry_delay(waited, unavailable.retry_after);
                    // The next try's due time, for the sweep and for requests that come early.
                    let due = now.plus(time::Duration::try_from(after).unwrap_or_default());
                    match self.products.defer_lookup(id, product.version, due).await {
                        Ok(()) | Err(StorageError::VersionConflict { .. }) => {}
                        Err(e) => return Err(ServiceError::storage(e)),
                    }
                    return Ok(EnrichOutcome::Retry {
                        after,
                        detail: unavailable.detail,
                    });
                }
                let detail = format!(
                    "Open Food Facts did not answer for {} hours: {}",
                    GIVE_UP_AFTER.as_secs() / 3600,
                    unavailable.detail
                );
                let done = self
                    .write_enrichment(id, "Open Food Facts lookup given up", |p| {
                        p.lookup_failed(&detail, Timestamp::now())
                    })
                    .await?;
                Ok(
                    done.map_or(EnrichOutcome::NotQueued, |_| EnrichOutcome::Failed {
                        detail,
                    }),
                )
            }
        }
    }

    /// The product, when its lookup is queued.
    async fn queued_product(&self, id: &ProductId) -> ServiceResult<Option<Product>> {
        let product = self.products.get(id).await.map_err(ServiceError::storage)?;
        Ok(product.filter(|p| p.enrichment.as_ref().is_some_and(|e| e.is_queued())))
    }

    /// Writes `change` of the product with its history entry while its lookup is still
    /// queued, reading it again when it changed meanwhile. `None`: it is no longer queued.
    async fn write_enrichment(
        &self,
        id: &ProductId,
        reason: &str,
        change: impl Fn(&Product) -> Product,
    ) -> ServiceResult<Option<Product>> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(product) = self.queued_product(id).await? else {
                return Ok(None);
            };
            let next = change(&product);
            let history = HistoryEntry::of(
                Some(&product),
                &next,
                ProductAction::Enriched,
                enricher(),
                Some(reason.to_string()),
            );
            match self.products.update(&product, &next, &history).await {
                Ok(()) => return Ok(Some(next)),
                Err(StorageError::VersionConflict { .. }) => continue,
                Err(e) => return Err(ServiceError::storage(e)),
            }
        }
        Err(busy())
    }

    /// OFF's front image, when it can be had (a failure only costs the image).
    async fn fetch_image(&self, off: &dyn OpenFoodFacts, url: &str) -> Option<Bytes> {
        match off.image(url, MAX_UPLOAD_BYTES).await {
            Ok(Some(bytes)) if !bytes.is_empty() => Some(bytes),
            Ok(_) => None,
            Err(e) => {
                tracing::info!(url, error = %e, "Open Food Facts image not fetched");
                None
            }
        }
    }

    /// Hands OFF's image to the image pipeline as an upload of the product's image, and
    /// processes it (in AWS the upload's notification would too: whichever comes second
    /// finds it done). A failure costs only the image: it is logged.
    async fn hand_image_over(&self, id: &ProductId, bytes: Bytes) {
        let upload_id = uuid::Uuid::now_v7();
        let key = format!("{}{id}/{upload_id}", super::images::UPLOAD_PREFIX);
        let Ok(blob) = BlobKey::parse(&key) else {
            return;
        };
        // The pipeline reads what the bytes are; the type stored with them says nothing.
        if let Err(e) = self
            .images
            .put(&blob, bytes, "application/octet-stream")
            .await
        {
            tracing::warn!(product = %id, error = %e, "storing the Open Food Facts image failed");
            return;
        }
        if let Err(e) = self.process_upload(&key).await {
            tracing::warn!(product = %id, error = %e, "processing the Open Food Facts image failed; its notification may still");
        }
    }
}

fn busy() -> ServiceError {
    ServiceError::Unavailable(StorageError::Unavailable(
        "the product kept changing; try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_one_minute_to_fifteen() {
        let m = |s: u64| Duration::from_secs(s * 60);
        assert_eq!(retry_delay(Duration::ZERO, None), m(1));
        assert_eq!(retry_delay(m(1), None), m(1));
        assert_eq!(retry_delay(m(2), None), m(2));
        assert_eq!(retry_delay(m(5), None), m(5));
        assert_eq!(retry_delay(m(600), None), m(15));
        // OFF's Retry-After is honoured, within SQS's longest delay.
        assert_eq!(retry_delay(m(1), Some(m(3))), m(3));
        assert_eq!(retry_delay(m(1), Some(m(60))), m(15));
    }
}
