//! Lossless turns of JPEG photos: a baseline JPEG stored sideways (a phone held upright, its
//! EXIF orientation saying so) made upright without decoding its pixels, as jpegtran does.
//! Its quantized DCT blocks are read, each moved to its upright place and transposed or
//! mirrored in the frequency domain, and coded again with the standard Huffman tables: no
//! inverse DCT, no rounding, no generation loss.
//!
//! A crate of its own for one reason: it is a hot loop (a 12 MP photo is 280,000 blocks), and
//! the Lambda functions are built for size (`opt-level = "s"`); the workspace builds this crate
//! at `opt-level = 3`, as it does the image codecs. Its one dependency is memchr.
//!
//! The coefficients it reads are given to the caller too ([`Upright::planes`]), and an
//! upright photo's can be read alone ([`coefficients`]): a decoder scaled in the DCT makes a
//! photo's renditions from them without an entropy decoder of its own (catalog-core's is
//! jpeg-decoder, about half as fast on baseline scans).
//!
//! `entropy` owns the coefficient-level Huffman coding, `turn` the file and the moves.

mod entropy;
mod turn;

pub use turn::{Coefficients, Plane, Upright, coefficients, upright};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;
const DRI: u8 = 0xDD;
const DHT: u8 = 0xC4;

/// Where the entropy-coded data that starts at `from` ends: the first marker that is not a
/// stuffed byte or a restart (`bytes.len()` when there is none: the file is cut off).
pub fn scan_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(found) = memchr::memchr(0xFF, bytes.get(at..).unwrap_or_default()) {
        let ff = at + found;
        match bytes.get(ff + 1) {
            None => return bytes.len(),
            Some(0x00 | 0xD0..=0xD7) => at = ff + 2,
            // Fill bytes before a marker: the marker is the last of them.
            Some(0xFF) => at = ff + 1,
            Some(_) => return ff,
        }
    }
    bytes.len()
}
