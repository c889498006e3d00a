//! Embedded storage: products, inventory, jobs and accounts in one SQLite file (the local
//! default). Accounts are in `accounts`, integration keys in `keys`, webhooks in `webhooks`.
//!
//! Owns the SQL. Each entity is stored as its shared record (JSON) plus the columns the queries
//! need; writes run in `BEGIN IMMEDIATE` transactions, so every read-check-write below is atomic
//! with respect to other writers, in this process or another one on the same file (WAL mode,
//! busy timeout); reads run on a few read-only connections beside the writer, each seeing
//! every write committed before it began. Blocking SQLite calls run on Tokio's blocking pool.

mod accounts;
mod keys;
mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::records::{
    HistoryRecord, InventoryRecord, JobRecord, MovementRecord, ProductRecord, ProductSummaryRecord,
    category_path_key, created_sort_key, search_text,
};
use super::stock::{self, Planned};
use crate::domain::{
    Adjustment, CsvJob, Gtin, HistoryEntry, InventoryItem, JobId, LedgerPosition, Movement,
    MovementOrigin, Product, ProductId, ProductSummary, StoreId, Timestamp, VerificationStatus,
    inventory::OPERATION_TTL,
};
use crate::ports::{
    AdjustOutcome, BulkWrite, ChangePage, Continuation, Expect, InventoryFilter, InventoryOrder,
    InventorySort, InventoryStore, ItemMerge, JobStore, MergedItem, Page, PageQuery, ProductFilter,
    ProductStore, PutOutcome, ReviewOrder, SetItem, StockWrite, StorageError, StorageResult,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS products (
    product_id    TEXT PRIMARY KEY,
    barcode       TEXT UNIQUE,
    status        TEXT NOT NULL,
    status_sort   TEXT NOT NULL,
    category_sort TEXT,
    search_text   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    doc           TEXT NOT NULL,
    -- The change feed's order: one more than the greatest, written by every insert and update
    -- (writes are serialised, so changes are numbered as they commit).
    change_seq    INTEGER
);
CREATE INDEX IF NOT EXISTS products_by_status ON products (status, status_sort);
-- Products by image SHA-256 (the same image on two products).
CREATE INDEX IF NOT EXISTS products_by_image ON products (json_extract(doc, '$.image_hash'));
-- Products by each quarter of their image's perceptual hash (near copies).
CREATE INDEX IF NOT EXISTS products_by_image_q0 ON products (substr(json_extract(doc, '$.image_perceptual_hash'), 1, 4));
CREATE INDEX IF NOT EXISTS products_by_image_q1 ON products (substr(json_extract(doc, '$.image_perceptual_hash'), 5, 4));
CREATE INDEX IF NOT EXISTS products_by_image_q2 ON products (substr(json_extract(doc, '$.image_perceptual_hash'), 9, 4));
CREATE INDEX IF NOT EXISTS products_by_image_q3 ON products (substr(json_extract(doc, '$.image_perceptual_hash'), 13, 4));
-- Products whose Open Food Facts lookup is queued, by when it is due (the enrichment sweep's
-- outbox).
CREATE INDEX IF NOT EXISTS products_lookups_due ON products (coalesce(json_extract(doc, '$.enrichment.due'), json_extract(doc, '$.enrichment.queued_at')))
    WHERE json_extract(doc, '$.enrichment.status') = 'queued';
-- The review queue's sorts: by quality score, then creation.
CREATE INDEX IF NOT EXISTS products_by_quality ON products (status, printf('%03d#', json_extract(doc, '$.quality_score')) || status_sort);

-- Each product change, written in the change's transaction.
CREATE TABLE IF NOT EXISTS product_history (
    product_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL,
    -- 1 until the entry's product event is announced (the outbox).
    unannounced INTEGER,
    PRIMARY KEY (product_id, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS products_by_category ON products (category_sort);

CREATE TABLE IF NOT EXISTS inventory (
    store_id       TEXT NOT NULL,
    product_id     TEXT NOT NULL,
    quantity_milli INTEGER NOT NULL CHECK (quantity_milli >= 0),
    reorder_milli  INTEGER,
    version        INTEGER NOT NULL,
    doc            TEXT NOT NULL,
    PRIMARY KEY (store_id, product_id)
) WITHOUT ROWID;
-- The stores that stock a product (merging it moves their items).
CREATE INDEX IF NOT EXISTS inventory_by_product ON inventory (product_id, store_id);
-- A store's items in each listing order (the expressions are sqlite.rs's *_SORT_SQL).
CREATE INDEX IF NOT EXISTS inventory_by_name ON inventory (store_id, coalesce(json_extract(doc, '$.name_sort'), '~#' || product_id));
CREATE INDEX IF NOT EXISTS inventory_by_updated ON inventory (store_id, coalesce(json_extract(doc, '$.updated_sort'), json_extract(doc, '$.last_updated') || '#' || product_id));
CREATE INDEX IF NOT EXISTS inventory_by_quantity ON inventory (store_id, coalesce(json_extract(doc, '$.qty_sort'), printf('%013d#', quantity_milli) || product_id));

-- position: the movement's LedgerPosition key (the item's life, then its version).
CREATE TABLE IF NOT EXISTS movements (
    store_id   TEXT NOT NULL,
    product_id TEXT NOT NULL,
    position   TEXT NOT NULL,
    doc        TEXT NOT NULL,
    PRIMARY KEY (store_id, product_id, position)
) WITHOUT ROWID;

-- Movements whose stock alerts are not announced yet (the outbox; see InventoryStore::unannounced).
CREATE TABLE IF NOT EXISTS pending_alerts (
    store_id   TEXT NOT NULL,
    product_id TEXT NOT NULL,
    position   TEXT NOT NULL,
    PRIMARY KEY (store_id, product_id, position)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS operations (
    store_id    TEXT NOT NULL,
    op_key      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (store_id, op_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    store_id   TEXT NOT NULL,
    store_sort TEXT NOT NULL,
    version    INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_store ON jobs (store_id, store_sort);
"#;

/// Products, inventory (with its movements) and jobs in one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    /// The one connection that writes (and reads, for a database in memory).
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections to the same file: reads run beside each other and beside the
    /// writer (WAL), and each sees every write committed before it began. None for a
    /// database in memory, which the writer's connection reads.
    readers: Option<Arc<Readers>>,
}

/// The read-only connections, lent one read at a time. A read waits its turn for a free
/// connection (first come, first served) before it takes a blocking thread, so a burst of
/// reads neither parks a thread per read on a lock nor lets a late read overtake an early one
/// (an unfair lock did both: a page's p99 under 50 clients was twice its p50).
struct Readers {
    free: Mutex<Vec<Connection>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Readers {
    fn new(conns: Vec<Connection>) -> Self {
        Self {
            turns: Arc::new(tokio::sync::Semaphore::new(conns.len())),
            free: Mutex::new(conns),
        }
    }
}

/// A connection lent by [`Readers`], given back when dropped (a read that panics too).
struct Lent<'a> {
    conn: Option<Connection>,
    readers: &'a Readers,
}

impl<'a> Lent<'a> {
    /// A free connection; the caller holds one of the turns, so there is one.
    fn take(readers: &'a Readers) -> StorageResult<Self> {
        let conn = readers
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .ok_or_else(|| StorageError::backend("no free read connection for a turn"))?;
        Ok(Self {
            conn: Some(conn),
            readers,
        })
    }
}

impl std::ops::Deref for Lent<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("lent until dropped")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut free = self.readers.free.lock().unwrap_or_else(|p| p.into_inner());
            free.push(conn);
        }
    }
}

