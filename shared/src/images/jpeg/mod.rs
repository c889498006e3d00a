//! JPEG uploads, read segment by segment before any pixel is decoded: the frame (size,
//! components, coding), the EXIF orientation, the colour profile, whether the image is whole,
//! and the file again without its metadata. That last one is the same compressed image bit
//! for bit, so an upright photo's original is kept as it came, with nothing of its metadata:
//! no generation loss, and no 12 MP decode and encode to pay for it.
//!
//! A turned photo is made upright the same way, without its pixels: its DCT blocks are moved
//! (the `jpeg-turn` crate), as jpegtran does.
//!
//! Pixels are scaled in the DCT when only the renditions need them (a quarter of a 12 MP
//! photo's pixels give its 640 px `medium`, as libjpeg's draft mode does): a baseline photo's
//! from its coefficients (`scaled`: a turned one's are those its turn has read), any other's
//! from jpeg-decoder, which also gives the whole pixels when they are needed.

mod scaled;

use jpeg_turn::{Plane, Upright, scan_end};

use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, Luma, Rgb};

use super::ImageRefused;
use super::decode::{MAX_DECODE_BYTES, check_size};
use super::icc;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;
const DNL: u8 = 0xDC;
const DRI: u8 = 0xDD;
const DHT: u8 = 0xC4;
const JPG: u8 = 0xC8;
const DAC: u8 = 0xCC;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

/// A JPEG upload, read.
#[derive(Debug, Clone)]
pub struct Jpeg {
    pub width: u32,
    pub height: u32,
    /// The file without its metadata: EXIF (and its GPS position and thumbnail), XMP, IPTC,
    /// comments, JFIF thumbnails, other images after it (MPF), anything after its end.
    pub stripped: Vec<u8>,
    pub orientation: Orientation,
    /// The ICC colour profile, when it has a whole one ([`icc::assembled`]). Kept in the file:
    /// it says how the colours read, not who took the photo or where.
    pub icc: Option<Vec<u8>>,
    components: u8,
    /// Baseline, extended or progressive Huffman coding at 8 bits: what every viewer shows.
    common_coding: bool,
    /// The colour transform Adobe's segment names (0: none, RGB or CMYK; 1: YCbCr; 2: YCCK).
    adobe_transform: Option<u8>,
}

fn cut_off() -> ImageRefused {
    ImageRefused::Corrupt("the JPEG ends before its image does (the file is cut off)".into())
}

fn corrupt(why: &str) -> ImageRefused {
    ImageRefused::Corrupt(why.into())
}

