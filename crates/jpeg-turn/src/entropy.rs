//! Baseline JPEG entropy coding at the level of quantized DCT coefficients: Huffman tables (a
//! file's own, and the standard ones of ITU T.81 Annex K), reading a block of coefficients out
//! of a scan and writing one into a scan. What a lossless transform needs, and nothing of
//! pixels. The reader and the writer keep 64 bits in hand and look codes of up to 9 bits up
//! in one table read: this is the hot path of a turned photo.

/// A block's 64 quantized coefficients, in zigzag order (as a scan codes them).
pub type Block = [i16; 64];

/// The natural (row-major) index of each coefficient in zigzag order.
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A Huffman table as a DHT segment gives it: how many codes of each length (1 to 16), and
/// the symbols in code order.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec<'a> {
    pub counts: &'a [u8; 16],
    pub values: &'a [u8],
}

/// The standard tables (T.81 Annex K.3): most cameras code with them, and they have a code
/// for every symbol an 8-bit baseline scan can need, whatever a transform does to its runs.
pub const DC_LUMA: TableSpec<'static> = TableSpec {
    counts: &[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    values: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};
pub const DC_CHROMA: TableSpec<'static> = TableSpec {
    counts: &[0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    values: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};
pub const AC_LUMA: TableSpec<'static> = TableSpec {
    counts: &[0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D],
    values: &[
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
        0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
        0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
        0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
        0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ],
};
pub const AC_CHROMA: TableSpec<'static> = TableSpec {
    counts: &[0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
    values: &[
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
        0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
        0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
        0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
        0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
        0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ],
};

/// Bits of the codes the decoder looks up in one step.
const FAST_BITS: u32 = 9;

