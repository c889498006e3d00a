//! Storage ports: the small traits services use, and the errors and pages they share.
//!
//! Owns the contract every adapter honours (and the contract tests check): what is atomic,
//! what is conditional, what each failure means. Adapters live in `adapters/`; nothing here
//! knows about DynamoDB, S3 or SQLite.

mod accounts;
mod enrich;
mod keys;
mod webhooks;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{
    Actor, Adjustment, CsvJob, Gtin, HistoryEntry, InventoryDetails, InventoryItem, JobId,
    Movement, MovementOrigin, Product, ProductId, ProductSummary, Quantity, StoreId, Timestamp,
    VerificationStatus,
};

pub use accounts::{AccountStore, CodeSender, MAX_DEVICE_RECORDS, MAX_MEMBERSHIPS};
pub use enrich::{
    EnrichQueue, Lookup, MAX_REQUEST_DELAY, NoEnrichQueue, OpenFoodFacts, Unavailable,
};
pub use keys::{KeyStore, KeyUse, REVOKED_KEYS_KEPT};
pub use webhooks::{WebhookAnswer, WebhookRequest, WebhookSender, WebhookStore};

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong in storage. The first variants are outcomes the rules care about; the
/// last three are failures of the backend itself.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("barcode {barcode} already belongs to product {existing}")]
    BarcodeTaken { barcode: Gtin, existing: ProductId },
    #[error("the record already exists")]
    AlreadyExists,
    #[error("the record does not exist")]
    NotFound,
    /// A conditional write found another version (`None`: the record is gone).
    #[error("the record has changed (current version {current:?})")]
    VersionConflict { current: Option<u64> },
    #[error("only {available} in stock")]
    InsufficientStock { available: Quantity },
    /// The change would take stock above the largest quantity allowed.
    #[error("the quantity would exceed the maximum")]
    QuantityOverflow,
    #[error("this operation key was already used for a different request")]
    OperationKeyReused,
    /// Stock cannot be created on a product merged into another, nor a product merged into
    /// one (`into`: the product it became, when the store knows).
    #[error("product {product} was merged into another product")]
    ProductMerged {
        product: ProductId,
        into: Option<ProductId>,
    },
    #[error("the continuation token is not one this store issued")]
    BadContinuation,
    /// Throttling, timeouts, a server that is down: worth retrying.
    #[error("storage is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    #[error("storage failed: {0}")]
    Backend(#[source] BoxError),
    /// A stored record that does not parse: a bug or a manual edit, never the caller's fault.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
}

impl StorageError {
    pub fn backend(e: impl Into<BoxError>) -> Self {
        StorageError::Backend(e.into())
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// An adapter's own "where I stopped". Services seal it into a client cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub after: Option<Continuation>,
    /// 1 to [`MAX_PAGE_SIZE`].
    pub limit: u32,
}

pub const DEFAULT_PAGE_SIZE: u32 = 25;
pub const MAX_PAGE_SIZE: u32 = 100;

/// A page of results. `next` is set when there may be more; a page may hold fewer than
/// `limit` items (filters are applied after reading), so clients loop until `next` is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Continuation>,
}

/// A page of the change feed ([`ProductStore::changes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    pub items: Vec<Product>,
    /// Where the next page starts: after the last item, or where this one started when it
    /// is empty (the feed is read again from there later).
    pub next: Continuation,
    /// Whether more changes were ready than this page holds.
    pub more: bool,
}

/// Filters for listing products. All given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Lower-case words that must all appear in the name, brand or barcode.
    pub words: Vec<String>,
    /// A category path or a prefix of one (segment-wise, case-insensitive), e.g.
    /// `Foodgrains` matches `Foodgrains > Dal`.
    pub category: Option<String>,
    pub status: Option<VerificationStatus>,
    /// The order of a `pending` listing (any other listing keeps its own).
    pub order: ReviewOrder,
}

/// The order of pending products (the review queue's sorts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReviewOrder {
    /// Oldest first.
    #[default]
    Oldest,
    /// Lowest quality score first, then oldest first.
    LowestQuality,
    /// Highest quality score first, then newest first (the lowest order read backwards).
    HighestQuality,
}

