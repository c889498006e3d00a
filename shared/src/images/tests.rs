//! The pipeline on images built here (no binary files in the tree): every refusal with its
//! code, orientation, metadata stripped, content addressing, near duplicates.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageBuffer, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;

/// A picture with structure at every scale (a gradient, a disc, bars), composed differently
/// per `seed`: the gradient's direction, the disc's place and the bars' angle and width.
pub(super) fn picture(width: u32, height: u32, seed: u32) -> RgbImage {
    let k = |n: u32| ((seed.wrapping_mul(2_654_435_761).rotate_left(n)) % 1000) as f32 / 1000.0;
    let angle = k(3) * std::f32::consts::TAU;
    let (cx, cy, radius) = (0.2 + 0.6 * k(7), 0.2 + 0.6 * k(11), 0.1 + 0.2 * k(13));
    let (bar_angle, bars) = (k(17) * std::f32::consts::PI, 2.0 + 8.0 * k(19));
    ImageBuffer::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let along = (u * angle.cos() + v * angle.sin() + 1.5) / 3.0;
        let disc = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt() < radius;
        let bar = ((u * bar_angle.cos() + v * bar_angle.sin()) * bars).rem_euclid(1.0) < 0.5;
        let r = (255.0 * along) as u8;
        let g = if disc {
            230
        } else {
            (255.0 * (1.0 - along)) as u8
        };
        let b = if bar { 210 } else { 60 };
        Rgb([r, g, b])
    })
}

fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn png_of(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_bytes(),
            image.width(),
            image.height(),
            image.color().into(),
        )
        .unwrap();
    out
}