impl Jpeg {
    /// Reads `bytes` (sniffed as JPEG): refuses a cut-off file, one without an image, and one
    /// past the size limits (from its frame header, before anything is decoded).
    pub fn read(bytes: &[u8]) -> Result<Jpeg, ImageRefused> {
        // What is kept after SOI and the fresh APP segments: tables, frame, scans.
        let mut kept = Vec::with_capacity(bytes.len());
        let (mut jfif, mut avi1, mut adobe) = (false, false, None::<[u8; 12]>);
        let mut orientation = Orientation::NoTransforms;
        let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
        let mut frame: Option<(u32, u32, u8, bool)> = None;
        let mut scans = 0usize;
        let mut at = 2;
        loop {
            // The next marker; stray bytes between segments are skipped, as decoders do.
            let ff = memchr::memchr(0xFF, &bytes[at.min(bytes.len())..]).ok_or_else(cut_off)?;
            at += ff;
            while bytes.get(at) == Some(&0xFF) {
                at += 1;
            }
            let marker = *bytes.get(at).ok_or_else(cut_off)?;
            at += 1;
            match marker {
                EOI => break,
                // No segment: a stuffed zero or a restart outside a scan, TEM, a second SOI.
                0x00 | 0x01 | 0xD0..=0xD7 | SOI => continue,
                _ => {}
            }
            let length = bytes
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(cut_off)?;
            if length < 2 {
                return Err(corrupt("a JPEG segment has an impossible length"));
            }
            let segment = bytes.get(at - 2..at + length).ok_or_else(cut_off)?;
            let payload = &segment[4..];
            at += length;
            match marker {
                // Written again below without their extras (density, thumbnails).
                APP0 if payload.starts_with(b"JFIF\0") => jfif = true,
                APP0 if payload.starts_with(b"AVI1") => avi1 = true,
                APP1 => {
                    if let Some(tiff) = payload.strip_prefix(b"Exif\0\0") {
                        // An orientation that does not parse is none (the pixels are still good).
                        if let Some(o) = Orientation::from_exif_chunk(tiff) {
                            orientation = o;
                        }
                    }
                }
                APP2 => {
                    if let Some([sequence, count, chunk @ ..]) =
                        payload.strip_prefix(b"ICC_PROFILE\0")
                    {
                        icc_chunks.push((*sequence, *count, chunk));
                    }
                }
                // Adobe's segment says how the colours are coded (a decoder needs its first 12
                // bytes; nothing after them is kept).
                APP14 => {
                    if let Some(head) = payload.get(..12).filter(|h| h.starts_with(b"Adobe")) {
                        adobe = head.try_into().ok();
                    }
                }
                // Metadata: EXIF, XMP, IPTC, MPF, comments...
                0xE0..=0xEF | COM => {}
                DHT | DAC | DQT | DRI | DNL => kept.extend_from_slice(segment),
                0xC0..=0xCF if marker != JPG => {
                    let [precision, h1, h0, w1, w0, components, ..] = *payload else {
                        return Err(corrupt("the JPEG's frame header is too short"));
                    };
                    let (width, height) = (
                        u32::from(u16::from_be_bytes([w1, w0])),
                        u32::from(u16::from_be_bytes([h1, h0])),
                    );
                    if width == 0 || height == 0 {
                        return Err(corrupt("the JPEG's frame has no pixels"));
                    }
                    if !matches!(components, 1 | 3 | 4) {
                        return Err(corrupt(
                            "the JPEG has a number of colour components no viewer reads",
                        ));
                    }
                    check_size(width, height)?;
                    let common = matches!(marker, 0xC0..=0xC2) && precision == 8;
                    frame = Some((width, height, components, common));
                    kept.extend_from_slice(segment);
                }
                SOS => {
                    if frame.is_none() {
                        return Err(corrupt("the JPEG's image comes before its frame header"));
                    }
                    kept.extend_from_slice(segment);
                    let end = scan_end(bytes, at);
                    kept.extend_from_slice(&bytes[at..end]);
                    at = end;
                    scans += 1;
                }
                // Reserved and extension markers: nothing a viewer reads.
                _ => {}
            }
        }
        let Some((width, height, components, common_coding)) = frame else {
            return Err(corrupt("the JPEG has no image"));
        };
        if scans == 0 {
            return Err(corrupt("the JPEG has no image"));
        }
        let icc = icc::assembled(&icc_chunks);
        let mut stripped = Vec::with_capacity(kept.len() + 64);
        stripped.extend_from_slice(&[0xFF, SOI]);
        if jfif {
            // JFIF 1.01, no units, 1:1, no thumbnail: it says the colours are YCbCr.
            stripped.extend_from_slice(&[0xFF, APP0, 0, 16]);
            stripped.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        }
        if avi1 {
            // A motion-JPEG frame: decoders take the standard Huffman tables it leaves out.
            stripped.extend_from_slice(&[0xFF, APP0, 0, 6]);
            stripped.extend_from_slice(b"AVI1");
        }
        if let Some(p) = &icc {
            // At most 65,519 bytes a chunk; [`icc::MAX_PROFILE_BYTES`] makes 17 of them.
            let parts: Vec<&[u8]> = p.chunks(65_519).collect();
            for (i, part) in parts.iter().enumerate() {
                stripped.extend_from_slice(&[0xFF, APP2]);
                stripped.extend_from_slice(&((part.len() + 16) as u16).to_be_bytes());
                stripped.extend_from_slice(b"ICC_PROFILE\0");
                stripped.extend_from_slice(&[(i + 1) as u8, parts.len() as u8]);
                stripped.extend_from_slice(part);
            }
        }
        if let Some(head) = adobe {
            stripped.extend_from_slice(&[0xFF, APP14, 0, 14]);
            stripped.extend_from_slice(&head);
        }
        stripped.extend_from_slice(&kept);
        stripped.extend_from_slice(&[0xFF, EOI]);
        Ok(Jpeg {
            width,
            height,
            stripped,
            orientation,
            icc,
            components,
            common_coding,
            adobe_transform: adobe.map(|head| head[11]),
        })
    }

    /// Whether the file without its metadata can be the kept original as it is: upright,
    /// grey or YCbCr, coded as every viewer reads (baseline, extended or progressive Huffman
    /// at 8 bits). A turned photo, CMYK or lossless JPEG is decoded whole and encoded again;
    /// 12 bits and arithmetic coding the decoder refuses (`image_corrupt`).
    pub fn keeps_as_it_is(&self) -> bool {
        self.orientation == Orientation::NoTransforms
            && self.common_coding
            && matches!(self.components, 1 | 3)
    }

