//! The header: which cell is which [`Column`], by synonyms kept as data ([`SYNONYMS`]) and
//! compared case-, space- and punctuation-insensitively.

use super::cells::{is_blank, is_count, is_pack_size, shorten};
use super::{FileError, RawRecord};

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
    /// The store's notes on the item.
    Notes,
    /// A catalog product id (what an export writes): the row is that product.
    ProductId,
}

const COLUMNS: usize = 13;

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
        Column::Notes,
        Column::ProductId,
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
            Column::Notes => "notes",
            Column::ProductId => "catalog_product_id",
        }
    }

    /// The words used in messages (`selling price`).
    pub(super) fn label(self) -> &'static str {
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
            Column::Notes => "notes",
            Column::ProductId => "catalog product id",
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
    (Column::Notes, &["notes", "note", "remarks", "comments"]),
    // Only this exact name: a shop's own "Product ID" column holds its own codes.
    (Column::ProductId, &["catalog product id"]),
];

/// Names that mean a column only when no header names it by one of its [`SYNONYMS`] ("Code"
/// is the barcode unless a "Barcode" column exists, when it is more likely an item code).
pub const FALLBACK_SYNONYMS: &[(Column, &[&str])] = &[(Column::Barcode, &["code"])];

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
    /// What the first rows decided that the header alone could not, for telling the user
    /// ("'Quantity' holds pack sizes ...").
    pub settled: Vec<String>,
}

impl HeaderMap {
    /// Maps header cells to columns: the first cell naming a column wins. A header without a
    /// name column is the file error `no_name_column`.
    pub fn new(headers: Vec<String>) -> Result<Self, FileError> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let mut columns = [None; COLUMNS];
        let mut ignored = Vec::new();
        let mut decided = vec![false; keys.len()];
        // Exact synonyms first, then a header one slip from a synonym ("Quantitiy", "Prodcut
        // Name"), then the fallbacks ("Code" is the barcode only if nothing else is).
        let passes: [fn(&str) -> Option<Column>; 3] = [exact_synonym, near_synonym, fallback];
        for find in passes {
            for (index, key) in keys.iter().enumerate() {
                if key.is_empty() || decided[index] {
                    continue;
                }
                let Some(column) = find(key) else {
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
            settled: Vec::new(),
        })
    }

    /// Decides by the first rows what the header alone cannot: when two columns could be the
    /// count and the first one's cells are mostly pack sizes ("1 kg", as OFF exports and many
    /// shop tools call the size "quantity"), it is the size column (when none is named) and
    /// the other, whose cells are mostly counts, is the count. The same rows decide the same way
    /// on every read of the file, so a resumed import reads its columns as the first run did.
    pub fn settle<'a>(&mut self, rows: impl IntoIterator<Item = &'a RawRecord> + Clone) {
        let Some(count) = self.index(Column::Quantity) else {
            return;
        };
        if !mostly(rows.clone(), count, is_pack_size) {
            return;
        }
        // Only when another column could be the count: a lone count column of weights may be
        // loose stock ("25 kg" of rice), and its rows say so as `invalid_quantity` errors.
        let Some(at) = self.ignored.iter().position(|i| {
            i.reason == IgnoreReason::Duplicate(Column::Quantity)
                && mostly(rows.clone(), i.index, is_count)
        }) else {
            return;
        };
        let count_header = self.headers[count].clone();
        let other = self.ignored.remove(at);
        self.columns[Column::Quantity as usize] = Some(other.index);
        self.settled.push(format!(
            "'{}' holds counts: read as the quantity",
            other.header
        ));
        if self.columns[Column::Size as usize].is_none() {
            self.columns[Column::Size as usize] = Some(count);
            self.settled.push(format!(
                "'{count_header}' holds pack sizes (like '1 kg'): read as the size"
            ));
        } else {
            self.ignored.push(IgnoredColumn {
                index: count,
                header: count_header.clone(),
                reason: IgnoreReason::Duplicate(Column::Size),
            });
            self.ignored.sort_by_key(|i| i.index);
            self.settled.push(format!(
                "'{count_header}' holds pack sizes (like '1 kg') and a size column exists: ignored"
            ));
        }
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
}

/// A header cell compared with the synonyms: lowercase, without whitespace, `_`, `-`, `.` or
/// a parenthesised note (kept if it is all there is: "(MRP)").
pub(super) fn header_key(header: &str) -> String {
    let key = key_chars(header, true);
    if key.is_empty() {
        key_chars(header, false)
    } else {
        key
    }
}

pub(super) fn key_chars(header: &str, drop_notes: bool) -> String {
    let mut key = String::with_capacity(header.len());
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' if drop_notes => depth += 1,
            ')' | ']' if drop_notes => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            '(' | ')' | '[' | ']' | '_' | '-' | '.' | '\u{feff}' => {}
            c if c.is_control() => {}
            c if c.is_whitespace() => {}
            c => key.extend(c.to_lowercase()),
        }
    }
    key
}

fn exact_synonym(key: &str) -> Option<Column> {
    lookup(SYNONYMS, key)
}

fn fallback(key: &str) -> Option<Column> {
    lookup(FALLBACK_SYNONYMS, key)
}

pub(super) fn lookup(table: &[(Column, &[&str])], key: &str) -> Option<Column> {
    table
        .iter()
        .find(|(_, names)| names.iter().any(|n| header_key(n) == key))
        .map(|(c, _)| *c)
}

/// Rows [`HeaderMap::settle`] looks at...
pub const SETTLE_ROWS: usize = 50;
/// ...as long as they hold at most this much memory (a record may be 1 MiB of cells).
pub const SETTLE_BYTES: usize = 1024 * 1024;
/// Share of a column's non-blank sampled cells that decides what it holds, in percent...
const MOSTLY_PERCENT: usize = 80;
/// ...of at least this many (one odd cell is that row's problem, not the column's).
const MIN_SAMPLE_CELLS: usize = 2;

