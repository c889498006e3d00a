//! Services: the catalog's operations, with their rules and authorization.
//!
//! Owns "who may do what, and what happens": every operation takes the verified caller
//! ([`Principal`]) and checks it here, so the HTTP functions and the CLI cannot forget to.
//! Services speak only to ports; they never see DynamoDB, S3 or SQL.

pub mod accounts;
pub mod enrichment;
pub mod exports;
pub mod health;
pub mod images;
pub mod imports;
mod inventory;
mod jobs;
pub mod matching;
pub mod merge;
pub mod off_import;
mod product_events;
mod products;
pub mod review;
mod scan;
pub mod webhooks;

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use inventory::{AdjustRequest, PutRequest};
pub use product_events::{EVENTS_PER_PAGE, ORPHAN_AFTER};
pub use products::{Changes, Decision};
pub use scan::{MAX_SCAN_BATCH, ScanMode, ScanOutcome, ScanRequest};

use crate::auth::Forbidden;
use crate::cursor::{CursorKey, InvalidCursor};
use crate::domain::{FieldErrors, Gtin, ProductId, Quantity, QuantityDelta};
use crate::metrics::{Metrics, Unit};
use crate::ports::{
    BlobStore, Continuation, DEFAULT_PAGE_SIZE, EnrichQueue, Events, InventoryStore, JobStore,
    MAX_PAGE_SIZE, NoEnrichQueue, Page, PageQuery, ProductStore, StorageError,
};

/// The ports a running catalog uses, plus the key that seals cursors. Built once per cold start.
#[derive(Clone)]
pub struct Catalog {
    pub products: Arc<dyn ProductStore>,
    pub inventory: Arc<dyn InventoryStore>,
    pub jobs: Arc<dyn JobStore>,
    /// CSV uploads and import reports.
    pub uploads: Arc<dyn BlobStore>,
    /// Product images.
    pub images: Arc<dyn BlobStore>,
    /// The matching index and where it comes from.
    pub matcher: Arc<matching::MatcherState>,
    /// Where events are announced and paused imports ask to be resumed (logs only until set
    /// with [`Catalog::with_events`]).
    pub events: Arc<dyn Events>,
    /// Where new products with a barcode go for their Open Food Facts lookup (nowhere until
    /// set with [`Catalog::with_enrich_queue`]: the sweep finds them).
    pub enrich_queue: Arc<dyn EnrichQueue>,
    /// Where operational metrics go (none until set with [`Catalog::with_metrics`]).
    pub metrics: Metrics,
    /// How old a change must be before the change feed gives it (see
    /// [`Catalog::with_change_settle`]).
    change_settle: std::time::Duration,
    cursors: CursorKey,
}

/// How long after it is made a change is in the change feed: longer than a product write can
/// take from its stamp to its index (a DynamoDB call's budget is 5 s), so a reader that has
/// passed a moment never sees a change stamped before it arrive later.
pub const CHANGE_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Events that only go to the log (and runs that pause are resumed by whoever runs them next:
/// `catalog import` and the local server never pause).
pub struct LoggedEvents;

#[async_trait::async_trait]
impl Events for LoggedEvents {
    async fn publish(&self, event: &crate::domain::Event) -> Result<(), StorageError> {
        let body = serde_json::to_string(event).unwrap_or_default();
        tracing::info!(event = %event.kind, id = %event.id, %body, "{}", event.kind);
        Ok(())
    }

    async fn run_again(&self, message: serde_json::Value) -> Result<(), StorageError> {
        tracing::warn!(%message, "a run paused; nothing will resume it here (run it again)");
        Ok(())
    }
}

impl Catalog {
    pub fn new(
        products: Arc<dyn ProductStore>,
        inventory: Arc<dyn InventoryStore>,
        jobs: Arc<dyn JobStore>,
        uploads: Arc<dyn BlobStore>,
        images: Arc<dyn BlobStore>,
        matcher: matching::MatcherState,
        cursors: CursorKey,
    ) -> Self {
        Self {
            products,
            inventory,
            jobs,
            uploads,
            images,
            matcher: Arc::new(matcher),
            events: Arc::new(LoggedEvents),
            enrich_queue: Arc::new(NoEnrichQueue),
            metrics: Metrics::none(),
            change_settle: CHANGE_SETTLE,
            cursors,
        }
    }

    /// The same catalog, giving changes in the feed once they are `settle` old (tests against
    /// a local server, whose index is written with the item, shorten it).
    pub fn with_change_settle(mut self, settle: std::time::Duration) -> Self {
        self.change_settle = settle;
        self
    }

    /// The key that seals this catalog's cursors (other services' listings seal theirs with
    /// it too).
    pub fn cursor_key(&self) -> &CursorKey {
        &self.cursors
    }

    /// The same catalog, recording its metrics in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// An import or load has ended (`completed` or `failed`): its rows go to the metrics and
    /// `job.completed` is announced.
    pub(crate) async fn job_ended(&self, job: &crate::domain::CsvJob) -> Result<(), StorageError> {
        self.record_job_rows(job);
        self.events.completed(job).await
    }

    /// A job's rows by outcome, in the metrics (`JobRows` by `Kind` and `Outcome`): once, as it
    /// ends.
    pub(crate) fn record_job_rows(&self, job: &crate::domain::CsvJob) {
        let c = &job.counters;
        for (outcome, rows) in [
            ("successful", c.successful),
            ("failed", c.failed),
            ("duplicates", c.duplicates_found),
        ] {
            self.metrics.put(
                &[("Kind", job.kind.as_str()), ("Outcome", outcome)],
                &[("JobRows", Unit::Count, rows as f64)],
            );
        }
    }

    /// The same catalog, sending new products' lookups to `queue`.
    pub fn with_enrich_queue(mut self, queue: Arc<dyn EnrichQueue>) -> Self {
        self.enrich_queue = queue;
        self
    }

    /// The same catalog, announcing job events to `events`.
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }
}

