//! The flow image (spec section 4, step 6): OpenCV's `cartToPolar` in float32,
//! the authors' HSV packing, and OpenCV's 8-bit `HSV2RGB`.
//!
//! OpenCV's vector kernels of `cartToPolar` and `convertTo` run with fused
//! multiply-adds on AVX2 machines; the fixtures were made that way, so the
//! fused steps are fused here too ([`fma_f32`], exact on every target).

use rayon::prelude::*;

use super::fmath::{fma_f32, fma_f32_unless_tie, round_half_even_small};
use crate::avx2_dispatch;
use crate::simd::Copies;
use crate::{FlowField, RgbImage};

/// Elements per block in OpenCV's `cartToPolar` loop.
const CART_BLOCK: usize = 1024;
/// A block shorter than two AVX2 float vectors runs OpenCV's scalar code.
const MIN_VECTOR_LEN: usize = 16;

const RAD_TO_DEG: f32 = (180.0 / std::f64::consts::PI) as f32;
// OpenCV's `atan2_p*` coefficients: its float literals 0.9997878412794807f,
// -0.3258083974640975f, 0.1555786518463281f and -0.04432655554792128f are
// these floats, each then multiplied by (float)(180/pi) in float.
const ATAN_P1: f32 = 0.999_787_87 * RAD_TO_DEG;
const ATAN_P3: f32 = -0.325_808_4 * RAD_TO_DEG;
const ATAN_P5: f32 = 0.155_578_66 * RAD_TO_DEG;
const ATAN_P7: f32 = -0.044_326_555 * RAD_TO_DEG;
const ATAN_EPS: f32 = f64::EPSILON as f32;

/// OpenCV's `fastAtan2` in degrees, [0, 360): the vector form (fused
/// polynomial) when `fused`, else the scalar form.
fn fast_atan_deg(y: f32, x: f32, fused: bool) -> f32 {
    if fused {
        return fast_atan_deg_fused(y, x, fma_f32);
    }
    let (ax, ay) = (x.abs(), y.abs());
    let mut a = if ax >= ay {
        let c = ay / (ax + ATAN_EPS);
        let c2 = c * c;
        (((ATAN_P7 * c2 + ATAN_P5) * c2 + ATAN_P3) * c2 + ATAN_P1) * c
    } else {
        let c = ax / (ay + ATAN_EPS);
        let c2 = c * c;
        90.0 - (((ATAN_P7 * c2 + ATAN_P5) * c2 + ATAN_P3) * c2 + ATAN_P1) * c
    };
    if x < 0.0 {
        a = 180.0 - a;
    }
    if y < 0.0 {
        a = 360.0 - a;
    }
    a
}

/// The vector form of [`fast_atan_deg`], with `fma` as its fused
/// multiply-add.
#[inline(always)]
fn fast_atan_deg_fused(y: f32, x: f32, mut fma: impl FnMut(f32, f32, f32) -> f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let c = ax.min(ay) / (ax.max(ay) + ATAN_EPS);
    let cc = c * c;
    let p = fma(cc, ATAN_P7, ATAN_P5);
    let p = fma(p, cc, ATAN_P3);
    let p = fma(p, cc, ATAN_P1);
    let a = p * c;
    let mut a = if ax < ay { 90.0 - a } else { a };
    if x < 0.0 {
        a = 180.0 - a;
    }
    if y < 0.0 {
        a = 360.0 - a;
    }
    a
}

/// Magnitude and angle (radians, [0, 2 pi]) of every flow vector, as OpenCV
/// 4.9's `cartToPolar` computes them on `CV_32F` input (the angle from its
/// fast atan2 approximation, about 0.3 degrees off the exact value).
pub fn cart_to_polar(flow: &FlowField) -> (Vec<f32>, Vec<f32>) {
    cart_to_polar_with(flow, Copies::Native)
}

/// [`cart_to_polar`] on the chosen copies of the row kernels.
fn cart_to_polar_with(flow: &FlowField, simd: Copies) -> (Vec<f32>, Vec<f32>) {
    let v = flow.as_slice();
    let total = v.len() / 2;
    let mut mag = vec![0f32; total];
    let mut ang = vec![0f32; total];
    let to_rad = (std::f64::consts::PI / 180.0) as f32;
    mag.par_chunks_mut(CART_BLOCK).zip(ang.par_chunks_mut(CART_BLOCK)).zip(v.par_chunks(2 * CART_BLOCK)).for_each(
        |((mag, ang), xy)| {
            let fused = mag.len() >= MIN_VECTOR_LEN;
            // The fused block without the rare ties of `fma_f32` vectorises;
            // a block that meets one is redone exactly.
            if fused && polar_block_fast(simd, xy, mag, ang, to_rad) {
                return;
            }
            for ((m, a), p) in mag.iter_mut().zip(ang.iter_mut()).zip(xy.chunks_exact(2)) {
                let (x, y) = (p[0], p[1]);
                *m = if fused { fma_f32(x, x, y * y).sqrt() } else { (x * x + y * y).sqrt() };
                *a = fast_atan_deg(y, x, fused) * to_rad;
            }
        },
    );
    (mag, ang)
}

