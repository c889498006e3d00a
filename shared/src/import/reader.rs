//! Reading a store's uploaded stock list: bytes in, numbered and validated rows out, streaming.
//!
//! Owns everything between the raw file and a typed [`ImportRow`], with memory flat whatever
//! the file size (the file is never held whole):
//! - the encoding: UTF-8 with or without BOM, UTF-16 LE/BE with BOM, else Windows-1252, decided
//!   from the BOM or the first [`SNIFF_BYTES`] and decoded by a streaming [`Read`] adapter;
//! - the delimiter (`,` `;` or tab), sniffed from the header line;
//! - the header: which cell is which [`Column`], by synonyms kept as data ([`SYNONYMS`]) and
//!   compared case-, space- and punctuation-insensitively;
//! - records numbered as a spreadsheet shows them (the header is row 1), and every check a row
//!   must pass, each problem a [`RowError`] with a stable code; a file that cannot be imported
//!   at all is a [`FileError`].
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

use std::io::{self, Read};
use std::iter::FusedIterator;

use encoding_rs::{CoderResult, Encoding, UTF_8, WINDOWS_1252};

use crate::domain::inventory::{MAX_LOCATION_CHARS, MAX_SUPPLIER_CHARS};
use crate::domain::product::{MAX_BRAND_CHARS, MAX_CATEGORY_CHARS, MAX_NAME_CHARS};
use crate::domain::{AmountError, Gtin, Money, Quantity, TextError, clean_text};

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
/// Share of control characters (other than tab, CR, LF) in the sniffed text above which the
/// file is taken for binary, in percent.
const MAX_CONTROL_PERCENT: usize = 1;

/// The csv reader's buffer.
const CSV_BUFFER: usize = 64 * 1024;
/// Decoded bytes produced per decoder call.
const DECODE_BUFFER: usize = 16 * 1024;
/// Decoded bytes remembered behind the write position: more than the csv reader can have
/// buffered but not yet consumed, so the byte that ended a record can be looked at.
const HISTORY: usize = 2 * CSV_BUFFER;

/// What a header cell can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    Name,
    /// The stock count.
    Quantity,
    SellingPrice,
    CostPrice,
    Barcode,
    Brand,
    Category,
    /// Pack size as written ("500 g"), used for matching.
    Size,
    ReorderLevel,
    Supplier,
    Location,
}

const COLUMNS: usize = 11;

impl Column {
    pub const ALL: [Column; COLUMNS] = [
        Column::Name,
        Column::Quantity,
        Column::SellingPrice,
        Column::CostPrice,
        Column::Barcode,
        Column::Brand,
        Column::Category,
        Column::Size,
        Column::ReorderLevel,
        Column::Supplier,
        Column::Location,
    ];

    /// A stable machine name (`selling_price`).
    pub fn as_str(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Quantity => "quantity",
            Column::SellingPrice => "selling_price",
            Column::CostPrice => "cost_price",
            Column::Barcode => "barcode",
            Column::Brand => "brand",
            Column::Category => "category",
            Column::Size => "size",
            Column::ReorderLevel => "reorder_level",
            Column::Supplier => "supplier",
            Column::Location => "location",
        }
    }

    /// The words used in messages (`selling price`).
    fn label(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Quantity => "quantity",
            Column::SellingPrice => "selling price",
            Column::CostPrice => "cost price",
            Column::Barcode => "barcode",
            Column::Brand => "brand",
            Column::Category => "category",
            Column::Size => "size",
            Column::ReorderLevel => "reorder level",
            Column::Supplier => "supplier",
            Column::Location => "location",
        }
    }

    /// The header names accepted for this column (before [`FALLBACK_SYNONYMS`]).
    pub fn synonyms(self) -> &'static [&'static str] {
        SYNONYMS
            .iter()
            .find(|(c, _)| *c == self)
            .map_or(&[], |(_, names)| *names)
    }
}

/// Header names per column. Compared after normalisation: case, spaces, `_`, `-` and `.` do
/// not count, nor does a parenthesised note ("Price (Rs)" is "price").
pub const SYNONYMS: &[(Column, &[&str])] = &[
    (
        Column::Name,
        &[
            "name",
            "product name",
            "product",
            "item",
            "item name",
            "description",
            "product description",
        ],
    ),
    (
        Column::Quantity,
        &[
            "qty",
            "quantity",
            "stock",
            "stock qty",
            "stock quantity",
            "on hand",
            "count",
            "units",
        ],
    ),
    (
        Column::SellingPrice,
        &["mrp", "price", "selling price", "sale price", "sp", "rate"],
    ),
    (
        Column::CostPrice,
        &["cost", "cost price", "purchase price", "cp", "buying price"],
    ),
    (
        Column::Barcode,
        &["barcode", "ean", "ean13", "upc", "gtin", "bar code"],
    ),
    (
        Column::Brand,
        &["brand", "brand name", "manufacturer", "company"],
    ),
    (
        Column::Category,
        &["category", "category name", "department", "section"],
    ),
    (
        Column::Size,
        &[
            "size",
            "pack size",
            "weight",
            "net weight",
            "net wt",
            "volume",
            "unit size",
            "pack",
        ],
    ),
    (
        Column::ReorderLevel,
        &[
            "reorder level",
            "reorder",
            "reorder point",
            "min stock",
            "minimum stock",
        ],
    ),
    (Column::Supplier, &["supplier", "vendor", "distributor"]),
    (
        Column::Location,
        &["location", "rack", "shelf", "bin", "aisle"],
    ),
];

/// Names that mean a column only when no header names it by one of its [`SYNONYMS`] ("Code"
/// is the barcode unless a "Barcode" column exists, when it is more likely an item code).
pub const FALLBACK_SYNONYMS: &[(Column, &[&str])] = &[(Column::Barcode, &["code"])];

/// Why the file cannot be imported at all. `code` is stable: `read_failed`, `empty_file`,
/// `not_text`, `no_name_column`, `row_too_large`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{message}")]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    fn read_failed(e: &io::Error) -> Self {
        FileError {
            code: "read_failed",
            message: format!("the file could not be read: {e}"),
        }
    }

    fn empty() -> Self {
        FileError {
            code: "empty_file",
            message: "the file is empty".into(),
        }
    }

    fn not_text(head: &[u8]) -> Self {
        let workbook = head.starts_with(b"PK\x03\x04") || head.starts_with(b"\xD0\xCF\x11\xE0");
        let mut message = String::from("the file is not a text CSV (it looks binary)");
        if workbook {
            message.push_str(
                "; it looks like an Excel workbook: save it as CSV (UTF-8) and upload that",
            );
        } else if looks_like_utf16_without_bom(head) {
            message.push_str(
                "; it may be UTF-16 text without a byte-order mark: save it as CSV (UTF-8) and \
                 upload that",
            );
        }
        FileError {
            code: "not_text",
            message,
        }
    }

    fn row_too_large(row: u64) -> Self {
        FileError {
            code: "row_too_large",
            message: format!(
                "row {row} is larger than {} MiB, so the rest of the file cannot be read \
                 (is a closing quote missing?)",
                MAX_ROW_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// A problem with one row; the row is not imported. `column` is the header text as the user
/// wrote it, when the problem is in one cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("row {row}: {message}")]
pub struct RowError {
    pub row: u64,
    pub column: Option<String>,
    /// Stable: `missing_name`, `invalid_barcode`, `invalid_quantity`, `negative_quantity`,
    /// `invalid_price`, `negative_price`, `invalid_reorder_level`, `too_long`,
    /// `cell_too_long`, `too_many_cells`, `ragged_row`, `malformed_row`.
    pub code: String,
    pub message: String,
}

impl RowError {
    fn new(row: u64, column: Option<&str>, code: &str, message: String) -> Self {
        RowError {
            row,
            column: column.map(str::to_string),
            code: code.to_string(),
            message,
        }
    }
}

/// What reading the next record can fail with: a row that cannot be parsed (reading goes on)
/// or the file (reading stops; the iterator yields nothing more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Row(#[from] RowError),
}

/// One record after the header, as read: its spreadsheet row number and its cells untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based, as a spreadsheet shows it: the header is row 1 in a file that starts with it;
    /// a record spread over several lines by quoted newlines is one row; blank lines and blank
    /// records are never yielded but keep their row numbers, as they do in a spreadsheet.
    pub row: u64,
    pub cells: Vec<String>,
}

/// A row that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub row: u64,
    /// Trimmed, whitespace runs (including newlines) collapsed to one space.
    pub name: String,
    pub brand: Option<String>,
    pub category: Option<String>,
    /// Pack size text as written ("500 g").
    pub size: Option<String>,
    pub barcode: Option<Gtin>,
    /// What the row sets on its inventory item.
    pub values: RowValues,
}

