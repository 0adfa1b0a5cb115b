//! Host (CPU) compute kernels shared by the two backbones.
//!
//! Both networks run as a handful of large matrix products (`matmul`) over
//! channels-last f32 buffers, with the cheap per-element work (bias, ReLU, residual, LayerNorm, softmax,
//! GELU) done in parallel passes over rows. Everything here works on plain
//! slices, checks its bounds, and is split across the rayon pool.

use rayon::prelude::*;
use relaxvqa_image::avx2_dispatch;

/// Floats a parallel row task covers at most: large enough to amortise the
/// task, small enough to spread over the cores and stay in cache.
const TASK_FLOATS: usize = 1 << 15;

/// How a forward pass splits a batch of `b` images over the rayon threads:
/// `(images, parts)` runs those images in `parts` equal parts in parallel,
/// each part on one thread with single-threaded products, so that the cores
/// never wait on each other inside a product; `parts == 1` runs them as one
/// batch whose products share the threads (a batch smaller than the thread
/// count, or what is left after the equal parts).
pub(crate) fn split_batch(b: usize) -> Vec<(std::ops::Range<usize>, usize)> {
    let threads = rayon::current_num_threads().max(1);
    let even = if threads > 1 { b / threads * threads } else { 0 };
    let mut out = Vec::new();
    if even > 0 {
        out.push((0..even, threads));
    }
    if even < b {
        out.push((even..b, 1));
    }
    out
}

/// Activation buffers kept between forward passes.
///
/// A forward pass asks for buffers of the same sizes every time; handing
/// them back and reusing them saves the allocator's fresh pages (page faults
/// and kernel zeroing) and the zero fill of every large allocation, a few
/// percent of a ResNet-50 pass. The price is that the largest working set
/// stays allocated while the network lives.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<f32>>>,
}

impl BufferPool {
    /// A buffer of `len` values whose contents are unspecified (stale values
    /// of an earlier use, or zeros): callers overwrite every value.
    pub fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let mut v = best.map(|i| free.swap_remove(i)).unwrap_or_default();
        drop(free);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    /// Returns a buffer for reuse.
    pub fn give(&self, v: Vec<f32>) {
        if v.capacity() > 0 {
            self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(v);
        }
    }
}

/// Runs `f(row, partial)` over every `c`-wide row of `buf` in parallel, where
/// `partial` is a per-task `c`-wide accumulator. With `sums` given (one
/// `c`-wide slot per image of `hw` rows), the accumulators are added into it,
/// in f64, per image: this is how spatial means come for free with a pass
/// that runs anyway.
pub(crate) fn rows_pass<F>(buf: &mut [f32], c: usize, hw: usize, sums: Option<&mut [f64]>, f: F)
where
    F: Fn(&mut [f32], &mut [f32]) + Sync,
{
    assert!(c > 0 && hw > 0 && buf.len().is_multiple_of(c * hw), "buffer is not whole images");
    let rows_per_task = (TASK_FLOATS / c).clamp(1, hw);
    let mut tasks: Vec<(usize, &mut [f32])> = Vec::new();
    for (n, image) in buf.chunks_mut(c * hw).enumerate() {
        for rows in image.chunks_mut(rows_per_task * c) {
            tasks.push((n, rows));
        }
    }
    let want = sums.is_some();
    let partials: Vec<(usize, Vec<f32>)> = tasks
        .into_par_iter()
        .map(|(n, rows)| {
            let mut acc = vec![0f32; c];
            each_row(rows, c, &mut acc, &f);
            (n, if want { acc } else { Vec::new() })
        })
        .collect();
    if let Some(sums) = sums {
        for (n, acc) in partials {
            for (s, v) in sums[n * c..(n + 1) * c].iter_mut().zip(acc) {
                *s += f64::from(v);
            }
        }
    }
}

/// `f(row, acc)` on every `c`-wide row, compiled for AVX2 where the CPU
/// has it (the closure is inlined into the AVX2 copy, so its loops use
/// 8-lane vectors; no FMA contraction, so results are the same either way).
fn each_row<F: Fn(&mut [f32], &mut [f32])>(rows: &mut [f32], c: usize, acc: &mut [f32], f: &F) {
    #[inline(always)]
    fn body<F: Fn(&mut [f32], &mut [f32])>(rows: &mut [f32], c: usize, acc: &mut [f32], f: &F) {
        for row in rows.chunks_exact_mut(c) {
            f(row, acc);
        }
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn body_avx2<F: Fn(&mut [f32], &mut [f32])>(rows: &mut [f32], c: usize, acc: &mut [f32], f: &F) {
        body(rows, c, acc, f);
    }
    #[cfg(target_arch = "x86_64")]
    if relaxvqa_image::simd::avx2() {
        // SAFETY: the only requirement of calling a function compiled for
        // AVX2 is a CPU that has it: `simd::avx2()` is true only when the CPU has
        // AVX2 (checked before that path is chosen).
        return unsafe { body_avx2(rows, c, acc, f) };
    }
    body(rows, c, acc, f);
}

/// Output size of a convolution along one axis.
pub(crate) fn conv_out(size: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - kernel) / stride + 1
}