#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Stores a new product, claiming its barcode and writing its history entry atomically
    /// with it. Errors: `BarcodeTaken` (naming the holder), `AlreadyExists` (same product id).
    async fn insert(&self, product: &Product, history: &HistoryEntry) -> StorageResult<()>;

    async fn get(&self, id: &ProductId) -> StorageResult<Option<Product>>;

    /// The products of `ids` (at most [`MAX_BULK_READ`]) in one batched read, eventually
    /// consistent (what a listing shows beside other records); missing ones are absent from
    /// the answer, which is in no particular order.
    async fn get_many(&self, ids: &[ProductId]) -> StorageResult<Vec<Product>>;

    /// What a listing shows of each product of `ids` beside its own record (an inventory
    /// page's items): [`ProductSummary::of`] each product [`get_many`](Self::get_many)
    /// finds, read as that reads. An adapter may read less than whole products to give it;
    /// it then checks only the fields a summary shows (a product damaged elsewhere still has
    /// its summary, where `get_many` would say `Corrupt`).
    async fn summaries(
        &self,
        ids: &[ProductId],
    ) -> StorageResult<Vec<(ProductId, ProductSummary)>> {
        Ok(self
            .get_many(ids)
            .await?
            .iter()
            .map(|p| (p.product_id, ProductSummary::of(p)))
            .collect())
    }

    /// Strongly consistent lookup by barcode.
    async fn find_by_barcode(&self, barcode: &Gtin) -> StorageResult<Option<Product>>;

    /// The products holding `barcodes` (bulk loads: at most [`MAX_BULK_READ`] barcodes;
    /// eventually consistent on DynamoDB), in no particular order; barcodes no product holds
    /// are absent.
    async fn find_by_barcodes(&self, barcodes: &[Gtin]) -> StorageResult<Vec<Product>> {
        let mut found = Vec::new();
        for b in barcodes {
            found.extend(self.find_by_barcode(b).await?);
        }
        Ok(found)
    }

    /// Replaces `previous` by `next` if the stored version is still `previous.version`
    /// (`next.version` is the new version), with its history entry. A changed barcode is
    /// released and claimed in the same atomic write. Errors: `VersionConflict`,
    /// `BarcodeTaken`.
    async fn update(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
    ) -> StorageResult<()>;

    /// [`ProductStore::update`] of a product being merged into `into`, on the further
    /// condition that `into` is not merged itself (`ProductMerged` naming it): of two opposite
    /// merges racing (A into B, B into A) only one lands.
    async fn update_merging(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
        into: &ProductId,
    ) -> StorageResult<()>;

    /// The products whose image has SHA-256 `hash` (at most `limit`; on DynamoDB an index a
    /// moment behind answers).
    async fn with_image_hash(&self, hash: &str, limit: usize) -> StorageResult<Vec<ProductId>>;

    /// Products whose image's perceptual hash shares at least one of its four 16-bit quarters
    /// with `perceptual` (a hash at most 3 bits away always does; one 4 to 10 bits away
    /// usually): the candidates a near-duplicate check measures. At most `limit` per quarter.
    async fn with_similar_image(
        &self,
        perceptual: crate::images::Perceptual,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>>;

    /// Products whose Open Food Facts lookup is still queued and was due before
    /// `due_before` (its next try's due time, else when it was asked for), at most `limit`,
    /// the longest overdue first where the store can tell: what the enrichment sweep asks for
    /// again. On DynamoDB a sparse index a moment behind answers.
    async fn awaiting_enrichment(
        &self,
        due_before: Timestamp,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>>;

    /// Records when the next try of a product's queued lookup is due (`enrichment.due`, and
    /// the sweep's key), if the product is still at `version` with its lookup queued; no new
    /// version (a try's bookkeeping, not a change of the product). `VersionConflict` when it
    /// changed meanwhile.
    async fn defer_lookup(&self, id: &ProductId, version: u64, due: Timestamp)
    -> StorageResult<()>;

    /// A product's history, newest first.
    async fn history(&self, id: &ProductId, page: &PageQuery) -> StorageResult<Page<HistoryEntry>>;

    /// History entries whose product event (`product.*`) is not announced yet, up to `limit`,
    /// in any order: every entry enters this outbox with its change, in the same write.
    async fn unannounced_history(&self, limit: usize) -> StorageResult<Vec<HistoryEntry>>;

    /// Takes `entries` out of the outbox (their events are announced).
    async fn history_announced(&self, entries: &[HistoryEntry]) -> StorageResult<()>;

    /// Lists products. With `status`, oldest first (`pending` ones in `order`, with `category`
    /// a filter then); with `category`, by category path then oldest first; otherwise in
    /// storage order.
    async fn list(&self, filter: &ProductFilter, page: &PageQuery) -> StorageResult<Page<Product>>;

    /// The change feed: products whose last change comes after `after` (none: from the
    /// start), in the order of their last change, up to `limit`, and the position to go on
    /// from. Every insert and update moves its product to the feed's end (a lookup deferred
    /// does not: it is not a change); a product changed twice before it is read is read once,
    /// as it is now. Only changes made before `settled` are read (DynamoDB's index of changes
    /// is written with the product, but a change stamped a moment ago may still be on its
    /// way; the embedded store orders changes as they commit and reads every one).
    /// `BadContinuation` for a position that is not one of this store's.
    async fn changes(
        &self,
        after: Option<&Continuation>,
        settled: Timestamp,
        limit: u32,
    ) -> StorageResult<ChangePage>;

    /// Inserts each product that does not exist yet (bulk import: new pending products with
    /// ids derived from their rows, so a product that exists is the same one, made by an
    /// earlier run). Products without a barcode may be written in batches (each history entry
    /// before its product, so none is stored without one); one with a barcode is inserted with
    /// its guard and entry. `actor` created them; each entry's reason names the product's job
    /// and row. Per product, in order: `Ok(true)` created, `Ok(false)` already there, or its
    /// error (`BarcodeTaken`).
    async fn insert_new(&self, products: &[Product], actor: &Actor) -> StorageResult<BulkInsert> {
        let mut results = Vec::with_capacity(products.len());
        for p in products {
            results.push(created(self.insert(p, &import_history(p, actor)).await)?);
        }
        Ok(BulkInsert {
            results,
            write_units: None,
        })
    }
}

/// What a write of an inventory item expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Anything,
    Absent,
    Version(u64),
}