/// The canonical codes of a table, in symbol order: `(symbol, code, length)`. `None` when the
/// counts do not describe a prefix code or do not match the symbols.
fn canonical(spec: TableSpec<'_>) -> Option<Vec<(u8, u16, u8)>> {
    let total: usize = spec.counts.iter().map(|&c| usize::from(c)).sum();
    if total != spec.values.len() || total > 256 {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    let (mut code, mut k) = (0u32, 0usize);
    for (i, &n) in spec.counts.iter().enumerate() {
        let len = i as u32 + 1;
        for _ in 0..n {
            out.push((spec.values[k], code as u16, len as u8));
            code += 1;
            k += 1;
        }
        // As libjpeg checks: the codes fit their length, and none is all ones (reserved).
        if code >= 1 << len {
            return None;
        }
        code <<= 1;
    }
    Some(out)
}

/// A table for reading: short codes in one lookup, long ones by their length's range.
#[derive(Debug, Clone)]
pub struct DecodeTable {
    /// `symbol << 8 | length` of the code the next 9 bits start with; 0 for a longer code.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// For an AC table: when the next 9 bits hold a whole coefficient (its code and the bits
    /// of its value), `value << 8 | run << 4 | bits`; 0 otherwise. Most coefficients of a
    /// photo are small: one lookup reads them.
    fast_ac: Box<[i16; 1 << FAST_BITS]>,
    /// Per length: the last code (or -1), and the index of its first symbol minus its first code.
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
}

impl DecodeTable {
    pub fn new(spec: TableSpec<'_>) -> Option<Self> {
        let codes = canonical(spec)?;
        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        for (k, &(symbol, code, len)) in codes.iter().enumerate() {
            let (code, len32) = (u32::from(code), u32::from(len));
            if len32 <= FAST_BITS {
                let base = (code << (FAST_BITS - len32)) as usize;
                let span = 1usize << (FAST_BITS - len32);
                fast[base..base + span].fill(u16::from(symbol) << 8 | u16::from(len));
            }
            let l = usize::from(len);
            if max_code[l] < 0 {
                offset[l] = k as i32 - code as i32;
            }
            max_code[l] = code as i32;
        }
        let mut fast_ac = Box::new([0i16; 1 << FAST_BITS]);
        for (peek, entry) in fast_ac.iter_mut().enumerate() {
            let hit = fast[peek];
            let (symbol, len) = ((hit >> 8) as u32, u32::from(hit & 0xFF));
            let (run, size) = (symbol >> 4, symbol & 15);
            if hit == 0 || size == 0 || len + size > FAST_BITS {
                continue;
            }
            let bits = (peek as u32 >> (FAST_BITS - len - size)) & ((1 << size) - 1);
            let value = extend(bits, size);
            // The entry's high byte holds the value: -128 to 127 (a table of the file's own
            // may give a value of 8 bits a 1-bit code; that one is read the long way).
            if !(-128..=127).contains(&value) {
                continue;
            }
            *entry = (value << 8) as i16 | (run << 4 | (len + size)) as i16;
        }
        Some(Self {
            fast,
            fast_ac,
            max_code,
            offset,
            values: spec.values.to_vec(),
        })
    }
}

/// A table for writing: each symbol's `code << 8 | length` (0: the table has no code for it).
#[derive(Debug, Clone)]
pub struct EncodeTable {
    codes: [u32; 256],
}

impl EncodeTable {
    pub fn new(spec: TableSpec<'_>) -> Option<Self> {
        let mut t = Self { codes: [0; 256] };
        for (symbol, code, len) in canonical(spec)? {
            t.codes[usize::from(symbol)] = u32::from(code) << 8 | u32::from(len);
        }
        Some(t)
    }
}

/// Reads the entropy-coded data of a scan, most significant bit first, with its stuffed
/// bytes removed. At a marker it gives zero bits (what a decoder does with a short scan)
/// until [`BitReader::restart`] passes a restart marker.
#[derive(Clone, Copy)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The bits in hand, the next one the most significant.
    bits: u64,
    count: u32,
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            bits: 0,
            count: 0,
            at_marker: false,
        }
    }

    /// At least 32 bits in hand (zeros past a marker), from fewer.
    #[inline(always)]
    fn refill(&mut self) {
        // Four bytes at once while none of them is 0xFF (a stuffed byte or a marker).
        if !self.at_marker
            && self.count <= 32
            && let Some(&[a, b, c, d]) = self.data.get(self.pos..self.pos + 4)
            && a != 0xFF
            && b != 0xFF
            && c != 0xFF
            && d != 0xFF
        {
            let word = u32::from_be_bytes([a, b, c, d]);
            self.bits |= u64::from(word) << (32 - self.count);
            self.count += 32;
            self.pos += 4;
        } else {
            *self = self.bytewise();
        }
    }

    /// The reader with its bits topped up a byte at a time (a stuffed byte, a marker, the
    /// end of the data). Taken and given by value: the hot loop keeps the reader in registers.
    #[inline(never)]
    fn bytewise(mut self) -> Self {
        while self.count <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                    (Some(0xFF), Some(0x00)) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    (Some(0xFF), _) | (None, _) => self.at_marker = true,
                    (Some(&b), _) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            self.bits |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
        self
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.bits <<= n;
        self.count -= n;
    }

    /// The next Huffman-coded symbol; `None` for a code the table does not have.
    #[inline(always)]
    fn symbol(&mut self, t: &DecodeTable) -> Option<u8> {
        if self.count < 16 {
            self.refill();
        }
        let peek = (self.bits >> 48) as u32;
        let hit = t.fast[(peek >> (16 - FAST_BITS)) as usize];
        if hit != 0 {
            self.consume(u32::from(hit & 0xFF));
            return Some((hit >> 8) as u8);
        }
        for len in FAST_BITS + 1..=16 {
            let code = (peek >> (16 - len)) as i32;
            if code <= t.max_code[len as usize] {
                self.consume(len);
                return t
                    .values
                    .get((t.offset[len as usize] + code) as usize)
                    .copied();
            }
        }
        None
    }

    /// `size` bits as the signed value they code (T.81 F.2.2.1, EXTEND).
    #[inline(always)]
    fn value(&mut self, size: u32) -> i32 {
        if size == 0 {
            return 0;
        }
        if self.count < size {
            self.refill();
        }
        let v = (self.bits >> (64 - size)) as u32;
        self.consume(size);
        extend(v, size)
    }

    /// Passes the restart marker that must come next (after the bits that pad the last
    /// interval to a byte); `false` when there is none.
    pub fn restart(&mut self) -> bool {
        self.bits = 0;
        self.count = 0;
        self.at_marker = false;
        // Fill bytes may come before the marker (T.81 B.1.1.2).
        while self.data.get(self.pos) == Some(&0xFF) && self.data.get(self.pos + 1) == Some(&0xFF) {
            self.pos += 1;
        }
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(0xFF), Some(0xD0..=0xD7)) => {
                self.pos += 2;
                true
            }
            _ => false,
        }
    }

    /// Reads one block: its DC difference from `pred` (which it updates) and its AC run
    /// lengths, each coefficient put where `place` says (the zigzag index in `out`, and
    /// whether it changes sign: a block is moved as it is read). `out` must be all zeros.
    /// Gives the block's AC coefficients that are not zero, as the bits of their indices in
    /// `out` (what [`BitWriter::block`] needs not to look at the others); `None` for a code
    /// the tables lack or a run past the block's end.
    #[inline(always)]
    pub fn block(
        &mut self,
        dc: &DecodeTable,
        ac: &DecodeTable,
        pred: &mut i32,
        place: &Placement,
        out: &mut Block,
    ) -> Option<u64> {
        // On a copy, which the compiler keeps in registers (nothing takes its address).
        let mut r = *self;
        let read = r.read_block(dc, ac, pred, place, out);
        *self = r;
        read
    }

    #[inline(always)]
    fn read_block(
        &mut self,
        dc: &DecodeTable,
        ac: &DecodeTable,
        pred: &mut i32,
        place: &Placement,
        out: &mut Block,
    ) -> Option<u64> {
        let size = u32::from(self.symbol(dc)?);
        // At 8 bits a DC difference has at most 11 bits (T.81 F.1.2.1): more is a bad file.
        if size > 11 {
            return None;
        }
        *pred += self.value(size);
        out[0] = i16::try_from(*pred).ok()?;
        let mut nonzero = 0u64;
        let mut k = 1usize;
        while k < 64 {
            if self.count < 16 {
                self.refill();
            }
            let fast = ac.fast_ac[(self.bits >> (64 - FAST_BITS)) as usize];
            let (run, value) = if fast != 0 {
                self.consume((fast & 15) as u32);
                (((fast >> 4) & 15) as usize, fast >> 8)
            } else {
                let rs = self.symbol(ac)?;
                let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
                if size == 0 {
                    if run == 15 {
                        k += 16;
                        continue;
                    }
                    break;
                }
                (run, self.value(size) as i16)
            };
            k += run;
            if k > 63 {
                return None;
            }
            // A sign of -1 negates (two's complement), 0 keeps.
            let (to, sign) = place[k];
            out[usize::from(to)] = (value ^ sign).wrapping_sub(sign);
            nonzero |= 1 << to;
            k += 1;
        }
        (k <= 64).then_some(nonzero)
    }
}