    /// A turned photo made upright without decoding it (`jpeg_turn`): the kept original, lossless.
    /// `None` when the file is not one baseline scan of grey or YCbCr, or when the turn would
    /// trim more than 1% off a side (a mirrored side loses its partial MCU, 15 pixels at most:
    /// nothing to a photo, too much of a small image, whose pixels are encoded again instead).
    pub fn upright_losslessly(&self) -> Option<Upright> {
        if self.orientation == Orientation::NoTransforms
            || !self.common_coding
            || !matches!(self.components, 1 | 3)
        {
            return None;
        }
        let turned =
            jpeg_turn::upright(&self.stripped, self.orientation.to_exif(), MAX_DECODE_BYTES)?;
        let quarter = matches!(
            self.orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        );
        let (width, height) = if quarter {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        };
        let cut_x = u64::from(width.checked_sub(turned.width)?);
        let cut_y = u64::from(height.checked_sub(turned.height)?);
        let small_trim = cut_x * 100 <= u64::from(width) && cut_y * 100 <= u64::from(height);
        small_trim.then_some(turned)
    }

    /// The pixels of `turned` (this photo made upright) scaled to fit `fit`: from its
    /// coefficients when a scale of 1/8 or 1/4 fits, else decoded from its bytes.
    pub fn upright_pixels(&self, turned: &Upright, fit: u32) -> Result<DynamicImage, ImageRefused> {
        let (w, h) = (turned.width, turned.height);
        match scaled::pixels(w, h, &turned.planes, fit, self.ycbcr(&turned.planes)) {
            Some(pixels) => Ok(pixels),
            None => pixels_of(&turned.bytes, Some(fit)),
        }
    }

    /// The pixels as stored (not turned): whole, or scaled to fit `fit` (see [`pixels_of`]).
    /// A baseline photo scaled by 1/8 or 1/4 has them made from its coefficients (read by
    /// jpeg-turn's decoder: twice as fast as jpeg-decoder's), any other by jpeg-decoder.
    pub fn pixels(&self, fit: Option<u32>) -> Result<DynamicImage, ImageRefused> {
        if let Some(fit) = fit
            && scaled::scale(self.width, self.height, fit).is_some()
            && matches!(self.adobe_transform, None | Some(1))
            && let Some(c) = jpeg_turn::coefficients(&self.stripped, MAX_DECODE_BYTES)
            && let Some(pixels) =
                scaled::pixels(c.width, c.height, &c.planes, fit, self.ycbcr(&c.planes))
        {
            return Ok(pixels);
        }
        pixels_of(&self.stripped, fit)
    }

    /// Whether three components are YCbCr: unless their ids or Adobe's segment say otherwise
    /// (as jpeg-decoder reads them; anything unusual is left to it).
    fn ycbcr(&self, planes: &[Plane]) -> bool {
        let ids: Vec<u8> = planes.iter().map(|p| p.id).collect();
        !matches!(ids[..], [82, 71, 66] | [114, 103, 98] | [1, 34, 35])
            && matches!(self.adobe_transform, None | Some(1))
    }
}

/// The pixels of the JPEG `bytes`: whole, or with `fit` scaled in the DCT by the smallest of
/// 1/8, 1/4, 1/2 that keeps the long side at least `fit` (a smaller image is decoded whole).
pub fn pixels_of(bytes: &[u8], fit: Option<u32>) -> Result<DynamicImage, ImageRefused> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(MAX_DECODE_BYTES as usize);
    decoder.read_info().map_err(refused)?;
    if let Some(side) = fit {
        let side = u16::try_from(side).unwrap_or(u16::MAX);
        decoder.scale(side, side).map_err(refused)?;
    }
    let data = decoder.decode().map_err(refused)?;
    let info = decoder
        .info()
        .ok_or_else(|| corrupt("the JPEG has no frame"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    use jpeg_decoder::PixelFormat;
    let image = match info.pixel_format {
        PixelFormat::L8 => {
            ImageBuffer::<Luma<u8>, _>::from_raw(w, h, data).map(DynamicImage::ImageLuma8)
        }
        PixelFormat::L16 => {
            let deep = data
                .chunks_exact(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]))
                .collect();
            ImageBuffer::<Luma<u16>, _>::from_raw(w, h, deep).map(DynamicImage::ImageLuma16)
        }
        PixelFormat::RGB24 => {
            ImageBuffer::<Rgb<u8>, _>::from_raw(w, h, data).map(DynamicImage::ImageRgb8)
        }
        PixelFormat::CMYK32 => ImageBuffer::<Rgb<u8>, _>::from_raw(w, h, cmyk_to_rgb(&data))
            .map(DynamicImage::ImageRgb8),
    };
    image.ok_or_else(|| corrupt("the JPEG decoder gave fewer pixels than the image has"))
}

