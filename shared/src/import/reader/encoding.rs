//! The encoding: UTF-8 with or without BOM, UTF-16 LE/BE with BOM, else Windows-1252, decided
//! from the BOM or the first [`SNIFF_BYTES`](super::SNIFF_BYTES), and decoded by a streaming
//! [`Read`] adapter that also bounds one record's size.

use std::io::{self, Read};

use encoding_rs::{CoderResult, Encoding, UTF_8, WINDOWS_1252};

use super::{MAX_CONTROL_PERCENT, MAX_ROW_BYTES, MIN_CONTROL_CHARS};

/// The BOM if there is one; else UTF-8 if `head` is valid UTF-8 (a sequence cut by the end of
/// `head` counts as valid unless the file ends there), else Windows-1252.
pub(super) fn detect_encoding(head: &[u8], complete: bool) -> (&'static Encoding, usize) {
    if let Some(found) = Encoding::for_bom(head) {
        return found;
    }
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && !complete,
    };
    (if utf8 { UTF_8 } else { WINDOWS_1252 }, 0)
}

/// More than [`MAX_CONTROL_PERCENT`] of the characters, and at least [`MIN_CONTROL_CHARS`],
/// are NUL or other control characters (tab, CR, LF and a DOS end-of-file mark do not count).
pub(super) fn looks_binary(text: &str) -> bool {
    let (mut total, mut control) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{1a}') {
            control += 1;
        }
    }
    control >= MIN_CONTROL_CHARS
        && control.saturating_mul(100) > total.saturating_mul(MAX_CONTROL_PERCENT)
}

/// Zeros in every other byte, and almost none in the others: text in UTF-16.
pub(super) fn looks_like_utf16_without_bom(head: &[u8]) -> bool {
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

/// Reads as much of `buf` as the reader gives; `true` if the reader ended before it was full.
pub(super) fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_retrying(reader, &mut buf[filled..])? {
            0 => return Ok((filled, true)),
            n => filled += n,
        }
    }
    Ok((filled, false))
}

pub(super) fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Decodes `inner` to UTF-8 as it is read, starting with the bytes already sniffed.
///
/// Also remembers the last [`HISTORY`] bytes it produced, so that the byte which ended a
/// record can be looked at, and refuses to produce more than [`MAX_ROW_BYTES`] for one record
/// (an unclosed quote would otherwise grow one record without bound).
pub(super) struct DecodingReader<R> {
    pub(super) inner: R,
    pub(super) decoder: encoding_rs::Decoder,
    /// Undecoded bytes: `input[in_pos..in_end]`.
    pub(super) input: Vec<u8>,
    pub(super) in_pos: usize,
    pub(super) in_end: usize,
    /// `inner` has ended.
    pub(super) input_done: bool,
    /// Decoded bytes not yet read: `output[out_pos..out_end]`.
    pub(super) output: Vec<u8>,
    pub(super) out_pos: usize,
    pub(super) out_end: usize,
    /// The decoder has been flushed: nothing more will come.
    pub(super) finished: bool,
    /// A ring of the last bytes produced; `written` is the total produced.
    pub(super) history: Vec<u8>,
    pub(super) written: u64,
    /// Where (in decoded bytes) the record being read started; set by the reader of records.
    pub(super) row_start: u64,
    /// A read failed because one record grew larger than [`MAX_ROW_BYTES`].
    pub(super) row_too_large: bool,
}

impl<R> DecodingReader<R> {
    pub(super) fn remember(&mut self, bytes: &[u8]) {
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
    pub(super) fn byte_at(&self, offset: u64) -> Option<u8> {
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
    use std::io::Read;

    use super::*;
    use crate::import::reader::test_support::*;
    use crate::import::reader::*;

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
        // Nor is a stray NUL in a short file: its cell loses it, and both rows import.
        let file = open(b"Name,Qty\nTea\x00,1\nSugar,2\n");
        let header = file.header().clone();
        let rows: Vec<String> = records(file)
            .iter()
            .map(|r| header.validate(r).unwrap().name)
            .collect();
        assert_eq!(rows, ["Tea", "Sugar"]);
        // ...in a number, a barcode or a header cell too.
        let file = open(b"Name\x00,Qty,MRP,Barcode\nTea,1\x00,2\x00,8901058\x00000290\n");
        let header = file.header().clone();
        let row = header.validate(&records(file)[0]).unwrap();
        assert_eq!(
            (
                row.values.quantity.unwrap().to_string(),
                row.barcode.unwrap().to_string()
            ),
            ("1".to_string(), "8901058000290".to_string())
        );
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
}