/// `jpeg` with an EXIF segment: an orientation and a GPS latitude reference.
fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2A\0\0\0\x08");
    tiff.extend_from_slice(&2u16.to_be_bytes());
    // Orientation: SHORT, 1 value.
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // The GPS IFD, right after this one.
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
    tiff.extend_from_slice(&38u32.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    // GPSLatitudeRef "N".
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut segment = b"Exif\0\0".to_vec();
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((segment.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG of a few dozen bytes whose header claims `width` x `height` RGB pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn refused(bytes: &[u8]) -> ImageRefused {
    process(bytes).expect_err("refused")
}

#[test]
fn a_photo_is_kept_with_two_renditions_that_fit() {
    let done = process(&jpeg(&picture(1600, 1200, 1), 92)).unwrap();
    assert_eq!((done.original.width, done.original.height), (1600, 1200));
    assert_eq!((done.medium.width, done.medium.height), (640, 480));
    assert_eq!((done.thumbnail.width, done.thumbnail.height), (160, 120));
    for r in Rendition::ALL {
        let e = done.rendition(r);
        assert_eq!(e.encoding, Encoding::Jpeg);
        let back = image::load_from_memory(&e.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (e.width, e.height));
    }
    assert_eq!(done.hash.len(), 64);
    assert_eq!(
        done.key(Rendition::Thumbnail),
        format!("images/sha256/{}/thumbnail.jpg", done.hash)
    );
    // A small image is never enlarged.
    let small = process(&jpeg(&picture(120, 90, 1), 92)).unwrap();
    assert_eq!((small.medium.width, small.thumbnail.width), (120, 120));
}

#[test]
fn the_same_upload_gives_the_same_bytes() {
    let bytes = jpeg(&picture(800, 600, 2), 85);
    let (a, b) = (process(&bytes).unwrap(), process(&bytes).unwrap());
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.thumbnail, b.thumbnail);
    assert_eq!(a.perceptual, b.perceptual);
}

#[test]
fn an_exif_rotated_photo_comes_out_upright_without_its_metadata() {
    // Orientation 6: the camera was turned a quarter clockwise; the pixels are stored wide.
    let bytes = with_exif(&jpeg(&picture(400, 200, 3), 90), 6);
    assert!(bytes.windows(4).any(|w| w == b"Exif"));
    let done = process(&bytes).unwrap();
    assert_eq!((done.original.width, done.original.height), (200, 400));
    for r in Rendition::ALL {
        let kept = &done.rendition(r).bytes;
        assert!(!kept.windows(4).any(|w| w == b"Exif"), "{r:?} keeps EXIF");
        assert!(
            !kept.windows(2).any(|w| w == [0xFF, 0xE1]),
            "{r:?} keeps an APP1 segment"
        );
    }
}

#[test]
fn a_turned_photo_is_made_upright_without_its_pixels_encoded_again() {
    // A phone held upright: 1600 x 1000 stored, orientation 6.
    let stored = jpeg(&picture(1600, 1000, 5), 90);
    let done = process(&with_exif(&stored, 6)).unwrap();
    assert!(
        done.original_kept,
        "the blocks were moved, not the pixels encoded"
    );
    let (w, h) = (done.original.width, done.original.height);
    assert_eq!(h, 1600);
    assert!(
        w <= 1000 && 1000 - w < 16,
        "at most the partial MCU is trimmed: {w}"
    );
    assert!(!done.original.bytes.windows(4).any(|b| b == b"Exif"));
    // What it shows is the stored picture turned (less the trimmed edge, on the left).
    let got = image::load_from_memory(&done.original.bytes)
        .unwrap()
        .to_rgb8();
    let want = image::load_from_memory(&stored)
        .unwrap()
        .rotate90()
        .to_rgb8();
    let want = image::imageops::crop_imm(&want, 1000 - w, 0, w, h).to_image();
    let diff: u64 = got
        .as_raw()
        .iter()
        .zip(want.as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    let mean = diff as f64 / got.as_raw().len() as f64;
    assert!(mean < 1.0, "mean difference {mean:.2} ({w} x {h})");
    assert_eq!(
        (done.medium.width, done.medium.height),
        render::fitted(w, h, MEDIUM_SIDE)
    );
}

#[test]
fn transparency_is_kept_as_png_and_an_opaque_png_becomes_jpeg() {
    let clear = RgbaImage::from_fn(300, 200, |x, _| {
        Rgba([200, 10, 10, if x < 150 { 0 } else { 255 }])
    });
    let done = process(&png_of(&DynamicImage::ImageRgba8(clear))).unwrap();
    assert_eq!(done.original.encoding, Encoding::Png);
    assert_eq!(done.thumbnail.encoding, Encoding::Png);
    let opaque = DynamicImage::ImageRgba8(RgbaImage::from_pixel(50, 50, Rgba([1, 2, 3, 255])));
    assert_eq!(
        process(&png_of(&opaque)).unwrap().original.encoding,
        Encoding::Jpeg
    );
}

#[test]
fn a_16_bit_png_is_read_as_8_bits() {
    let deep = ImageBuffer::<Rgb<u16>, _>::from_fn(64, 48, |x, y| {
        Rgb([x as u16 * 1000, y as u16 * 1300, 40_000])
    });
    let done = process(&png_of(&DynamicImage::ImageRgb16(deep))).unwrap();
    assert_eq!(
        (done.original.width, done.original.encoding),
        (64, Encoding::Jpeg)
    );
}

#[test]
fn bad_files_are_refused_with_their_code() {
    assert_eq!(refused(b"").code(), "image_empty");
    let zip = b"PK\x03\x04\x14\0\0\0\x08\0 a zip renamed photo.jpg";
    assert_eq!(refused(zip).code(), "image_unsupported_format");
    assert_eq!(
        refused(b"<html><body>not a photo</body></html>").code(),
        "image_unsupported_format"
    );
    assert_eq!(
        refused(b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>").code(),
        "image_unsupported_format"
    );
    // An animated GIF: GIF is not a format the catalog keeps.
    let gif = b"GIF89a\x02\0\x02\0\x80\0\0\0\0\0\xff\xff\xff!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0";
    assert_eq!(refused(gif), ImageRefused::Unsupported { found: "gif" });
    // A JPEG cut off half way.
    let whole = jpeg(&picture(300, 200, 4), 90);
    assert_eq!(refused(&whole[..whole.len() / 2]).code(), "image_corrupt");
    assert_eq!(refused(&whole[..20]).code(), "image_corrupt");
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    // 100,000 x 100,000 would be 30 GB of pixels; the file is a few dozen bytes and has none.
    let bomb = png_claiming(100_000, 100_000);
    assert!(bomb.len() < 100);
    assert_eq!(refused(&bomb).code(), "image_too_large");
    // Within the side limit, over the pixel limit: refused before the pixels are allocated
    // (the file has no pixel data: a decode would fail as corrupt, not as too large).
    assert_eq!(
        refused(&png_claiming(9_000, 9_000)),
        ImageRefused::TooLarge {
            width: Some(9_000),
            height: Some(9_000)
        }
    );
    // No pixels at all is not an image.
    assert_eq!(refused(&png_claiming(0, 10)).code(), "image_corrupt");
}

#[test]
fn near_copies_are_near_and_other_pictures_are_not() {
    let original = picture(800, 600, 5);
    let first = process(&jpeg(&original, 92)).unwrap().perceptual;
    let hash = |image: &RgbImage, quality| process(&jpeg(image, quality)).unwrap().perceptual;
    // Half the size, recompressed hard; cropped by 3% on each side.
    let half = image::imageops::resize(&original, 400, 300, image::imageops::FilterType::Triangle);
    let crop = image::imageops::crop_imm(&original, 24, 18, 752, 564).to_image();
    let (d_copy, d_crop) = (
        first.distance(hash(&half, 40)),
        first.distance(hash(&crop, 85)),
    );
    // The same picture mirrored, upside down, and a checkerboard: other pictures.
    let checkers = RgbImage::from_fn(800, 600, |x, y| {
        if (x / 100 + y / 100) % 2 == 0 {
            Rgb([250, 250, 250])
        } else {
            Rgb([10, 10, 10])
        }
    });
    let others: Vec<u32> = [
        image::imageops::flip_horizontal(&original),
        image::imageops::rotate180(&original),
        checkers,
    ]
    .iter()
    .map(|other| first.distance(hash(other, 92)))
    .collect();
    println!("resized copy {d_copy} bits apart, crop {d_crop}, other pictures {others:?}");
    assert!(
        d_copy <= NEAR_DUPLICATE_BITS / 2,
        "resized copy {d_copy} bits apart"
    );
    assert!(d_crop <= NEAR_DUPLICATE_BITS, "crop {d_crop} bits apart");
    assert!(
        others.iter().all(|d| *d > 2 * NEAR_DUPLICATE_BITS),
        "other pictures {others:?} bits apart"
    );
    assert_eq!(Perceptual::parse(&first.to_hex()), Some(first));
    // Three bits apart, one in each of three quarters: the fourth quarter is shared.
    let three_off = Perceptual(first.0 ^ (1 << 63) ^ (1 << 40) ^ (1 << 20));
    let shared = first
        .quarters()
        .iter()
        .zip(three_off.quarters())
        .filter(|(a, b)| **a == *b)
        .count();
    assert_eq!(shared, 1);
    assert_eq!(
        Perceptual(0x0123_4567_89ab_cdef).quarters(),
        ["0:0123", "1:4567", "2:89ab", "3:cdef"]
    );
    assert_eq!(Perceptual::parse("xyz"), None);
}

#[test]
fn an_upright_jpeg_is_kept_as_it_came_without_its_metadata() {
    let upload = jpeg(&picture(900, 600, 6), 88);
    // EXIF (with a GPS reference), a comment, and an RGB ICC profile in two chunks.
    let mut bytes = with_exif(&upload, 1);
    let mut extra = Vec::new();
    let mut profile = super::icc::sample(b"RGB ", 400);
    profile[200..211].copy_from_slice(b"first half ");
    profile[300..311].copy_from_slice(b"second half");
    for (sequence, part) in [(1u8, &profile[..250]), (2, &profile[250..])] {
        let mut payload = b"ICC_PROFILE\0".to_vec();
        payload.extend_from_slice(&[sequence, 2]);
        payload.extend_from_slice(part);
        extra.extend_from_slice(&[0xFF, 0xE2]);
        extra.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        extra.extend_from_slice(&payload);
    }
    extra.extend_from_slice(&[0xFF, 0xFE, 0, 9]);
    extra.extend_from_slice(b"by Ravi");
    bytes.splice(2..2, extra);
    let done = process(&bytes).unwrap();
    let kept = &done.original.bytes;
    assert!(!kept.windows(4).any(|w| w == b"Exif"));
    assert!(!kept.windows(7).any(|w| w == b"by Ravi"));
    assert!(
        kept.windows(11).any(|w| w == b"first half "),
        "the colour profile stays"
    );
    // The very same compressed image: the same pixels, nothing re-encoded.
    let pixels = |b: &[u8]| image::load_from_memory(b).unwrap().into_rgb8().into_raw();
    assert_eq!(pixels(kept), pixels(&upload));
    assert_eq!((done.original.width, done.original.height), (900, 600));
    // The renditions carry the profile too, whole.
    let medium = &done.medium.bytes;
    assert!(medium.windows(11).any(|w| w == b"first half "));
    assert!(medium.windows(11).any(|w| w == b"second half"));
}

#[test]
fn a_cmyk_jpeg_becomes_rgb() {
    // Cyan ink on the left half, black on the right.
    let (w, h) = (64u16, 32u16);
    let cmyk: Vec<u8> = (0..u32::from(w) * u32::from(h))
        .flat_map(|i| {
            if i % u32::from(w) < u32::from(w) / 2 {
                [255, 0, 0, 0]
            } else {
                [0, 0, 0, 255]
            }
        })
        .collect();
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 95);
    // A print profile (CMYK): it cannot go with the RGB pixels the upload becomes.
    let mut profile = super::icc::sample(b"CMYK", 300);
    profile[200..209].copy_from_slice(b"FOGRA39xx");
    encoder.add_icc_profile(&profile).unwrap();
    encoder
        .encode(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    assert!(bytes.windows(9).any(|b| b == b"FOGRA39xx"));
    let done = process(&bytes).unwrap();
    assert_eq!(done.original.encoding, Encoding::Jpeg);
    for r in Rendition::ALL {
        let kept = &done.rendition(r).bytes;
        assert!(
            !kept.windows(9).any(|b| b == b"FOGRA39xx"),
            "{r:?} keeps the CMYK profile"
        );
    }
    let back = image::load_from_memory(&done.original.bytes)
        .unwrap()
        .into_rgb8();
    let near = |p: &Rgb<u8>, want: [u8; 3]| p.0.iter().zip(want).all(|(a, b)| a.abs_diff(b) < 24);
    assert!(
        near(back.get_pixel(8, 16), [0, 255, 255]),
        "{:?}",
        back.get_pixel(8, 16)
    );
    assert!(
        near(back.get_pixel(56, 16), [0, 0, 0]),
        "{:?}",
        back.get_pixel(56, 16)
    );
}

/// An animated WebP of two lossless frames: red, then blue.
fn animated_webp(width: u32, height: u32) -> Vec<u8> {
    let frame = |colour: [u8; 3]| {
        let pixels = RgbImage::from_pixel(width, height, Rgb(colour));
        let mut file = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut file)
            .write_image(
                pixels.as_raw(),
                width,
                height,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        // The VP8L chunk inside the still image's RIFF container.
        file[12..].to_vec()
    };
    let u24 = |n: u32| n.to_le_bytes()[..3].to_vec();
    let riff_chunk = |kind: &[u8; 4], data: &[u8]| {
        let mut out = kind.to_vec();
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
        out
    };
    let mut body = b"WEBP".to_vec();
    // VP8X: the animation flag, the canvas size.
    let mut vp8x = vec![0x02, 0, 0, 0];
    vp8x.extend(u24(width - 1));
    vp8x.extend(u24(height - 1));
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for colour in [[220, 20, 20], [20, 20, 220]] {
        let mut anmf = Vec::new();
        anmf.extend(u24(0));
        anmf.extend(u24(0));
        anmf.extend(u24(width - 1));
        anmf.extend(u24(height - 1));
        anmf.extend(u24(100));
        anmf.push(0);
        anmf.extend(frame(colour));
        body.extend(riff_chunk(b"ANMF", &anmf));
    }
    riff_chunk(b"RIFF", &body)
}

#[test]
fn an_animated_webp_gives_its_first_frame() {
    let done = process(&animated_webp(40, 30)).unwrap();
    assert_eq!((done.original.width, done.original.height), (40, 30));
    let back = image::load_from_memory(&done.original.bytes)
        .unwrap()
        .into_rgb8();
    let p = back.get_pixel(20, 15).0;
    assert!(p[0] > 180 && p[2] < 60, "the first (red) frame, got {p:?}");
}
