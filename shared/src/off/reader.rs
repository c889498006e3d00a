//! Reading an Open Food Facts export as a stream of records, in constant memory: the JSONL
//! export (one product per line, `.jsonl` or `.jsonl.gz`) or the CSV export (tab-separated
//! with a header, `.csv` or `.csv.gz`).
//!
//! Owns the file's framing only: a line longer than [`MAX_LINE_BYTES`] or one that is not a
//! record is counted and skipped (its number said), never a reason to stop, and never read
//! whole into memory.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::OffProduct;

/// The longest line read as a record (OFF's full records run to a few hundred KB).
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// The export's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffFormat {
    Jsonl,
    /// Tab-separated, a header first, no quoting (as OFF writes it).
    Csv,
}

impl OffFormat {
    /// The format a file name says (`.jsonl`, `.json`, `.csv`, `.tsv`, each maybe `.gz`), and
    /// whether it is gzipped.
    pub fn of(path: &Path) -> Option<(OffFormat, bool)> {
        Self::of_name(path.file_name()?.to_str()?)
    }

    /// [`OffFormat::of`] for a name (an object key).
    pub fn of_name(name: &str) -> Option<(OffFormat, bool)> {
        let name = name.to_ascii_lowercase();
        let (base, gz) = match name.strip_suffix(".gz") {
            Some(b) => (b.to_string(), true),
            None => (name, false),
        };
        let format = if base.ends_with(".jsonl") || base.ends_with(".json") {
            OffFormat::Jsonl
        } else if base.ends_with(".csv") || base.ends_with(".tsv") {
            OffFormat::Csv
        } else {
            return None;
        };
        Some((format, gz))
    }
}

/// A record of the export, or why line `line` is not one.
pub type Record = Result<OffProduct, Skipped>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct Skipped {
    pub line: u64,
    pub why: String,
}

/// Counts the bytes read from the file (compressed, for a `.gz`): a progress bar's position.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An export's records, one by one: what a load reads.
pub trait Records: Iterator<Item = io::Result<Record>> + Send {
    /// Passes over the next `n` records without reading them as records (where the format
    /// allows: a JSONL line is only found, not parsed), as a resumed load does with the ones
    /// an earlier run loaded. How many there were (fewer at the end of the file).
    fn pass(&mut self, n: u64) -> io::Result<u64> {
        let mut passed = 0;
        while passed < n {
            match self.next() {
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) => passed += 1,
                None => break,
            }
        }
        Ok(passed)
    }
}

/// The records of an export file, decompressed as it is read; `read` counts the file's bytes
/// read so far.
pub fn open(path: &Path, read: Arc<AtomicU64>) -> io::Result<Box<dyn Records>> {
    let (format, gz) = OffFormat::of(path).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: not an Open Food Facts export (.jsonl, .jsonl.gz, .csv or .csv.gz)",
                path.display()
            ),
        )
    })?;
    let file = std::fs::File::open(path)?;
    Ok(records(Box::new(file), format, gz, read))
}

/// The records of an export read from `raw` (the file's bytes as stored), decompressed as it
/// is read when `gz`; `read` counts the bytes read from `raw`.
pub fn records(
    raw: Box<dyn Read + Send>,
    format: OffFormat,
    gz: bool,
    read: Arc<AtomicU64>,
) -> Box<dyn Records> {
    let counted = Counted { inner: raw, read };
    let bytes: Box<dyn Read + Send> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let reader = BufReader::with_capacity(256 * 1024, bytes);
    match format {
        OffFormat::Jsonl => Box::new(JsonLines::new(reader)),
        OffFormat::Csv => Box::new(CsvRows::new(reader)),
    }
}

/// The JSONL export, line by line.
pub struct JsonLines<R> {
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R) -> Self {
        JsonLines {
            reader,
            line: 0,
            buf: Vec::with_capacity(16 * 1024),
        }
    }
}

/// Reads one line into `buf` (without its end), up to `max` bytes: `Ok(None)` at the end of
/// the input, `Ok(Some(false))` for a line over `max` (the rest of it passed over).
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut over = false;
    let mut any = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(!over));
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if !over {
            if buf.len() + chunk.len() > max {
                over = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(!over));
        }
    }
}

/// A line of the JSONL export.
enum Line {
    End,
    /// Over [`MAX_LINE_BYTES`]: passed over, not read.
    TooLong,
    /// In the buffer.
    Read,
}