/// Read-only connections of a file database.
const READERS: usize = 4;

/// The product ids a query of one `product_id` column answers.
fn product_ids(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> StorageResult<Vec<ProductId>> {
    let ids = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    ids.iter()
        .map(|i| {
            ProductId::parse(i)
                .map_err(|e| StorageError::Corrupt(format!("stored product id {i:?}: {e}")))
        })
        .collect()
}

/// A connection's statements, prepared once and kept (rusqlite's statement cache): the
/// store runs the same few dozen statements again and again, and preparing one (parsing
/// and planning its SQL) cost more than running it for a point read.
trait Prepared {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;

    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl Prepared for Connection {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// Statements each connection keeps prepared, the least recently used evicted past it: room
/// for every fixed statement and the inventory listing's shapes (an order and the filters
/// used; its values are parameters).
const PREPARED_STATEMENTS: usize = 256;

fn db_err(e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable(e.into())
        }
        _ => StorageError::backend(e),
    }
}

fn to_doc<T: serde::Serialize>(r: &T) -> StorageResult<String> {
    serde_json::to_string(r).map_err(StorageError::backend)
}

fn from_doc<T: serde::de::DeserializeOwned>(what: &str, doc: &str) -> StorageResult<T> {
    serde_json::from_str(doc).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

/// The smallest string greater than every string that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> StorageResult<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        let mut store = Self::init(conn)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(db_err)?;
            r.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(db_err)?;
            r.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
            readers.push(r);
        }
        store.readers = Some(Arc::new(Readers::new(readers)));
        Ok(store)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> StorageResult<Self> {
        Self::init(Connection::open_in_memory().map_err(db_err)?)
    }

    fn init(conn: Connection) -> StorageResult<Self> {
        conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        migrate(&conn)?;
        conn.execute_batch(accounts::SCHEMA).map_err(db_err)?;
        conn.execute_batch(keys::SCHEMA).map_err(db_err)?;
        conn.execute_batch(webhooks::SCHEMA).map_err(db_err)?;
        conn.execute_cached(
            "DELETE FROM operations WHERE expires_at < ?1",
            params![Timestamp::now().unix_seconds()],
        )
        .map_err(db_err)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            readers: None,
        })
    }

    /// Runs `f` in an immediate (write-locking) transaction on the blocking pool.
    async fn write<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StorageResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
        .await
        .map_err(StorageError::backend)?
    }

    /// Runs `f` on a free read-only connection (the writer's, in memory) on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StorageResult<T> + Send + 'static,
    {
        let Some(readers) = self.readers.clone() else {
            let conn = self.conn.clone();
            return tokio::task::spawn_blocking(move || {
                f(&conn.lock().unwrap_or_else(|p| p.into_inner()))
            })
            .await
            .map_err(StorageError::backend)?;
        };
        let turn = readers
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(StorageError::backend)?;
        tokio::task::spawn_blocking(move || {
            let conn = Lent::take(&readers)?;
            let out = f(&conn);
            // The connection goes back before the turn does.
            drop(conn);
            drop(turn);
            out
        })
        .await
        .map_err(StorageError::backend)?
    }
}

fn barcode_holder(tx: &Connection, barcode: &str) -> StorageResult<Option<String>> {
    tx.query_row_cached(
        "SELECT product_id FROM products WHERE barcode = ?1",
        params![barcode],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err)
}

fn taken(barcode: &Gtin, holder: &str) -> StorageResult<StorageError> {
    let existing = ProductId::parse(holder)
        .map_err(|e| StorageError::Corrupt(format!("barcode holder: {e}")))?;
    Ok(StorageError::BarcodeTaken {
        barcode: barcode.clone(),
        existing,
    })
}

struct ProductRow {
    barcode: Option<String>,
    status: &'static str,
    status_sort: String,
    category_sort: Option<String>,
    search_text: String,
    doc: String,
}

fn product_row(p: &Product) -> StorageResult<ProductRow> {
    let sort = created_sort_key(&p.created_at, &p.product_id);
    Ok(ProductRow {
        barcode: p.barcode.as_ref().map(|b| b.to_string()),
        status: p.verification_status.as_str(),
        category_sort: p
            .category
            .as_deref()
            .map(|c| format!("{}#{sort}", category_path_key(c))),
        status_sort: sort,
        search_text: search_text(p),
        doc: to_doc(&ProductRecord::from(p))?,
    })
}