/// At least [`MOSTLY_PERCENT`] of the non-blank cells of column `index` in `rows` pass `test`,
/// and there are at least [`MIN_SAMPLE_CELLS`].
fn mostly<'a>(
    rows: impl IntoIterator<Item = &'a RawRecord>,
    index: usize,
    test: fn(&str) -> bool,
) -> bool {
    let (mut seen, mut passed) = (0usize, 0usize);
    for cell in rows
        .into_iter()
        .filter_map(|r| r.cells.get(index))
        .filter(|c| !is_blank(c))
    {
        seen += 1;
        passed += usize::from(test(cell));
    }
    seen >= MIN_SAMPLE_CELLS && passed * 100 >= seen * MOSTLY_PERCENT
}

/// Shortest header key (and synonym) read past a slip: shorter ones ("qty", "count") are too
/// easily another word one letter away ("county").
const MIN_NEAR_KEY_CHARS: usize = 6;

/// One slip apart: a letter added or dropped, or two neighbours swapped (optimal string
/// alignment distance 1, from strsim). Not a letter changed: "height" is not "weight".
fn one_slip(key: &str, synonym: &str) -> bool {
    strsim::osa_distance(key, synonym) == 1
        && (key.chars().count() != synonym.chars().count()
            || strsim::hamming(key, synonym) == Ok(2))
}

/// The one column a header key is one slip from by its synonyms, if there is exactly one.
fn near_synonym(key: &str) -> Option<Column> {
    if key.chars().count() < MIN_NEAR_KEY_CHARS {
        return None;
    }
    let mut found = None;
    for (column, names) in SYNONYMS {
        let near = names.iter().any(|n| {
            let n = header_key(n);
            n.chars().count() >= MIN_NEAR_KEY_CHARS && one_slip(key, &n)
        });
        match (near, found) {
            (false, _) => {}
            (true, None) => found = Some(*column),
            (true, Some(c)) if c == *column => {}
            (true, Some(_)) => return None,
        }
    }
    found
}

pub(super) fn no_name_column(headers: &[String]) -> FileError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::reader::test_support::*;

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
    fn a_count_column_of_pack_sizes_is_the_size_and_another_count_column_counts() {
        let data = "name,brand,quantity,barcode,qty\n\
                    Tata Salt,Tata,1 kg,,12\n\
                    Amul Butter,Amul,100 g,,4 pcs\n\
                    Surf Excel,,,,3\n";
        let file = open(data.as_bytes());
        let header = file.header().clone();
        assert_eq!(header.index(Column::Quantity), Some(4));
        assert_eq!(header.index(Column::Size), Some(2));
        assert!(header.ignored.is_empty(), "{:?}", header.ignored);
        assert_eq!(header.settled.len(), 2, "{:?}", header.settled);
        let rows: Vec<(String, Option<String>, String)> = records(file)
            .iter()
            .map(|r| {
                let row = header.validate(r).unwrap();
                (row.name, row.size, row.values.quantity.unwrap().to_string())
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("Tata Salt".into(), Some("1 kg".into()), "12".into()),
                ("Amul Butter".into(), Some("100 g".into()), "4".into()),
                ("Surf Excel".into(), None, "3".into()),
            ]
        );

        // Counts in the quantity column: nothing changes.
        let file = open("name,quantity,qty\nSalt,12,1 kg\n".as_bytes());
        assert_eq!(file.header().index(Column::Quantity), Some(1));
        assert!(file.header().settled.is_empty());
        // Weights and no other count column: maybe loose stock in kg; left as the count, so
        // its rows say what is wrong.
        let file = open("name,quantity\nSalt,1 kg\nSugar,500 g\n".as_bytes());
        assert_eq!(
            (
                file.header().index(Column::Size),
                file.header().index(Column::Quantity)
            ),
            (None, Some(1))
        );
    }

    #[test]
    fn a_header_one_slip_from_a_synonym_is_read() {
        let file = open("Prodcut Name,Quantitiy,Brnd,Sellng Price,Barcodes\nx\n".as_bytes());
        let found: Vec<(Column, usize)> = file.header().columns().collect();
        assert_eq!(
            found,
            [
                (Column::Name, 0),
                (Column::Quantity, 1),
                (Column::SellingPrice, 3),
                (Column::Barcode, 4),
            ],
            "'Brnd' is too short to read past a slip"
        );
        // An exact header wins over a near one; a near one never takes a taken column.
        let file = open("Name,Quantity,Quantitiy\nx,1,2\n".as_bytes());
        assert_eq!(file.header().index(Column::Quantity), Some(1));
        assert_eq!(file.header().ignored[0].index, 2);
        // Far from every synonym: unknown. A changed letter is another word, and short
        // headers are too close to other words.
        for header in ["Colour", "Height", "County", "EAN14"] {
            let data = format!("Name,{header}\nx,1\n");
            let file = open(data.as_bytes());
            assert_eq!(
                file.header().ignored[0].reason,
                IgnoreReason::Unknown,
                "{header}"
            );
        }
        // A slip is read before the fallbacks: "Barcodes" is the barcode, not "Code".
        let file = open("Name,Code,Barcodes\nx,A1,8901058000290\n".as_bytes());
        assert_eq!(file.header().index(Column::Barcode), Some(2));
        // A near duplicate is a duplicate (and so a candidate for the count).
        let file = open("Name,Quantity,Quantitiy\nx,1,2\n".as_bytes());
        assert_eq!(
            file.header().ignored[0].reason,
            IgnoreReason::Duplicate(Column::Quantity)
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
}