/// Where a convolution's windows fall on a channels-last `[h, w, c]` image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Window {
    /// Output height and width.
    pub fn out(&self) -> (usize, usize) {
        (conv_out(self.h, self.k, self.stride, self.pad), conv_out(self.w, self.k, self.stride, self.pad))
    }

    /// Values per window: `k * k * c`.
    pub fn len(&self) -> usize {
        self.k * self.k * self.c
    }

    /// Writes the window of output pixel `p` (row-major over the output) of
    /// `image` into `dst` (`k * k * c` values ordered ky, kx, channel),
    /// zeros where it leaves the image.
    pub fn gather(&self, image: &[f32], p: usize, dst: &mut [f32]) {
        let (Window { h, w, c, k, stride, pad }, (_, wo)) = (*self, self.out());
        let (oy, ox) = (p / wo, p % wo);
        for (ky, line) in dst.chunks_exact_mut(k * c).enumerate() {
            let iy = (oy * stride + ky).wrapping_sub(pad);
            if iy >= h {
                line.fill(0.0);
                continue;
            }
            let src_row = &image[iy * w * c..(iy + 1) * w * c];
            // The taps inside the image are one contiguous run of the row:
            // kx in [lo, hi) with ix = ox * stride + kx - pad in [0, w).
            let x0 = ox * stride;
            let lo = pad.saturating_sub(x0).min(k);
            let hi = (w + pad).saturating_sub(x0).min(k).max(lo);
            line[..lo * c].fill(0.0);
            if hi > lo {
                let ix = x0 + lo - pad;
                line[lo * c..hi * c].copy_from_slice(&src_row[ix * c..(ix + hi - lo) * c]);
            }
            line[hi * c..].fill(0.0);
        }
    }
}

/// Channels-last im2col of `b` images (`src` is `[b, h, w, c]`) into
/// `[b * ho * wo, k * k * c]`, in parallel. With `k = 1` and no padding it
/// is the subsampling a strided 1x1 convolution reads.
pub(crate) fn im2col(src: &[f32], b: usize, win: Window, dst: &mut [f32]) {
    let (ho, wo) = win.out();
    let (kc, image) = (win.len(), win.h * win.w * win.c);
    assert_eq!(src.len(), b * image, "im2col source size");
    assert_eq!(dst.len(), b * ho * wo * kc, "im2col destination size");
    dst.par_chunks_mut(wo * kc).enumerate().for_each(|(r, out_row)| {
        let (n, oy) = (r / ho, r % ho);
        let img = &src[n * image..(n + 1) * image];
        for (ox, patch) in out_row.chunks_exact_mut(kc).enumerate() {
            win.gather(img, oy * wo + ox, patch);
        }
    });
}

/// 3x3 max pooling, stride 2, padding 1 (padding never wins), channels-last.
pub(crate) fn max_pool_3x3_s2(src: &[f32], b: usize, h: usize, w: usize, c: usize, dst: &mut [f32]) {
    let (ho, wo) = (conv_out(h, 3, 2, 1), conv_out(w, 3, 2, 1));
    assert_eq!(dst.len(), b * ho * wo * c, "max pool output size");
    dst.par_chunks_mut(wo * c).enumerate().for_each(|(r, out_row)| {
        let (n, oy) = (r / ho, r % ho);
        for (ox, d) in out_row.chunks_exact_mut(c).enumerate() {
            d.fill(f32::NEG_INFINITY);
            for iy in (oy * 2).saturating_sub(1)..(oy * 2 + 2).min(h) {
                for ix in (ox * 2).saturating_sub(1)..(ox * 2 + 2).min(w) {
                    let s = &src[((n * h + iy) * w + ix) * c..((n * h + iy) * w + ix + 1) * c];
                    for (a, &v) in d.iter_mut().zip(s) {
                        *a = a.max(v);
                    }
                }
            }
        }
    });
}

/// LayerNorm of every `c`-wide row of `x` into `out`, after first adding
/// `pending` (a bias a previous product left out) to `x` in place.
pub(crate) fn layer_norm_rows(
    x: &mut [f32],
    out: &mut [f32],
    c: usize,
    pending: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    assert_eq!(x.len(), out.len());
    let rows = (TASK_FLOATS / c).max(1);
    x.par_chunks_mut(rows * c).zip(out.par_chunks_mut(rows * c)).for_each(|(xs, os)| {
        for (xr, or) in xs.chunks_exact_mut(c).zip(os.chunks_exact_mut(c)) {
            if let Some(p) = pending {
                for (v, &b) in xr.iter_mut().zip(p) {
                    *v += b;
                }
            }
            let mean = xr.iter().sum::<f32>() / c as f32;
            let var = xr.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for (((o, &v), &g), &bt) in or.iter_mut().zip(xr.iter()).zip(gamma).zip(beta) {
                *o = (v - mean) * inv * g + bt;
            }
        }
    });
}

