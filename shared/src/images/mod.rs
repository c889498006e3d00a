//! Product images: what an uploaded file becomes. Owns the rules an upload must pass (its
//! real format sniffed from its bytes; its size checked from its header, under explicit
//! decoder limits, before the pixels are allocated) and what is kept of it: the original
//! upright and without any metadata (no EXIF, so no GPS position), a `medium` and a
//! `thumbnail` rendition, its SHA-256 (the content address of all three) and a perceptual
//! hash (near duplicates). Pure: no storage, no network; the images service stores the result.
//!
//! An upright JPEG (most photos) is kept as it came, bit for bit, without its metadata
//! segments ([`jpeg`]); a turned baseline one has its DCT blocks moved upright, losslessly; a
//! progressive turned one, a PNG or a WebP is encoded again. `make bench-images`
//! measures the pipeline on 12 MP photos against Pillow.

mod decode;
mod icc;
mod jpeg;
mod orient;
mod perceptual;
mod render;
mod sniff;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use decode::{MAX_DECODE_BYTES, MAX_PIXELS, MAX_SIDE};
pub use perceptual::{NEAR_DUPLICATE_BITS, Perceptual};
pub use render::{
    Encoded, Encoding, MEDIUM_SIDE, ORIGINAL_QUALITY, RENDITION_QUALITY, THUMBNAIL_SIDE,
};
pub use sniff::{Kind, sniff};

/// Largest upload accepted, in bytes (the presigned PUT is bound to the exact length).
pub const MAX_UPLOAD_BYTES: u64 = 15 * 1024 * 1024;

/// Why an upload is not kept. Each has a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefused {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a JPEG, PNG or WebP image (it looks like: {found})")]
    Unsupported { found: &'static str },
    #[error(
        "the image is too large: at most {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all{}",
        match (width, height) { (Some(w), Some(h)) => format!(" (this one is {w} x {h})"), _ => String::new() }
    )]
    TooLarge {
        width: Option<u32>,
        height: Option<u32>,
    },
    #[error("the image cannot be read: {0}")]
    Corrupt(String),
}

impl ImageRefused {
    pub fn code(&self) -> &'static str {
        match self {
            ImageRefused::Empty => "image_empty",
            ImageRefused::Unsupported { .. } => "image_unsupported_format",
            ImageRefused::TooLarge { .. } => "image_too_large",
            ImageRefused::Corrupt(_) => "image_corrupt",
        }
    }
}

/// The three images kept of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    Original,
    Medium,
    Thumbnail,
}

impl Rendition {
    pub const ALL: [Rendition; 3] = [Rendition::Original, Rendition::Medium, Rendition::Thumbnail];

    pub fn as_str(self) -> &'static str {
        match self {
            Rendition::Original => "original",
            Rendition::Medium => "medium",
            Rendition::Thumbnail => "thumbnail",
        }
    }
}

/// What an upload became.
#[derive(Debug, Clone)]
pub struct Processed {
    /// SHA-256 (hex) of the kept original's bytes: the content address of all three.
    pub hash: String,
    pub perceptual: Perceptual,
    /// The original is the upload itself without its metadata (a JPEG, its blocks moved
    /// upright if it was turned), not an encoding of its pixels.
    pub original_kept: bool,
    pub original: Encoded,
    pub medium: Encoded,
    pub thumbnail: Encoded,
}

impl Processed {
    pub fn rendition(&self, r: Rendition) -> &Encoded {
        match r {
            Rendition::Original => &self.original,
            Rendition::Medium => &self.medium,
            Rendition::Thumbnail => &self.thumbnail,
        }
    }

    /// Where rendition `r` is stored: `images/sha256/<hash>/<rendition>.<ext>` (the same image
    /// uploaded twice is stored once).
    pub fn key(&self, r: Rendition) -> String {
        key(&self.hash, r, self.rendition(r).encoding)
    }
}

/// The storage key of rendition `r` of the image whose hash is `hash`.
pub fn key(hash: &str, r: Rendition, encoding: Encoding) -> String {
    format!(
        "images/sha256/{hash}/{}.{}",
        r.as_str(),
        encoding.extension()
    )
}

/// Sniffs, decodes (within the limits), turns upright, strips and renders an upload.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRefused> {
    let kind = sniff(bytes)?;
    let decoded = decode::decode(bytes, kind)?;
    let icc = decoded.icc.as_deref();
    let image = decoded.pixels;
    let original_kept = decoded.kept.is_some();
    let original = match decoded.kept {
        Some(kept) => kept,
        None => render::encoded(&image, ORIGINAL_QUALITY, icc)?,
    };
    let medium_image = render::shrunk(&image, MEDIUM_SIDE)?;
    drop(image);
    let thumbnail_image = render::shrunk(&medium_image, THUMBNAIL_SIDE)?;
    let perceptual = Perceptual::of(&medium_image);
    let medium = render::encoded(&medium_image, RENDITION_QUALITY, icc)?;
    let thumbnail = render::encoded(&thumbnail_image, RENDITION_QUALITY, icc)?;
    let hash = hex(&Sha256::digest(&original.bytes));
    Ok(Processed {
        hash,
        perceptual,
        original_kept,
        original,
        medium,
        thumbnail,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
