//! Pixels from an upload, within explicit limits, upright.
//!
//! Every decoder reads the header first, and an image whose sides or pixel count pass the
//! limits is refused before anything is allocated for its pixels (a 30 KB PNG may claim
//! 100,000 x 100,000 pixels: 30 GB decoded). The EXIF orientation is applied to the pixels,
//! since nothing of the file's metadata is kept. An upright JPEG is the exception that makes
//! the common case fast: its file without metadata is kept as the original, and only the
//! quarter (or so) of its pixels the renditions need is decoded (see [`super::jpeg`]).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits, metadata::Orientation};

use super::ImageRefused;
use super::icc;
use super::jpeg::Jpeg;
use super::orient::upright;
use super::render::{Encoded, Encoding, MEDIUM_SIDE, normalised};
use super::sniff::Kind;

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 10_000;
/// Most pixels accepted (40 megapixels: a phone's photo is 12 to 48 of them).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Most bytes the image crate's decoders (PNG, WebP) may allocate, and jpeg-decoder's limit
/// on its output (the pixels of 40 MP in RGB, with room). jpeg-decoder checks it after its
/// coefficient buffers are allocated: a 40 MP progressive 4:4:4 JPEG peaks near 500 MB in all,
/// which the size limits above bound and the function's 1,769 MB holds.
pub const MAX_DECODE_BYTES: u64 = 192 * 1024 * 1024;

/// What an upload gave.
pub struct Decoded {
    /// Upright pixels, normalised: the whole image, or, when `kept` is some, the image scaled down to no
    /// less than the `medium` rendition needs.
    pub pixels: DynamicImage,
    /// The original to keep as it is (a JPEG without its metadata, turned upright in the DCT
    /// if it was turned); none when the original is `pixels` encoded again.
    pub kept: Option<Encoded>,
    /// The colour profile for the images encoded from `pixels` (RGB): the upload's, when it
    /// is a whole RGB one.
    pub icc: Option<Vec<u8>>,
}

/// Refuses an image whose sides or pixel count pass the limits.
pub fn check_size(width: u32, height: u32) -> Result<(), ImageRefused> {
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageRefused::TooLarge {
            width: Some(width),
            height: Some(height),
        });
    }
    Ok(())
}

/// The upload `bytes` (they are a `kind`, sniffed), upright.
pub fn decode(bytes: &[u8], kind: Kind) -> Result<Decoded, ImageRefused> {
    match kind {
        Kind::Jpeg => jpeg(bytes),
        Kind::Png | Kind::WebP => other(bytes, kind),
    }
}

fn jpeg(bytes: &[u8]) -> Result<Decoded, ImageRefused> {
    let mut jpeg = Jpeg::read(bytes)?;
    let icc = jpeg.icc.take().filter(|p| icc::fits_rgb(p));
    if jpeg.keeps_as_it_is() {
        let pixels = normalised(jpeg.pixels(Some(MEDIUM_SIDE))?);
        return Ok(Decoded {
            pixels,
            kept: Some(Encoded {
                encoding: Encoding::Jpeg,
                width: jpeg.width,
                height: jpeg.height,
                bytes: jpeg.stripped,
            }),
            icc,
        });
    }
    if let Some(turned) = jpeg.upright_losslessly() {
        // Its renditions from the upright photo scaled in the DCT, as an upright photo's.
        // (A file this module wrote that its decoder cannot read would be a bug: the pixels
        // are then taken the long way, below.)
        if let Ok(pixels) = jpeg.upright_pixels(&turned, MEDIUM_SIDE) {
            return Ok(Decoded {
                pixels: normalised(pixels),
                kept: Some(Encoded {
                    encoding: Encoding::Jpeg,
                    width: turned.width,
                    height: turned.height,
                    bytes: turned.bytes,
                }),
                icc,
            });
        }
    }
    let pixels = normalised(jpeg.pixels(None)?);
    Ok(Decoded {
        pixels: upright(pixels, jpeg.orientation),
        kept: None,
        icc,
    })
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(MAX_DECODE_BYTES);
    l
}

/// Why the image crate's decoder failed, as an upload's refusal.
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

/// PNG and WebP (the first frame of an animation) through the image crate.
fn other(bytes: &[u8], kind: Kind) -> Result<Decoded, ImageRefused> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    if width == 0 || height == 0 {
        return Err(ImageRefused::Corrupt("the image has no pixels".into()));
    }
    // An orientation tag that does not parse is no orientation (the pixels are still good).
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder
        .icc_profile()
        .ok()
        .flatten()
        .filter(|p| icc::fits_rgb(p));
    let pixels = normalised(DynamicImage::from_decoder(decoder).map_err(refused)?);
    Ok(Decoded {
        pixels: upright(pixels, orientation),
        kept: None,
        icc,
    })
}
