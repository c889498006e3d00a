//! Loading an Open Food Facts export into the catalog: records in, products created or
//! enriched out, idempotently (a second load of the same export writes nothing).
//!
//! - [`chunk`]: one chunk of records, the unit of work (what it skips, creates, enriches);
//! - [`run`]: a whole export read on a thread of its own a chunk ahead of the writes, as a
//!   stream of loaded chunks, each tried again while storage is unavailable (`catalog
//!   off-import`, the demo catalog, the `off-import` function);
//! - [`upload`]: an export uploaded under `off/`, loaded by the `off-import` function with its
//!   place saved beside it, handed over to the next run before the function's deadline.

pub mod chunk;
pub mod run;
pub mod upload;

/// Records one chunk holds (the CLI reads this many, then writes them).
pub const OFF_CHUNK: usize = 1000;
/// Default country filter: products OFF lists as sold in India.
pub const DEFAULT_COUNTRY: &str = "en:india";
/// What to load.
#[derive(Debug, Clone)]
pub struct OffImportOptions {
    /// An OFF country tag (`en:india`); `None` loads every country.
    pub country: Option<String>,
}

impl Default for OffImportOptions {
    fn default() -> Self {
        OffImportOptions {
            country: Some(DEFAULT_COUNTRY.into()),
        }
    }
}

/// What a load did, record by record.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OffImportStats {
    pub records: u64,
    /// Not sold in the chosen country.
    pub other_country: u64,
    /// No valid GTIN, no usable name, or a line that is not a record.
    pub invalid: u64,
    /// The same barcode again within a chunk (the first one counts).
    pub repeated: u64,
    pub created: u64,
    /// Existing products filled (or marked found) from their record.
    pub enriched: u64,
    /// Existing products the record had nothing to add to.
    pub unchanged: u64,
    /// Write capacity units, where storage reports them.
    pub write_units: f64,
}

impl OffImportStats {
    pub fn add(&mut self, o: &OffImportStats) {
        self.records += o.records;
        self.other_country += o.other_country;
        self.invalid += o.invalid;
        self.repeated += o.repeated;
        self.created += o.created;
        self.enriched += o.enriched;
        self.unchanged += o.unchanged;
        self.write_units += o.write_units;
    }
}