/// The value `size` bits code (T.81 F.2.2.1, EXTEND).
#[inline]
fn extend(bits: u32, size: u32) -> i32 {
    let v = bits as i32;
    if size == 0 {
        0
    } else if v < 1 << (size - 1) {
        v - (1 << size) + 1
    } else {
        v
    }
}

/// The AC coefficients of `block` that are not zero, as [`BitReader::block`] gives them.
#[cfg(test)]
pub fn nonzero(block: &Block) -> u64 {
    block
        .iter()
        .enumerate()
        .skip(1)
        .fold(0, |m, (k, &v)| m | u64::from(v != 0) << k)
}

/// Where each coefficient read (zigzag order) goes in the block it is read into (its zigzag
/// index there), and its sign there as a mask: 0 as it was, -1 negated.
pub type Placement = [(u8, i16); 64];

/// Writes entropy-coded data, stuffing a zero after every `0xFF`.
pub struct BitWriter {
    pub out: Vec<u8>,
    hand: Hand,
}

/// The bits not yet written, the last one the least significant. Apart from the output, so
/// that the hot loop keeps them in registers while it writes bytes.
#[derive(Clone, Copy)]
struct Hand {
    bits: u64,
    count: u32,
}

impl Hand {
    /// `len` bits (at most 31; `code` has no bit above them); whole 32-bit words go to `out`.
    #[inline(always)]
    fn put(&mut self, out: &mut Vec<u8>, code: u32, len: u32) {
        debug_assert!(len < 32 && u64::from(code) >> len == 0);
        self.bits = (self.bits << len) | u64::from(code);
        self.count += len;
        if self.count >= 32 {
            self.count -= 32;
            let word = (self.bits >> self.count) as u32;
            // Whether a byte of it is 0xFF (a zero byte of its complement).
            let ones = (!word).wrapping_sub(0x0101_0101) & word & 0x8080_8080;
            let word = word.to_be_bytes();
            if ones != 0 {
                for byte in word {
                    out.push(byte);
                    if byte == 0xFF {
                        out.push(0);
                    }
                }
            } else {
                out.extend_from_slice(&word);
            }
        }
    }