/// What a valid row sets on its inventory item; `None` (the column is missing or the cell
/// empty) leaves the item's value as it is (see `plan` for how it is applied).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowValues {
    /// The stock count.
    pub quantity: Option<Quantity>,
    pub selling_price: Option<Money>,
    pub cost_price: Option<Money>,
    pub reorder_level: Option<Quantity>,
    pub supplier: Option<String>,
    pub location: Option<String>,
}

/// Why a header cell is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// No column has this name.
    Unknown,
    /// An earlier header already supplies this column.
    Duplicate(Column),
}

/// A non-empty header cell that is not used, for telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredColumn {
    /// 0-based position in the header.
    pub index: usize,
    /// The header text as written.
    pub header: String,
    pub reason: IgnoreReason,
}

/// Which header cell holds which [`Column`]. Always has a [`Column::Name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    headers: Vec<String>,
    columns: [Option<usize>; COLUMNS],
    /// Unknown and duplicate columns, in header order. Empty header cells are not listed.
    pub ignored: Vec<IgnoredColumn>,
}

impl HeaderMap {
    /// Maps header cells to columns: the first cell naming a column wins. A header without a
    /// name column is the file error `no_name_column`.
    pub fn new(headers: Vec<String>) -> Result<Self, FileError> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let mut columns = [None; COLUMNS];
        let mut ignored = Vec::new();
        let mut decided = vec![false; keys.len()];
        for table in [SYNONYMS, FALLBACK_SYNONYMS] {
            for (index, key) in keys.iter().enumerate() {
                if key.is_empty() || decided[index] {
                    continue;
                }
                let Some(column) = lookup(table, key) else {
                    continue;
                };
                decided[index] = true;
                let slot = &mut columns[column as usize];
                if slot.is_none() {
                    *slot = Some(index);
                } else {
                    ignored.push((index, IgnoreReason::Duplicate(column)));
                }
            }
        }
        for (index, key) in keys.iter().enumerate() {
            if !key.is_empty() && !decided[index] {
                ignored.push((index, IgnoreReason::Unknown));
            }
        }
        ignored.sort_by_key(|(index, _)| *index);
        if columns[Column::Name as usize].is_none() {
            return Err(no_name_column(&headers));
        }
        let ignored = ignored
            .into_iter()
            .map(|(index, reason)| IgnoredColumn {
                index,
                header: headers.get(index).cloned().unwrap_or_default(),
                reason,
            })
            .collect();
        Ok(HeaderMap {
            headers,
            columns,
            ignored,
        })
    }

    /// The header cells as written.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The 0-based cell index of `column`, if the header has it.
    pub fn index(&self, column: Column) -> Option<usize> {
        self.columns[column as usize]
    }

    /// The header text of `column` as the user wrote it, if the header has it.
    pub fn header_of(&self, column: Column) -> Option<&str> {
        self.index(column)
            .and_then(|i| self.headers.get(i))
            .map(String::as_str)
    }

    /// The columns found, in [`Column::ALL`] order, with their cell index.
    pub fn columns(&self) -> impl Iterator<Item = (Column, usize)> + '_ {
        Column::ALL
            .into_iter()
            .filter_map(|c| self.index(c).map(|i| (c, i)))
    }

    /// Checks one record: its shape (cell count and length), then every mapped cell. All the
    /// problems of the row are returned together.
    pub fn validate(&self, record: &RawRecord) -> Result<ImportRow, Vec<RowError>> {
        let row = record.row;
        let cells = &record.cells;
        // Empty cells at the end do not count (spreadsheets export them).
        let used = cells
            .iter()
            .rposition(|c| !is_blank(c))
            .map_or(0, |i| i + 1);
        if used > MAX_CELLS {
            return Err(vec![RowError::new(
                row,
                None,
                "too_many_cells",
                format!("row has {used} cells; at most {MAX_CELLS} are read"),
            )]);
        }
        let mut check = RowCheck {
            map: self,
            row,
            cells,
            rejected: vec![false; cells.len()],
            errors: Vec::new(),
        };
        check.shape(used);
        let name = check.name();
        let barcode = check.barcode();
        let quantity = check.amount(
            Column::Quantity,
            Quantity::parse,
            clean_number,
            ("invalid_quantity", "negative_quantity"),
        );
        let selling_price = check.amount(
            Column::SellingPrice,
            Money::parse,
            clean_money,
            ("invalid_price", "negative_price"),
        );
        let cost_price = check.amount(
            Column::CostPrice,
            Money::parse,
            clean_money,
            ("invalid_price", "negative_price"),
        );
        let reorder_level = check.amount(
            Column::ReorderLevel,
            Quantity::parse,
            clean_number,
            ("invalid_reorder_level", "invalid_reorder_level"),
        );
        let brand = check.text(Column::Brand, MAX_BRAND_CHARS);
        let category = check.text(Column::Category, MAX_CATEGORY_CHARS);
        let size = check.text(Column::Size, MAX_SIZE_CHARS);
        let supplier = check.text(Column::Supplier, MAX_SUPPLIER_CHARS);
        let location = check.text(Column::Location, MAX_LOCATION_CHARS);
        match name {
            Some(name) if check.errors.is_empty() => Ok(ImportRow {
                row,
                name,
                brand,
                category,
                size,
                barcode,
                values: RowValues {
                    quantity,
                    selling_price,
                    cost_price,
                    reorder_level,
                    supplier,
                    location,
                },
            }),
            _ => Err(check.errors),
        }
    }
}

/// A header cell compared with the synonyms: lowercase, without whitespace, `_`, `-`, `.` or
/// a parenthesised note (kept if it is all there is: "(MRP)").
fn header_key(header: &str) -> String {
    let key = key_chars(header, true);
    if key.is_empty() {
        key_chars(header, false)
    } else {
        key
    }
}

fn key_chars(header: &str, drop_notes: bool) -> String {
    let mut key = String::with_capacity(header.len());
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' if drop_notes => depth += 1,
            ')' | ']' if drop_notes => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '(' | ')' | '[' | ']' | '_' | '-' | '.' | '\u{feff}' => {}
            c if c.is_whitespace() => {}
            c => key.extend(c.to_lowercase()),
        }
    }
    key
}

fn lookup(table: &[(Column, &[&str])], key: &str) -> Option<Column> {
    table
        .iter()
        .find(|(_, names)| names.iter().any(|n| header_key(n) == key))
        .map(|(c, _)| *c)
}

fn no_name_column(headers: &[String]) -> FileError {
    const SHOWN: usize = 20;
    let found: Vec<String> = headers
        .iter()
        .filter(|h| !h.trim().is_empty())
        .take(SHOWN)
        .map(|h| format!("'{}'", shorten(h.trim())))
        .collect();
    let mut found = found.join(", ");
    if headers.iter().filter(|h| !h.trim().is_empty()).count() > SHOWN {
        found.push_str(", ...");
    }
    let hint = if headers.len() == 1 {
        " (only one column was found: columns must be separated by commas, semicolons or tabs)"
    } else {
        ""
    };
    FileError {
        code: "no_name_column",
        message: format!(
            "the file has no product name column: the first row must name the columns, and it \
             has {found}{hint}; call the product name column one of: {}",
            Column::Name.synonyms().join(", ")
        ),
    }
}

