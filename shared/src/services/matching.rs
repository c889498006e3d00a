//! Matching rows to the catalog as a service: which index answers, how fresh it is, and what
//! a caller gets back.
//!
//! The index is built from the catalog (pending and approved products; rejected and merged ones
//! never match) or loaded from a snapshot in blob storage, then kept in memory and refreshed when
//! older than `max_age`. A refresh that fails keeps serving the index it has. In AWS the
//! `index-build` function publishes the snapshot on a schedule ([`Catalog::publish_match_index`]);
//! the matching functions load it at cold start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Mutex, RwLock};

use crate::auth::Principal;
use crate::domain::{Product, ProductId, VerificationStatus};
use crate::error_chain::ErrorChain;
use crate::matching::LoadedIndex;
use crate::matching::{CatalogRow, Decision, MatchIndex, MatchQuery, QueryBarcode};
use crate::metrics::Unit;
use crate::ports::{
    BlobKey, BlobStore, MAX_PAGE_SIZE, PageQuery, ProductFilter, ProductStore, StorageError,
};

use super::{Catalog, ServiceError, ServiceResult};

/// Where a fresh index comes from.
#[derive(Clone)]
pub enum IndexSource {
    /// Build from every product in the store (local runs, small catalogs).
    Store,
    /// Load the snapshot the `index-build` function wrote to this blob (AWS).
    Snapshot {
        blobs: Arc<dyn BlobStore>,
        key: BlobKey,
    },
}

/// Product attributes read as the pack size, in this order.
pub const SIZE_ATTRIBUTES: [&str; 4] = ["quantity", "pack_size", "weight", "volume"];

/// Candidates a caller may ask for.
pub const MAX_MATCH_CANDIDATES: usize = 10;

/// The index a catalog matches against, loaded lazily and refreshed when stale.
pub struct MatcherState {
    source: IndexSource,
    max_age: Duration,
    current: RwLock<Option<(Arc<LoadedIndex>, Instant)>>,
    /// Held by the one caller loading or refreshing the index. While it refreshes an index
    /// stale by less than another `max_age`, the others answer from that one (a build from the
    /// store, with its model, takes about half a second at 10,000 products); a first load, or
    /// a refresh long overdue (or a `max_age` of zero, as tests use), makes them wait for it.
    loading: Mutex<()>,
}

impl MatcherState {
    pub fn new(source: IndexSource, max_age: Duration) -> Self {
        Self {
            source,
            max_age,
            current: RwLock::new(None),
            loading: Mutex::new(()),
        }
    }
}

/// What publishing an index produced.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedIndex {
    pub products: usize,
    pub snapshot_bytes: usize,
    /// Where it was written (absent when the index is built in memory from the store).
    pub key: Option<String>,
    pub build_ms: u64,
}

/// Builds a matching index over products (the shape both the builder and the store source use).
pub fn index_products(products: &[Product]) -> MatchIndex {
    let ids: Vec<String> = products.iter().map(|p| p.product_id.to_string()).collect();
    let aliases: Vec<Vec<&str>> = products
        .iter()
        .map(|p| {
            p.regional_names
                .values()
                .flatten()
                .map(String::as_str)
                .collect()
        })
        .collect();
    MatchIndex::build(products.iter().enumerate().map(|(i, p)| {
        CatalogRow {
            id: &ids[i],
            name: &p.name,
            brand: p.brand.as_deref().unwrap_or(""),
            quantity: SIZE_ATTRIBUTES
                .iter()
                .find_map(|k| p.attributes.get(*k))
                .map(String::as_str)
                .unwrap_or(""),
            barcode: p.barcode.as_ref().map(|b| b.as_str()).unwrap_or(""),
            aliases: &aliases[i],
        }
    }))
}

