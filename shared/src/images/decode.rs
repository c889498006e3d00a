//! Pixels from an upload, within explicit limits, upright.
//!
//! The decoder reads the header first and refuses an image whose sides or pixel count pass
//! the limits before it allocates anything for the pixels (a 30 KB PNG may claim 100,000 x
//! 100,000 pixels: 30 GB decoded). The EXIF orientation is applied to the pixels, since
//! nothing of the file's metadata is kept.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, metadata::Orientation};

use super::ImageRefused;
use super::sniff::Kind;

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 10_000;
/// Most pixels accepted (40 megapixels: a phone's photo is 12 to 48 of them).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Most bytes the decoder may hold at once (the pixels of 40 MP in RGB, with room for the
/// decoder's own buffers).
pub const MAX_DECODE_BYTES: u64 = 192 * 1024 * 1024;

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_DECODE_BYTES);
    l
}

/// Why a decoder failed, as an upload's refusal.
fn refused(e: ImageError) -> ImageRefused {
    match e {
        ImageError::Limits(_) => ImageRefused::TooLarge {
            width: None,
            height: None,
        },
        ImageError::Unsupported(u) => ImageRefused::Corrupt(format!("unsupported: {u}")),
        other => ImageRefused::Corrupt(other.to_string()),
    }
}

/// Whether a JPEG's image is whole: its end marker (EOI) comes after its first scan. The JPEG
/// decoder fills a cut-off scan with grey rather than failing, and a photo half grey must not
/// become a product's image. The segments before the scan are skipped by their lengths, so a
/// thumbnail inside the EXIF segment (with its own scan and end) does not count.
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            // A stray byte between segments: decoders skip to the next marker, so do we.
            i += 1;
            continue;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            // Fill bytes before a marker.
            i += 1;
            continue;
        }
        if marker == 0xDA {
            return bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        let length = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        i += 2 + length;
    }
    false
}

/// The image `bytes` hold (they are a `kind`, sniffed), upright, as decoded.
pub fn decode(bytes: &[u8], kind: Kind) -> Result<DynamicImage, ImageRefused> {
    if kind == Kind::Jpeg && !jpeg_is_whole(bytes) {
        return Err(ImageRefused::Corrupt(
            "the JPEG ends before its image does (the file is cut off)".into(),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ImageRefused::TooLarge {
            width: Some(width),
            height: Some(height),
        });
    }
    // An orientation tag that does not parse is no orientation (the pixels are still good).
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    image.apply_orientation(orientation);
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::jpeg_is_whole;

    #[test]
    fn a_jpeg_is_whole_when_its_end_follows_its_scan() {
        // SOI, an APP0 of 4 bytes, a stray byte, SOS, scan data, EOI.
        let whole = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0x12,
            0x34, 0xFF, 0xD9,
        ];
        assert!(jpeg_is_whole(&whole));
        assert!(
            !jpeg_is_whole(&whole[..whole.len() - 2]),
            "cut off before its end"
        );
        // An end marker inside a segment before the scan (an EXIF thumbnail's) does not count.
        let thumb_only = [
            0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02,
            0x12, 0x34,
        ];
        assert!(!jpeg_is_whole(&thumb_only));
    }
}