/// The checks of one row, collecting errors.
struct RowCheck<'a> {
    map: &'a HeaderMap,
    row: u64,
    cells: &'a [String],
    /// Cells already reported (too long), not checked again.
    rejected: Vec<bool>,
    errors: Vec<RowError>,
}

impl<'a> RowCheck<'a> {
    fn error(&mut self, column: Option<&str>, code: &str, message: String) {
        self.errors
            .push(RowError::new(self.row, column, code, message));
    }

    /// Ragged rows (`used` cells, up to the last that is not blank) and over-long cells.
    fn shape(&mut self, used: usize) {
        let width = self.map.headers.len();
        if used > width {
            self.error(
                None,
                "ragged_row",
                format!("row has {used} cells; the header has {width}"),
            );
        }
        for (index, cell) in self.cells.iter().enumerate() {
            if cell.len() <= MAX_CELL_CHARS || cell.chars().count() <= MAX_CELL_CHARS {
                continue;
            }
            self.rejected[index] = true;
            let header = self
                .map
                .headers
                .get(index)
                .map(String::as_str)
                .filter(|h| !h.trim().is_empty());
            let place = match header {
                Some(h) => format!("under '{}'", shorten(h.trim())),
                None => format!("number {}", index + 1),
            };
            let hint = if cell.contains('\n') {
                " (it runs over several lines: is a closing quote missing?)"
            } else {
                ""
            };
            self.error(
                header,
                "cell_too_long",
                format!("the cell {place} is longer than {MAX_CELL_CHARS} characters{hint}"),
            );
        }
    }

    /// The header text and trimmed cell of `column`, if the header has it, the cell is not
    /// empty and it was not rejected already.
    fn cell(&self, column: Column) -> Option<(&'a str, &'a str)> {
        let index = self.map.index(column)?;
        if self.rejected.get(index).copied().unwrap_or(false) {
            return None;
        }
        let header = self.map.headers.get(index)?.as_str();
        let value = self.cells.get(index)?.trim();
        (!value.is_empty()).then_some((header, value))
    }

    fn name(&mut self) -> Option<String> {
        let index = self.map.index(Column::Name)?;
        if self.rejected.get(index).copied().unwrap_or(false) {
            return None;
        }
        let reported = self.errors.len();
        let name = self.text(Column::Name, MAX_NAME_CHARS);
        if name.is_none() && self.errors.len() == reported {
            let header = self.map.header_of(Column::Name);
            self.error(
                header,
                "missing_name",
                "name is empty; every row needs a product name".into(),
            );
        }
        name
    }

    fn text(&mut self, column: Column, max: usize) -> Option<String> {
        let (header, value) = self.cell(column)?;
        match clean_text(&tidy(value), max, false) {
            Ok(text) => Some(text),
            Err(TextError::Empty) => None,
            Err(TextError::TooLong { max }) => {
                let message = format!("{} is longer than {max} characters", column.label());
                self.error(Some(header), "too_long", message);
                None
            }
            Err(TextError::ControlChars) => {
                let message = format!("{} contains control characters", column.label());
                self.error(Some(header), "invalid_text", message);
                None
            }
        }
    }

    fn barcode(&mut self) -> Option<Gtin> {
        let (header, value) = self.cell(Column::Barcode)?;
        let compact: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let compact = compact.strip_prefix('\'').unwrap_or(&compact);
        if is_scientific(compact) {
            let message = format!(
                "barcode '{}' was rounded by a spreadsheet (it is in scientific notation, so \
                 digits are lost); format the barcode column as text and export the file again",
                shorten(value)
            );
            self.error(Some(header), "invalid_barcode", message);
            return None;
        }
        let digits = strip_zero_fraction(compact);
        match Gtin::parse(digits) {
            Ok(gtin) => Some(gtin),
            Err(e) => {
                let message = format!("barcode '{}' {e}", shorten(digits));
                self.error(Some(header), "invalid_barcode", message);
                None
            }
        }
    }

    /// A money or quantity cell: `clean` takes off what a person adds (currency, thousands
    /// separators), `parse` is the domain's.
    fn amount<T>(
        &mut self,
        column: Column,
        parse: fn(&str) -> Result<T, AmountError>,
        clean: fn(&str) -> String,
        (invalid, negative): (&str, &str),
    ) -> Option<T> {
        let (header, value) = self.cell(column)?;
        let cleaned = clean(value);
        let err = match parse(&cleaned) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let label = column.label();
        let shown = shorten(value);
        let (code, message) = match err {
            AmountError::Negative => (negative, format!("{label} '{shown}' must not be negative")),
            AmountError::NotANumber(_) => {
                let hint = if cleaned.contains(',') {
                    " (write decimals with a point, and commas only between thousands)"
                } else {
                    ""
                };
                (invalid, format!("{label} '{shown}' is not a number{hint}"))
            }
            other => (invalid, format!("{label} '{shown}' {other}")),
        };
        self.error(Some(header), code, message);
        None
    }
}

/// Whitespace runs (newlines, tabs, no-break spaces) become one space, other control
/// characters go, and the ends are trimmed.
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else if !c.is_control() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

fn is_blank(cell: &str) -> bool {
    cell.chars().all(|c| c.is_whitespace() || c.is_control())
}

/// At most 40 characters of `s`, for quoting user input in messages.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

/// "8.90106E+12", as a spreadsheet shows a long number.
fn is_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && !exponent.is_empty()
        && digits(exponent)
}

/// "8901030865275.0" (a number written by a spreadsheet) is "8901030865275".
fn strip_zero_fraction(s: &str) -> &str {
    match s.split_once('.') {
        Some((whole, zeros))
            if !whole.is_empty() && !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => s,
    }
}

/// A quantity as a person writes it: trimmed, thousands separators dropped.
fn clean_number(s: &str) -> String {
    ungroup(s.trim())
}

const CURRENCY_PREFIXES: &[&str] = &["₹", "rs.", "rs", "inr", "rupees", "रु.", "रु"];
const CURRENCY_SUFFIXES: &[&str] = &["/-", "₹", "rs.", "rs", "inr", "rupees"];