/// The result of an adjustment: the item after it, and whether this was a replay of an
/// operation already applied (in which case nothing changed now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustOutcome {
    pub item: InventoryItem,
    pub replayed: bool,
    pub created: bool,
    /// The ledger entry written with the change (none for a replay).
    pub movement: Option<Movement>,
}

/// Setting an item ([`InventoryStore::put`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetItem {
    pub details: InventoryDetails,
    pub expect: Expect,
    /// Who sets it (the movement, when the quantity changes).
    pub origin: MovementOrigin,
    /// The product's summary to keep on the item (`None` keeps the item's).
    pub product: Option<ProductSummary>,
    pub at: Timestamp,
}

/// One store's item moving from a merged product to the product it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMerge {
    pub from: ProductId,
    pub into: ProductId,
    /// The `into` product's summary, for an item created by the move.
    pub into_summary: Option<ProductSummary>,
    pub origin: MovementOrigin,
    pub at: Timestamp,
}

/// What moving a store's item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedItem {
    /// The `into` item after the move.
    pub item: InventoryItem,
    pub moved: Quantity,
}

/// The result of setting an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub item: InventoryItem,
    pub created: bool,
    /// The ledger entry, when the quantity changed or the item was created.
    pub movement: Option<Movement>,
}

/// One item of a bulk write: the item as it must be stored, what the write expects to find
/// (`Absent`, or the version it was computed from) and the movement that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockWrite {
    pub item: InventoryItem,
    pub expect: Expect,
    pub movement: Option<Movement>,
}