/// Adds `bias` to every `c`-wide row of `x`, in parallel.
pub(crate) fn add_bias_rows(x: &mut [f32], c: usize, bias: &[f32]) {
    let rows = (TASK_FLOATS / c).max(1);
    x.par_chunks_mut(rows * c).for_each(|xs| {
        for r in xs.chunks_exact_mut(c) {
            for (v, &b) in r.iter_mut().zip(bias) {
                *v += b;
            }
        }
    });
}

/// `x = gelu(x + bias)` (exact, erf form) on every `c`-wide row, in parallel.
pub(crate) fn bias_gelu_rows(x: &mut [f32], c: usize, bias: &[f32]) {
    let rows = (TASK_FLOATS / c).max(1);
    x.par_chunks_mut(rows * c).for_each(|xs| bias_gelu(xs, c, bias));
}

avx2_dispatch!(fn bias_gelu = bias_gelu_body(xs: &mut [f32], c: usize, bias: &[f32]));

#[inline(always)]
fn bias_gelu_body(xs: &mut [f32], c: usize, bias: &[f32]) {
    for r in xs.chunks_exact_mut(c) {
        for (v, &b) in r.iter_mut().zip(bias) {
            *v = gelu(*v + b);
        }
    }
}

avx2_dispatch!(
    /// Softmax of every `c`-wide row of `x`, in place, on the calling thread.
    pub(crate) fn softmax_rows = softmax_rows_body(x: &mut [f32], c: usize)
);

#[inline(always)]
fn softmax_rows_body(x: &mut [f32], c: usize) {
    for row in x.chunks_exact_mut(c) {
        let max = lanes(row, f32::NEG_INFINITY, f32::max);
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let inv = 1.0 / lanes(row, 0.0, |a, b| a + b);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// A reduction over 8 interleaved lanes (so that it vectorises), then
/// across the lanes and the remainder.
#[inline(always)]
fn lanes(v: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = v.chunks_exact(8);
    let rest = chunks.remainder();
    for ch in chunks {
        for (a, &x) in acc.iter_mut().zip(ch) {
            *a = op(*a, x);
        }
    }
    acc.iter().chain(rest).fold(init, |a, &x| op(a, x))
}

/// `e^x` in f32, branch-free so that loops over it vectorise (Cody-Waite
/// range reduction and a degree-6 polynomial; relative error about 1e-7).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick: plain adds, so it
    // vectorises (`f32::round` is a library call on baseline x86-64).
    const MAGIC: f32 = 12_582_912.0;
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // 2^n built from its bits: n lies in [-126, 127] after the clamp, so
    // n + 127 + MAGIC is exact and its low mantissa bits are the biased
    // exponent (integer ops only, so this vectorises too).
    const MAGIC_BITS: u32 = 0x4b40_0000;
    let biased = (n + (127.0 + MAGIC)).to_bits().wrapping_sub(MAGIC_BITS);
    p * f32::from_bits(biased << 23)
}

/// `erf(x)` in f32 (Abramowitz and Stegun 7.1.26, absolute error below
/// 1.5e-7, the formula PyTorch's vectorised CPU `erf` uses), branch-free.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// Exact (erf) GELU: `x * (1 + erf(x / sqrt 2)) / 2`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            assert!(rel < 3e-7, "exp({x}): {} vs {want}", exp(x));
            x += 0.0137;
        }
    }

    #[test]
    fn erf_is_accurate() {
        // Reference values of erf; the bar is the formula's 1.5e-7 plus f32
        // rounding.
        for (x, want) in [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (-2.0, -0.995_322_265_0)] {
            let got = f64::from(erf(x));
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn softmax_matches_naive() {
        let row: Vec<f32> = (0..197).map(|i| (i as f32 * 0.71).sin() * 5.0).collect();
        let mut ours = row.repeat(2);
        softmax_rows(&mut ours, 197);
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let total: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        for (i, &v) in row.iter().enumerate() {
            let want = (f64::from(v) - max).exp() / total;
            assert!((f64::from(ours[i]) - want).abs() < 1e-6 * want.max(1e-3), "{i}");
            assert_eq!(ours[i], ours[197 + i]);
        }
    }

    #[test]
    fn gelu_rows_match_scalar() {
        let mut x: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 8.0).collect();
        let want: Vec<f32> = x.iter().map(|&v| gelu(v + 0.5)).collect();
        bias_gelu_rows(&mut x, 64, &[0.5; 64]);
        assert_eq!(x, want);
        // gelu(x) ~ x for large x, ~0 for very negative x, 0 at 0.
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(6.0) - 6.0).abs() < 1e-6 && gelu(-6.0).abs() < 1e-6);
    }

    #[test]
    fn im2col_pads_with_zeros() {
        // One 2x2 image, one channel, 3x3 kernel, pad 1: the centre tap is the pixel.
        let src = [1.0, 2.0, 3.0, 4.0];
        let mut dst = vec![9.0; 4 * 9];
        im2col(&src, 1, Window { h: 2, w: 2, c: 1, k: 3, stride: 1, pad: 1 }, &mut dst);
        assert_eq!(&dst[..9], &[0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
    }
}
