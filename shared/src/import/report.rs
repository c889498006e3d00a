//! The error report: one CSV line per problem of a rejected row, with the row's cells as the
//! owner wrote them, so they can fix the rows and upload just those again.
//!
//! Owns the report's columns and its safety: a cell that a spreadsheet would run as a formula
//! (`=`, `+`, `-`, `@`, or a tab/carriage return first) is written with a leading `'`.

use serde::{Deserialize, Serialize};

use super::reader::{RawRecord, RowError};

/// Characters of a cell kept in the report (longer ones are cut, with `…`).
pub const MAX_REPORT_CELL_CHARS: usize = 200;

/// A rejected (or merged) row, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    pub row: u64,
    pub problems: Vec<Problem>,
    pub cells: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

impl ReportRow {
    pub fn new(record: &RawRecord, errors: Vec<RowError>) -> Self {
        ReportRow {
            row: record.row,
            problems: errors
                .into_iter()
                .map(|e| Problem {
                    column: e.column,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            cells: record.cells.iter().map(|c| clip(c)).collect(),
        }
    }

    /// A row refused after it was read (when it is written), with its one problem; its cells
    /// are not kept by then.
    pub fn problem(row: u64, column: &str, code: &str, message: String) -> Self {
        ReportRow {
            row,
            problems: vec![Problem {
                column: Some(column.to_string()),
                code: code.to_string(),
                message,
            }],
            cells: vec![],
        }
    }

    /// A record the CSV parser could not read (its cells are unknown).
    pub fn unreadable(error: RowError) -> Self {
        ReportRow {
            row: error.row,
            problems: vec![Problem {
                column: error.column,
                code: error.code,
                message: error.message,
            }],
            cells: vec![],
        }
    }

    /// Roughly the memory this row holds (the run caps what it keeps).
    pub fn weight(&self) -> usize {
        64 + self.cells.iter().map(String::len).sum::<usize>()
            + self
                .problems
                .iter()
                .map(|p| p.message.len() + p.code.len() + 32)
                .sum::<usize>()
    }
}

fn clip(cell: &str) -> String {
    match cell.char_indices().nth(MAX_REPORT_CELL_CHARS) {
        Some((cut, _)) => format!("{}…", &cell[..cut]),
        None => cell.to_string(),
    }
}

/// A cell [`neutralise`] wrote, as it was (the import reads an export back this way).
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest)
            if matches!(
                rest.chars().next(),
                Some('=' | '+' | '-' | '@' | '\t' | '\r')
            ) =>
        {
            rest
        }
        _ => cell,
    }
}

/// A cell as it is safe to open in a spreadsheet.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// The report: `row,column,code,message` then the file's own header cells; rows in file
/// order; `more` rows with problems that were counted but not kept end it with a note.
pub fn write_report(headers: &[String], rows: &[ReportRow], more: u64) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let mut head: Vec<String> = ["row", "column", "code", "message"]
        .map(String::from)
        .to_vec();
    head.extend(headers.iter().map(|h| neutralise(h).into_owned()));
    // Writing to a Vec cannot fail; a failure here would be a csv bug, reported as an empty line.
    let _ = w.write_record(&head);
    let mut sorted: Vec<&ReportRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.row);
    for r in sorted {
        for p in &r.problems {
            let mut line = vec![
                r.row.to_string(),
                neutralise(p.column.as_deref().unwrap_or("")).into_owned(),
                p.code.clone(),
                neutralise(&p.message).into_owned(),
            ];
            line.extend(r.cells.iter().map(|c| neutralise(c).into_owned()));
            let _ = w.write_record(&line);
        }
    }
    if more > 0 {
        let note = format!(
            "{more} more rows had problems; fix the rows above and upload the file again to see them"
        );
        let _ = w.write_record(["", "", "report_truncated", note.as_str()]);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralised_cells_read_back_as_they_were() {
        for cell in ["=SUM(A1)", "+91 98", "-", "@home", "plain", "'quoted", ""] {
            assert_eq!(unneutralise(&neutralise(cell)), cell);
        }
    }

    #[test]
    fn formulas_are_neutralised_and_cells_kept() {
        let rec = RawRecord {
            row: 7,
            cells: vec![
                "=HYPERLINK(\"http://x\")".into(),
                "-3".into(),
                "Tata Salt".into(),
            ],
        };
        let err = RowError {
            row: 7,
            column: Some("qty".into()),
            code: "negative_quantity".into(),
            message: "qty must not be negative".into(),
        };
        let report = write_report(
            &["name".into(), "qty".into(), "@brand".into()],
            &[ReportRow::new(&rec, vec![err])],
            2,
        );
        let text = String::from_utf8(report).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "row,column,code,message,name,qty,'@brand");
        assert_eq!(
            lines[1],
            "7,qty,negative_quantity,qty must not be negative,\"'=HYPERLINK(\"\"http://x\"\")\",'-3,Tata Salt"
        );
        assert!(lines[2].contains("report_truncated") && lines[2].contains("2 more rows"));
    }

    #[test]
    fn long_cells_are_clipped() {
        let rec = RawRecord {
            row: 2,
            cells: vec!["x".repeat(1000)],
        };
        let r = ReportRow::new(&rec, vec![]);
        assert_eq!(r.cells[0].chars().count(), MAX_REPORT_CELL_CHARS + 1);
    }
}
