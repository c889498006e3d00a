//! What an import run remembers between rows, and saves when it hands the rest of a file to
//! the next run: the products rows have gone to (to tell a repeated row), products the import
//! created that turned out to exist already, and the problems found so far.
//!
//! Owns the resume rule: the state is saved together with a checkpoint row, and anything it
//! holds about rows at or after that row is dropped on loading, since those rows are read and
//! written again.

use std::collections::HashMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::report::ReportRow;
use crate::domain::ProductId;

/// Detail kept for at most this many rejected rows, and this much memory (the rest are counted).
pub const MAX_REPORTED_ROWS: usize = 10_000;
pub const MAX_REPORT_BYTES: usize = 8 * 1024 * 1024;
/// The fewest bytes a stock-list row with a product in it usually takes (name, quantity,
/// price, separators); a file of N bytes names at most about N / this many products.
pub const BYTES_PER_ROW: u64 = 40;
/// Most rows the duplicate map is sized for up front (it still grows past them).
pub const PRESIZED_ROWS: u64 = 2_000_000;
/// State snapshot format version.
const STATE_VERSION: u32 = 2;

/// Field order is the snapshot format (postcard is positional): [`Checkpoint`] writes the same.
#[derive(Debug, Default, Deserialize)]
pub struct ImportState {
    version: u32,
    /// Identity key of a row's product (see `plan`) -> the first row with it. The one part
    /// that grows with the file: 16 bytes (plus the map's slack) per distinct product.
    seen: HashMap<u64, u64>,
    /// Products this import meant to create whose barcode another product already had: rows
    /// for the first go to the second.
    retargets: HashMap<u128, u128>,
    pub report: Vec<ReportRow>,
    report_bytes: usize,
    /// Rejected rows beyond what the report keeps.
    pub unreported: u64,
}

impl ImportState {
    pub fn new() -> Self {
        ImportState {
            version: STATE_VERSION,
            ..Default::default()
        }
    }

    /// A new state with room for the products a file of `bytes` bytes can name (one per
    /// [`BYTES_PER_ROW`], at most [`PRESIZED_ROWS`]), so the duplicate map is not resized
    /// (briefly holding two copies) as a large file goes in.
    pub fn for_file(bytes: u64) -> Self {
        let rows = (bytes / BYTES_PER_ROW).min(PRESIZED_ROWS) as usize;
        ImportState {
            version: STATE_VERSION,
            seen: HashMap::with_capacity(rows),
            ..Default::default()
        }
    }

    /// The first row with identity `key` (when that is not `row` itself), or records `row`
    /// as the first.
    pub fn first(&mut self, key: u64, row: u64) -> Option<u64> {
        match *self.seen.entry(key).or_insert(row) {
            first if first != row => Some(first),
            _ => None,
        }
    }

    /// The product a planned one really is (itself unless retargeted).
    pub fn resolve(&self, product: ProductId) -> ProductId {
        match self.retargets.get(&product.as_uuid().as_u128()) {
            Some(&to) => ProductId::from_uuid(uuid::Uuid::from_u128(to)),
            None => product,
        }
    }

    pub fn retarget(&mut self, from: ProductId, to: ProductId) {
        self.retargets
            .insert(from.as_uuid().as_u128(), to.as_uuid().as_u128());
    }

    /// Keeps a rejected row for the report, within the caps.
    pub fn reject(&mut self, row: ReportRow) {
        let w = row.weight();
        if self.report.len() < MAX_REPORTED_ROWS && self.report_bytes + w <= MAX_REPORT_BYTES {
            self.report_bytes += w;
            self.report.push(row);
        } else {
            self.unreported += 1;
        }
    }

    /// The state as it stood before row `next_row` (for a checkpoint there), written from the
    /// live state without copying it.
    pub fn to_bytes(&self, next_row: u64) -> Vec<u8> {
        let kept = Checkpoint {
            version: STATE_VERSION,
            seen: SeenBefore {
                seen: &self.seen,
                next_row,
            },
            retargets: &self.retargets,
            report: self.report.iter().filter(|r| r.row < next_row).collect(),
            report_bytes: 0,
            unreported: self.unreported,
        };
        // Key and row as varints: at most 10 + 10 bytes an entry, plus the report.
        let room = self.seen.len() * 20 + self.report_bytes + 1024;
        postcard::to_extend(&kept, Vec::with_capacity(room)).unwrap_or_default()
    }

    /// A saved state; `None` if it is not one this version wrote.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut s: ImportState = postcard::from_bytes(bytes).ok()?;
        if s.version != STATE_VERSION {
            return None;
        }
        s.report_bytes = s.report.iter().map(ReportRow::weight).sum();
        Some(s)
    }
}

/// [`ImportState`] as a checkpoint writes it (same fields, same order), borrowing the state.
#[derive(Serialize)]
struct Checkpoint<'a> {
    version: u32,
    seen: SeenBefore<'a>,
    retargets: &'a HashMap<u128, u128>,
    report: Vec<&'a ReportRow>,
    report_bytes: usize,
    unreported: u64,
}

/// The `seen` entries of rows before `next_row`, serialised as a map.
struct SeenBefore<'a> {
    seen: &'a HashMap<u64, u64>,
    next_row: u64,
}

impl Serialize for SeenBefore<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kept = || self.seen.iter().filter(|(_, row)| **row < self.next_row);
        let mut map = s.serialize_map(Some(kept().count()))?;
        for (k, row) in kept() {
            map.serialize_entry(k, row)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_forgets_rows_from_its_row_on() {
        let mut s = ImportState::new();
        let (a, b) = (ProductId::new(), ProductId::new());
        assert_eq!(s.first(1, 2), None);
        assert_eq!(s.first(1, 2), None, "a row is not a repeat of itself");
        assert_eq!(s.first(1, 5), Some(2));
        assert_eq!(s.first(2, 9), None);
        s.retarget(b, a);
        s.reject(ReportRow {
            row: 3,
            problems: vec![],
            cells: vec![],
        });
        s.reject(ReportRow {
            row: 10,
            problems: vec![],
            cells: vec![],
        });
        let mut back = ImportState::from_bytes(&s.to_bytes(9)).unwrap();
        assert_eq!(
            back.first(2, 12),
            None,
            "row 9 is read again, so key 2 is new again"
        );
        assert_eq!(back.first(1, 12), Some(2));
        assert_eq!(back.resolve(b), a);
        assert_eq!(
            back.report.iter().map(|r| r.row).collect::<Vec<_>>(),
            vec![3]
        );
        assert!(ImportState::from_bytes(b"junk").is_none());
    }

    #[test]
    fn the_report_is_capped() {
        let mut s = ImportState::new();
        for row in 0..(MAX_REPORTED_ROWS as u64 + 5) {
            s.reject(ReportRow {
                row,
                problems: vec![],
                cells: vec![],
            });
        }
        assert_eq!((s.report.len(), s.unreported), (MAX_REPORTED_ROWS, 5));
    }
}