/// How many times a stock write computed from a read is tried again when another write got
/// there first, before the caller is told storage is too busy.
pub const STOCK_WRITE_ATTEMPTS: u32 = 64;

/// Filters for listing a store's inventory. All given filters must hold. Words and the
/// category are read from the product summary the item keeps (as of its last write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryFilter {
    /// Only items at or below their reorder level.
    pub low_stock: bool,
    /// Only items with nothing in stock.
    pub out_of_stock: bool,
    /// Lower-case words that must all appear in the product's name, brand or barcode.
    pub words: Vec<String>,
    /// A category path or a prefix of one (segment-wise, case-insensitive).
    pub category: Option<String>,
}

impl InventoryFilter {
    /// Whether any filter is set (then a page may come back short, with a cursor).
    pub fn is_set(&self) -> bool {
        self.low_stock || self.out_of_stock || !self.words.is_empty() || self.category.is_some()
    }
}

/// The order of a store's items: by product id (storage order), the product's name, the last
/// update or the quantity; ties in product id order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InventorySort {
    #[default]
    ProductId,
    Name,
    Updated,
    Quantity,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryOrder {
    pub by: InventorySort,
    pub descending: bool,
}

/// Every write that creates an item (a put, an adjustment or scan that creates, a bulk write,
/// a merge onto a store without an item of the target) checks in the same atomic write that
/// the product is not merged (`ProductMerged`): stock never lands on a product a merge has
/// already swept.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    async fn get(
        &self,
        store: &StoreId,
        product: &ProductId,
    ) -> StorageResult<Option<InventoryItem>>;

    /// A store's items in `order`, filtered.
    async fn list(
        &self,
        store: &StoreId,
        filter: &InventoryFilter,
        order: InventoryOrder,
        page: &PageQuery,
    ) -> StorageResult<Page<InventoryItem>>;

    /// Creates or replaces an item as `set` says, if its `expect` holds; the store assigns the
    /// next version. A change of quantity (or a new item) writes its movement in the same
    /// atomic write. Errors: `AlreadyExists` (for `Absent`), `VersionConflict`.
    async fn put(
        &self,
        store: &StoreId,
        product: &ProductId,
        set: &SetItem,
    ) -> StorageResult<PutOutcome>;

    /// Deletes an item, writing a `delete` movement to zero with it. Errors: `NotFound`,
    /// `VersionConflict` (when a version is expected).
    async fn delete(
        &self,
        store: &StoreId,
        product: &ProductId,
        expect_version: Option<u64>,
        origin: &MovementOrigin,
        at: Timestamp,
    ) -> StorageResult<Movement>;

    /// Applies a stock change atomically with its movement: never below zero
    /// (`InsufficientStock`), never lost to a concurrent change, and once per operation key
    /// (`replayed` on a repeat, `OperationKeyReused` if the key came with another request). A
    /// missing item is `NotFound` unless `create_if_missing`.
    async fn adjust(&self, adjustment: &Adjustment) -> StorageResult<AdjustOutcome>;

    /// Movements whose stock alerts are not known to be announced yet (at most `limit`, any
    /// store): written with the change, they are the outbox the announcements are made from,
    /// so a crash between a change and its event loses nothing.
    async fn unannounced(&self, limit: usize) -> StorageResult<Vec<Movement>>;

    /// Marks `movements`' alerts announced (they leave [`InventoryStore::unannounced`]).
    async fn announced(&self, movements: &[Movement]) -> StorageResult<()>;

    /// The stores with an item of `product` (at most `limit`). On DynamoDB an index answers
    /// it, so a store whose item moved a moment ago may still be named: callers read the item.
    async fn stores_stocking(
        &self,
        product: &ProductId,
        limit: usize,
    ) -> StorageResult<Vec<StoreId>>;

    /// Moves `store`'s item of `from` onto its item of `into`, atomically: the `from` item is
    /// removed (a `merge` movement to zero) and its quantity added to the `into` item (a
    /// `merge` movement; the `into` item is created from the `from` item's fields when the
    /// store has none, else keeps its own fields and takes the `from` item's only where it has
    /// none). `Ok(None)` when the store has no `from` item (moved already: a rerun moves
    /// nothing twice). Errors: `QuantityOverflow`; `ProductMerged` when the store has no
    /// `into` item and `into` was merged itself.
    async fn merge_item(
        &self,
        store: &StoreId,
        merge: &ItemMerge,
    ) -> StorageResult<Option<MergedItem>>;

    /// An item's movements, newest first (across the item's lives: removed and stocked again).
    async fn movements(
        &self,
        store: &StoreId,
        product: &ProductId,
        page: &PageQuery,
    ) -> StorageResult<Page<Movement>>;

    /// The items of `store` for `products` (at most [`MAX_BULK_READ`]); missing ones are
    /// simply absent from the answer, which is in no particular order.
    async fn get_many(
        &self,
        store: &StoreId,
        products: &[ProductId],
    ) -> StorageResult<Vec<InventoryItem>>;

    /// Writes each item exactly as given (its version included) with its movement, atomically
    /// per item, where the item is still as `expect` says: the bulk import's write, whose rows
    /// set the stock an owner states. An item found changed is not written and is listed in
    /// `conflicts` (the caller reads it again and recomputes); so is one that would create an
    /// item of a merged product.
    async fn put_many(&self, writes: &[StockWrite]) -> StorageResult<BulkWrite>;

    /// The products `store` has items for, or `None` when it has more than `limit` (a bulk
    /// import reads only the items that exist, and reads every one for a store this large).
    async fn stocked_products(
        &self,
        store: &StoreId,
        limit: usize,
    ) -> StorageResult<Option<std::collections::HashSet<ProductId>>>;
}