impl<R: BufRead> JsonLines<R> {
    /// The next line that is not blank (numbered in `self.line`).
    fn next_line(&mut self) -> io::Result<Line> {
        loop {
            let fits = match read_line_capped(&mut self.reader, &mut self.buf, MAX_LINE_BYTES)? {
                None => return Ok(Line::End),
                Some(fits) => fits,
            };
            self.line += 1;
            if !fits {
                return Ok(Line::TooLong);
            }
            if !self.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Line::Read);
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.next_line() {
            Ok(Line::End) => return None,
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let number = self.line;
        Some(Ok(match line {
            Line::TooLong => Err(Skipped {
                line: number,
                why: format!("longer than {MAX_LINE_BYTES} bytes"),
            }),
            _ => serde_json::from_slice::<OffProduct>(&self.buf).map_err(|e| Skipped {
                line: number,
                why: format!("not a JSON product record: {e}"),
            }),
        }))
    }
}

impl<R: BufRead + Send> Records for JsonLines<R> {
    fn pass(&mut self, n: u64) -> io::Result<u64> {
        let mut passed = 0;
        while passed < n {
            if let Line::End = self.next_line()? {
                break;
            }
            passed += 1;
        }
        Ok(passed)
    }
}

/// The CSV export, row by row. Cells are read as text, every one (a barcode's leading zeros,
/// a name of digits), and named by the header.
pub struct CsvRows<R: Read> {
    rows: csv::StringRecordsIntoIter<R>,
    header: Vec<String>,
    line: u64,
}

impl<R: Read> CsvRows<R> {
    pub fn new(reader: R) -> Self {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b'\t')
            .quoting(false)
            .flexible(true)
            .from_reader(reader);
        let header = reader
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .unwrap_or_default();
        CsvRows {
            rows: reader.into_records(),
            header,
            line: 1,
        }
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        self.line += 1;
        let line = self.line;
        let row = match row {
            Ok(r) => r,
            Err(e) if e.is_io_error() => match e.into_kind() {
                csv::ErrorKind::Io(io) => return Some(Err(io)),
                _ => unreachable!("an I/O error is an I/O error"),
            },
            Err(e) => {
                return Some(Ok(Err(Skipped {
                    line,
                    why: format!("not a product row: {e}"),
                })));
            }
        };
        let fields: serde_json::Map<String, serde_json::Value> = self
            .header
            .iter()
            .zip(row.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(name, cell)| (name.clone(), serde_json::Value::String(cell.to_string())))
            .collect();
        Some(Ok(serde_json::from_value::<OffProduct>(
            serde_json::Value::Object(fields),
        )
        .map_err(|e| Skipped {
            line,
            why: format!("not a product row: {e}"),
        })))
    }
}

impl<R: Read + Send> Records for CsvRows<R> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_are_records_and_bad_ones_are_skipped() {
        let long = format!("{{\"code\":\"{}\"}}", "1".repeat(MAX_LINE_BYTES));
        let input = format!(
            "{{\"code\":\"8901063093287\",\"product_name\":\"Good Day\",\"nutriments\":{{\"a\":1}}}}\n\
             \n\
             not json\n\
             {long}\n\
             {{\"code\":\"8901030154409\"}}"
        );
        let records: Vec<Record> = JsonLines::new(input.as_bytes())
            .map(Result::unwrap)
            .collect();
        assert_eq!(records.len(), 4);
        assert_eq!(
            records[0].as_ref().unwrap().product_name.as_deref(),
            Some("Good Day")
        );
        assert_eq!(records[1].as_ref().unwrap_err().line, 3);
        assert_eq!(records[2].as_ref().unwrap_err().line, 4);
        assert!(records[2].as_ref().unwrap_err().why.contains("longer"));
        assert_eq!(
            records[3].as_ref().unwrap().code.as_deref(),
            Some("8901030154409")
        );
    }

    #[test]
    fn passing_over_records_counts_as_reading_them() {
        let long = format!("{{\"code\":\"{}\"}}", "1".repeat(MAX_LINE_BYTES));
        let input = format!(
            "{{\"code\":\"1\"}}\n\nnot json\n{long}\n{{\"code\":\"2\"}}\n{{\"code\":\"3\"}}\n"
        );
        let mut lines = JsonLines::new(input.as_bytes());
        // A blank line is not a record; one not JSON and one too long are (skipped ones).
        assert_eq!(lines.pass(3).unwrap(), 3);
        let next = lines.next().unwrap().unwrap().unwrap();
        assert_eq!(next.code.as_deref(), Some("2"));
        assert_eq!(lines.pass(5).unwrap(), 1, "only one was left");
        assert!(lines.next().is_none());

        let csv = "code\tproduct_name\n1\ta\n2\tb\n3\tc\n";
        let mut rows = CsvRows::new(csv.as_bytes());
        assert_eq!(rows.pass(2).unwrap(), 2);
        assert_eq!(
            rows.next().unwrap().unwrap().unwrap().code.as_deref(),
            Some("3")
        );
    }

    #[test]
    fn csv_rows_are_records() {
        let input = "code\tproduct_name\tbrands\tcategories_tags\tcountries_tags\textra\n\
                     8901063093287\tGood \"Day\"\tBritannia\ten:snacks,en:biscuits\ten:india\tx\n\
                     8901030154409\tDarjeeling tea\n\
                     0016000275287\t1.50\ttrue\n";
        let records: Vec<OffProduct> = CsvRows::new(input.as_bytes())
            .map(|r| r.unwrap().unwrap())
            .collect();
        assert_eq!(records[0].product_name.as_deref(), Some("Good \"Day\""));
        assert_eq!(records[0].categories_tags, ["en:snacks", "en:biscuits"]);
        assert!(records[0].sold_in("en:india"));
        assert_eq!(records[1].brands, None);
        // Text stays text: a barcode's leading zero, a name of digits.
        assert_eq!(records[2].code.as_deref(), Some("0016000275287"));
        assert_eq!(records[2].product_name.as_deref(), Some("1.50"));
        assert_eq!(records[2].brands.as_deref(), Some("true"));
    }

    #[test]
    fn formats_come_from_the_name() {
        let of = |n: &str| OffFormat::of(Path::new(n));
        assert_eq!(of("products.jsonl.gz"), Some((OffFormat::Jsonl, true)));
        assert_eq!(
            of("en.openfoodfacts.org.products.csv"),
            Some((OffFormat::Csv, false))
        );
        assert_eq!(of("x.txt"), None);
    }
}
