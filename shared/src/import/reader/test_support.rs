//! Readers and helpers the reader's tests share.

use std::io::{self, Read};

use super::*;

/// A reader that gives at most one byte per call.
pub(super) struct OneByte<'a>(pub(super) &'a [u8]);

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
pub(super) struct FailsAfter<'a> {
    pub(super) data: &'a [u8],
    pub(super) ok: usize,
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

pub(super) const SAMPLE: &str = "Name,Qty,MRP\nTata Salt 1kg,10,28\nआशीर्वाद आटा 5 kg,3,245.50\n";

pub(super) fn open(data: &[u8]) -> CsvFile<&[u8]> {
    CsvFile::open(data).expect("the file opens")
}

pub(super) fn records<R: Read>(file: CsvFile<R>) -> Vec<RawRecord> {
    file.map(|r| r.expect("every record reads")).collect()
}

pub(super) fn cells(file_records: &[RawRecord]) -> Vec<(u64, Vec<&str>)> {
    file_records
        .iter()
        .map(|r| (r.row, r.cells.iter().map(String::as_str).collect()))
        .collect()
}

pub(super) fn file_error(data: &[u8]) -> FileError {
    match CsvFile::open(data) {
        Ok(_) => panic!("expected a file error"),
        Err(e) => e,
    }
}

pub(super) fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
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
pub(super) fn only_row(data: &[u8]) -> Result<ImportRow, Vec<RowError>> {
    let file = open(data);
    let header = file.header().clone();
    let recs = records(file);
    assert_eq!(recs.len(), 1, "{recs:?}");
    header.validate(&recs[0])
}

pub(super) fn row_with(headers: &str, row: &str) -> Result<ImportRow, Vec<RowError>> {
    only_row(format!("{headers}\n{row}\n").as_bytes())
}

pub(super) fn codes(errors: &[RowError]) -> Vec<&str> {
    errors.iter().map(|e| e.code.as_str()).collect()
}

pub(super) fn sample_cells() -> Vec<(u64, Vec<&'static str>)> {
    vec![
        (2, vec!["Tata Salt 1kg", "10", "28"]),
        (3, vec!["आशीर्वाद आटा 5 kg", "3", "245.50"]),
    ]
}

/// A file larger than the sniffed chunk, with characters of 1 to 4 UTF-8 bytes (a UTF-16
/// surrogate pair for the emoji) on every line.
pub(super) fn big_text() -> String {
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