/// Most items one `get_many` reads (DynamoDB's BatchGetItem limit).
pub const MAX_BULK_READ: usize = 100;

/// The history entry of a product an import created (its reason: the job and row).
pub fn import_history(p: &Product, actor: &Actor) -> HistoryEntry {
    let reason = p
        .match_review
        .as_ref()
        .and_then(|r| Some(format!("import job {} row {}", r.job_id.as_ref()?, r.row?)));
    HistoryEntry::created(p, actor.clone(), reason)
}

/// What [`ProductStore::insert_new`] did.
#[derive(Debug, Default)]
pub struct BulkInsert {
    /// Per product, in order: `Ok(true)` created, `Ok(false)` already there, or its error.
    pub results: Vec<StorageResult<bool>>,
    /// Write capacity units consumed, where the store reports them (DynamoDB).
    pub write_units: Option<f64>,
}

/// One insert's answer as [`ProductStore::insert_new`] reports it: created, already there,
/// or the product's own error; an outage or backend failure ends the whole call.
pub fn created(r: StorageResult<()>) -> StorageResult<StorageResult<bool>> {
    match r {
        Ok(()) => Ok(Ok(true)),
        Err(StorageError::AlreadyExists) => Ok(Ok(false)),
        Err(e @ (StorageError::Unavailable(_) | StorageError::Backend(_))) => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// What a bulk write did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkWrite {
    pub written: usize,
    /// Items not written because they changed since they were read.
    pub conflicts: Vec<ProductId>,
    /// Write capacity units consumed, where the store reports them (DynamoDB).
    pub write_units: Option<f64>,
    /// Requests sent, retries of unprocessed items included.
    pub requests: usize,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Errors: `AlreadyExists`.
    async fn insert(&self, job: &CsvJob) -> StorageResult<()>;

    async fn get(&self, id: &JobId) -> StorageResult<Option<CsvJob>>;

    /// Replaces the job if the stored version is `next.version - 1`. Errors: `VersionConflict`.
    async fn update(&self, next: &CsvJob) -> StorageResult<()>;

    /// A store's jobs, newest first.
    async fn list_by_store(&self, store: &StoreId, page: &PageQuery)
    -> StorageResult<Page<CsvJob>>;

    /// Up to `limit` jobs of any store that are not final yet (awaiting their upload, queued,
    /// processing). The embedded server sweeps them to resume what a crash left behind (in AWS
    /// the queue redelivers instead; on DynamoDB this is a Scan, for operators).
    async fn unfinished(&self, limit: usize) -> StorageResult<Vec<CsvJob>>;
}

/// A blob key: a relative path of `[A-Za-z0-9._-]` segments, no empty or dot segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub const MAX_LEN: usize = 512;

    /// The key readiness probes read: it never exists.
    pub fn probe() -> Self {
        BlobKey("readiness-probe/absent".to_string())
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!("'{s}' is not a valid blob key"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub bytes: Bytes,
    pub content_type: String,
}

/// A blob being read: its size and its bytes as a stream.
pub struct BlobReader {
    pub size: u64,
    /// The version read, where the store names one (S3's ETag, without its quotes).
    pub etag: Option<String>,
    pub reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
}

/// A request a client can make without credentials until it expires: the method, the URL and
/// the headers that were signed and must be sent exactly.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// `[name, value]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    pub expires_at: crate::domain::Timestamp,
}

/// How a content-addressed blob is cached: a year, and never revalidated.
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &BlobKey, bytes: Bytes, content_type: &str) -> StorageResult<()>;

    /// Stores a blob that never changes under its key (content-addressed), marked so that
    /// whoever serves it caches it for good ([`IMMUTABLE_CACHE_CONTROL`]). The local server
    /// serves such keys that way itself.
    async fn put_immutable(
        &self,
        key: &BlobKey,
        bytes: Bytes,
        content_type: &str,
    ) -> StorageResult<()> {
        self.put(key, bytes, content_type).await
    }

    async fn get(&self, key: &BlobKey) -> StorageResult<Option<Blob>>;

    /// Opens a blob to read as it streams (memory stays flat whatever its size).
    async fn open(&self, key: &BlobKey) -> StorageResult<Option<BlobReader>>;

    /// Deleting a missing blob is not an error.
    async fn delete(&self, key: &BlobKey) -> StorageResult<()>;

    /// A URL to upload exactly `content_length` bytes of `content_type` to `key`.
    async fn presign_put(
        &self,
        key: &BlobKey,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> StorageResult<PresignedRequest>;

    /// A URL to download `key`.
    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> StorageResult<PresignedRequest>;

    /// Whether the store answers (readiness): one read of a key that never exists.
    async fn probe(&self) -> StorageResult<()> {
        self.get(&BlobKey::probe()).await.map(|_| ())
    }
}