avx2_dispatch!(
    with_copies
    fn polar_block_fast = polar_block_fast_body(xy: &[f32], mag: &mut [f32], ang: &mut [f32], to_rad: f32) -> bool
);

/// One fused block of [`cart_to_polar`] with [`fma_f32_unless_tie`] for
/// [`fma_f32`]: the same values when it returns true (no fused step met a
/// tie), else values to throw away.
#[inline(always)]
fn polar_block_fast_body(xy: &[f32], mag: &mut [f32], ang: &mut [f32], to_rad: f32) -> bool {
    let mut tie = false;
    let mut fma = |a, b, c| {
        let (r, t) = fma_f32_unless_tie(a, b, c);
        tie |= t;
        r
    };
    for ((m, a), p) in mag.iter_mut().zip(ang.iter_mut()).zip(xy.chunks_exact(2)) {
        let (x, y) = (p[0], p[1]);
        *m = fma(x, x, y * y).sqrt();
        *a = fast_atan_deg_fused(y, x, &mut fma) * to_rad;
    }
    !tie
}

/// `cv2.normalize(src, None, 0, 255, NORM_MINMAX)` on float32 data, as
/// OpenCV 4.9 computes it: scale and shift rounded to float, then
/// `convertTo`'s fused multiply-add (or a plain copy when the map is the
/// identity).
fn normalize_minmax(src: &[f32], simd: Copies) -> Vec<f32> {
    if src.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = src
        .par_chunks(CART_BLOCK)
        .map(|c| c.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v))))
        .reduce(|| (f32::INFINITY, f32::NEG_INFINITY), |(l0, h0), (l1, h1)| (l0.min(l1), h0.max(h1)));
    let (smin, smax) = (f64::from(lo), f64::from(hi));
    let range = smax - smin;
    let scale = 255.0 * if range > f64::EPSILON { 1.0 / range } else { 0.0 };
    let scale_f = scale as f32;
    let shift_f = 0.0f32 - (smin * f64::from(scale_f)) as f32;
    if (f64::from(scale_f) - 1.0).abs() < f64::EPSILON && f64::from(shift_f).abs() < f64::EPSILON {
        return src.to_vec();
    }
    if src.len() < MIN_VECTOR_LEN {
        return src.iter().map(|&v| v * scale_f + shift_f).collect();
    }
    let mut out = vec![0f32; src.len()];
    out.par_chunks_mut(CART_BLOCK).zip(src.par_chunks(CART_BLOCK)).for_each(|(out, src)| {
        if !scale_shift_fast(simd, src, scale_f, shift_f, out) {
            for (o, &v) in out.iter_mut().zip(src) {
                *o = fma_f32(v, scale_f, shift_f);
            }
        }
    });
    out
}

avx2_dispatch!(
    with_copies
    fn scale_shift_fast = scale_shift_fast_body(src: &[f32], scale: f32, shift: f32, out: &mut [f32]) -> bool
);

/// `out = fma_f32(src, scale, shift)` with [`fma_f32_unless_tie`]: right
/// when it returns true, else to be redone.
#[inline(always)]
fn scale_shift_fast_body(src: &[f32], scale: f32, shift: f32, out: &mut [f32]) -> bool {
    let mut tie = false;
    for (o, &v) in out.iter_mut().zip(src) {
        let (r, t) = fma_f32_unless_tie(v, scale, shift);
        *o = r;
        tie |= t;
    }
    !tie
}

/// Pixels per step of OpenCV's vector `HSV2RGB_b` loop on AVX2 (4 vectors of
/// 8 floats); the rest of a row runs its scalar code.
const HSV_VECTOR_PIXELS: usize = 32;

/// The flow image: hue from the flow's angle (`angle * 180 / pi / 2` in
/// float32, truncated), full saturation, value from its magnitude min-max
/// rescaled to 0..255 (twice, as the authors' code does; truncated),
/// converted with OpenCV's 8-bit `HSV2RGB` (hue range 180), in R, G, B order.
/// Follows the authors' OpenCV/NumPy `flow_to_rgb` operation by operation.
pub fn flow_to_rgb(flow: &FlowField) -> RgbImage {
    flow_to_rgb_with(flow, Copies::Native)
}

/// [`flow_to_rgb`] on the chosen copies of the row kernels.
pub(crate) fn flow_to_rgb_with(flow: &FlowField, simd: Copies) -> RgbImage {
    let (mag, ang) = cart_to_polar_with(flow, simd);
    // The authors' code normalises twice (`mag = normalize(mag)`, then
    // `V = normalize(mag)`); the second pass can move a value by one float
    // step, which shows after truncation.
    let once = normalize_minmax(&mag, simd);
    let val = normalize_minmax(&once, simd);
    let w = flow.width();
    let mut out = RgbImage::zeros(w, flow.height());
    if w == 0 {
        return out;
    }
    // OpenCV converts row by row; its vector loop truncates, its scalar tail rounds.
    let vector_end = (w / HSV_VECTOR_PIXELS) * HSV_VECTOR_PIXELS;
    out.as_bytes_mut().par_chunks_mut(3 * w).zip(ang.par_chunks(w)).zip(val.par_chunks(w)).for_each(
        |((row, ang), val)| {
            let (head, tail) = row.split_at_mut(3 * vector_end);
            hsv_row(simd, &ang[..vector_end], &val[..vector_end], HsvRounding::Truncate, head);
            hsv_row(simd, &ang[vector_end..], &val[vector_end..], HsvRounding::Nearest, tail);
        },
    );
    out
}

