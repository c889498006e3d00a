//! A photo's pixels for its renditions from its quantized DCT coefficients: every 8 x 8 block
//! gives one pixel (its DC) or 2 x 2 (its four lowest frequencies), as a decoder scaled in
//! the DCT does (jpeg-decoder's reduced transforms and its chroma upsampling: the pixels are
//! those it gives). A turned photo's are those its lossless turn has in hand (reading the
//! upright file again would decode its entropy-coded data a second time); a baseline upright
//! photo's are read by jpeg-turn's entropy decoder, about twice as fast as jpeg-decoder's.

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_turn::Plane;

/// The size of a side of `len` pixels scaled by `n` / 8 (rounded up, as decoders do).
fn scaled(len: u32, n: u32) -> u32 {
    (len * n).div_ceil(8)
}

/// The scale (`n` / 8) of a picture of `width` x `height` pixels that fits `fit`: 1/8 or
/// 1/4, the first that keeps a side at least `fit` long (the rule [`super::pixels_of`]
/// follows with jpeg-decoder, which also scales by 1/2 and not at all); `None` when neither.
pub fn scale(width: u32, height: u32, fit: u32) -> Option<u32> {
    [1, 2]
        .into_iter()
        .find(|&n| scaled(width, n) >= fit || scaled(height, n) >= fit)
}

/// The pixels of a picture of `width` x `height` coded as `planes`, scaled in the DCT by
/// [`scale`]. `None` when no such scale fits, or when its colours are not grey or YCbCr
/// (`ycbcr`: what the file's markers say of three components), for the caller to decode
/// the file.
pub fn pixels(
    width: u32,
    height: u32,
    planes: &[Plane],
    fit: u32,
    ycbcr: bool,
) -> Option<DynamicImage> {
    let n = scale(width, height, fit)?;
    let (out_w, out_h) = (scaled(width, n) as usize, scaled(height, n) as usize);
    let hmax = planes.iter().map(|p| p.h).max()?;
    let vmax = planes.iter().map(|p| p.v).max()?;
    let samples: Vec<Samples> = planes
        .iter()
        .map(|p| Samples::of(p, n, (width, height), (hmax, vmax), (out_w, out_h)))
        .collect();
    let mut lines: Vec<Vec<u8>> = samples
        .iter()
        .map(|s| vec![0; (s.width * s.fh).max(out_w)])
        .collect();
    match samples.len() {
        1 => {
            let mut out = Vec::with_capacity(out_w * out_h);
            for y in 0..out_h {
                samples[0].row(y, &mut lines[0]);
                out.extend_from_slice(&lines[0][..out_w]);
            }
            GrayImage::from_raw(out_w as u32, out_h as u32, out).map(DynamicImage::ImageLuma8)
        }
        3 if ycbcr => {
            let mut out = Vec::with_capacity(out_w * out_h * 3);
            for y in 0..out_h {
                for (s, line) in samples.iter().zip(&mut lines) {
                    s.row(y, line);
                }
                let (ly, lb, lr) = (&lines[0][..out_w], &lines[1][..out_w], &lines[2][..out_w]);
                for ((&cy, &cb), &cr) in ly.iter().zip(lb).zip(lr) {
                    out.extend_from_slice(&ycbcr_to_rgb(cy, cb, cr));
                }
            }
            RgbImage::from_raw(out_w as u32, out_h as u32, out).map(DynamicImage::ImageRgb8)
        }
        _ => None,
    }
}

/// A component's samples at the scale, and how its rows are brought to the image's size.
struct Samples {
    data: Vec<u8>,
    stride: usize,
    /// The samples of the image (the rest are padding to whole blocks).
    width: usize,
    height: usize,
    /// How many image pixels a sample covers across and down.
    fh: usize,
    fv: usize,
    /// Whether an image this narrow (or short) is taken as it is that way.
    single_column: bool,
    single_row: bool,
}

impl Samples {
    fn of(
        p: &Plane,
        n: u32,
        (width, height): (u32, u32),
        (hmax, vmax): (usize, usize),
        (out_w, out_h): (usize, usize),
    ) -> Samples {
        let n_ = n as usize;
        Samples {
            data: reduced(p, n),
            stride: p.across * n_,
            width: (width as usize * p.h * n_).div_ceil(hmax * 8),
            height: (height as usize * p.v * n_).div_ceil(vmax * 8),
            fh: hmax / p.h,
            fv: vmax / p.v,
            single_column: out_w == 1,
            single_row: out_h == 1,
        }
    }

