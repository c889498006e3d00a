//! Enrichment as a service: a product created with a barcode the catalog did not know (by a
//! scan, an import or the API) is looked up in Open Food Facts and filled from it.
//!
//! The product is the outbox: it is written `queued` with its creation (the same atomic
//! write), then a request goes on the enrich queue (best effort). A lookup reads the product
//! and acts only while it is still queued, so a repeated or late request changes nothing:
//! - found: what the product lacks is filled (`Product::enriched`), with OFF's attribution and
//!   a history entry; its front image, when the product has none, is handed to the image
//!   pipeline as an upload; the review status stays (never approved by this);
//! - not found: the product says so (OFF is not asked again for it);
//! - OFF down, slow or throttling: asked again later, after a pause that doubles with the
//!   time the product has waited (1 minute to 15), for up to [`GIVE_UP_AFTER`]; then the
//!   product says `failed` and why. Nothing of this blocks or fails what created the product.
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
    /// Nothing to do: the product is gone, has no barcode, or its lookup is not queued (done
    /// before: a repeated request).
    NotQueued,
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

    /// Asks again for the lookups still queued that were asked for more than `older_than`
    /// ago (at most [`SWEEP_LIMIT`]): the requests a crash or a refused send lost. Products
    /// whose request is only waiting out a retry are asked twice, which a lookup shrugs off.
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
        let Some(barcode) = product.barcode.clone() else {
            return Ok(EnrichOutcome::NotQueued);
        };
        let now = Timestamp::now();
        let queued_at = product.enrichment.as_ref().map_or(now, |e| e.queued_at);
        match off.lookup(&barcode).await {
            Ok(Lookup::Found(record)) => {
                let facts = record.facts(product_url(barcode.as_str()));
                // The image first: a crash after the write would lose it, one before loses
                // nothing (the product is still queued, the upload is processed or swept).
                let upload = match (&product.canonical_image_urls, &facts.image_url) {
                    (None, Some(url)) => self.fetch_image(off, url).await,
                    _ => None,
                };
                let filled = self
                    .write_enrichment(id, "filled from Open Food Facts", |p| {
                        let mut next = p.enriched(&facts, Timestamp::now());
                        if upload.is_some()
                            && let Some(e) = next.enrichment.as_mut()
                        {
                            e.filled.push("image".into());
                        }
                        next
                    })
                    .await?
                    .and_then(|p| p.enrichment.map(|e| e.filled));
                let Some(filled) = filled else {
                    return Ok(EnrichOutcome::NotQueued);
                };
                if let Some(bytes) = upload {
                    self.hand_image_over(id, bytes).await;
                }
                Ok(EnrichOutcome::Found { filled })
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
                    return Ok(EnrichOutcome::Retry {
                        after: retry_delay(waited, unavailable.retry_after),
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
        let content_type = match bytes.first() {
            Some(0x89) => "image/png",
            Some(b'R') => "image/webp",
            _ => "image/jpeg",
        };
        if let Err(e) = self.images.put(&blob, bytes, content_type).await {
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