    /// `symbol`'s code followed by `size` bits of its value.
    #[inline(always)]
    fn coded(
        &mut self,
        out: &mut Vec<u8>,
        t: &EncodeTable,
        symbol: u8,
        bits: u32,
        size: u32,
    ) -> Option<()> {
        let entry = t.codes[usize::from(symbol)];
        let len = entry & 0xFF;
        if len == 0 {
            return None;
        }
        self.put(out, (entry >> 8) << size | bits, len + size);
        Some(())
    }
}

impl BitWriter {
    pub fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            hand: Hand { bits: 0, count: 0 },
        }
    }

    /// The bits still in hand, their last byte padded with one bits as T.81 asks.
    pub fn finish(mut self) -> Vec<u8> {
        let Hand {
            mut bits,
            mut count,
        } = self.hand;
        let pad = (8 - count % 8) % 8;
        bits = (bits << pad) | ((1u64 << pad) - 1);
        count += pad;
        while count > 0 {
            count -= 8;
            let byte = (bits >> count) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
        self.out
    }

    /// Writes one block (its DC as the difference from `pred`, which it updates; of its AC
    /// coefficients, those `nonzero` says, as [`BitReader::block`] gives them). `None` when a table has no code
    /// for a symbol the block needs.
    #[inline(always)]
    pub fn block(
        &mut self,
        dc: &EncodeTable,
        ac: &EncodeTable,
        pred: &mut i32,
        block: &Block,
        nonzero: u64,
    ) -> Option<()> {
        let (mut hand, out) = (self.hand, &mut self.out);
        let value = i32::from(block[0]);
        let (size, bits) = category(value - *pred);
        *pred = value;
        hand.coded(out, dc, size as u8, bits, size)?;
        let (mut rest, mut last) = (nonzero & !1, 0u32);
        while rest != 0 {
            let k = rest.trailing_zeros();
            rest &= rest - 1;
            let mut run = k - last - 1;
            while run > 15 {
                hand.coded(out, ac, 0xF0, 0, 0)?;
                run -= 16;
            }
            let (size, bits) = category(i32::from(block[k as usize]));
            if size > 15 {
                return None;
            }
            hand.coded(out, ac, (run << 4 | size) as u8, bits, size)?;
            last = k;
        }
        if last < 63 {
            hand.coded(out, ac, 0x00, 0, 0)?;
        }
        self.hand = hand;
        Some(())
    }
}