/// Records a history entry (never over another: the product's version check makes each new).
fn save_history(tx: &Connection, h: &HistoryEntry) -> StorageResult<()> {
    tx.execute_cached(
        "INSERT INTO product_history (product_id, version, doc, unannounced) VALUES (?1, ?2, ?3, 1)",
        params![
            h.product_id.to_string(),
            h.version as i64,
            to_doc(&HistoryRecord::from(h))?
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

/// The stored documents of the products of `ids` that exist, in `ids`' order.
fn product_docs(c: &Connection, ids: &[String]) -> StorageResult<Vec<String>> {
    let mut stmt = c
        .prepare_cached("SELECT doc FROM products WHERE product_id = ?1")
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let doc: Option<String> = stmt
            .query_row(params![id], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        out.extend(doc);
    }
    Ok(out)
}

fn product_from_doc(doc: &str) -> StorageResult<Product> {
    from_doc::<ProductRecord>("product", doc)?.try_into()
}

impl SqliteStore {
    /// A product's conditional replacement with its history entry, and, with `unmerged`, the
    /// check that that product is not merged, in one transaction.
    async fn update_with(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
        unmerged: Option<ProductId>,
    ) -> StorageResult<()> {
        let (prev_version, n, h) = (previous.version, next.clone(), history.clone());
        self.write(move |tx| {
            if let Some(into) = &unmerged {
                require_unmerged(tx, into)?;
            }
            let id = n.product_id.to_string();
            let current: Option<i64> = tx
                .query_row_cached("SELECT version FROM products WHERE product_id = ?1", params![id], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match current {
                None => return Err(StorageError::NotFound),
                Some(v) if v as u64 != prev_version => return Err(StorageError::VersionConflict { current: Some(v as u64) }),
                Some(_) => {}
            }
            if let Some(b) = &n.barcode
                && let Some(holder) = barcode_holder(tx, b.as_str())?
                    && holder != id {
                        return Err(taken(b, &holder)?);
                    }
            let row = product_row(&n)?;
            tx.execute_cached(
                &format!("UPDATE products SET barcode = ?2, status = ?3, status_sort = ?4, category_sort = ?5, search_text = ?6,
                 version = ?7, doc = ?8, change_seq = {NEXT_CHANGE} WHERE product_id = ?1"),
                params![
                    id,
                    row.barcode,
                    row.status,
                    row.status_sort,
                    row.category_sort,
                    row.search_text,
                    n.version as i64,
                    row.doc
                ],
            )
            .map_err(db_err)?;
            save_history(tx, &h)?;
            Ok(())
        })
        .await
    }
}

/// Adds `column` to `table` of a database made before it, running `fill` in the same
/// transaction. Checked again inside the write lock: two processes opening an old file at once
/// add it once.
fn add_column_once(conn: &Connection, table: &str, column: &str, fill: &str) -> StorageResult<()> {
    let has_column = |c: &Connection| -> StorageResult<bool> {
        Ok(c.query_row_cached(
            "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2",
            params![table, column],
            |_| Ok(true),
        )
        .optional()
        .map_err(db_err)?
        .unwrap_or(false))
    };
    if has_column(conn)? {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    let added = (|| {
        if has_column(conn)? {
            return Ok(());
        }
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN {column} INTEGER; {fill}"
        ))
        .map_err(db_err)
    })();
    let end = if added.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(db_err)?;
    added
}

/// What a database made before them lacks: the change feed's column (every product numbered
/// by its last update, then id, so a first sync reads them all) and the product events'
/// outbox (older entries are not announced); then their indexes.
fn migrate(conn: &Connection) -> StorageResult<()> {
    add_column_once(
        conn,
        "products",
        "change_seq",
        "WITH ordered AS (
             SELECT product_id, ROW_NUMBER() OVER (
                 ORDER BY julianday(json_extract(doc, '$.updated_at')), product_id) AS n
             FROM products)
         UPDATE products SET change_seq =
             (SELECT n FROM ordered WHERE ordered.product_id = products.product_id);",
    )?;
    add_column_once(conn, "product_history", "unannounced", "")?;
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS products_by_change ON products (change_seq);
         CREATE INDEX IF NOT EXISTS history_unannounced ON product_history (product_id, version)
             WHERE unannounced = 1;",
    )
    .map_err(db_err)
}

/// The next change's number (inside the write's transaction).
const NEXT_CHANGE: &str = "(SELECT coalesce(max(change_seq), 0) + 1 FROM products)";

#[async_trait]
impl ProductStore for SqliteStore {
    async fn insert(&self, product: &Product, history: &HistoryEntry) -> StorageResult<()> {
        let (p, h) = (product.clone(), history.clone());
        self.write(move |tx| {
            let exists: bool = tx
                .query_row_cached("SELECT 1 FROM products WHERE product_id = ?1", params![p.product_id.to_string()], |_| Ok(true))
                .optional()
                .map_err(db_err)?
                .unwrap_or(false);
            if exists {
                return Err(StorageError::AlreadyExists);
            }
            if let Some(b) = &p.barcode
                && let Some(holder) = barcode_holder(tx, b.as_str())? {
                    return Err(taken(b, &holder)?);
                }
            let row = product_row(&p)?;
            tx.execute_cached(
                &format!("INSERT INTO products (product_id, barcode, status, status_sort, category_sort, search_text, version, doc, change_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, {NEXT_CHANGE})"),
                params![
                    p.product_id.to_string(),
                    row.barcode,
                    row.status,
                    row.status_sort,
                    row.category_sort,
                    row.search_text,
                    p.version as i64,
                    row.doc
                ],
            )
            .map_err(db_err)?;
            save_history(tx, &h)?;
            Ok(())
        })
        .await
    }

    async fn changes(
        &self,
        after: Option<&Continuation>,
        _settled: Timestamp,
        limit: u32,
    ) -> StorageResult<ChangePage> {
        let from: i64 = match after {
            None => 0,
            Some(c) => {
                c.0.parse()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(StorageError::BadContinuation)?
            }
        };
        let limit = limit.clamp(1, 1000) as usize;
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT change_seq, doc FROM products WHERE change_seq > ?1
                     ORDER BY change_seq LIMIT ?2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![from, limit as i64 + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            let more = rows.len() > limit;
            let mut items = Vec::with_capacity(limit);
            let mut next = from;
            for (seq, doc) in rows.into_iter().take(limit) {
                items.push(product_from_doc(&doc)?);
                next = seq;
            }
            Ok(ChangePage {
                items,
                next: Continuation(next.to_string()),
                more,
            })
        })
        .await
    }

    async fn unannounced_history(&self, limit: usize) -> StorageResult<Vec<HistoryEntry>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM product_history WHERE unannounced = 1
                     ORDER BY product_id, version LIMIT ?1",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![limit.clamp(1, 1000) as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter()
                .map(|d| from_doc::<HistoryRecord>("product history entry", d)?.try_into())
                .collect()
        })
        .await
    }

    async fn history_announced(&self, entries: &[HistoryEntry]) -> StorageResult<()> {
        let keys: Vec<(String, i64)> = entries
            .iter()
            .map(|e| (e.product_id.to_string(), e.version as i64))
            .collect();
        self.write(move |tx| {
            for (id, version) in &keys {
                tx.execute_cached(
                    "UPDATE product_history SET unannounced = NULL WHERE product_id = ?1 AND version = ?2",
                    params![id, version],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn history(&self, id: &ProductId, page: &PageQuery) -> StorageResult<Page<HistoryEntry>> {
        let (id, page) = (id.to_string(), page.clone());
        self.read(move |c| {
            let before: i64 = match page.after {
                Some(a) => a.0.parse().map_err(|_| StorageError::BadContinuation)?,
                None => i64::MAX,
            };
            let mut stmt = c
                .prepare_cached(
                    "SELECT version, doc FROM product_history WHERE product_id = ?1 AND version < ?2
                     ORDER BY version DESC LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![id, before, page.limit as i64 + 1], |r| {
                    Ok((r.get::<_, i64>(0)?.to_string(), r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            page_of(rows, page.limit, |doc| {
                from_doc::<HistoryRecord>("product history entry", &doc)?.try_into()
            })
        })
        .await
    }

    async fn get(&self, id: &ProductId) -> StorageResult<Option<Product>> {
        let id = id.to_string();
        self.read(move |c| {
            let doc: Option<String> = c
                .query_row_cached(
                    "SELECT doc FROM products WHERE product_id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            doc.as_deref().map(product_from_doc).transpose()
        })
        .await
    }

    async fn get_many(&self, ids: &[ProductId]) -> StorageResult<Vec<Product>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |c| {
            product_docs(c, &ids)?
                .iter()
                .map(|d| product_from_doc(d))
                .collect()
        })
        .await
    }

    async fn summaries(
        &self,
        ids: &[ProductId],
    ) -> StorageResult<Vec<(ProductId, ProductSummary)>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.read(move |c| {
            product_docs(c, &ids)?
                .iter()
                .map(|d| from_doc::<ProductSummaryRecord>("product", d)?.try_into())
                .collect()
        })
        .await
    }

    async fn find_by_barcode(&self, barcode: &Gtin) -> StorageResult<Option<Product>> {
        let b = barcode.to_string();
        self.read(move |c| {
            let doc: Option<String> = c
                .query_row_cached(
                    "SELECT doc FROM products WHERE barcode = ?1",
                    params![b],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            doc.as_deref().map(product_from_doc).transpose()
        })
        .await
    }

    async fn update(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
    ) -> StorageResult<()> {
        self.update_with(previous, next, history, None).await
    }

    async fn defer_lookup(
        &self,
        id: &ProductId,
        version: u64,
        due: Timestamp,
    ) -> StorageResult<()> {
        let (id, due) = (id.to_string(), due.to_string());
        self.write(move |c| {
            let n = c
                .execute_cached(
                    "UPDATE products SET doc = json_set(doc, '$.enrichment.due', ?3)
                     WHERE product_id = ?1 AND version = ?2 AND json_extract(doc, '$.enrichment.status') = 'queued'",
                    params![id, version as i64, due],
                )
                .map_err(db_err)?;
            if n == 1 {
                Ok(())
            } else {
                Err(StorageError::VersionConflict { current: None })
            }
        })
        .await
    }

    async fn awaiting_enrichment(
        &self,
        due_before: Timestamp,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>> {
        let before = due_before.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT product_id FROM products WHERE json_extract(doc, '$.enrichment.status') = 'queued'
                     AND coalesce(json_extract(doc, '$.enrichment.due'), json_extract(doc, '$.enrichment.queued_at')) < ?1
                     ORDER BY coalesce(json_extract(doc, '$.enrichment.due'), json_extract(doc, '$.enrichment.queued_at')) LIMIT ?2",
                )
                .map_err(db_err)?;
            product_ids(&mut stmt, params![before, limit as i64])
        })
        .await
    }

    async fn with_image_hash(&self, hash: &str, limit: usize) -> StorageResult<Vec<ProductId>> {
        let hash = hash.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT product_id FROM products WHERE json_extract(doc, '$.image_hash') = ?1 ORDER BY product_id LIMIT ?2",
                )
                .map_err(db_err)?;
            product_ids(&mut stmt, params![hash, limit as i64])
        })
        .await
    }

    async fn with_similar_image(
        &self,
        perceptual: crate::images::Perceptual,
        limit: usize,
    ) -> StorageResult<Vec<ProductId>> {
        let hex = perceptual.to_hex();
        self.read(move |c| {
            let mut out: Vec<ProductId> = Vec::new();
            for i in 0..4 {
                let sql = format!(
                    "SELECT product_id FROM products WHERE substr(json_extract(doc, '$.image_perceptual_hash'), {}, 4) = ?1 LIMIT ?2",
                    1 + 4 * i
                );
                let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
                for id in product_ids(&mut stmt, params![&hex[4 * i..4 * i + 4], limit as i64])? {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn update_merging(
        &self,
        previous: &Product,
        next: &Product,
        history: &HistoryEntry,
        into: &ProductId,
    ) -> StorageResult<()> {
        self.update_with(previous, next, history, Some(*into)).await
    }

    async fn list(&self, filter: &ProductFilter, page: &PageQuery) -> StorageResult<Page<Product>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| {
            let mut sql = String::from("SELECT ");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            let mut conds: Vec<String> = Vec::new();
            let by_quality = filter.status == Some(VerificationStatus::Pending)
                && filter.order != ReviewOrder::Oldest;
            let descending = by_quality && filter.order == ReviewOrder::HighestQuality;
            let after = page.after.map(|a| a.0).unwrap_or_else(|| {
                if descending {
                    "\u{10FFFF}".to_string()
                } else {
                    String::new()
                }
            });
            let order_col = if by_quality {
                "(printf('%03d#', json_extract(doc, '$.quality_score')) || status_sort)"
            } else if filter.status.is_some() {
                "status_sort"
            } else if filter.category.is_some() {
                "category_sort"
            } else {
                "product_id"
            };
            sql.push_str(order_col);
            sql.push_str(", doc FROM products WHERE ");
            if let Some(s) = filter.status {
                args.push(s.as_str().to_string().into());
                conds.push(format!("status = ?{}", args.len()));
            }
            if let Some(cat) = &filter.category {
                let prefix = category_path_key(cat);
                args.push(prefix.clone().into());
                conds.push(format!("category_sort >= ?{}", args.len()));
                args.push(prefix_end(&prefix).into());
                conds.push(format!("category_sort < ?{}", args.len()));
            }
            for w in &filter.words {
                args.push(w.clone().into());
                conds.push(format!("instr(search_text, ?{}) > 0", args.len()));
            }
            args.push(after.into());
            let (cmp, dir) = if descending {
                ("<", "DESC")
            } else {
                (">", "ASC")
            };
            conds.push(format!("{order_col} {cmp} ?{}", args.len()));
            sql.push_str(&conds.join(" AND "));
            sql.push_str(&format!(
                " ORDER BY {order_col} {dir} LIMIT {}",
                page.limit + 1
            ));
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            page_of(rows, page.limit, |doc| product_from_doc(&doc))
        })
        .await
    }
}

/// Cuts `limit + 1` fetched rows into a page; the extra row only says there is more.
fn page_of<T>(
    rows: Vec<(String, String)>,
    limit: u32,
    parse: impl Fn(String) -> StorageResult<T>,
) -> StorageResult<Page<T>> {
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = None;
    for (sort, doc) in rows.into_iter().take(limit as usize) {
        items.push(parse(doc)?);
        last = Some(sort);
    }
    Ok(Page {
        items,
        next: if more { last.map(Continuation) } else { None },
    })
}

/// The SQL of an inventory order's key: a unique text per item (the record's derived key, or
/// one built from the product id for items stored before those keys existed). The schema
/// indexes each expression as written here.
fn sort_sql(by: InventorySort) -> &'static str {
    match by {
        InventorySort::ProductId => "product_id",
        InventorySort::Name => NAME_SORT_SQL,
        InventorySort::Updated => UPDATED_SORT_SQL,
        InventorySort::Quantity => QTY_SORT_SQL,
    }
}

const NAME_SORT_SQL: &str = "coalesce(json_extract(doc, '$.name_sort'), '~#' || product_id)";
const UPDATED_SORT_SQL: &str = "coalesce(json_extract(doc, '$.updated_sort'), json_extract(doc, '$.last_updated') || '#' || product_id)";
const QTY_SORT_SQL: &str =
    "coalesce(json_extract(doc, '$.qty_sort'), printf('%013d#', quantity_milli) || product_id)";

/// `s` with LIKE's wildcards (and the escape itself) escaped by a backslash.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn inventory_from_doc(doc: &str) -> StorageResult<InventoryItem> {
    from_doc::<InventoryRecord>("inventory item", doc)?.try_into()
}

fn load_inventory(
    tx: &Connection,
    store: &str,
    product: &str,
) -> StorageResult<Option<InventoryItem>> {
    let doc: Option<String> = tx
        .query_row_cached(
            "SELECT doc FROM inventory WHERE store_id = ?1 AND product_id = ?2",
            params![store, product],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    doc.as_deref().map(inventory_from_doc).transpose()
}

fn save_inventory(tx: &Connection, item: &InventoryItem) -> StorageResult<()> {
    let r = InventoryRecord::of(item);
    tx.execute_cached(
        "INSERT INTO inventory (store_id, product_id, quantity_milli, reorder_milli, version, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (store_id, product_id) DO UPDATE SET quantity_milli = excluded.quantity_milli,
         reorder_milli = excluded.reorder_milli, version = excluded.version, doc = excluded.doc",
        params![r.store_id, r.product_id, r.quantity_milli, r.reorder_milli, r.version as i64, to_doc(&r)?],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Appends a movement (and, when it crossed a stock alert, its place in the outbox); a position
/// already taken is a bug in the planning, never overwritten.
fn save_movement(tx: &Connection, m: &Movement) -> StorageResult<()> {
    let key = params![
        m.store_id.as_str(),
        m.product_id.to_string(),
        m.position().key()
    ];
    tx.execute_cached(
        "INSERT INTO movements (store_id, product_id, position, doc) VALUES (?1, ?2, ?3, ?4)",
        params![
            m.store_id.as_str(),
            m.product_id.to_string(),
            m.position().key(),
            to_doc(&MovementRecord::from(m))?
        ],
    )
    .map_err(db_err)?;
    if !m.alerts.is_empty() {
        tx.execute_cached(
            "INSERT INTO pending_alerts (store_id, product_id, position) VALUES (?1, ?2, ?3)",
            key,
        )
        .map_err(db_err)?;
    }
    Ok(())
}

/// The life a new item of `product` starts at `at`: after the last life its ledger holds.
fn new_life(
    tx: &Connection,
    store: &str,
    product: &str,
    at: Timestamp,
) -> StorageResult<Timestamp> {
    let last: Option<String> = tx
        .query_row_cached(
            "SELECT MAX(position) FROM movements WHERE store_id = ?1 AND product_id = ?2",
            params![store, product],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    let last = last
        .and_then(|k| LedgerPosition::parse_key(&k))
        .map(|p| p.stocked_since);
    Ok(stock::new_life(at, last))
}

/// Stores a planned write: the item and its movement, in the caller's transaction.
/// `ProductMerged` when `product` was merged into another: no item is created on such a
/// product (the services check it exists).
fn require_unmerged(tx: &Connection, product: &ProductId) -> StorageResult<()> {
    let row: Option<(String, Option<String>)> = tx
        .query_row_cached(
            "SELECT status, json_extract(doc, '$.merged_into') FROM products WHERE product_id = ?1",
            params![product.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_err)?;
    match row {
        Some((status, into)) if status == VerificationStatus::Merged.as_str() => {
            Err(StorageError::ProductMerged {
                product: *product,
                into: into.and_then(|i| ProductId::parse(&i).ok()),
            })
        }
        _ => Ok(()),
    }
}

/// Saves a planned write (a new item only on a product that is not merged).
fn save_planned(tx: &Connection, p: &Planned) -> StorageResult<()> {
    if p.created {
        require_unmerged(tx, &p.item.product_id)?;
    }
    save_inventory(tx, &p.item)?;
    if let Some(m) = &p.movement {
        save_movement(tx, m)?;
    }
    Ok(())
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn get_many(
        &self,
        store: &StoreId,
        products: &[ProductId],
    ) -> StorageResult<Vec<InventoryItem>> {
        let s = store.to_string();
        let ps: Vec<String> = products.iter().map(ToString::to_string).collect();
        self.read(move |c| {
            let mut out = Vec::with_capacity(ps.len());
            for p in &ps {
                if let Some(item) = load_inventory(c, &s, p)? {
                    out.push(item);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn stocked_products(
        &self,
        store: &StoreId,
        limit: usize,
    ) -> StorageResult<Option<std::collections::HashSet<ProductId>>> {
        let s = store.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT product_id FROM inventory WHERE store_id = ?1 LIMIT ?2")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![s, limit as i64 + 1], |r| r.get::<_, String>(0))
                .map_err(db_err)?;
            let mut out = std::collections::HashSet::new();
            for id in rows {
                let id = id.map_err(db_err)?;
                let id = ProductId::parse(&id)
                    .map_err(|e| StorageError::backend(format!("stored product id {id:?}: {e}")))?;
                out.insert(id);
            }
            Ok((out.len() <= limit).then_some(out))
        })
        .await
    }

    async fn put_many(&self, writes: &[StockWrite]) -> StorageResult<BulkWrite> {
        let writes = writes.to_vec();
        self.write(move |tx| {
            let mut done = BulkWrite {
                requests: 1,
                ..Default::default()
            };
            for w in &writes {
                let (s, p) = (w.item.store_id.as_str(), w.item.product_id.to_string());
                let current = load_inventory(tx, s, &p)?;
                let holds = match (w.expect, &current) {
                    (Expect::Anything, _) | (Expect::Absent, None) => true,
                    (Expect::Version(v), Some(c)) => c.version == v,
                    _ => false,
                };
                let merged = current.is_none()
                    && matches!(
                        require_unmerged(tx, &w.item.product_id),
                        Err(StorageError::ProductMerged { .. })
                    );
                if !holds || merged {
                    done.conflicts.push(w.item.product_id);
                    continue;
                }
                // A new life starts after the item's earlier lives (never on one of their
                // positions), whatever the caller's clock said.
                let mut w = w.clone();
                if current.is_none() {
                    let life = new_life(tx, s, &p, w.item.stocked_since)?;
                    w.item.stocked_since = life;
                    if let Some(m) = w.movement.as_mut() {
                        m.stocked_since = life;
                    }
                }
                save_inventory(tx, &w.item)?;
                if let Some(m) = &w.movement {
                    save_movement(tx, m)?;
                }
                done.written += 1;
            }
            Ok(done)
        })
        .await
    }

    async fn get(
        &self,
        store: &StoreId,
        product: &ProductId,
    ) -> StorageResult<Option<InventoryItem>> {
        let (s, p) = (store.to_string(), product.to_string());
        self.read(move |c| load_inventory(c, &s, &p)).await
    }

    async fn list(
        &self,
        store: &StoreId,
        filter: &InventoryFilter,
        order: InventoryOrder,
        page: &PageQuery,
    ) -> StorageResult<Page<InventoryItem>> {
        let (store, filter, page) = (store.to_string(), filter.clone(), page.clone());
        self.read(move |c| {
            let key = sort_sql(order.by);
            use rusqlite::types::Value;
            let mut args: Vec<Value> = vec![Value::Text(store)];
            let mut conds = Vec::new();
            if let Some(after) = page.after {
                args.push(Value::Text(after.0));
                let op = if order.descending { "<" } else { ">" };
                conds.push(format!("{key} {op} ?{}", args.len()));
            }
            if filter.low_stock {
                conds.push("reorder_milli IS NOT NULL AND quantity_milli <= reorder_milli".into());
            }
            if filter.out_of_stock {
                conds.push("quantity_milli = 0".into());
            }
            for w in &filter.words {
                args.push(Value::Text(format!("%{}%", like_escape(w))));
                conds.push(format!(
                    "json_extract(doc, '$.search_text') LIKE ?{} ESCAPE '\\'",
                    args.len()
                ));
            }
            if let Some(cat) = &filter.category {
                args.push(Value::Text(format!(
                    "{}%",
                    like_escape(&category_path_key(cat))
                )));
                conds.push(format!(
                    "json_extract(doc, '$.category_sort') LIKE ?{} ESCAPE '\\'",
                    args.len()
                ));
            }
            let conds: String = conds.iter().map(|c| format!(" AND {c}")).collect();
            let dir = if order.descending { "DESC" } else { "ASC" };
            args.push(Value::Integer(i64::from(page.limit) + 1));
            let sql = format!(
                "SELECT {key}, doc FROM inventory WHERE store_id = ?1{conds} ORDER BY {key} {dir} LIMIT ?{}",
                args.len()
            );
            // Cached by its text, which names the listing's shape (order and filters), not its
            // values: a screen asks for the same listing again and again.
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            page_of(rows, page.limit, |doc| inventory_from_doc(&doc))
        })
        .await
    }

    async fn put(
        &self,
        store: &StoreId,
        product: &ProductId,
        set: &SetItem,
    ) -> StorageResult<PutOutcome> {
        let (store, product, set) = (store.clone(), *product, set.clone());
        self.write(move |tx| {
            let (s, p) = (store.as_str(), product.to_string());
            let current = load_inventory(tx, s, &p)?;
            let life = match current {
                Some(_) => set.at,
                None => new_life(tx, s, &p, set.at)?,
            };
            let plan = stock::replaced(&store, &product, &set, current.as_ref(), life)?;
            save_planned(tx, &plan)?;
            Ok(PutOutcome {
                item: plan.item,
                created: plan.created,
                movement: plan.movement,
            })
        })
        .await
    }

    async fn delete(
        &self,
        store: &StoreId,
        product: &ProductId,
        expect_version: Option<u64>,
        origin: &MovementOrigin,
        at: Timestamp,
    ) -> StorageResult<Movement> {
        let (s, p, origin) = (store.to_string(), product.to_string(), origin.clone());
        self.write(move |tx| {
            let current = load_inventory(tx, &s, &p)?;
            let movement = stock::removed(current.as_ref(), expect_version, &origin, at)?;
            tx.execute_cached(
                "DELETE FROM inventory WHERE store_id = ?1 AND product_id = ?2",
                params![s, p],
            )
            .map_err(db_err)?;
            save_movement(tx, &movement)?;
            Ok(movement)
        })
        .await
    }

    async fn adjust(&self, a: &Adjustment) -> StorageResult<AdjustOutcome> {
        let a = a.clone();
        self.write(move |tx| {
            let (s, p) = (a.store_id.to_string(), a.product_id.to_string());
            let now = a.at.unix_seconds();
            if let Some(op) = &a.operation {
                let seen: Option<String> = tx
                    .query_row_cached(
                        "SELECT fingerprint FROM operations WHERE store_id = ?1 AND op_key = ?2 AND expires_at >= ?3",
                        params![s, op.key, now],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err)?;
                if let Some(fp) = seen {
                    if fp != op.fingerprint {
                        return Err(StorageError::OperationKeyReused);
                    }
                    let item = load_inventory(tx, &s, &p)?.ok_or(StorageError::NotFound)?;
                    return Ok(AdjustOutcome { item, replayed: true, created: false, movement: None });
                }
            }
            let current = load_inventory(tx, &s, &p)?;
            let life = match current {
                Some(_) => a.at,
                None => new_life(tx, &s, &p, a.at)?,
            };
            let plan = stock::adjusted(&a, current.as_ref(), life)?;
            save_planned(tx, &plan)?;
            if let Some(op) = &a.operation {
                tx.execute_cached(
                    "INSERT OR REPLACE INTO operations (store_id, op_key, fingerprint, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![s, op.key, op.fingerprint, a.at.plus(OPERATION_TTL).unix_seconds()],
                )
                .map_err(db_err)?;
            }
            Ok(AdjustOutcome { item: plan.item, replayed: false, created: plan.created, movement: plan.movement })
        })
        .await
    }

    async fn stores_stocking(
        &self,
        product: &ProductId,
        limit: usize,
    ) -> StorageResult<Vec<StoreId>> {
        let p = product.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT store_id FROM inventory WHERE product_id = ?1 ORDER BY store_id LIMIT ?2",
                )
                .map_err(db_err)?;
            let ids = stmt
                .query_map(params![p, limit as i64], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            ids.iter()
                .map(|s| {
                    StoreId::parse(s)
                        .map_err(|e| StorageError::Corrupt(format!("stored store id {s:?}: {e}")))
                })
                .collect()
        })
        .await
    }

    async fn merge_item(
        &self,
        store: &StoreId,
        merge: &ItemMerge,
    ) -> StorageResult<Option<MergedItem>> {
        let (store, merge) = (store.clone(), merge.clone());
        self.write(move |tx| {
            let s = store.as_str();
            let (from_id, into_id) = (merge.from.to_string(), merge.into.to_string());
            let Some(from) = load_inventory(tx, s, &from_id)? else {
                return Ok(None);
            };
            let into = load_inventory(tx, s, &into_id)?;
            let life = match into {
                Some(_) => merge.at,
                None => new_life(tx, s, &into_id, merge.at)?,
            };
            let (gone, plan) = stock::merged(&from, into.as_ref(), &merge, life)?;
            tx.execute_cached(
                "DELETE FROM inventory WHERE store_id = ?1 AND product_id = ?2",
                params![s, from_id],
            )
            .map_err(db_err)?;
            save_movement(tx, &gone)?;
            save_planned(tx, &plan)?;
            Ok(Some(MergedItem {
                item: plan.item,
                moved: from.details.quantity,
            }))
        })
        .await
    }

    async fn unannounced(&self, limit: usize) -> StorageResult<Vec<Movement>> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT m.doc FROM pending_alerts p JOIN movements m
                     ON m.store_id = p.store_id AND m.product_id = p.product_id AND m.position = p.position
                     LIMIT ?1",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![limit as i64], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter()
                .map(|d| from_doc::<MovementRecord>("stock movement", d)?.try_into())
                .collect()
        })
        .await
    }

    async fn announced(&self, movements: &[Movement]) -> StorageResult<()> {
        let keys: Vec<(String, String, String)> = movements
            .iter()
            .map(|m| {
                (
                    m.store_id.to_string(),
                    m.product_id.to_string(),
                    m.position().key(),
                )
            })
            .collect();
        self.write(move |tx| {
            for (s, p, pos) in &keys {
                tx.execute_cached(
                    "DELETE FROM pending_alerts WHERE store_id = ?1 AND product_id = ?2 AND position = ?3",
                    params![s, p, pos],
                )
                .map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn movements(
        &self,
        store: &StoreId,
        product: &ProductId,
        page: &PageQuery,
    ) -> StorageResult<Page<Movement>> {
        let (s, p, page) = (store.to_string(), product.to_string(), page.clone());
        self.read(move |c| {
            // Newest first: positions below the cursor's (the first page: below every one).
            let before = page.after.map(|a| a.0).unwrap_or_else(|| "\u{10FFFF}".to_string());
            let mut stmt = c
                .prepare_cached(
                    "SELECT position, doc FROM movements WHERE store_id = ?1 AND product_id = ?2 AND position < ?3
                     ORDER BY position DESC LIMIT ?4",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![s, p, before, page.limit as i64 + 1], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            page_of(rows, page.limit, |doc| {
                from_doc::<MovementRecord>("stock movement", &doc)?.try_into()
            })
        })
        .await
    }
}

fn job_from_doc(doc: &str) -> StorageResult<CsvJob> {
    from_doc::<JobRecord>("job", doc)?.try_into()
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert(&self, job: &CsvJob) -> StorageResult<()> {
        let job = job.clone();
        self.write(move |tx| {
            let r = JobRecord::from(&job);
            let n = tx
                .execute_cached(
                    "INSERT OR IGNORE INTO jobs (job_id, store_id, store_sort, version, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.job_id, r.store_id, created_sort_key(&job.created_at, &job.job_id), r.version as i64, to_doc(&r)?],
                )
                .map_err(db_err)?;
            if n == 0 { Err(StorageError::AlreadyExists) } else { Ok(()) }
        })
        .await
    }

    async fn get(&self, id: &JobId) -> StorageResult<Option<CsvJob>> {
        let id = id.to_string();
        self.read(move |c| {
            let doc: Option<String> = c
                .query_row_cached("SELECT doc FROM jobs WHERE job_id = ?1", params![id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            doc.as_deref().map(job_from_doc).transpose()
        })
        .await
    }

    async fn update(&self, next: &CsvJob) -> StorageResult<()> {
        let job = next.clone();
        self.write(move |tx| {
            let r = JobRecord::from(&job);
            let n = tx
                .execute_cached(
                    "UPDATE jobs SET version = ?2, doc = ?3 WHERE job_id = ?1 AND version = ?4",
                    params![
                        r.job_id,
                        r.version as i64,
                        to_doc(&r)?,
                        r.version as i64 - 1
                    ],
                )
                .map_err(db_err)?;
            if n == 1 {
                return Ok(());
            }
            let current: Option<i64> = tx
                .query_row_cached(
                    "SELECT version FROM jobs WHERE job_id = ?1",
                    params![r.job_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            Err(StorageError::VersionConflict {
                current: current.map(|v| v as u64),
            })
        })
        .await
    }

    async fn list_by_store(
        &self,
        store: &StoreId,
        page: &PageQuery,
    ) -> StorageResult<Page<CsvJob>> {
        let (s, page) = (store.to_string(), page.clone());
        self.read(move |c| {
            let sql = format!(
                "SELECT store_sort, doc FROM jobs WHERE store_id = ?1 AND store_sort < ?2 ORDER BY store_sort DESC LIMIT {}",
                page.limit + 1
            );
            let before = page.after.map(|a| a.0).unwrap_or_else(|| char::MAX.to_string());
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params![s, before], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            page_of(rows, page.limit, |doc| job_from_doc(&doc))
        })
        .await
    }

    async fn unfinished(&self, limit: usize) -> StorageResult<Vec<CsvJob>> {
        self.read(move |c| {
            // A scan of the jobs table: a local server has few, and sweeps seldom. Jobs a run
            // has started come first (a pile of uploads never made cannot starve them).
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM jobs WHERE json_extract(doc, '$.status') NOT IN ('completed', 'failed')
                     ORDER BY json_extract(doc, '$.status') = 'awaiting_upload', store_sort LIMIT ?1",
                )
                .map_err(db_err)?;
            let docs = stmt
                .query_map(params![limit as i64], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| job_from_doc(d)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProductContent, ProductSource};

    /// A database made before the change feed gets its column on open, every product numbered
    /// by its last update: a first sync reads them all, oldest change first.
    #[tokio::test]
    async fn an_older_database_gets_its_change_feed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let products: &dyn ProductStore = &store;
        let at = |s| Timestamp::from_unix_seconds(s).unwrap();
        let mut made = Vec::new();
        for (name, updated) in [("Newer", 2_000_000_000), ("Older", 1_900_000_000)] {
            let content = ProductContent {
                name: name.into(),
                ..Default::default()
            };
            let p = Product::create(
                ProductId::new(),
                content,
                ProductSource::Api,
                "t",
                at(updated),
            );
            products
                .insert(
                    &p,
                    &HistoryEntry::created(&p, crate::domain::Actor::system("test"), None),
                )
                .await
                .unwrap();
            made.push(p);
        }
        drop(store);
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            "DROP INDEX products_by_change; ALTER TABLE products DROP COLUMN change_seq;
             DROP INDEX history_unannounced; ALTER TABLE product_history DROP COLUMN unannounced;",
        )
        .unwrap();
        drop(raw);
        let store = SqliteStore::open(&path).unwrap();
        let products: &dyn ProductStore = &store;
        let page = products.changes(None, Timestamp::now(), 10).await.unwrap();
        let names: Vec<&str> = page.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Older", "Newer"]);
        // Entries from before the outbox are not announced; the next change's is.
        assert!(products.unannounced_history(10).await.unwrap().is_empty());
        // And a change after it goes to the end.
        let p = &made[1];
        let mut next = p.clone();
        next.version += 1;
        products
            .update(
                p,
                &next,
                &HistoryEntry::of(
                    Some(p),
                    &next,
                    crate::domain::ProductAction::Updated,
                    crate::domain::Actor::system("test"),
                    None,
                ),
            )
            .await
            .unwrap();
        let after = products
            .changes(Some(&page.next), Timestamp::now(), 10)
            .await
            .unwrap();
        assert_eq!(after.items.len(), 1);
        assert_eq!(after.items[0].name, "Older");
        let pending = products.unannounced_history(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].version, next.version);
    }
}
