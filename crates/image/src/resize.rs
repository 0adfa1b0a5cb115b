//! Pillow-compatible resizing to the backbones' 224x224 inputs (spec section 3).
//!
//! The authors resized every sampled frame with Pillow (10.2): `BILINEAR` for
//! ResNet-50 and `LANCZOS` for the ViT, both as Pillow's antialiased
//! convolution resampler (`ImagingResample`). Matching their features value by
//! value needs the same bytes, so this is a port of that algorithm's
//! arithmetic rather than a call to a generic resizer: filter weights computed
//! in f64 and normalised per output pixel, converted to fixed point with
//! 22 fractional bits, a horizontal pass into an intermediate image of only
//! the rows the vertical pass needs, then the vertical pass, each rounding
//! half up and clipping to 0..=255. A pass is skipped when its axis keeps its
//! size, as Pillow does.

use crate::RgbImage;

/// Side of the square the backbones take.
pub const BACKBONE_INPUT_SIZE: usize = 224;

/// Fixed-point fractional bits of the coefficients (Pillow: `32 - 8 - 2`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The resampling filters the pipeline uses, with Pillow's definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// Pillow `BILINEAR`: triangle filter, support 1 (ResNet-50 input).
    Bilinear,
    /// Pillow `LANCZOS`: 3-lobed Lanczos, support 3 (ViT input).
    Lanczos3,
}

impl Filter {
    /// Half-width of the filter at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Lanczos3 => 3.0,
        }
    }

    /// The filter's value at `x` (Pillow's `bilinear_filter` / `lanczos_filter`).
    fn eval(self, x: f64) -> f64 {
        match self {
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Lanczos3 => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// Per-output-pixel taps along one axis: first input index, count, and
/// `ksize` fixed-point weights per output pixel.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
fn coefficients(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's `(int)` truncates toward zero; the clamps make both ends sane.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(count) {
            let w = filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for (dst, &w) in row.iter_mut().zip(&k[..count]) {
            let w = if ww != 0.0 { w / ww } else { w };
            let fixed = w * f64::from(1u32 << PRECISION_BITS);
            *dst = if w < 0.0 { (fixed - 0.5) as i32 } else { (fixed + 0.5) as i32 };
        }
        bounds.push((xmin, count));
    }
    Coeffs { ksize, bounds, weights }
}

/// Pillow's `clip8`: drop the fixed-point fraction and saturate.
#[inline]
fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Horizontal pass over rows `first_row..first_row + rows` of `src`.
fn horizontal(src: &[u8], src_w: usize, first_row: usize, rows: usize, out_w: usize, c: &Coeffs) -> Vec<u8> {
    let mut out = vec![0u8; out_w * rows * 3];
    for (y, out_row) in out.chunks_exact_mut(out_w * 3).enumerate() {
        let row = &src[(first_row + y) * src_w * 3..(first_row + y + 1) * src_w * 3];
        for (xx, px) in out_row.chunks_exact_mut(3).enumerate() {
            let (xmin, count) = c.bounds[xx];
            let k = &c.weights[xx * c.ksize..xx * c.ksize + count];
            let mut ss = [1i64 << (PRECISION_BITS - 1); 3];
            for (i, &w) in k.iter().enumerate() {
                let p = &row[(xmin + i) * 3..(xmin + i) * 3 + 3];
                for ch in 0..3 {
                    ss[ch] += i64::from(p[ch]) * i64::from(w);
                }
            }
            for ch in 0..3 {
                px[ch] = clip8(ss[ch]);
            }
        }
    }
    out
}

/// Vertical pass; `row_offset` is subtracted from every bound (the first
/// source row the horizontal pass kept).
fn vertical(src: &[u8], w: usize, out_h: usize, row_offset: usize, c: &Coeffs) -> Vec<u8> {
    let stride = w * 3;
    let mut out = vec![0u8; stride * out_h];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, count) = c.bounds[yy];
        let ymin = ymin - row_offset;
        let k = &c.weights[yy * c.ksize..yy * c.ksize + count];
        for (x, dst) in out_row.iter_mut().enumerate() {
            let mut ss = 1i64 << (PRECISION_BITS - 1);
            for (i, &wk) in k.iter().enumerate() {
                ss += i64::from(src[(ymin + i) * stride + x]) * i64::from(wk);
            }
            *dst = clip8(ss);
        }
    }
    out
}

/// Resizes `img` to `width` x `height` as Pillow's `Image.resize` does with
/// the given filter (no `reducing_gap`, whole-image box).
///
/// An empty source or target gives an all-zero image of the target size.
pub fn resize(img: &RgbImage, width: usize, height: usize, filter: Filter) -> RgbImage {
    let (in_w, in_h) = (img.width(), img.height());
    if in_w == 0 || in_h == 0 || width == 0 || height == 0 {
        return RgbImage::zeros(width, height);
    }
    let horiz = coefficients(in_w, width, filter);
    let vert = coefficients(in_h, height, filter);
    let need_h = width != in_w;
    let need_v = height != in_h;

    let mut data = img.as_bytes().to_vec();
    let mut row_offset = 0;
    if need_h {
        // Only the source rows the vertical pass reads.
        let first = vert.bounds.first().map_or(0, |b| b.0);
        let last = vert.bounds.last().map_or(in_h, |b| b.0 + b.1);
        let (first, last) = if need_v { (first, last) } else { (0, in_h) };
        data = horizontal(&data, in_w, first, last - first, width, &horiz);
        row_offset = first;
    }
    if need_v {
        data = vertical(&data, width, height, row_offset, &vert);
    }
    // Both passes produce exactly `width * height * 3` bytes (or the source is
    // already that size when no pass runs).
    RgbImage::from_vec(width, height, data).unwrap_or_else(|_| RgbImage::zeros(width, height))
}

/// The ResNet-50 input: Pillow `BILINEAR` to 224x224 (spec section 3).
pub fn resnet_input(img: &RgbImage) -> RgbImage {
    resize(img, BACKBONE_INPUT_SIZE, BACKBONE_INPUT_SIZE, Filter::Bilinear)
}

/// The ViT input: Pillow `LANCZOS` to 224x224 (spec section 3).
pub fn vit_input(img: &RgbImage) -> RgbImage {
    resize(img, BACKBONE_INPUT_SIZE, BACKBONE_INPUT_SIZE, Filter::Lanczos3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_sum_to_one_in_fixed_point() {
        for filter in [Filter::Bilinear, Filter::Lanczos3] {
            for (i, o) in [(176, 224), (320, 224), (224, 224), (1920, 224), (3, 224)] {
                let c = coefficients(i, o, filter);
                for (xx, &(_, count)) in c.bounds.iter().enumerate() {
                    let s: i64 = c.weights[xx * c.ksize..xx * c.ksize + count].iter().map(|&w| i64::from(w)).sum();
                    assert!((s - (1 << PRECISION_BITS)).abs() <= count as i64, "{filter:?} {i}->{o} px {xx}: {s}");
                }
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = RgbImage::from_vec(50, 30, [10u8, 200, 255].repeat(50 * 30)).expect("size");
        for filter in [Filter::Bilinear, Filter::Lanczos3] {
            let out = resize(&img, 224, 224, filter);
            assert!(out.as_bytes().chunks_exact(3).all(|p| p == [10, 200, 255]), "{filter:?}");
        }
    }

    #[test]
    fn same_size_is_identity() {
        let data: Vec<u8> = (0..224 * 224 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let img = RgbImage::from_vec(224, 224, data).expect("size");
        assert_eq!(resnet_input(&img), img);
        assert_eq!(vit_input(&img), img);
    }
}
