//! What is kept of an image: the original, upright and without metadata, and two renditions
//! that fit 640 x 640 (`medium`) and 160 x 160 (`thumbnail`), never enlarged.
//!
//! Resampling is Lanczos3 (fast_image_resize: SIMD, and the alpha channel premultiplied so
//! transparent edges do not darken). An opaque image is stored as JPEG (an original encoded
//! again at quality 90, renditions at 80; 4:2:0 chroma averaged, the standard Huffman tables);
//! one with transparency as PNG, lossless. The colour profile, when the upload had one, goes
//! with every image. Encoders are deterministic, so the same upload gives the same bytes (and
//! the same SHA-256).

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageEncoder};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, SamplingFactor};

use super::ImageRefused;

/// The JPEG quality of the kept original.
pub const ORIGINAL_QUALITY: u8 = 90;
/// The JPEG quality of the renditions.
pub const RENDITION_QUALITY: u8 = 80;
/// The box `medium` fits in.
pub const MEDIUM_SIDE: u32 = 640;
/// The box `thumbnail` fits in.
pub const THUMBNAIL_SIDE: u32 = 160;

/// How a kept image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
}

impl Encoding {
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Jpeg => "jpg",
            Encoding::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Jpeg => "image/jpeg",
            Encoding::Png => "image/png",
        }
    }
}

/// An encoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub encoding: Encoding,
    pub width: u32,
    pub height: u32,
}

/// `image` in 8 bits a channel: RGBA when some pixel is not opaque, else RGB.
pub fn normalised(image: DynamicImage) -> DynamicImage {
    if image.color().has_alpha() {
        let rgba = image.into_rgba8();
        if rgba.pixels().any(|p| p[3] < u8::MAX) {
            return DynamicImage::ImageRgba8(rgba);
        }
        return DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8());
    }
    match image {
        DynamicImage::ImageRgb8(_) => image,
        other => DynamicImage::ImageRgb8(other.into_rgb8()),
    }
}

/// The size of `(width, height)` fitted in a `side` x `side` box (never larger, at least 1).
pub fn fitted(width: u32, height: u32, side: u32) -> (u32, u32) {
    if width <= side && height <= side {
        return (width, height);
    }
    let scale = f64::from(side) / f64::from(width.max(height));
    let w = ((f64::from(width) * scale).round() as u32).clamp(1, side);
    let h = ((f64::from(height) * scale).round() as u32).clamp(1, side);
    (w, h)
}

/// `image` (normalised) fitted in a `side` box.
pub fn shrunk(image: &DynamicImage, side: u32) -> Result<DynamicImage, ImageRefused> {
    let (w, h) = fitted(image.width(), image.height(), side);
    if (w, h) == (image.width(), image.height()) {
        return Ok(image.clone());
    }
    let mut out = DynamicImage::new(w, h, image.color());
    Resizer::new()
        .resize(
            image,
            &mut out,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        )
        .map_err(|e| ImageRefused::Corrupt(format!("resize: {e}")))?;
    Ok(out)
}

/// `image` (normalised) encoded as its pixels allow, JPEG at `quality` when opaque, with the
/// colour profile `icc`.
pub fn encoded(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Encoded, ImageRefused> {
    let mut bytes = Vec::new();
    let (width, height) = (image.width(), image.height());
    let encoding = if image.color().has_alpha() {
        let mut png = PngEncoder::new(&mut bytes);
        if let Some(icc) = icc {
            // A profile the encoder cannot take is left out (the pixels are what matter).
            let _ = png.set_icc_profile(icc.to_vec());
        }
        png.write_image(image.as_bytes(), width, height, image.color().into())
            .map_err(|e| ImageRefused::Corrupt(format!("png encode: {e}")))?;
        Encoding::Png
    } else {
        let failed =
            |e: jpeg_encoder::EncodingError| ImageRefused::Corrupt(format!("jpeg encode: {e}"));
        let mut jpeg = jpeg_encoder::Encoder::new(&mut bytes, quality);
        jpeg.set_sampling_factor(SamplingFactor::F_2_2);
        jpeg.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
        // Standard Huffman tables: jpeg-encoder 0.7's optimised ones decode wrongly in
        // zune-jpeg (a solid cyan came back green), and the few percent they save are not
        // worth an image some viewer shows in the wrong colours.
        if let Some(icc) = icc {
            jpeg.add_icc_profile(icc).map_err(failed)?;
        }
        // Sides are at most MAX_SIDE (10,000), within the format's 65,535.
        let side = |n: u32| {
            u16::try_from(n).map_err(|_| ImageRefused::TooLarge {
                width: Some(width),
                height: Some(height),
            })
        };
        jpeg.encode(
            image.as_bytes(),
            side(width)?,
            side(height)?,
            ColorType::Rgb,
        )
        .map_err(failed)?;
        Encoding::Jpeg
    };
    Ok(Encoded {
        bytes,
        encoding,
        width,
        height,
    })
}