    /// Image row `y` of this component, into `line` (as jpeg-decoder upsamples: a sample
    /// that covers two pixels is blended with its neighbour, 3:1, as libjpeg's "fancy"
    /// upsampling; other factors repeat it).
    fn row(&self, y: usize, line: &mut [u8]) {
        let (fh, fv) = (
            if self.single_column { 1 } else { self.fh },
            if self.single_row { 1 } else { self.fv },
        );
        let at = |row: usize| &self.data[row * self.stride..row * self.stride + self.width];
        match (fh, fv) {
            (1, 1) => line[..self.width].copy_from_slice(at(y)),
            (2, 1) => across(at(y), line),
            (1, 2) | (2, 2) => {
                // The nearest sample row, and the one beyond it on the pixel's side.
                let near = y / 2;
                let far = if y.is_multiple_of(2) {
                    near.saturating_sub(1)
                } else {
                    (near + 1).min(self.height - 1)
                };
                let (near, far) = (at(near), at(far));
                if fh == 1 {
                    for ((o, &a), &b) in line.iter_mut().zip(near).zip(far) {
                        *o = ((3 * u32::from(a) + u32::from(b) + 2) >> 2) as u8;
                    }
                } else {
                    both(near, far, line);
                }
            }
            _ => {
                let row = at(y / fv);
                for (x, o) in line.iter_mut().take(self.width * fh).enumerate() {
                    *o = row[x / fh];
                }
            }
        }
    }
}

/// A row of samples each covering two pixels across, blended 3:1 with the next one.
fn across(input: &[u8], out: &mut [u8]) {
    let w = input.len();
    if w == 1 {
        (out[0], out[1]) = (input[0], input[0]);
        return;
    }
    let s = |i: usize| u32::from(input[i]);
    out[0] = input[0];
    out[1] = ((s(0) * 3 + s(1) + 2) >> 2) as u8;
    for i in 1..w - 1 {
        let sample = 3 * s(i) + 2;
        out[i * 2] = ((sample + s(i - 1)) >> 2) as u8;
        out[i * 2 + 1] = ((sample + s(i + 1)) >> 2) as u8;
    }
    out[(w - 1) * 2] = ((s(w - 1) * 3 + s(w - 2) + 2) >> 2) as u8;
    out[(w - 1) * 2 + 1] = input[w - 1];
}

/// Two rows of samples each covering 2 x 2 pixels (the nearest and the one beyond), blended
/// 3:1 down and then across.
fn both(near: &[u8], far: &[u8], out: &mut [u8]) {
    let w = near.len();
    let column = |i: usize| 3 * u32::from(near[i]) + u32::from(far[i]);
    if w == 1 {
        let v = ((column(0) + 2) >> 2) as u8;
        (out[0], out[1]) = (v, v);
        return;
    }
    let mut t1 = column(0);
    out[0] = ((t1 + 2) >> 2) as u8;
    for i in 1..w {
        let t0 = t1;
        t1 = column(i);
        out[i * 2 - 1] = ((3 * t0 + t1 + 8) >> 4) as u8;
        out[i * 2] = ((3 * t1 + t0 + 8) >> 4) as u8;
    }
    out[w * 2 - 1] = ((t1 + 2) >> 2) as u8;
}

/// A plane's samples scaled by `n` / 8 (`n` 1 or 2): `n` x `n` of them a block, row by row.
fn reduced(p: &Plane, n: u32) -> Vec<u8> {
    let n = n as usize;
    let stride = p.across * n;
    let mut out = vec![0u8; stride * p.down * n];
    // Dequantized: the coefficients at zigzag 0 (DC), 1 (across), 2 (down) and 4 (both).
    let [q00, q01, q10, q11] = [0, 1, 2, 4].map(|k| i64::from(p.quant[k]));
    let block_rows = p.coefficients.chunks_exact(64 * p.across);
    for (blocks, rows) in block_rows.zip(out.chunks_exact_mut(stride * n)) {
        if n == 1 {
            for (b, o) in blocks.chunks_exact(64).zip(rows.iter_mut()) {
                *o = clamp((i64::from(b[0]) * q00 + 128 * 8) / 8);
            }
            continue;
        }
        let (top_row, bottom_row) = rows.split_at_mut(stride);
        let pairs = top_row
            .chunks_exact_mut(2)
            .zip(bottom_row.chunks_exact_mut(2));
        for (b, (top_out, bottom_out)) in blocks.chunks_exact(64).zip(pairs) {
            // jpeg-decoder's 2 x 2 reduced transform, rounding as it does (in 64 bits: a
            // 16-bit quantization table can take a sum past 32).
            let (s00, s01) = (i64::from(b[0]) * q00, i64::from(b[1]) * q01);
            let (s10, s11) = (i64::from(b[2]) * q10, i64::from(b[4]) * q11);
            let top = s00 + s10 + 4 + (128 << 3);
            let bottom = s00 - s10 + 4 + (128 << 3);
            let (across_top, across_bottom) = (s01 + s11, s01 - s11);
            top_out[0] = clamp((top + across_top) >> 3);
            top_out[1] = clamp((top - across_top) >> 3);
            bottom_out[0] = clamp((bottom + across_bottom) >> 3);
            bottom_out[1] = clamp((bottom - across_bottom) >> 3);
        }
    }
    out
}