/// What the catalog tells the world: events for integrators (`job.completed`, stock alerts:
/// EventBridge in AWS, which forwards them to the webhooks' queue; the local bus, which hands
/// them to the webhooks, locally), and that an import paused and must be run again (a message
/// on the import function's own queue in AWS).
#[async_trait]
pub trait Events: Send + Sync {
    /// Announces one event. At least once: a caller that does not know whether it went out
    /// announces it again, with the same id.
    async fn publish(&self, event: &crate::domain::Event) -> StorageResult<()>;

    /// A `job.completed` event (the job is `completed` or `failed`).
    async fn completed(&self, job: &crate::domain::CsvJob) -> StorageResult<()> {
        self.publish(&crate::domain::Event::job_completed(job))
            .await
    }

    /// Asks for another run of the function that calls it, with `message` for its event: a
    /// message on its own queue (`IMPORT_QUEUE_URL`), as a run that nears its deadline with
    /// work left hands over.
    async fn run_again(&self, message: serde_json::Value) -> StorageResult<()>;

    /// Asks for another run of `job`, which paused at its checkpoint.
    async fn resume_later(&self, job: &crate::domain::CsvJob) -> StorageResult<()> {
        let message = crate::domain::job::ResumeMessage {
            resume_job: job.job_id,
            store_id: job.store_id.clone(),
        };
        self.run_again(serde_json::to_value(message).map_err(StorageError::backend)?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_cannot_escape() {
        assert!(BlobKey::parse("imports/store-1/0190.csv").is_ok());
        for bad in ["", "/abs", "a//b", "../x", "a/./b", "a b", "a\\b", "a/"] {
            assert!(BlobKey::parse(bad).is_err(), "{bad}");
        }
    }
}