/// Every product that may be matched, read page by page.
pub async fn matchable_products(store: &dyn ProductStore) -> Result<Vec<Product>, StorageError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(
                &ProductFilter::default(),
                &PageQuery {
                    after,
                    limit: MAX_PAGE_SIZE,
                },
            )
            .await?;
        out.extend(page.items.into_iter().filter(|p| {
            matches!(
                p.verification_status,
                VerificationStatus::Pending | VerificationStatus::Approved
            )
        }));
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// A row to match, as a caller gives it.
#[derive(Debug, Clone, Default)]
pub struct MatchRequest {
    pub name: String,
    pub brand: String,
    pub quantity: String,
    pub barcode: String,
    /// How many candidates to return (1 to 10).
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MatchedCandidate {
    pub product: Product,
    #[serde(flatten)]
    pub evidence: crate::matching::Candidate,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MatchResponse {
    /// `match`: safe to link to the first candidate; `review`: a person should confirm;
    /// `new`: the catalog does not have it.
    pub decision: Decision,
    pub query_barcode: QueryBarcode,
    /// The pack sizes read from the row.
    pub sizes: Vec<String>,
    pub candidates: Vec<MatchedCandidate>,
    /// Products in the index and when it was built or loaded.
    pub index_products: usize,
    pub index_age_seconds: u64,
}

impl Catalog {
    /// Loads the index ahead of the first request or import that needs it (a function's
    /// warm-up). A failure (no snapshot yet) is logged, and the next user tries again. Never
    /// cut short here: a user that arrives meanwhile waits for this load rather than start
    /// its own (the caller that must bound it, an init, drops the whole warm-up).
    pub async fn warm_match_index(&self) {
        if let Err(e) = self.match_index().await {
            tracing::warn!(error = %ErrorChain(&e), "no match index yet; the next user loads it")
        }
    }

    /// The current index, (re)loading it when missing or stale. One caller refreshes a stale
    /// index while the others keep answering from it (`MatcherState::loading`).
    pub async fn match_index(&self) -> ServiceResult<(Arc<LoadedIndex>, Duration)> {
        let max_age = self.matcher.max_age;
        let fresh = |current: &Option<(Arc<LoadedIndex>, Duration)>| {
            current.as_ref().filter(|(_, age)| *age < max_age).cloned()
        };
        let current = self.current_index().await;
        if let Some(fresh) = fresh(&current) {
            return Ok(fresh);
        }
        let _loading = match (&current, self.matcher.loading.try_lock()) {
            (_, Ok(held)) => held,
            // Stale by less than another `max_age`: it answers while the refresh runs.
            (Some(stale), Err(_)) if stale.1 < max_age * 2 => {
                return Ok(stale.clone());
            }
            (_, Err(_)) => self.matcher.loading.lock().await,
        };
        // Another caller may have loaded it while this one waited.
        let current = self.current_index().await;
        if let Some(fresh) = fresh(&current) {
            return Ok(fresh);
        }
        match self.load_index().await {
            Ok(index) => {
                let index = Arc::new(LoadedIndex::new(index));
                *self.matcher.current.write().await = Some((index.clone(), Instant::now()));
                Ok((index, Duration::ZERO))
            }
            Err(e) => match current {
                Some(previous) => {
                    tracing::warn!(error = %ErrorChain(&e), "refreshing the match index failed; serving the previous one");
                    Ok(previous)
                }
                None => Err(e),
            },
        }
    }

    /// The index in memory and its age, if any.
    async fn current_index(&self) -> Option<(Arc<LoadedIndex>, Duration)> {
        let current = self.matcher.current.read().await;
        current
            .as_ref()
            .map(|(index, at)| (index.clone(), at.elapsed()))
    }

    async fn load_index(&self) -> ServiceResult<MatchIndex> {
        let started = Instant::now();
        let index = match &self.matcher.source {
            IndexSource::Store => {
                let products = matchable_products(self.products.as_ref())
                    .await
                    .map_err(ServiceError::storage)?;
                tokio::task::spawn_blocking(move || index_products(&products))
                    .await
                    .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?
            }
            IndexSource::Snapshot { blobs, key } => {
                let blob = blobs.get(key).await.map_err(ServiceError::storage)?.ok_or_else(|| {
                    ServiceError::Unavailable(StorageError::backend(format!("no match index snapshot at {key}: the index-build function has not run yet")))
                })?;
                tokio::task::spawn_blocking(move || MatchIndex::from_owned_bytes(blob.bytes))
                    .await
                    .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?
                    .map_err(|e| ServiceError::Unavailable(StorageError::backend(e)))?
            }
        };
        tracing::info!(
            products = index.len(),
            ms = started.elapsed().as_millis() as u64,
            "match index loaded"
        );
        Ok(index)
    }

    /// Builds the index from the catalog and, for a snapshot source, writes the snapshot where
    /// the matching functions load it; the in-memory index is replaced either way.
    pub async fn publish_match_index(&self) -> ServiceResult<PublishedIndex> {
        let started = Instant::now();
        let products = matchable_products(self.products.as_ref())
            .await
            .map_err(ServiceError::storage)?;
        let (index, bytes) = tokio::task::spawn_blocking(move || {
            let index = index_products(&products);
            let bytes = index.to_bytes();
            (index, bytes)
        })
        .await
        .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        let mut published = PublishedIndex {
            products: index.len(),
            snapshot_bytes: bytes.len(),
            key: None,
            build_ms: 0,
        };
        if let IndexSource::Snapshot { blobs, key } = &self.matcher.source {
            blobs
                .put(key, bytes.into(), "application/octet-stream")
                .await
                .map_err(ServiceError::storage)?;
            published.key = Some(key.to_string());
        }
        *self.matcher.current.write().await =
            Some((Arc::new(LoadedIndex::new(index)), Instant::now()));
        published.build_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            products = published.products,
            bytes = published.snapshot_bytes,
            ms = published.build_ms,
            "match index published"
        );
        Ok(published)
    }

    /// Finds the catalog products behind a row, best first, with the decision.
    pub async fn match_product(
        &self,
        who: &Principal,
        req: MatchRequest,
    ) -> ServiceResult<MatchResponse> {
        let _ = who; // every role may match against the catalog
        let (index, age) = self.match_index().await?;
        let limit = req.limit.clamp(1, MAX_MATCH_CANDIDATES);
        let worker = index.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            worker.match_row(&MatchQuery {
                name: &req.name,
                brand: &req.brand,
                quantity: &req.quantity,
                barcode: &req.barcode,
            })
        })
        .await
        .map_err(|e| ServiceError::Internal(StorageError::backend(e)))?;
        self.metrics.put(
            &[("Decision", outcome.decision.as_str())],
            &[("MatchDecisions", Unit::Count, 1.0)],
        );
        let mut candidates = Vec::new();
        for c in outcome.candidates.iter().take(limit) {
            let Ok(id) = ProductId::parse(index.index.product_id(c.product)) else {
                continue;
            };
            // A product changed since the index was built may be gone or merged: skip it.
            if let Some(product) = self
                .products
                .get(&id)
                .await
                .map_err(ServiceError::storage)?
                && matches!(
                    product.verification_status,
                    VerificationStatus::Pending | VerificationStatus::Approved
                )
            {
                candidates.push(MatchedCandidate {
                    product,
                    evidence: c.clone(),
                });
            }
        }
        // The decision is about the engine's first candidate; if that one was skipped, a person
        // has to look.
        let first_kept = candidates.first().map(|c| c.evidence.product)
            == outcome.candidates.first().map(|c| c.product);
        let decision = match (candidates.is_empty(), outcome.decision) {
            (true, _) => Decision::New,
            (false, Decision::Match) if !first_kept => Decision::Review,
            (false, d) => d,
        };
        Ok(MatchResponse {
            decision,
            query_barcode: outcome.query_barcode,
            sizes: outcome.sizes.iter().map(|s| s.to_string()).collect(),
            candidates,
            index_products: index.index.len(),
            index_age_seconds: age.as_secs(),
        })
    }
}
