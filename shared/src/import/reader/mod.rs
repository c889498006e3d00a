//! Reading a store's uploaded stock list: bytes in, numbered and validated rows out, streaming.
//!
//! Owns everything between the raw file and a typed [`ImportRow`], with memory flat whatever
//! the file size (the file is never held whole; the first rows, read ahead to settle the
//! header, are bounded by `SETTLE_ROWS` and `SETTLE_BYTES`):
//! - the encoding: UTF-8 with or without BOM, UTF-16 LE/BE with BOM, else Windows-1252, decided
//!   from the BOM or the first [`SNIFF_BYTES`] and decoded by a streaming [`Read`](std::io::Read) adapter;
//! - the delimiter (`,` `;` or tab), sniffed from the header line;
//! - the header: which cell is which [`Column`], by synonyms kept as data ([`SYNONYMS`]) and
//!   compared case-, space- and punctuation-insensitively;
//! - records numbered as a spreadsheet shows them (the header is row 1), and every check a row
//!   must pass, each problem a [`RowError`] with a stable code; a file that cannot be imported
//!   at all is a [`FileError`].
//!
//! One concern per file: `encoding` (the BOM, sniffing, the streaming decoder), `file` (the
//! delimiter and the records, numbered), `header` (columns by synonym), `row` (the checks of
//! one record), `cells` (numbers and prices as people write them), `errors`.
//!
//! It must not touch storage, matching or async: it works on `std::io::Read`, and the import
//! pipeline decides what to do with each row and each error.
//!
//! ```
//! use catalog_core::import::reader::CsvFile;
//! let data = "Product Name,QTY,M.R.P.\nTata Salt 1kg,10,₹28\n,5,abc\n";
//! let mut file = CsvFile::open(data.as_bytes()).unwrap();
//! let header = file.header().clone();
//! let first = file.next().unwrap().unwrap();
//! let row = header.validate(&first).unwrap();
//! assert_eq!((row.row, row.name.as_str()), (2, "Tata Salt 1kg"));
//! assert_eq!(row.values.selling_price.unwrap().to_string(), "28.00");
//! let errors = header.validate(&file.next().unwrap().unwrap()).unwrap_err();
//! let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
//! assert_eq!(codes, ["missing_name", "invalid_price"]);
//! assert!(file.next().is_none());
//! ```

mod cells;
mod encoding;
mod errors;
mod file;
mod header;
mod row;
#[cfg(test)]
mod test_support;

pub use errors::{FileError, RecordError, RowError};
pub use file::{CsvFile, RawRecord};
pub use header::{Column, FALLBACK_SYNONYMS, HeaderMap, IgnoreReason, IgnoredColumn, SYNONYMS};
pub use row::{ImportRow, RowValues};

/// How much of the file decides its encoding and delimiter (and whether it is text at all).
pub const SNIFF_BYTES: usize = 64 * 1024;
/// The longest cell read, in characters; a longer one is a `cell_too_long` row error.
pub const MAX_CELL_CHARS: usize = 1_000;
/// The most cells a record may have; more is a `too_many_cells` row error.
pub const MAX_CELLS: usize = 100;
/// The largest record read, in decoded bytes; a larger one (usually a quote that is never
/// closed) is a `row_too_large` file error, as the rest of the file cannot be split into rows.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;
/// Pack size text ("500 g"), in characters.
pub const MAX_SIZE_CHARS: usize = 50;
/// Share of control characters (other than tab, CR, LF and a DOS end-of-file mark) in the
/// sniffed text above which the file is taken for binary, in percent...
const MAX_CONTROL_PERCENT: usize = 1;
/// ...when there are at least this many: a stray NUL that some shop systems write into a cell
/// of a short file does not make it binary (the cell loses it).
const MIN_CONTROL_CHARS: usize = 8;

/// The csv reader's buffer.
const CSV_BUFFER: usize = 64 * 1024;
/// Decoded bytes produced per decoder call.
const DECODE_BUFFER: usize = 16 * 1024;
/// Decoded bytes remembered behind the write position: more than the csv reader can have
/// buffered but not yet consumed, so the byte that ended a record can be looked at.
const HISTORY: usize = 2 * CSV_BUFFER;
