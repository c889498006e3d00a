//! An opened file ([`CsvFile`]): the delimiter sniffed from the header line, then the records
//! after the header, numbered as a spreadsheet shows them.

use std::collections::VecDeque;
use std::io::Read;
use std::iter::FusedIterator;

use encoding_rs::Encoding;

use super::cells::is_blank;
use super::encoding::*;
use super::header::{SETTLE_BYTES, SETTLE_ROWS};
use super::{
    CSV_BUFFER, DECODE_BUFFER, FileError, HISTORY, HeaderMap, RecordError, RowError, SNIFF_BYTES,
};

/// One record after the header, as read: its spreadsheet row number and its cells untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based, as a spreadsheet shows it: the header is row 1 in a file that starts with it;
    /// a record spread over several lines by quoted newlines is one row; blank lines and blank
    /// records are never yielded but keep their row numbers, as they do in a spreadsheet.
    pub row: u64,
    pub cells: Vec<String>,
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
    /// The first records, read at open so the header can be settled by them
    /// ([`HeaderMap::settle`]); yielded before any other.
    ahead: VecDeque<Result<RawRecord, RecordError>>,
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
        let mut file = CsvFile {
            records,
            ahead: VecDeque::new(),
            encoding,
            delimiter,
            header,
            header_row,
            done: false,
        };
        let mut held = 0usize;
        while file.ahead.len() < SETTLE_ROWS && held <= SETTLE_BYTES {
            let Some(item) = file.read_next() else {
                break;
            };
            if let Ok(record) = &item {
                held += record
                    .cells
                    .iter()
                    .map(|c| c.len() + std::mem::size_of::<String>())
                    .sum::<usize>();
            }
            file.ahead.push_back(item);
        }
        let sample = file.ahead.iter().filter_map(|r| r.as_ref().ok());
        file.header.settle(sample);
        Ok(file)
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
        self.ahead.pop_front().or_else(|| self.read_next())
    }
}

impl<R: Read> CsvFile<R> {
    fn read_next(&mut self) -> Option<Result<RawRecord, RecordError>> {
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
pub(super) struct Records<R: Read> {
    csv: csv::Reader<DecodingReader<R>>,
    record: csv::StringRecord,
    /// The row number of the last record read.
    last_row: u64,
    /// Newlines inside quoted cells of the records read so far (they are not rows).
    newlines_before: u64,
}

pub(super) enum Next {
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

/// The delimiter of the first line with content: the most frequent of `,` `;` and tab outside
/// double quotes, `,` on a tie (or when there is none).
pub(super) fn sniff_delimiter(text: &str) -> u8 {
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

#[cfg(test)]
mod tests {
    use encoding_rs::WINDOWS_1252;

    use super::*;
    use crate::import::reader::MAX_ROW_BYTES;
    use crate::import::reader::test_support::*;

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