avx2_dispatch!(
    with_copies
    fn hsv_row = hsv_row_body(ang: &[f32], val: &[f32], rounding: HsvRounding, out: &mut [u8])
);

/// Flow-image pixels from angles (radians) and values (0..255).
#[inline(always)]
fn hsv_row_body(ang: &[f32], val: &[f32], rounding: HsvRounding, out: &mut [u8]) {
    let pi = std::f64::consts::PI as f32;
    for ((px, &a), &v) in out.chunks_exact_mut(3).zip(ang).zip(val) {
        let hue = (a * 180.0 / pi / 2.0) as u8;
        px.copy_from_slice(&hsv_to_rgb_inline(hue, 255, v as u8, rounding));
    }
}

/// How [`hsv_to_rgb_u8`] brings its float result back to 8 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HsvRounding {
    /// Toward zero, as OpenCV 4.9's vector loop (`v_trunc`).
    Truncate,
    /// To nearest, ties to even, as its scalar loop (`saturate_cast`).
    Nearest,
}

/// OpenCV's `cvtColor(COLOR_HSV2RGB)` for one 8-bit pixel, hue in [0, 180]:
/// `[r, g, b]`.
pub fn hsv_to_rgb_u8(h: u8, s: u8, v: u8, rounding: HsvRounding) -> [u8; 3] {
    hsv_to_rgb_inline(h, s, v, rounding)
}

/// [`hsv_to_rgb_u8`], inlined into the row kernels.
#[inline(always)]
fn hsv_to_rgb_inline(h: u8, s: u8, v: u8, rounding: HsvRounding) -> [u8; 3] {
    const HSCALE: f32 = 6.0 / 180.0;
    const INV255: f32 = 1.0 / 255.0;
    let s = f32::from(s) * INV255;
    let v = f32::from(v) * INV255;
    let (b, g, r) = if s == 0.0 {
        (v, v, v)
    } else {
        // h * hscale is in [0, 8.5]: OpenCV's fmod(h, 6) and floor reduce to
        // one subtraction and a truncation.
        let mut h = f32::from(h) * HSCALE;
        if h >= 6.0 {
            h -= 6.0;
        }
        let sector = h as usize;
        h -= sector as f32;
        let tab = [v, v * (1.0 - s), v * (1.0 - s * h), v * (1.0 - s * (1.0 - h))];
        const SECTOR: [[usize; 3]; 6] = [[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]];
        let [bi, gi, ri] = SECTOR[sector.min(5)];
        (tab[bi], tab[gi], tab[ri])
    };
    let to_u8 = |c: f32| {
        let c = (c * 255.0).max(0.0);
        match rounding {
            HsvRounding::Truncate => c as u8,
            HsvRounding::Nearest => round_half_even_small(c.min(255.0)) as u8,
        }
    };
    [to_u8(r), to_u8(g), to_u8(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan_is_within_a_third_of_a_degree() {
        for i in 0..720 {
            let t = (i as f64 + 0.25) * std::f64::consts::PI / 360.0;
            let (y, x) = (t.sin() as f32, t.cos() as f32);
            for fused in [false, true] {
                let got = f64::from(fast_atan_deg(y, x, fused));
                let want = t.to_degrees();
                assert!((got - want).abs() < 0.3, "t={t} got={got} want={want}");
            }
        }
    }

    #[test]
    fn hsv_primaries() {
        for r in [HsvRounding::Truncate, HsvRounding::Nearest] {
            assert_eq!(hsv_to_rgb_u8(0, 255, 255, r), [255, 0, 0]);
            assert_eq!(hsv_to_rgb_u8(60, 255, 255, r), [0, 255, 0]);
            assert_eq!(hsv_to_rgb_u8(120, 255, 255, r), [0, 0, 255]);
            assert_eq!(hsv_to_rgb_u8(180, 255, 255, r), [255, 0, 0]);
            assert_eq!(hsv_to_rgb_u8(30, 0, 128, r), [128, 128, 128]);
        }
        // 30 * (1 - 5/6) is 5 less a rounding error: truncation drops to 4.
        assert_eq!(hsv_to_rgb_u8(175, 255, 30, HsvRounding::Truncate), [30, 0, 4]);
        assert_eq!(hsv_to_rgb_u8(175, 255, 30, HsvRounding::Nearest), [30, 0, 5]);
    }

    #[test]
    fn zero_flow_is_black() {
        let img = flow_to_rgb(&FlowField::zeros(4, 3));
        assert!(img.as_bytes().iter().all(|&b| b == 0));
    }
}
