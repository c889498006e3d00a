//! What reading can fail with: the whole file ([`FileError`]), one row ([`RowError`]), or the
//! next record, either way ([`RecordError`]).

use std::io;

use super::MAX_ROW_BYTES;
use super::encoding::looks_like_utf16_without_bom;

/// Why the file cannot be imported at all. `code` is stable: `read_failed`, `empty_file`,
/// `not_text`, `no_name_column`, `row_too_large`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("{message}")]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    pub(super) fn read_failed(e: &io::Error) -> Self {
        FileError {
            code: "read_failed",
            message: format!("the file could not be read: {e}"),
        }
    }

    pub(super) fn empty() -> Self {
        FileError {
            code: "empty_file",
            message: "the file is empty".into(),
        }
    }

    pub(super) fn not_text(head: &[u8]) -> Self {
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

    pub(super) fn row_too_large(row: u64) -> Self {
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
    pub(super) fn new(row: u64, column: Option<&str>, code: &str, message: String) -> Self {
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