/// What an operation can fail with. The HTTP edge maps each variant to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("barcode {barcode} already belongs to product {existing}")]
    BarcodeTaken { barcode: Gtin, existing: ProductId },
    #[error("{what} already exists")]
    AlreadyExists { what: &'static str },
    /// The resource's state does not allow the operation (409 with `code`).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the record has changed since you read it (it is now at version {current:?})")]
    VersionMismatch { current: Option<u64> },
    #[error("only {available} in stock; cannot apply {delta}")]
    InsufficientStock {
        available: Quantity,
        delta: QuantityDelta,
    },
    #[error("the quantity would exceed the maximum of {max}")]
    QuantityOverflow { max: &'static str },
    #[error("this idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    InvalidCursor(#[from] InvalidCursor),
    /// Storage is down or throttled: retry later.
    /// 401: a sign-in code or refresh token that is not good (`code_invalid`,
    /// `refresh_token_invalid`, `refresh_token_reused`, `session_ended`, `user_disabled`).
    #[error("{detail}")]
    SignIn { code: &'static str, detail: String },
    /// 429: too many requests of this kind from this caller; try again after `retry_after`.
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: std::time::Duration,
    },
    #[error("storage is unavailable")]
    Unavailable(#[source] StorageError),
    #[error("internal error")]
    Internal(#[source] StorageError),
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Invalid(e)
    }
}

impl ServiceError {
    /// The generic mapping of a storage error an operation did not handle itself.
    /// Whether this is [`merged_product`]'s answer (the product was merged meanwhile).
    pub fn is_product_merged(&self) -> bool {
        matches!(self, ServiceError::Invalid(f) if f.0.iter().any(|e| e.code == "product_merged"))
    }

    pub fn storage(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => ServiceError::Unavailable(e),
            StorageError::BarcodeTaken { barcode, existing } => {
                ServiceError::BarcodeTaken { barcode, existing }
            }
            StorageError::VersionConflict { current } => ServiceError::VersionMismatch { current },
            StorageError::OperationKeyReused => ServiceError::IdempotencyKeyReused,
            StorageError::QuantityOverflow => ServiceError::QuantityOverflow { max: "10000000" },
            StorageError::BadContinuation => ServiceError::InvalidCursor(InvalidCursor),
            StorageError::ProductMerged { product, into } => merged_product(&product, into),
            other => ServiceError::Internal(other),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Stock asked of `product`, which was merged into `into`: `422 product_merged`.
pub fn merged_product(product: &ProductId, into: Option<ProductId>) -> ServiceError {
    let into = into.map(|t| t.to_string()).unwrap_or_default();
    FieldErrors::single(
        "product_id",
        "product_merged",
        format!("product {product} was merged into {into}; stock that product instead"),
    )
    .into()
}

/// What a client asks of a listing: an opaque cursor from the previous page, and a size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl PageRequest {
    /// Checks the size (1 to 100, default 25); the cursor is checked against its scope later.
    pub fn validate(&self, errors: &mut FieldErrors) {
        if let Some(l) = self.limit
            && (l == 0 || l > MAX_PAGE_SIZE)
        {
            errors.add(
                "query.limit",
                "out_of_range",
                format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
            );
        }
    }
}

/// A page as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

impl Catalog {
    /// Turns a client's page request into the adapter's, checking the cursor belongs to `scope`.
    fn open_page(&self, scope: &str, req: &PageRequest) -> ServiceResult<PageQuery> {
        let after = match &req.cursor {
            Some(c) => Some(self.cursors.open(scope, c)?),
            None => None,
        };
        let limit = req
            .limit
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        Ok(PageQuery { after, limit })
    }

    fn seal_page<T, U>(&self, scope: &str, page: Page<T>, f: impl FnMut(T) -> U) -> Listing<U> {
        Listing {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page
                .next
                .map(|c: Continuation| self.cursors.seal(scope, &c)),
        }
    }
}

/// Who `who` is, as a product's history records it.
pub(crate) fn actor(who: &crate::auth::Principal) -> crate::domain::Actor {
    crate::domain::Actor {
        sub: who.sub.clone(),
        role: who.role.as_str().to_string(),
        request_id: who.request_id.clone(),
    }
}

/// A stable fingerprint of a request, to tell a retry from a different request under one key.
fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
