//! The checks of one record: its shape, then every mapped cell, each problem a [`RowError`]
//! with a stable code, all of a row's problems at once.

use crate::domain::inventory::{MAX_LOCATION_CHARS, MAX_NOTES_CHARS, MAX_SUPPLIER_CHARS};
use crate::domain::product::{MAX_BRAND_CHARS, MAX_CATEGORY_CHARS, MAX_NAME_CHARS};
use crate::domain::{AmountError, Gtin, Money, ProductId, Quantity, TextError, clean_text};

use super::cells::*;
use super::{Column, HeaderMap, MAX_CELL_CHARS, MAX_CELLS, MAX_SIZE_CHARS, RawRecord, RowError};

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
    /// The catalog product the row names by id (a `catalog_product_id` column: an export).
    pub product_id: Option<ProductId>,
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
    pub notes: Option<String>,
}

impl HeaderMap {
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
        let notes = check.notes();
        let product_id = check.product_id();
        match name {
            Some(name) if check.errors.is_empty() => Ok(ImportRow {
                row,
                name,
                brand,
                category,
                size,
                barcode,
                product_id,
                values: RowValues {
                    quantity,
                    selling_price,
                    cost_price,
                    reorder_level,
                    supplier,
                    location,
                    notes,
                },
            }),
            _ => Err(check.errors),
        }
    }
}

/// The checks of one row, collecting errors.
pub(super) struct RowCheck<'a> {
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
        let width = self.map.headers().len();
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
                .headers()
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
        let header = self.map.headers().get(index)?.as_str();
        // A cell an export neutralised (`'=...`) is read as it was.
        let value = crate::import::report::unneutralise(self.cells.get(index)?.trim());
        (!value.is_empty()).then_some((header, value))
    }

    /// The `catalog_product_id` cell, which must be a product id (a UUID) when present.
    fn product_id(&mut self) -> Option<ProductId> {
        let (header, value) = self.cell(Column::ProductId)?;
        match ProductId::parse(value) {
            Ok(id) => Some(id),
            Err(e) => {
                self.error(
                    Some(header),
                    "invalid_product_id",
                    format!("'{}' is not a catalog product id: it {e}", shorten(value)),
                );
                None
            }
        }
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
        self.cleaned(column, header, &tidy(value), max, false)
    }

    /// The notes cell: like [`RowCheck::text`], but its lines are kept (each tidied).
    fn notes(&mut self) -> Option<String> {
        let (header, value) = self.cell(Column::Notes)?;
        let lines: Vec<String> = value.lines().map(tidy).collect();
        self.cleaned(
            Column::Notes,
            header,
            &lines.join("\n"),
            MAX_NOTES_CHARS,
            true,
        )
    }

    fn cleaned(
        &mut self,
        column: Column,
        header: &str,
        value: &str,
        max: usize,
        multiline: bool,
    ) -> Option<String> {
        match clean_text(value, max, multiline) {
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
            .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '-')
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::reader::test_support::*;

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
                product_id: None,
                values: RowValues {
                    quantity: Some(Quantity::parse("10").unwrap()),
                    selling_price: Some(Money::parse("1299").unwrap()),
                    cost_price: Some(Money::parse("20").unwrap()),
                    reorder_level: Some(Quantity::parse("5").unwrap()),
                    supplier: Some("Sharma Traders".into()),
                    location: Some("A3".into()),
                    notes: None,
                },
            }
        );
    }

    #[test]
    fn an_export_row_reads_back_as_written() {
        let id = crate::domain::ProductId::new();
        let row = row_with(
            "catalog_product_id,name,qty,notes,location",
            &format!("{id},'=Cola 2L,3,\"first line\n  second   line\",'-Rack 2"),
        )
        .unwrap();
        assert_eq!(row.product_id, Some(id));
        assert_eq!(row.name, "=Cola 2L");
        assert_eq!(row.values.notes.as_deref(), Some("first line\nsecond line"));
        assert_eq!(row.values.location.as_deref(), Some("-Rack 2"));
        let bad = row_with("catalog_product_id,name,qty", "SKU-12,Salt,3").unwrap_err();
        assert_eq!(bad[0].code, "invalid_product_id");
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
        // A count written with its word is that count.
        for cell in ["12 pcs", "12pcs", "12 Nos", "12 PKTS", "12 units"] {
            assert_eq!(
                q(cell).unwrap().values.quantity,
                Some(Quantity::parse("12").unwrap()),
                "{cell}"
            );
        }
        for (cell, code, says) in [
            (
                "-5",
                "negative_quantity",
                "quantity '-5' must not be negative",
            ),
            (
                "1 kg",
                "invalid_quantity",
                "quantity '1 kg' is not a number",
            ),
            ("pcs", "invalid_quantity", "is not a number"),
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
}
