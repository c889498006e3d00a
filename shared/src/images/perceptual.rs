//! A perceptual hash: 64 bits that stay nearly the same when an image is resized,
//! recompressed or slightly cropped, so that a copy of an image already on another product is
//! found although its bytes (and SHA-256) differ.
//!
//! It is a difference hash (dHash): the image in grey, shrunk to 9 x 8, and for each row
//! whether each pixel is darker than the one to its right. Two images are near duplicates when
//! their hashes differ in at most [`NEAR_DUPLICATE_BITS`] bits.

use image::{DynamicImage, imageops::FilterType};

/// Hashes this many bits apart or fewer are near duplicates: 10 of 64. Measured by `make
/// bench-images` on 13 photographs (12 MP) and five copies of each: half size, quality 60,
/// a web copy 800 px wide and 10% brighter stay within 0 to 3 bits of the photo, a crop of 3%
/// a side within 8 (median 3); the 78 pairs of different photos are 16 to 30+ bits apart
/// (median 30). 10 finds every copy with 2 bits to spare and stays 6 bits short of the
/// closest different photos. A mirrored picture is far beyond (the unit tests).
pub const NEAR_DUPLICATE_BITS: u32 = 10;

/// A 64-bit difference hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perceptual(pub u64);

impl Perceptual {
    /// The hash of `image` (any size; a thumbnail gives the same hash as the full image, near
    /// enough).
    pub fn of(image: &DynamicImage) -> Self {
        let grey = image.to_luma8();
        let small = image::imageops::resize(&grey, 9, 8, FilterType::Triangle);
        let mut bits = 0u64;
        for y in 0..8 {
            for x in 0..8 {
                let (left, right) = (small.get_pixel(x, y)[0], small.get_pixel(x + 1, y)[0]);
                bits = (bits << 1) | u64::from(left < right);
            }
        }
        Perceptual(bits)
    }

    /// How many bits differ.
    pub fn distance(self, other: Perceptual) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    pub fn is_near(self, other: Perceptual) -> bool {
        self.distance(other) <= NEAR_DUPLICATE_BITS
    }

    /// The hash's four 16-bit quarters, each named by its place (`"0:ab12"`): two hashes at
    /// most 3 bits apart share one (four quarters, three differing bits), so an index of
    /// quarters finds near copies without comparing against every image.
    pub fn quarters(self) -> [String; 4] {
        std::array::from_fn(|i| format!("{i}:{:04x}", (self.0 >> (48 - 16 * i)) & 0xFFFF))
    }

    /// 16 hex digits.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    pub fn parse(hex: &str) -> Option<Self> {
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
            .map(Perceptual)
    }
}
