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

/// Records one chunk holds (a load reads this many, then writes them).
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

pub use crate::domain::job::OffImportStats;