/// A price as a person writes it ("₹28", "Rs. 1,299.00", "28/-", "INR 28"): currency and
/// thousands separators dropped, a minus sign kept wherever it was.
fn clean_money(s: &str) -> String {
    let mut rest = s.trim();
    let mut negative = false;
    loop {
        let before = rest;
        if let Some(r) = rest.strip_prefix('-') {
            negative = true;
            rest = r.trim_start();
        }
        for prefix in CURRENCY_PREFIXES {
            if let Some(r) = strip_prefix_ignore_case(rest, prefix) {
                rest = r.trim_start();
            }
        }
        for suffix in CURRENCY_SUFFIXES {
            if let Some(r) = strip_suffix_ignore_case(rest, suffix) {
                rest = r.trim_end();
            }
        }
        if rest == before {
            break;
        }
    }
    let number = ungroup(rest);
    if negative {
        format!("-{number}")
    } else {
        number
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn strip_suffix_ignore_case<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let at = s.len().checked_sub(suffix.len())?;
    let tail = s.get(at..)?;
    if tail.eq_ignore_ascii_case(suffix) {
        s.get(..at)
    } else {
        None
    }
}

/// Drops commas that group thousands, Western ("1,299,000") or Indian ("12,99,000"); a comma
/// anywhere else ("28,50") is left for the parser to reject.
fn ungroup(s: &str) -> String {
    if !s.contains(',') {
        return s.to_string();
    }
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let groups: Vec<&str> = whole.split(',').collect();
    let digits = |g: &&str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let grouped = match groups.as_slice() {
        [first, middle @ .., last] => {
            digits(first)
                && first.len() <= 3
                && middle
                    .iter()
                    .all(|g| digits(g) && (g.len() == 2 || g.len() == 3))
                && digits(last)
                && last.len() == 3
                && !fraction.contains(',')
        }
        _ => false,
    };
    if grouped {
        s.replace(',', "")
    } else {
        s.to_string()
    }
}

/// An opened file: its encoding, delimiter and header are known, and iterating yields the
/// records after the header, in order.
///
/// Row numbers come from the file alone and strictly increase (with gaps where blank rows
/// are), so every read of the same file numbers its rows the same way: to resume an
/// interrupted import, open the file again and skip the records before the checkpoint's row
/// (or `skip(n)` the `n` items already handled; each `Ok` or `Err(RecordError::Row)` item is
/// one record).
pub struct CsvFile<R: Read> {
    records: Records<R>,
    encoding: &'static Encoding,
    delimiter: u8,
    header: HeaderMap,
    header_row: u64,
    done: bool,
}

impl<R: Read> CsvFile<R> {
    /// Sniffs the encoding and delimiter from the start of `reader` and reads the header.
    /// Fails when the file cannot be imported at all: `read_failed`, `not_text`,
    /// `empty_file`, `no_name_column`, `row_too_large`.
    pub fn open(mut reader: R) -> Result<Self, FileError> {
        let mut head = vec![0u8; SNIFF_BYTES];
        let (filled, complete) =
            fill(&mut reader, &mut head).map_err(|e| FileError::read_failed(&e))?;
        let sniffed = &head[..filled];
        let (encoding, bom) = detect_encoding(sniffed, complete);
        let delimiter = {
            let (text, _) = encoding.decode_without_bom_handling(&sniffed[bom..]);
            if looks_binary(&text) {
                return Err(FileError::not_text(sniffed));
            }
            sniff_delimiter(&text)
        };
        let source = DecodingReader {
            inner: reader,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: head,
            in_pos: bom,
            in_end: filled,
            input_done: complete,
            output: vec![0; DECODE_BUFFER],
            out_pos: 0,
            out_end: 0,
            finished: false,
            history: vec![0; HISTORY],
            written: 0,
            row_start: 0,
            row_too_large: false,
        };
        let csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .buffer_capacity(CSV_BUFFER)
            .from_reader(source);
        let mut records = Records {
            csv,
            record: csv::StringRecord::new(),
            last_row: 0,
            newlines_before: 0,
        };
        let header_row = loop {
            match records.next_record() {
                Next::End => return Err(FileError::empty()),
                Next::Record(_) if records.is_blank() => continue,
                Next::Record(row) => break row,
                Next::Malformed { row, message } => {
                    return Err(FileError {
                        code: "read_failed",
                        message: format!("the header (row {row}) could not be read: {message}"),
                    });
                }
                Next::Failed(e) => return Err(e),
            }
        };
        let header = HeaderMap::new(records.cells())?;
        Ok(CsvFile {
            records,
            encoding,
            delimiter,
            header,
            header_row,
            done: false,
        })
    }

    /// "UTF-8", "UTF-16LE", "UTF-16BE" or "windows-1252".
    pub fn encoding(&self) -> &'static str {
        self.encoding.name()
    }

    /// `b','`, `b';'` or `b'\t'`.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    pub fn header(&self) -> &HeaderMap {
        &self.header
    }

    /// The header cells as written.
    pub fn headers_raw(&self) -> &[String] {
        self.header.headers()
    }

    /// The header's row number: 1 unless blank lines come before it.
    pub fn header_row(&self) -> u64 {
        self.header_row
    }
}

impl<R: Read> Iterator for CsvFile<R> {
    type Item = Result<RawRecord, RecordError>;

    /// The next non-blank record; `Err(Row)` for a record the csv parser rejected (reading goes
    /// on), `Err(File)` when the file cannot be read further (then `None`).
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.records.next_record() {
                Next::End => self.done = true,
                Next::Record(_) if self.records.is_blank() => {}
                Next::Record(row) => {
                    let cells = self.records.cells();
                    return Some(Ok(RawRecord { row, cells }));
                }
                Next::Malformed { row, message } => {
                    let message = format!("the row could not be read as CSV: {message}");
                    let error = RowError::new(row, None, "malformed_row", message);
                    return Some(Err(error.into()));
                }
                Next::Failed(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}

impl<R: Read> FusedIterator for CsvFile<R> {}

/// The csv reader over the decoded text, numbering records as a spreadsheet does.
struct Records<R: Read> {
    csv: csv::Reader<DecodingReader<R>>,
    record: csv::StringRecord,
    /// The row number of the last record read.
    last_row: u64,
    /// Newlines inside quoted cells of the records read so far (they are not rows).
    newlines_before: u64,
}

enum Next {
    End,
    Record(u64),
    Malformed { row: u64, message: String },
    Failed(FileError),
}

impl<R: Read> Records<R> {
    fn next_record(&mut self) -> Next {
        let start = self.csv.position().byte();
        self.csv.get_mut().row_start = start;
        match self.csv.read_record(&mut self.record) {
            Ok(false) => Next::End,
            Ok(true) => Next::Record(self.number()),
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) if self.csv.get_ref().row_too_large => {
                    Next::Failed(FileError::row_too_large(self.last_row.saturating_add(1)))
                }
                csv::ErrorKind::Io(io) => Next::Failed(FileError::read_failed(io)),
                _ => Next::Malformed {
                    row: self.number(),
                    message: e.to_string(),
                },
            },
        }
    }

    /// The spreadsheet row of the record just read: the line it starts on, less the quoted
    /// newlines of earlier records. The csv reader counts `\n` bytes up to where it stopped
    /// reading, which is after the record's own `\n` (LF endings), before it (CRLF endings,
    /// where the `\n` is read with the next record) or at the end of the file.
    fn number(&mut self) -> u64 {
        let position = self.csv.position();
        let ended_by_lf = position
            .byte()
            .checked_sub(1)
            .and_then(|at| self.csv.get_ref().byte_at(at))
            == Some(b'\n');
        let inner = self
            .record
            .as_slice()
            .bytes()
            .filter(|&b| b == b'\n')
            .count() as u64;
        let start_line = position
            .line()
            .saturating_sub(inner)
            .saturating_sub(u64::from(ended_by_lf));
        // Files ending lines with a bare CR have no `\n` to count: number records one by one.
        let row = start_line
            .saturating_sub(self.newlines_before)
            .max(self.last_row.saturating_add(1));
        self.last_row = row;
        self.newlines_before = self.newlines_before.saturating_add(inner);
        row
    }

    fn is_blank(&self) -> bool {
        self.record.iter().all(is_blank)
    }

    fn cells(&self) -> Vec<String> {
        self.record.iter().map(str::to_string).collect()
    }
}

/// Reads as much of `buf` as the reader gives; `true` if the reader ended before it was full.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_retrying(reader, &mut buf[filled..])? {
            0 => return Ok((filled, true)),
            n => filled += n,
        }
    }
    Ok((filled, false))
}

fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The BOM if there is one; else UTF-8 if `head` is valid UTF-8 (a sequence cut by the end of
/// `head` counts as valid unless the file ends there), else Windows-1252.
fn detect_encoding(head: &[u8], complete: bool) -> (&'static Encoding, usize) {
    if let Some(found) = Encoding::for_bom(head) {
        return found;
    }
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !complete,
    };
    (if utf8 { UTF_8 } else { WINDOWS_1252 }, 0)
}

/// More than [`MAX_CONTROL_PERCENT`] of the characters are NUL or other control characters
/// (tab, CR, LF and a DOS end-of-file mark do not count).
fn looks_binary(text: &str) -> bool {
    let (mut total, mut control) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{1a}') {
            control += 1;
        }
    }
    control.saturating_mul(100) > total.saturating_mul(MAX_CONTROL_PERCENT)
}

/// Zeros in every other byte, and almost none in the others: text in UTF-16.
fn looks_like_utf16_without_bom(head: &[u8]) -> bool {
    let sample = &head[..head.len().min(1024)];
    let pairs = sample.len() / 2;
    let zeros = |first: usize| {
        sample
            .iter()
            .skip(first)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd) = (zeros(0), zeros(1));
    // Latin text has a zero in most of its UTF-16 units, Devanagari or Tamil in none.
    let often = |n: usize| n * 10 >= pairs * 3;
    let rarely = |n: usize| n * 50 <= pairs;
    pairs >= 4 && ((often(even) && rarely(odd)) || (often(odd) && rarely(even)))
}

