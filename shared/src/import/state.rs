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
/// Most rows the duplicate map reserves room for up front (it still grows past them).
pub const PRESIZED_ROWS: u64 = 2_000_000;
/// Entries the duplicate map keeps in its hash table before merging them into its sorted run.
const RECENT_ENTRIES: usize = 1 << 16;
/// State snapshot format version.
const STATE_VERSION: u32 = 2;

/// Field order is the snapshot format (postcard is positional): [`Checkpoint`] writes the same.
#[derive(Debug, Default, Deserialize)]
pub struct ImportState {
    version: u32,
    /// Identity key of a row's product (see `plan`) -> the first row with it. The one part
    /// that grows with the file: 12 bytes per distinct product.
    seen: SeenMap,
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
    /// [`BYTES_PER_ROW`], at most [`PRESIZED_ROWS`]), so the duplicate map is not moved
    /// (briefly holding two copies) as a large file goes in. The room is address space: memory
    /// is only taken as entries fill it.
    pub fn for_file(bytes: u64) -> Self {
        let rows = (bytes / BYTES_PER_ROW).min(PRESIZED_ROWS) as usize;
        ImportState {
            version: STATE_VERSION,
            seen: SeenMap::with_capacity(rows),
            ..Default::default()
        }
    }

    /// The first row with identity `key` (when that is not `row` itself), or records `row`
    /// as the first.
    pub fn first(&mut self, key: u64, row: u64) -> Option<u64> {
        debug_assert!(
            row < u64::from(u32::MAX),
            "rows fit the duplicate map's 32 bits"
        );
        match self.seen.first_or_insert(key, row) {
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
        // Key and row as varints: at most 10 + 5 bytes an entry, plus the report.
        let room = self.seen.len() * 15 + self.report_bytes + 1024;
        postcard::to_extend(&kept, Vec::with_capacity(room)).unwrap_or_default()
    }

    /// Room for the products a file of `bytes` bytes can name (see [`Self::for_file`]), for a
    /// state loaded from a checkpoint.
    pub fn with_room_for_file(mut self, bytes: u64) -> Self {
        let rows = (bytes / BYTES_PER_ROW).min(PRESIZED_ROWS) as usize;
        self.seen.reserve(rows.saturating_sub(self.seen.len()));
        self
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
    seen: &'a SeenMap,
    next_row: u64,
}

impl Serialize for SeenBefore<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kept = || self.seen.iter().filter(|(_, row)| *row < self.next_row);
        let mut map = s.serialize_map(Some(kept().count()))?;
        for (k, row) in kept() {
            map.serialize_entry(&k, &row)?;
        }
        map.end()
    }
}

/// A map from identity key to first row, compact for a million entries: a run sorted by key
/// (keys and rows side by side, 12 bytes an entry, no hash-table slack) and a small hash table
/// of recent entries, merged into the run each time it fills. A lookup is a binary search
/// plus a hash probe. Serialised as a plain map (the checkpoint format).
#[derive(Debug, Default)]
struct SeenMap {
    keys: Vec<u64>,
    /// Rows fit 32 bits: an upload is at most 100 MiB, and a row takes at least one byte.
    rows: Vec<u32>,
    recent: HashMap<u64, u32>,
}

impl SeenMap {
    fn with_capacity(entries: usize) -> Self {
        SeenMap {
            keys: Vec::with_capacity(entries),
            rows: Vec::with_capacity(entries),
            recent: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.keys.len() + self.recent.len()
    }

    fn reserve(&mut self, more: usize) {
        self.keys.reserve_exact(more);
        self.rows.reserve_exact(more);
    }

    /// The row recorded for `key`, recording `row` if there is none.
    fn first_or_insert(&mut self, key: u64, row: u64) -> u64 {
        if let Ok(i) = self.keys.binary_search(&key) {
            return u64::from(self.rows[i]);
        }
        let row = u32::try_from(row).unwrap_or(u32::MAX);
        let first = *self.recent.entry(key).or_insert(row);
        if self.recent.len() >= RECENT_ENTRIES {
            self.merge_recent();
        }
        u64::from(first)
    }

    /// Moves the recent entries into the sorted run, merging from the back in place.
    fn merge_recent(&mut self) {
        let mut add: Vec<(u64, u32)> = self.recent.drain().collect();
        add.sort_unstable();
        let (mut i, mut j) = (self.keys.len(), add.len());
        self.keys.resize(i + j, 0);
        self.rows.resize(i + j, 0);
        let mut w = i + j;
        while j > 0 {
            w -= 1;
            if i > 0 && self.keys[i - 1] > add[j - 1].0 {
                i -= 1;
                self.keys[w] = self.keys[i];
                self.rows[w] = self.rows[i];
            } else {
                j -= 1;
                (self.keys[w], self.rows[w]) = add[j];
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.keys
            .iter()
            .zip(&self.rows)
            .map(|(&k, &r)| (k, u64::from(r)))
            .chain(self.recent.iter().map(|(&k, &r)| (k, u64::from(r))))
    }
}

impl<'de> Deserialize<'de> for SeenMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Vec<(u64, u32)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of identity keys to rows")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut v =
                    Vec::with_capacity(m.size_hint().unwrap_or(0).min(PRESIZED_ROWS as usize));
                while let Some((k, r)) = m.next_entry::<u64, u64>()? {
                    v.push((k, u32::try_from(r).unwrap_or(u32::MAX)));
                }
                Ok(v)
            }
        }
        let mut sorted = d.deserialize_map(Entries)?;
        sorted.sort_unstable();
        sorted.dedup_by_key(|e| e.0);
        Ok(SeenMap {
            keys: sorted.iter().map(|e| e.0).collect(),
            rows: sorted.iter().map(|e| e.1).collect(),
            recent: HashMap::new(),
        })
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
    fn the_duplicate_map_answers_the_same_across_merges_and_checkpoints() {
        let mut s = ImportState::new();
        let n = RECENT_ENTRIES as u64 * 3 + 7;
        // Keys in no order, each first seen at row key * 2.
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for i in 0..n {
            assert_eq!(s.first(key(i), i * 2), None);
        }
        assert!(
            !s.seen.keys.is_empty(),
            "entries were merged into the sorted run"
        );
        assert!(s.seen.keys.windows(2).all(|w| w[0] < w[1]));
        for i in (0..n).step_by(97) {
            assert_eq!(
                s.first(key(i), i * 2),
                None,
                "a row is not a repeat of itself"
            );
            assert_eq!(s.first(key(i), n * 3), Some(i * 2));
        }
        let back = ImportState::from_bytes(&s.to_bytes(n)).unwrap();
        assert_eq!(back.seen.len(), (n as usize).div_ceil(2));
        let mut back = back;
        assert_eq!(back.first(key(2), n * 3), Some(4));
        assert_eq!(
            back.first(key(n - 1), n * 3),
            None,
            "row 2n-2 is at or after the checkpoint"
        );
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