/// CMYK (as jpeg-decoder gives it: 0 is no ink) to RGB, naively (no colour profile).
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = 255 - u16::from(p[3]);
        for ink in &p[..3] {
            rgb.push(((255 - u16::from(*ink)) * k / 255) as u8);
        }
    }
    rgb
}

/// Why jpeg-decoder failed, as an upload's refusal.
fn refused(e: jpeg_decoder::Error) -> ImageRefused {
    match e {
        jpeg_decoder::Error::Unsupported(feature) => {
            ImageRefused::Corrupt(format!("unsupported JPEG feature: {feature:?}"))
        }
        other => ImageRefused::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0 of 4 bytes, a stray byte, a frame of 8 x 8 grey, SOS, scan data, EOI.
    fn tiny(scan: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46, 0x00];
        out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
        out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        out.extend_from_slice(scan);
        out
    }

    #[test]
    fn a_jpeg_is_whole_when_its_end_follows_its_scan() {
        let whole = tiny(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9]);
        let read = Jpeg::read(&whole).unwrap();
        assert_eq!((read.width, read.height), (8, 8));
        // The APP0 and the stray byte are gone; the scan (stuffed byte and restart) is whole.
        assert!(
            read.stripped
                .ends_with(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9])
        );
        assert!(!read.stripped.windows(2).any(|w| w == [0xFF, 0xE0]));
        assert_eq!(
            Jpeg::read(&whole[..whole.len() - 2]).unwrap_err(),
            cut_off(),
            "cut off before its end"
        );
        // Data after the end (a zip glued on, another image) is not kept.
        let mut glued = whole.clone();
        glued.extend_from_slice(b"PK\x03\x04 anything");
        assert_eq!(Jpeg::read(&glued).unwrap().stripped, read.stripped);
    }

    #[test]
    fn only_what_a_decoder_needs_of_the_app_segments_is_kept() {
        let whole = tiny(&[0x12, 0xFF, 0xD9]);
        let mut bytes = whole[..2].to_vec();
        // An Adobe segment with a secret after its 12 bytes, a stuffed zero between segments,
        // a JFIF segment with a density and a thumbnail's worth of bytes.
        bytes.extend_from_slice(&[0xFF, 0xEE, 0, 24]);
        bytes.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x01GPS 12.97N");
        bytes.extend_from_slice(&[0xFF, 0x00]);
        bytes.extend_from_slice(&[0xFF, 0xE0, 0, 20]);
        bytes.extend_from_slice(b"JFIF\0\x01\x02\x01\x01\x2C\x01\x2C\x01\x01\xAA\xBB\xCC\0");
        bytes.extend_from_slice(&whole[9..]);
        let read = Jpeg::read(&bytes).unwrap();
        let kept = &read.stripped;
        assert!(kept.windows(12).any(|w| w == b"Adobe\0\x64\0\0\0\0\x01"));
        assert!(!kept.windows(3).any(|w| w == b"GPS"));
        assert!(kept.windows(5).any(|w| w == b"JFIF\0"));
        assert!(
            !kept.windows(3).any(|w| w == [0xAA, 0xBB, 0xCC]),
            "no JFIF thumbnail"
        );
    }

    #[test]
    fn an_end_marker_inside_metadata_does_not_count() {
        // An EXIF thumbnail's end marker, before the scan; then the file is cut off.
        let mut cut = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00];
        cut.extend_from_slice(&tiny(&[0x12, 0x34])[9..]);
        assert_eq!(Jpeg::read(&cut).unwrap_err(), cut_off());
        // No image at all.
        assert!(matches!(
            Jpeg::read(&[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(ImageRefused::Corrupt(_))
        ));
    }

    #[test]
    fn a_frame_past_the_limits_is_refused_before_any_decoding() {
        // A few dozen bytes claiming 60,000 x 60,000 pixels (10.8 GB of RGB), then 9,000 x
        // 9,000 (within the side limit, past the pixel limit): both refused from the header.
        for (side, want) in [(60_000u16, 60_000u32), (9_000, 9_000)] {
            let mut bomb = tiny(&[0x12, 0xFF, 0xD9]);
            let [hi, lo] = side.to_be_bytes();
            bomb[14..18].copy_from_slice(&[hi, lo, hi, lo]);
            assert_eq!(
                Jpeg::read(&bomb).unwrap_err(),
                ImageRefused::TooLarge {
                    width: Some(want),
                    height: Some(want)
                }
            );
        }
    }

    #[test]
    fn cmyk_becomes_rgb() {
        assert_eq!(
            cmyk_to_rgb(&[0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255]),
            [255, 255, 255, 0, 255, 255, 0, 0, 0]
        );
    }
}