/// The delimiter of the first line with content: the most frequent of `,` `;` and tab outside
/// double quotes, `,` on a tie (or when there is none).
fn sniff_delimiter(text: &str) -> u8 {
    const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    let mut content = false;
    for c in text.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            continue;
        }
        if in_quotes {
            content |= !c.is_whitespace();
            continue;
        }
        match c {
            '\n' | '\r' if content => break,
            '\n' | '\r' => counts = [0; 3],
            ',' => counts[0] += 1,
            ';' => counts[1] += 1,
            '\t' => counts[2] += 1,
            c if !c.is_whitespace() => content = true,
            _ => {}
        }
    }
    let best =
        (1..CANDIDATES.len()).fold(0, |best, i| if counts[i] > counts[best] { i } else { best });
    CANDIDATES[best]
}

/// Decodes `inner` to UTF-8 as it is read, starting with the bytes already sniffed.
///
/// Also remembers the last [`HISTORY`] bytes it produced, so that the byte which ended a
/// record can be looked at, and refuses to produce more than [`MAX_ROW_BYTES`] for one record
/// (an unclosed quote would otherwise grow one record without bound).
struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    /// Undecoded bytes: `input[in_pos..in_end]`.
    input: Vec<u8>,
    in_pos: usize,
    in_end: usize,
    /// `inner` has ended.
    input_done: bool,
    /// Decoded bytes not yet read: `output[out_pos..out_end]`.
    output: Vec<u8>,
    out_pos: usize,
    out_end: usize,
    /// The decoder has been flushed: nothing more will come.
    finished: bool,
    /// A ring of the last bytes produced; `written` is the total produced.
    history: Vec<u8>,
    written: u64,
    /// Where (in decoded bytes) the record being read started; set by the reader of records.
    row_start: u64,
    /// A read failed because one record grew larger than [`MAX_ROW_BYTES`].
    row_too_large: bool,
}

impl<R> DecodingReader<R> {
    fn remember(&mut self, bytes: &[u8]) {
        let size = self.history.len();
        if size == 0 {
            return;
        }
        let dropped = bytes.len().saturating_sub(size);
        let kept = &bytes[dropped..];
        let at = ((self.written + dropped as u64) % size as u64) as usize;
        let first = kept.len().min(size - at);
        self.history[at..at + first].copy_from_slice(&kept[..first]);
        self.history[..kept.len() - first].copy_from_slice(&kept[first..]);
        self.written += bytes.len() as u64;
    }

