//! Pixels turned upright by their EXIF orientation. A quarter turn of a 12 MP photo with the
//! image crate's `rotate90` walks the source down its columns pixel by pixel (130 ms here);
//! this walks it in tiles that fit in cache on both sides (about 50 ms). Half turns and
//! flips keep rows whole and stay with the image crate.

use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, Pixel};

/// Side of the square tiles the quarter turns copy.
const TILE: u32 = 32;

/// `image` turned by `orientation`.
pub fn upright(image: DynamicImage, orientation: Orientation) -> DynamicImage {
    let quarter = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    match image {
        DynamicImage::ImageRgb8(rgb) if quarter => {
            DynamicImage::ImageRgb8(quarter_turned(&rgb, orientation))
        }
        DynamicImage::ImageRgba8(rgba) if quarter => {
            DynamicImage::ImageRgba8(quarter_turned(&rgba, orientation))
        }
        mut other => {
            other.apply_orientation(orientation);
            other
        }
    }
}

/// `src` turned by a quarter-turn `orientation` (with or without a flip), tile by tile.
fn quarter_turned<P: Pixel<Subpixel = u8>>(
    src: &ImageBuffer<P, Vec<u8>>,
    orientation: Orientation,
) -> ImageBuffer<P, Vec<u8>> {
    let (w, h) = src.dimensions();
    let n = usize::from(P::CHANNEL_COUNT);
    // Output (x, y) reads source pixel `start + x * step_x + y * step_y` (pixels, row-major):
    // the output is h wide and w high.
    let (w_, h_) = (i64::from(w), i64::from(h));
    let (start, step_x, step_y) = match orientation {
        // (x, y) <- (y, h - 1 - x)
        Orientation::Rotate90 => ((h_ - 1) * w_, -w_, 1),
        // (x, y) <- (w - 1 - y, x)
        Orientation::Rotate270 => (w_ - 1, w_, -1),
        // (x, y) <- (y, x)
        Orientation::Rotate90FlipH => (0, w_, 1),
        // (x, y) <- (w - 1 - y, h - 1 - x)
        _ => ((h_ - 1) * w_ + w_ - 1, -w_, -1),
    };
    let (out_w, out_h) = (h, w);
    let pixels = src.as_raw();
    let mut out = vec![0u8; pixels.len()];
    for tile_y in (0..out_h).step_by(TILE as usize) {
        for tile_x in (0..out_w).step_by(TILE as usize) {
            for y in tile_y..(tile_y + TILE).min(out_h) {
                let row = y as usize * out_w as usize;
                let mut from = start + i64::from(tile_x) * step_x + i64::from(y) * step_y;
                for x in tile_x..(tile_x + TILE).min(out_w) {
                    let (s, d) = (from as usize * n, (row + x as usize) * n);
                    out[d..d + n].copy_from_slice(&pixels[s..s + n]);
                    from += step_x;
                }
            }
        }
    }
    ImageBuffer::from_raw(out_w, out_h, out).expect("as many pixels as the source")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    #[test]
    fn every_orientation_matches_the_image_crate() {
        let rgb = RgbImage::from_fn(70, 37, |x, y| Rgb([x as u8, y as u8, (x * y) as u8]));
        let rgba = RgbaImage::from_fn(33, 65, |x, y| Rgba([x as u8, y as u8, 7, (x + y) as u8]));
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            for image in [
                DynamicImage::ImageRgb8(rgb.clone()),
                DynamicImage::ImageRgba8(rgba.clone()),
            ] {
                let mut want = image.clone();
                want.apply_orientation(orientation);
                assert_eq!(upright(image, orientation), want, "EXIF orientation {exif}");
            }
        }
    }
}