fn clamp(v: i64) -> u8 {
    v.clamp(0, 255) as u8
}

/// ITU-R BT.601 in 20-bit fixed point, as jpeg-decoder (and libjpeg-turbo) convert.
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const BITS: i32 = 20;
    const fn fixed(x: f64) -> i32 {
        (x * (1 << BITS) as f64 + 0.5) as i32
    }
    let y = i32::from(y) * (1 << BITS) + (1 << (BITS - 1));
    let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
    let channel = |v: i32| (v >> BITS).clamp(0, 255) as u8;
    [
        channel(y + fixed(1.402) * cr),
        channel(y - fixed(0.34414) * cb - fixed(0.71414) * cr),
        channel(y + fixed(1.772) * cb),
    ]
}

#[cfg(test)]
mod tests {
    use image::RgbImage;
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

    use super::*;
    use crate::images::tests::picture;

    fn encoded(image: &RgbImage, sampling: SamplingFactor, grey: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, 88);
        e.set_sampling_factor(sampling);
        if grey {
            let luma = DynamicImage::ImageRgb8(image.clone()).to_luma8();
            e.encode(
                &luma,
                luma.width() as u16,
                luma.height() as u16,
                ColorType::Luma,
            )
        } else {
            e.encode(
                image,
                image.width() as u16,
                image.height() as u16,
                ColorType::Rgb,
            )
        }
        .unwrap();
        out
    }

    /// jpeg-decoder's pixels of `bytes` scaled to fit `fit`.
    fn decoded(bytes: &[u8], fit: u16) -> DynamicImage {
        let mut d = jpeg_decoder::Decoder::new(bytes);
        d.read_info().unwrap();
        d.scale(fit, fit).unwrap();
        let data = d.decode().unwrap();
        let info = d.info().unwrap();
        let (w, h) = (u32::from(info.width), u32::from(info.height));
        match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => {
                DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, data).unwrap())
            }
            _ => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, data).unwrap()),
        }
    }

    #[test]
    fn the_pixels_are_those_a_scaled_decode_of_the_upright_file_gives() {
        let image = picture(301, 203, 7);
        let cases = [
            (SamplingFactor::R_4_2_0, false),
            (SamplingFactor::R_4_2_2, false),
            (SamplingFactor::R_4_4_4, false),
            (SamplingFactor::R_4_4_0, false),
            (SamplingFactor::R_4_2_0, true),
        ];
        for (sampling, grey) in cases {
            let bytes = encoded(&image, sampling, grey);
            // The photo as it is (orientation 1: its coefficients read, not moved), and turned.
            for orientation in [1, 6, 3, 8, 5] {
                let turned = jpeg_turn::upright(&bytes, orientation, 1 << 28)
                    .unwrap_or_else(|| panic!("{sampling:?} {orientation}"));
                if orientation == 1 {
                    let c = jpeg_turn::coefficients(&bytes, 1 << 28).unwrap();
                    assert_eq!((c.width, c.height), (turned.width, turned.height));
                    assert_eq!(c.planes[0].coefficients, turned.planes[0].coefficients);
                }
                // 1/8 (a side of 26 >= 20) and 1/4 (51 >= 40).
                for fit in [20u16, 40] {
                    let ours = pixels(
                        turned.width,
                        turned.height,
                        &turned.planes,
                        u32::from(fit),
                        true,
                    )
                    .unwrap();
                    let theirs = decoded(&turned.bytes, fit);
                    assert_eq!(
                        (ours.width(), ours.height()),
                        (theirs.width(), theirs.height()),
                        "{sampling:?} {orientation} {fit}"
                    );
                    let (a, b) = (ours.to_rgb8().into_raw(), theirs.to_rgb8().into_raw());
                    let diff: u64 = a
                        .iter()
                        .zip(&b)
                        .map(|(x, y)| u64::from(x.abs_diff(*y)))
                        .sum();
                    let mean = diff as f64 / a.len() as f64;
                    // jpeg-decoder's colour conversion in SIMD rounds a few values apart.
                    assert!(
                        mean <= 0.01,
                        "{sampling:?} {orientation} {fit}: mean difference {mean}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_needs_more_than_a_quarter_is_left_to_the_decoder() {
        let bytes = encoded(&picture(301, 203, 7), SamplingFactor::R_4_2_0, false);
        let turned = jpeg_turn::upright(&bytes, 6, 1 << 28).unwrap();
        // A quarter of 301 is 76 pixels: 77 needs half the pixels, which a decoder gives.
        let at = |fit, ycbcr| pixels(turned.width, turned.height, &turned.planes, fit, ycbcr);
        assert!(at(76, true).is_some());
        assert!(at(77, true).is_none());
        // Three components that are not YCbCr.
        assert!(at(40, false).is_none());
    }
}