    /// The decoded byte at `offset`, if it is among the last [`HISTORY`] produced.
    fn byte_at(&self, offset: u64) -> Option<u8> {
        let size = self.history.len() as u64;
        if offset >= self.written || self.written - offset > size {
            return None;
        }
        self.history.get((offset % size) as usize).copied()
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.written.saturating_sub(self.row_start) > MAX_ROW_BYTES as u64 {
            self.row_too_large = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a row is larger than the limit",
            ));
        }
        loop {
            if self.out_pos < self.out_end {
                let n = buf.len().min(self.out_end - self.out_pos);
                buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                self.remember(&buf[..n]);
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if self.in_pos == self.in_end && !self.input_done {
                let n = read_retrying(&mut self.inner, &mut self.input)?;
                self.in_pos = 0;
                self.in_end = n;
                self.input_done = n == 0;
            }
            let last = self.input_done;
            let (result, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[self.in_pos..self.in_end],
                &mut self.output,
                last,
            );
            self.in_pos += read;
            self.out_pos = 0;
            self.out_end = written;
            if last && result == CoderResult::InputEmpty {
                self.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives at most one byte per call.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// A reader that fails after giving `ok` bytes.
    struct FailsAfter<'a> {
        data: &'a [u8],
        ok: usize,
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection reset",
                ));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    fn open(data: &[u8]) -> CsvFile<&[u8]> {
        CsvFile::open(data).expect("the file opens")
    }

    fn records<R: Read>(file: CsvFile<R>) -> Vec<RawRecord> {
        file.map(|r| r.expect("every record reads")).collect()
    }

    fn cells(file_records: &[RawRecord]) -> Vec<(u64, Vec<&str>)> {
        file_records
            .iter()
            .map(|r| (r.row, r.cells.iter().map(String::as_str).collect()))
            .collect()
    }

    fn file_error(data: &[u8]) -> FileError {
        match CsvFile::open(data) {
            Ok(_) => panic!("expected a file error"),
            Err(e) => e,
        }
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            let pair = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            bytes.extend(pair);
        }
        bytes
    }

    /// GIVEN a one-row file in `data` WHEN it is read and validated THEN its single row.
    fn only_row(data: &[u8]) -> Result<ImportRow, Vec<RowError>> {
        let file = open(data);
        let header = file.header().clone();
        let recs = records(file);
        assert_eq!(recs.len(), 1, "{recs:?}");
        header.validate(&recs[0])
    }

    fn row_with(headers: &str, row: &str) -> Result<ImportRow, Vec<RowError>> {
        only_row(format!("{headers}\n{row}\n").as_bytes())
    }

    fn codes(errors: &[RowError]) -> Vec<&str> {
        errors.iter().map(|e| e.code.as_str()).collect()
    }

    const SAMPLE: &str = "Name,Qty,MRP\nTata Salt 1kg,10,28\nआशीर्वाद आटा 5 kg,3,245.50\n";

    fn sample_cells() -> Vec<(u64, Vec<&'static str>)> {
        vec![
            (2, vec!["Tata Salt 1kg", "10", "28"]),
            (3, vec!["आशीर्वाद आटा 5 kg", "3", "245.50"]),
        ]
    }

    #[test]
    fn utf8_without_bom() {
        let file = open(SAMPLE.as_bytes());
        assert_eq!(file.encoding(), "UTF-8");
        assert_eq!(file.delimiter(), b',');
        assert_eq!(file.headers_raw(), ["Name", "Qty", "MRP"]);
        assert_eq!(file.header_row(), 1);
        assert_eq!(cells(&records(file)), sample_cells());
    }

    #[test]
    fn utf8_with_bom() {
        let data = [b"\xEF\xBB\xBF".as_slice(), SAMPLE.as_bytes()].concat();
        let file = open(&data);
        assert_eq!(file.encoding(), "UTF-8");
        assert_eq!(file.headers_raw()[0], "Name");
        assert_eq!(cells(&records(file)), sample_cells());
    }

    #[test]
    fn utf16_little_and_big_endian_with_bom() {
        for (big_endian, name) in [(false, "UTF-16LE"), (true, "UTF-16BE")] {
            let data = utf16(SAMPLE, big_endian);
            let file = open(&data);
            assert_eq!(file.encoding(), name);
            assert_eq!(file.headers_raw(), ["Name", "Qty", "MRP"]);
            assert_eq!(cells(&records(file)), sample_cells(), "{name}");
        }
    }

    #[test]
    fn windows_1252_when_not_utf8() {
        // "Café" with é as 0xE9, once inside the file and once as its very last byte (where it
        // could pass for the start of a cut UTF-8 sequence).
        let file = open(b"Name,Qty\nCaf\xE9 Coffee,2\nCaf\xE9");
        assert_eq!(file.encoding(), "windows-1252");
        assert_eq!(
            cells(&records(file)),
            [(2, vec!["Café Coffee", "2"]), (3, vec!["Café"])]
        );
        let file = open(b"Name\nCaf\xE9");
        assert_eq!(file.encoding(), "windows-1252");
        assert_eq!(cells(&records(file)), [(2, vec!["Café"])]);
    }

    #[test]
    fn a_character_cut_by_the_end_of_the_sniffed_chunk_is_still_utf8() {
        let mut data = b"Name,Qty\n".to_vec();
        while data.len() + 100 < SNIFF_BYTES {
            data.extend(b"Tata Salt,1\n");
        }
        let pad = SNIFF_BYTES - 1 - data.len() - 3;
        data.extend(vec![b'x'; pad]);
        data.extend(b",1\n");
        assert_eq!(data.len(), SNIFF_BYTES - 1);
        // "आ" is 3 bytes: its first byte is the last one sniffed.
        data.extend("आटा,5\n".as_bytes());
        assert!(std::str::from_utf8(&data[..SNIFF_BYTES]).is_err());
        let file = open(&data);
        assert_eq!(file.encoding(), "UTF-8");
        let last = records(file).pop().unwrap();
        assert!(last.cells[0].ends_with("आटा"), "{last:?}");
    }

    #[test]
    fn semicolon_and_tab_delimiters() {
        let file = open("Name;Qty;MRP\n\"Salt, iodised\";10;28,50\n".as_bytes());
        assert_eq!(file.delimiter(), b';');
        assert_eq!(
            cells(&records(file)),
            [(2, vec!["Salt, iodised", "10", "28,50"])]
        );
        let file = open(b"Name\tQty\nSalt\t10\n");
        assert_eq!(file.delimiter(), b'\t');
        assert_eq!(cells(&records(file)), [(2, vec!["Salt", "10"])]);
    }

    #[test]
    fn delimiters_inside_quotes_do_not_count_and_ties_prefer_commas() {
        assert_eq!(sniff_delimiter("\"a;b;c\",x\n"), b',');
        assert_eq!(sniff_delimiter("a;b,c\n"), b',');
        assert_eq!(sniff_delimiter("Name\n"), b',');
        assert_eq!(sniff_delimiter("\n  \n,,,\nName;Qty;MRP,x\n"), b';');
        assert_eq!(sniff_delimiter("\"Na\nme\";Qty\n"), b';');
    }

    #[test]
    fn quoted_newlines_and_doubled_quotes() {
        let data =
            "Name,Qty\n\"Parle-G \"\"Gold\"\"\nfamily pack\",4\nMaggi,6\r\n\"a\r\nb\",1\nLast,2";
        let recs = records(open(data.as_bytes()));
        assert_eq!(
            cells(&recs),
            [
                (2, vec!["Parle-G \"Gold\"\nfamily pack", "4"]),
                (3, vec!["Maggi", "6"]),
                (4, vec!["a\r\nb", "1"]),
                (5, vec!["Last", "2"]),
            ]
        );
    }

    #[test]
    fn blank_rows_are_skipped_but_keep_their_numbers() {
        for newline in ["\n", "\r\n"] {
            let data = [
                "",
                "Name,Qty",
                "Salt,1",
                "",
                " , ",
                "\"x\ny\",2",
                "",
                "Sugar,3",
                "",
            ]
            .join(newline);
            let file = open(data.as_bytes());
            assert_eq!(file.header_row(), 2, "{newline:?}");
            assert_eq!(
                cells(&records(file)),
                [
                    (3, vec!["Salt", "1"]),
                    (6, vec!["x\ny", "2"]),
                    (8, vec!["Sugar", "3"]),
                ],
                "{newline:?}"
            );
        }
        // Bare CR line endings have no LF to count: records are numbered one after another.
        let recs = records(open(b"Name\rSalt\r\rSugar\r"));
        assert_eq!(cells(&recs), [(2, vec!["Salt"]), (3, vec!["Sugar"])]);
    }

    #[test]
    fn header_synonyms_ignore_case_spacing_and_punctuation() {
        let file = open(
            "Product Name,QTY,M.R.P.,EAN,purchase_price,BRAND-NAME,Net Wt.,Re-order Level,Rack,\
             Vendor,Department,Price (Rs)\nx\n"
                .as_bytes(),
        );
        let h = file.header();
        let found: Vec<(Column, usize)> = h.columns().collect();
        assert_eq!(
            found,
            [
                (Column::Name, 0),
                (Column::Quantity, 1),
                (Column::SellingPrice, 2),
                (Column::CostPrice, 4),
                (Column::Barcode, 3),
                (Column::Brand, 5),
                (Column::Category, 10),
                (Column::Size, 6),
                (Column::ReorderLevel, 7),
                (Column::Supplier, 9),
                (Column::Location, 8),
            ]
        );
        assert_eq!(h.header_of(Column::SellingPrice), Some("M.R.P."));
        assert_eq!(
            h.ignored,
            [IgnoredColumn {
                index: 11,
                header: "Price (Rs)".into(),
                reason: IgnoreReason::Duplicate(Column::SellingPrice),
            }]
        );
    }

    #[test]
    fn first_column_wins_and_unknown_or_empty_headers_are_ignored() {
        let h = HeaderMap::new(
            ["Item", "Name", "", "Colour", "Code", "Stock", "  "]
                .map(String::from)
                .to_vec(),
        )
        .unwrap();
        assert_eq!(h.index(Column::Name), Some(0));
        assert_eq!(
            h.index(Column::Barcode),
            Some(4),
            "Code is the barcode when alone"
        );
        let ignored: Vec<(usize, &str, IgnoreReason)> = h
            .ignored
            .iter()
            .map(|c| (c.index, c.header.as_str(), c.reason))
            .collect();
        assert_eq!(
            ignored,
            [
                (1, "Name", IgnoreReason::Duplicate(Column::Name)),
                (3, "Colour", IgnoreReason::Unknown),
            ]
        );
        let h = HeaderMap::new(["Code", "Name", "Barcode"].map(String::from).to_vec()).unwrap();
        assert_eq!(
            h.index(Column::Barcode),
            Some(2),
            "a real barcode column beats Code"
        );
        assert_eq!(h.ignored[0].header, "Code");
    }

    #[test]
    fn no_synonym_means_two_columns() {
        let mut seen: Vec<(String, Column)> = Vec::new();
        for (column, names) in SYNONYMS.iter().chain(FALLBACK_SYNONYMS) {
            for name in *names {
                let key = header_key(name);
                if let Some((_, other)) = seen.iter().find(|(k, _)| *k == key) {
                    assert_eq!(other, column, "'{name}' means two columns");
                }
                seen.push((key, *column));
            }
        }
        for column in Column::ALL {
            assert!(!column.synonyms().is_empty(), "{column:?}");
        }
    }

    #[test]
    fn a_file_without_a_name_column_says_what_it_found() {
        let e = file_error(b"SKU,Qty,MRP\nA1,2,3\n");
        assert_eq!(e.code, "no_name_column");
        assert!(e.message.contains("'SKU', 'Qty', 'MRP'"), "{}", e.message);
        assert!(
            e.message.contains("product name, product, item"),
            "{}",
            e.message
        );
        let e = file_error(b"Name|Qty\nSalt|1\n");
        assert!(e.message.contains("only one column"), "{}", e.message);
    }

    #[test]
    fn empty_files() {
        for data in [
            b"".as_slice(),
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"  \n\r\n\t\n",
            b",,\n , \n",
        ] {
            assert_eq!(file_error(data).code, "empty_file", "{data:?}");
        }
    }

    #[test]
    fn a_header_without_rows_yields_nothing() {
        let file = open(b"Name,Qty\n");
        assert_eq!(file.headers_raw(), ["Name", "Qty"]);
        assert!(records(file).is_empty());
        assert!(records(open(b"Name,Qty")).is_empty());
        assert!(records(open(b"Name,Qty\n\n,\n")).is_empty());
    }

    #[test]
    fn binary_files_are_not_text() {
        let mut nul = b"Name,Qty\n".to_vec();
        nul.extend([0u8; 200]);
        let mut noise = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..4096 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            noise.push((x >> 16) as u8);
        }
        let mut xlsx = b"PK\x03\x04\x14\x00\x06\x00".to_vec();
        xlsx.extend(&noise);
        for data in [&nul, &noise, &xlsx] {
            let e = file_error(data);
            assert_eq!(e.code, "not_text");
            assert!(
                e.message
                    .starts_with("the file is not a text CSV (it looks binary)")
            );
        }
        assert!(file_error(&xlsx).message.contains("Excel"));
        assert!(!file_error(&nul).message.contains("UTF-16"));
        let no_bom: Vec<u8> = SAMPLE.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let e = file_error(&no_bom);
        assert_eq!(e.code, "not_text");
        assert!(
            e.message.contains("UTF-16 text without a byte-order mark"),
            "{}",
            e.message
        );
        // A stray control character or a DOS end-of-file mark is not binary.
        let mut text = SAMPLE.repeat(3).into_bytes();
        text.extend(b"Tea\x07,1\n\x1a");
        assert_eq!(records(open(&text)).len(), 9);
    }

    #[test]
    fn ragged_rows() {
        let file = open(b"Name,Qty,MRP\nSalt,1,2,extra\nSugar,1,2,,\nTea,1\nRice\n");
        let header = file.header().clone();
        let results: Vec<_> = records(file).iter().map(|r| header.validate(r)).collect();
        let e = results[0].as_ref().unwrap_err();
        assert_eq!(codes(e), ["ragged_row"]);
        assert_eq!(e[0].message, "row has 4 cells; the header has 3");
        assert_eq!(e[0].column, None);
        assert_eq!(results[1].as_ref().unwrap().name, "Sugar");
        let tea = results[2].as_ref().unwrap();
        assert_eq!(
            (
                tea.values.quantity.map(|q| q.to_string()),
                tea.values.selling_price
            ),
            (Some("1".into()), None)
        );
        let rice = results[3].as_ref().unwrap();
        assert_eq!(
            (rice.values.quantity, rice.values.selling_price),
            (None, None)
        );
    }

    #[test]
    fn over_long_cells_and_too_many_cells() {
        let long = "x".repeat(MAX_CELL_CHARS + 1);
        let e = row_with("Name,Brand", &format!("Salt,{long}")).unwrap_err();
        assert_eq!(codes(&e), ["cell_too_long"]);
        assert_eq!(e[0].column.as_deref(), Some("Brand"));
        assert!(e[0].message.contains("under 'Brand'"), "{}", e[0].message);
        let e = row_with("Name,Brand", &long).unwrap_err();
        assert_eq!(codes(&e), ["cell_too_long"], "no missing_name on top");
        // 1,000 characters of three bytes each is fine.
        let ok = "आ".repeat(MAX_CELL_CHARS);
        assert!(matches!(
            row_with("Name,Notes", &format!("Salt,{ok}")),
            Ok(row) if row.name == "Salt"
        ));
        let wide = format!("Salt{}", ",1".repeat(MAX_CELLS));
        let e = row_with("Name", &wide).unwrap_err();
        assert_eq!(codes(&e), ["too_many_cells"]);
        assert_eq!(e[0].message, "row has 101 cells; at most 100 are read");
        // Empty cells a spreadsheet adds at the end do not count.
        let trailing = format!("Salt,2{}", ",".repeat(3 * MAX_CELLS));
        let header = format!("Name,Qty{}", ",".repeat(3 * MAX_CELLS));
        assert_eq!(row_with(&header, &trailing).unwrap().name, "Salt");
    }

    #[test]
    fn name_limits() {
        let e = row_with("Name,Qty", ",5").unwrap_err();
        assert_eq!(codes(&e), ["missing_name"]);
        assert_eq!(e[0].column.as_deref(), Some("Name"));
        assert_eq!(e[0].row, 2);
        let e = row_with("Item Name,Qty", &format!("{},5", "n".repeat(201))).unwrap_err();
        assert_eq!(codes(&e), ["too_long"]);
        assert_eq!(e[0].column.as_deref(), Some("Item Name"));
        assert!(e[0].message.contains("200"), "{}", e[0].message);
        let row = row_with("Name", "\"  Parle-G\n  biscuits \"").unwrap();
        assert_eq!(row.name, "Parle-G biscuits");
    }

    #[test]
    fn a_good_row_has_every_field() {
        let row = row_with(
            "Product Name,Brand,Category,Pack Size,Barcode,Stock,Selling Price,Cost Price,Reorder Level,Supplier,Shelf",
            "Iodised Salt,Tata,Foodgrains > Salt,1 kg,8901 0308-65275,10.0,\"Rs. 1,299.00\",₹ 20,5,Sharma Traders,A3",
        )
        .unwrap();
        assert_eq!(
            row,
            ImportRow {
                row: 2,
                name: "Iodised Salt".into(),
                brand: Some("Tata".into()),
                category: Some("Foodgrains > Salt".into()),
                size: Some("1 kg".into()),
                barcode: Some(Gtin::parse("8901030865275").unwrap()),
                values: RowValues {
                    quantity: Some(Quantity::parse("10").unwrap()),
                    selling_price: Some(Money::parse("1299").unwrap()),
                    cost_price: Some(Money::parse("20").unwrap()),
                    reorder_level: Some(Quantity::parse("5").unwrap()),
                    supplier: Some("Sharma Traders".into()),
                    location: Some("A3".into()),
                },
            }
        );
    }

    #[test]
    fn bad_barcodes() {
        let cases = [
            ("8901030865279", "check digit is 9"),
            ("89010308652AB", "may contain only digits"),
            ("123", "barcode '123' has 3 digits; a GTIN has"),
            ("8.90106E+12", "rounded by a spreadsheet"),
            ("8,90106E+12", "may contain only digits"),
        ];
        for (cell, says) in cases {
            let e = row_with("Name,EAN", &format!("Salt,\"{cell}\"")).unwrap_err();
            assert_eq!(codes(&e), ["invalid_barcode"], "{cell}");
            assert_eq!(e[0].column.as_deref(), Some("EAN"));
            assert!(e[0].message.contains(says), "{cell}: {}", e[0].message);
        }
        for cell in [
            "8901030865275",
            " 8901-0308-65275 ",
            "'8901030865275",
            "8901030865275.0",
        ] {
            let row = row_with("Name,EAN", &format!("Salt,{cell}")).unwrap();
            assert_eq!(row.barcode.unwrap().as_str(), "8901030865275", "{cell}");
        }
    }

    #[test]
    fn quantities() {
        let q = |cell: &str| row_with("Name,QTY,Reorder", &format!("Salt,{cell}"));
        assert_eq!(
            q("10.0").unwrap().values.quantity,
            Some(Quantity::parse("10").unwrap())
        );
        assert_eq!(
            q("\"1,200\"").unwrap().values.quantity,
            Some(Quantity::parse("1200").unwrap())
        );
        assert_eq!(
            q("2.125").unwrap().values.quantity.unwrap().to_string(),
            "2.125"
        );
        assert_eq!(q("").unwrap().values.quantity, None);
        for (cell, code, says) in [
            (
                "-5",
                "negative_quantity",
                "quantity '-5' must not be negative",
            ),
            (
                "12 pcs",
                "invalid_quantity",
                "quantity '12 pcs' is not a number",
            ),
            ("ten", "invalid_quantity", "is not a number"),
            ("1.2345", "invalid_quantity", "more than 3 decimal places"),
            ("\"1,5\"", "invalid_quantity", "with a point"),
            ("1,-1", "invalid_reorder_level", "reorder level"),
            ("1,-2", "invalid_reorder_level", "must not be negative"),
        ] {
            let e = q(cell).unwrap_err();
            assert_eq!(codes(&e), [code], "{cell}");
            assert!(e[0].message.contains(says), "{cell}: {}", e[0].message);
        }
    }

    #[test]
    fn prices_as_people_write_them() {
        let p = |cell: &str| {
            row_with("Name,MRP", &format!("Salt,\"{cell}\""))
                .map(|r| r.values.selling_price.map(|m| m.to_string()))
        };
        for (cell, money) in [
            ("₹1,299.50", "1299.50"),
            ("Rs. 28.00", "28.00"),
            ("rs 28", "28.00"),
            ("Rs.28", "28.00"),
            ("28/-", "28.00"),
            ("INR 28", "28.00"),
            ("28 INR", "28.00"),
            ("₹ 28.5", "28.50"),
            ("1,29,999", "129999.00"),
            ("1,234,567.8", "1234567.80"),
        ] {
            assert_eq!(p(cell), Ok(Some(money.to_string())), "{cell}");
        }
        for (cell, code) in [
            ("-28", "negative_price"),
            ("-₹28", "negative_price"),
            ("₹-28", "negative_price"),
            ("abc", "invalid_price"),
            ("₹", "invalid_price"),
            ("28.505", "invalid_price"),
            ("28,50", "invalid_price"),
            ("1,2,3", "invalid_price"),
            ("$28", "invalid_price"),
            ("12,345,678.90", "invalid_price"),
        ] {
            let e = p(cell).unwrap_err();
            assert_eq!(codes(&e), [code], "{cell}");
            assert_eq!(e[0].column.as_deref(), Some("MRP"));
        }
        let e = row_with("Name,Cost", "Salt,-1").unwrap_err();
        assert!(
            e[0].message.starts_with("cost price '-1'"),
            "{}",
            e[0].message
        );
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let e = row_with(
            "Name,Barcode,Qty,MRP,Cost,Reorder Level,Size",
            &format!(",123,-1,abc,-2,x,{}", "s".repeat(51)),
        )
        .unwrap_err();
        assert_eq!(
            codes(&e),
            [
                "missing_name",
                "invalid_barcode",
                "negative_quantity",
                "invalid_price",
                "negative_price",
                "invalid_reorder_level",
                "too_long",
            ]
        );
        assert!(e.iter().all(|e| e.row == 2));
        let columns: Vec<_> = e.iter().map(|e| e.column.clone().unwrap()).collect();
        assert_eq!(
            columns,
            [
                "Name",
                "Barcode",
                "Qty",
                "MRP",
                "Cost",
                "Reorder Level",
                "Size"
            ]
        );
    }

    /// A file larger than the sniffed chunk, with characters of 1 to 4 UTF-8 bytes (a UTF-16
    /// surrogate pair for the emoji) on every line.
    fn big_text() -> String {
        let mut text = String::from("Name,Qty,MRP,Brand\n");
        let mut i = 0;
        while text.len() < SNIFF_BYTES * 2 {
            text.push_str(&format!(
                "\"आशीर्वाद आटा 😀 \"\"{i}\"\"\nline\",{i},₹{i}.50,Café\n"
            ));
            if i % 100 == 0 {
                text.push('\n');
            }
            i += 1;
        }
        text
    }

    #[test]
    fn one_byte_reads_give_the_same_rows() {
        let text = big_text();
        let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        let (cp1252, _, unmappable) = WINDOWS_1252.encode(&text);
        assert!(
            unmappable,
            "the emoji and Devanagari become numeric references"
        );
        for data in [
            text.as_bytes().to_vec(),
            utf8_bom,
            utf16(&text, false),
            utf16(&text, true),
            cp1252.into_owned(),
        ] {
            let whole = records(open(&data));
            let slow = records(CsvFile::open(OneByte(&data)).unwrap());
            assert_eq!(whole.len(), slow.len());
            assert_eq!(whole, slow);
            assert!(whole.len() > 1000);
        }
        let rows = records(open(text.as_bytes()));
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].cells[0], "आशीर्वाद आटा 😀 \"0\"\nline");
        assert_eq!(
            rows[1].row, 4,
            "the blank line after the first record is row 3"
        );
        let last = rows.last().unwrap();
        assert_eq!(last.cells[3], "Café");
        let from_utf16 = records(open(&utf16(&text, true)));
        assert_eq!(from_utf16, rows);
    }

    #[test]
    fn the_decoder_alone_survives_one_byte_reads() {
        let text = "a😀b\u{10FFFF}é";
        for (encoding, bytes) in [
            (UTF_8, text.as_bytes().to_vec()),
            (encoding_rs::UTF_16LE, utf16(text, false)[2..].to_vec()),
            (encoding_rs::UTF_16BE, utf16(text, true)[2..].to_vec()),
        ] {
            let mut reader = DecodingReader {
                inner: OneByte(&bytes),
                decoder: encoding.new_decoder_without_bom_handling(),
                input: vec![0; 4],
                in_pos: 0,
                in_end: 0,
                input_done: false,
                output: vec![0; 8],
                out_pos: 0,
                out_end: 0,
                finished: false,
                history: vec![0; 3],
                written: 0,
                row_start: 0,
                row_too_large: false,
            };
            let mut out = Vec::new();
            let mut buf = [0u8; 1];
            loop {
                match reader.read(&mut buf).unwrap() {
                    0 => break,
                    n => out.extend(&buf[..n]),
                }
            }
            assert_eq!(String::from_utf8(out).unwrap(), text, "{}", encoding.name());
            let end = text.len() as u64;
            assert_eq!(
                reader.byte_at(end - 1),
                Some(text.as_bytes()[text.len() - 1])
            );
            assert_eq!(
                reader.byte_at(end - 3),
                Some(text.as_bytes()[text.len() - 3])
            );
            assert_eq!(reader.byte_at(end - 4), None);
            assert_eq!(reader.byte_at(end), None);
        }
    }

    #[test]
    fn reading_again_numbers_rows_the_same_so_an_import_can_resume() {
        let text = big_text();
        let all = records(open(text.as_bytes()));
        let resumed: Vec<RawRecord> = open(text.as_bytes())
            .skip(700)
            .map(Result::unwrap)
            .collect();
        assert_eq!(resumed, all[700..]);
    }

    #[test]
    fn a_quote_never_closed_stops_the_file() {
        let mut data = b"Name,Qty\nSalt,1\n\"Sugar,2\n".to_vec();
        while data.len() < MAX_ROW_BYTES + 2 * CSV_BUFFER {
            data.extend(b"Tea,3\n");
        }
        let mut file = open(&data);
        assert_eq!(file.next().unwrap().unwrap().row, 2);
        match file.next() {
            Some(Err(RecordError::File(e))) => {
                assert_eq!(e.code, "row_too_large");
                assert!(e.message.starts_with("row 3 "), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
        assert!(file.next().is_none());
        // Within the limit, the runaway cell is one row's error.
        let mut file = open(b"Name,Qty\n\"Sugar,2\nTea,3\nRice,4\n");
        let header = file.header().clone();
        let rec = file.next().unwrap().unwrap();
        assert_eq!(rec.cells, ["Sugar,2\nTea,3\nRice,4\n"]);
        assert!(header.validate(&rec).is_ok());
        assert!(file.next().is_none());
    }

    #[test]
    fn read_errors_are_file_errors() {
        let e = CsvFile::open(FailsAfter {
            data: SAMPLE.as_bytes(),
            ok: 5,
        })
        .err()
        .unwrap();
        assert_eq!(e.code, "read_failed");
        assert!(e.message.contains("connection reset"), "{}", e.message);
        let text = big_text();
        let mut file = CsvFile::open(FailsAfter {
            data: text.as_bytes(),
            ok: SNIFF_BYTES + 10,
        })
        .unwrap();
        let results: Vec<_> = file.by_ref().collect();
        match results.last() {
            Some(Err(RecordError::File(e))) => assert_eq!(e.code, "read_failed"),
            other => panic!("{other:?}"),
        }
        assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        assert!(file.next().is_none());
    }

    #[test]
    fn no_input_panics() {
        let alphabet: &[&[u8]] = &[
            b",",
            b";",
            b"\t",
            b"\"",
            b"\n",
            b"\r",
            b" ",
            b"Name",
            b"Qty",
            b"MRP",
            b"EAN",
            b"1",
            b"-",
            b".",
            b"e",
            b"\xE0\xA4",
            b"\xA4",
            b"\xFF\xFE",
            b"\x00",
            b"\xC3",
            b"\xE9",
            "₹".as_bytes(),
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..2000 {
            let mut data = b"Name,Qty,MRP,EAN\n".to_vec();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 60) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.extend(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let start = (x % 3) as usize * 5;
            let data = &data[start.min(data.len())..];
            if let Ok(file) = CsvFile::open(data) {
                let header = file.header().clone();
                let mut last = 0;
                for rec in file.flatten() {
                    assert!(rec.row > last);
                    last = rec.row;
                    let _ = header.validate(&rec);
                }
            }
        }
    }
}