/// A coefficient's size category and the bits that code it (T.81 F.1.2.1).
#[inline]
fn category(v: i32) -> (u32, u32) {
    let size = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { v - 1 } else { v } as u32;
    (size, bits & ((1u64 << size) - 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every coefficient where it was read.
    const AS_READ: Placement = {
        let mut p = [(0, 0); 64];
        let mut k = 0;
        while k < 64 {
            p[k] = (k as u8, 0);
            k += 1;
        }
        p
    };

    #[test]
    fn blocks_read_back_as_they_were_written() {
        let tables = |dc, ac| {
            (
                EncodeTable::new(dc).unwrap(),
                EncodeTable::new(ac).unwrap(),
                DecodeTable::new(dc).unwrap(),
                DecodeTable::new(ac).unwrap(),
            )
        };
        let (edc, eac, ddc, dac) = tables(DC_LUMA, AC_LUMA);
        let mut blocks = vec![[0i16; 64]; 5];
        blocks[0][0] = -1023;
        blocks[0][63] = 1;
        blocks[1][0] = 1023;
        blocks[1][1] = -1023;
        blocks[1][40] = 255;
        for (i, v) in blocks[2].iter_mut().enumerate() {
            *v = (i as i16 * 37 % 201) - 100;
        }
        blocks[3][20] = -1; // a run over 16 zeros
        blocks[4] = [0; 64];
        let mut w = BitWriter::new(0);
        let mut pred = 0;
        for b in &blocks {
            w.block(&edc, &eac, &mut pred, b, nonzero(b)).unwrap();
        }
        let data = w.finish();
        let mut r = BitReader::new(&data);
        let mut pred = 0;
        for b in &blocks {
            let mut out = [0; 64];
            let read = r.block(&ddc, &dac, &mut pred, &AS_READ, &mut out).unwrap();
            assert_eq!(&out, b);
            assert_eq!(read, nonzero(b));
        }
    }

    #[test]
    fn stuffed_bytes_and_restarts_read_back() {
        let (edc, eac, ddc, dac) = (
            EncodeTable::new(DC_CHROMA).unwrap(),
            EncodeTable::new(AC_CHROMA).unwrap(),
            DecodeTable::new(DC_CHROMA).unwrap(),
            DecodeTable::new(AC_CHROMA).unwrap(),
        );
        // Blocks of pseudo-random coefficients, in two restart intervals.
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as i16 % 300 - 150
        };
        let blocks: Vec<Block> = (0..400)
            .map(|_| {
                let mut b = [0i16; 64];
                for v in b.iter_mut().take(40) {
                    *v = next();
                }
                b
            })
            .collect();
        let mut data = Vec::new();
        for half in blocks.chunks(200) {
            let mut w = BitWriter::new(0);
            let mut pred = 0;
            for b in half {
                w.block(&edc, &eac, &mut pred, b, nonzero(b)).unwrap();
            }
            data.extend_from_slice(&w.finish());
            data.extend_from_slice(&[0xFF, 0xD0]);
        }
        assert!(data.windows(2).any(|w| w == [0xFF, 0x00]), "stuffed bytes");
        let mut r = BitReader::new(&data);
        for (i, half) in blocks.chunks(200).enumerate() {
            if i > 0 {
                assert!(r.restart());
            }
            let mut pred = 0;
            for b in half {
                let mut out = [0; 64];
                let read = r.block(&ddc, &dac, &mut pred, &AS_READ, &mut out).unwrap();
                assert_eq!(&out, b);
                assert_eq!(read, nonzero(b));
            }
        }
    }

    #[test]
    fn a_short_code_for_a_long_value_reads_back() {
        // A file's own AC table: a 1-bit code for run 0 and 8 bits of value (whole in the
        // nine bits looked up at once, but a value past what the one-lookup table holds).
        let spec = TableSpec {
            counts: &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            values: &[0x08, 0x00],
        };
        let (edc, eac) = (
            EncodeTable::new(DC_LUMA).unwrap(),
            EncodeTable::new(spec).unwrap(),
        );
        let (ddc, dac) = (
            DecodeTable::new(DC_LUMA).unwrap(),
            DecodeTable::new(spec).unwrap(),
        );
        let mut block = [0i16; 64];
        block[1..5].copy_from_slice(&[200, -200, 128, -128]);
        let mut w = BitWriter::new(0);
        w.block(&edc, &eac, &mut 0, &block, nonzero(&block))
            .unwrap();
        let data = w.finish();
        let mut out = [0; 64];
        BitReader::new(&data)
            .block(&ddc, &dac, &mut 0, &AS_READ, &mut out)
            .unwrap();
        assert_eq!(out, block);
    }

    #[test]
    fn a_block_without_a_code_is_refused() {
        let (edc, eac) = (
            EncodeTable::new(DC_LUMA).unwrap(),
            EncodeTable::new(AC_LUMA).unwrap(),
        );
        let mut block = [0i16; 64];
        block[0] = 4096; // size 13: no baseline DC code
        assert!(
            BitWriter::new(0)
                .block(&edc, &eac, &mut 0, &block, nonzero(&block))
                .is_none()
        );
    }

    #[test]
    fn tables_that_are_not_prefix_codes_are_refused() {
        let too_many = [3u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(
            DecodeTable::new(TableSpec {
                counts: &too_many,
                values: &[0, 1, 2]
            })
            .is_none()
        );
        assert!(
            DecodeTable::new(TableSpec {
                counts: &DC_LUMA.counts.clone(),
                values: &[0]
            })
            .is_none()
        );
    }
}
