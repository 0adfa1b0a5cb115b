//! Float image planes and the two OpenCV `imgproc` operations the Farneback
//! pyramid needs, with OpenCV's float arithmetic (CPU path):
//!
//! - `GaussianBlur` on `CV_32F` (separable filter, `BORDER_REFLECT_101`, the
//!   kernel of `getGaussianKernel`);
//! - `resize` with `INTER_LINEAR` on `CV_32F` (float coefficients; an exact 2x
//!   downscale goes through OpenCV's fast area path, as OpenCV does).

use rayon::prelude::*;

use super::fmath::floor_i32;
use crate::avx2_dispatch;
use crate::simd::Copies;

/// A row-major float image with `channels` interleaved values per pixel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plane {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) channels: usize,
    pub(crate) data: Vec<f32>,
}

impl Plane {
    /// An all-zero plane.
    pub(crate) fn zeros(width: usize, height: usize, channels: usize) -> Self {
        Self { width, height, channels, data: vec![0.0; width * height * channels] }
    }

    /// Values per row.
    pub(crate) fn stride(&self) -> usize {
        self.width * self.channels
    }

    /// One row of `width * channels` values.
    pub(crate) fn row(&self, y: usize) -> &[f32] {
        let s = self.stride();
        &self.data[y * s..(y + 1) * s]
    }

    /// An 8-bit single-channel image as floats (OpenCV `convertTo(CV_32F)`).
    pub(crate) fn from_u8(width: usize, height: usize, bytes: &[u8]) -> Self {
        Self { width, height, channels: 1, data: bytes.iter().map(|&b| f32::from(b)).collect() }
    }
}

/// OpenCV's `cvRound` on a double: round half to even.
pub(crate) fn cv_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// `borderInterpolate` for `BORDER_REFLECT_101` (`gfedcb|abcdefgh|gfedcba`).
fn reflect_101(p: isize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let n = len as isize;
    let mut p = p;
    while p < 0 || p >= n {
        p = if p < 0 { -p } else { 2 * n - p - 2 };
    }
    p as usize
}

/// `getGaussianKernel(n, sigma, CV_32F)` as OpenCV 4 computes it
/// (`getGaussianKernelBitExact`, then rounded to float).
pub(crate) fn gaussian_kernel(n: usize, sigma: f64) -> Vec<f32> {
    const SMALL: [&[f32]; 4] = [
        &[1.0],
        &[0.25, 0.5, 0.25],
        &[0.0625, 0.25, 0.375, 0.25, 0.0625],
        &[0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
    ];
    if n % 2 == 1 && n <= 7 && sigma <= 0.0 {
        return SMALL[n / 2].to_vec();
    }
    let sigma = if sigma > 0.0 { sigma } else { n as f64 * 0.15 + 0.35 };
    let scale2x = -0.125 / (sigma * sigma);
    let half = n / 2;
    // x runs over 1-n, 3-n, ...: twice the distance to the centre.
    let values: Vec<f64> = (0..half)
        .map(|i| {
            let x = 2 * i as i64 + 1 - n as i64;
            ((x * x) as f64 * scale2x).exp()
        })
        .collect();
    let mut sum: f64 = values.iter().sum();
    sum *= 2.0;
    if n % 2 == 1 {
        sum += 1.0;
    }
    let mul = 1.0 / sum;
    let mut out = vec![0f32; n];
    for (i, v) in values.iter().enumerate() {
        let t = (v * mul) as f32;
        out[i] = t;
        out[n - 1 - i] = t;
    }
    if n % 2 == 1 {
        out[half] = mul as f32;
    }
    out
}

/// `GaussianBlur(src, ksize x ksize, sigma, sigma, BORDER_REFLECT_101)` of a
/// single-channel float plane.
pub(crate) fn gaussian_blur(src: &Plane, ksize: usize, sigma: f64, simd: Copies) -> Plane {
    debug_assert_eq!(src.channels, 1);
    let (w, h) = (src.width, src.height);
    // OpenCV drops the filter along a dimension of length 1.
    let kx_size = if w == 1 { 1 } else { ksize };
    let ky_size = if h == 1 { 1 } else { ksize };
    if kx_size == 1 && ky_size == 1 {
        return src.clone();
    }
    let kx = gaussian_kernel(kx_size, sigma);
    let ky = gaussian_kernel(ky_size, sigma);

    // Row pass.
    let rx = kx_size / 2;
    let mut tmp = Plane::zeros(w, h, 1);
    tmp.data.par_chunks_mut(w).enumerate().for_each_init(
        || vec![0f32; w + 2 * rx],
        |ext, (y, out)| {
            let row = src.row(y);
            ext[rx..rx + w].copy_from_slice(row);
            for i in 0..rx {
                ext[rx - 1 - i] = row[reflect_101(-1 - i as isize, w)];
                ext[rx + w + i] = row[reflect_101((w + i) as isize, w)];
            }
            row_filter(simd, ext, out, &kx);
        },
    );

    // Column pass.
    let ry = ky_size / 2;
    let mut dst = Plane::zeros(w, h, 1);
    dst.data.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        let rows: Vec<&[f32]> =
            (0..ky_size).map(|k| tmp.row(reflect_101(y as isize + k as isize - ry as isize, h))).collect();
        column_filter(simd, &rows, out, &ky);
    });
    dst
}

avx2_dispatch!(with_copies fn row_filter = row_filter_body(ext: &[f32], out: &mut [f32], k: &[f32]));
avx2_dispatch!(with_copies fn column_filter = column_filter_body(rows: &[&[f32]], out: &mut [f32], k: &[f32]));

/// One row of a separable float filter: `ext` is the row with `k.len()/2`
/// border values on each side. Small symmetric kernels (3 or 5 taps) use
/// OpenCV's `SymmRowSmallFilter` sums, longer ones the plain `RowFilter` sum.
#[inline(always)]
fn row_filter_body(ext: &[f32], out: &mut [f32], k: &[f32]) {
    let w = out.len();
    match k.len() {
        1 => out.copy_from_slice(&ext[..w]),
        3 => {
            let (k0, k1) = (k[1], k[2]);
            let (l, c, r) = (&ext[..w], &ext[1..w + 1], &ext[2..w + 2]);
            for x in 0..w {
                out[x] = c[x] * k0 + (l[x] + r[x]) * k1;
            }
        }
        5 => {
            let (k0, k1, k2) = (k[2], k[3], k[4]);
            for x in 0..w {
                out[x] = ext[x + 2] * k0 + (ext[x + 1] + ext[x + 3]) * k1 + (ext[x] + ext[x + 4]) * k2;
            }
        }
        n => {
            let first = &ext[..w];
            for x in 0..w {
                out[x] = first[x] * k[0];
            }
            for (j, &kj) in k.iter().enumerate().take(n).skip(1) {
                let src = &ext[j..j + w];
                for x in 0..w {
                    out[x] += src[x] * kj;
                }
            }
        }
    }
}

/// One row of the column pass of a symmetric float filter
/// (`SymmColumnFilter` / `SymmColumnSmallFilter`): `rows` are the
/// `k.len()` source rows, top to bottom.
#[inline(always)]
fn column_filter_body(rows: &[&[f32]], out: &mut [f32], k: &[f32]) {
    let w = out.len();
    let r = k.len() / 2;
    let centre = &rows[r][..w];
    if k.len() == 1 {
        out.copy_from_slice(centre);
        return;
    }
    if k.len() == 3 {
        let (up, down) = (&rows[0][..w], &rows[2][..w]);
        let (k0, k1) = (k[1], k[2]);
        for x in 0..w {
            out[x] = (up[x] + down[x]) * k1 + centre[x] * k0;
        }
        return;
    }
    let k0 = k[r];
    for x in 0..w {
        out[x] = k0 * centre[x];
    }
    for i in 1..=r {
        let ki = k[r + i];
        let (up, down) = (&rows[r - i][..w], &rows[r + i][..w]);
        for x in 0..w {
            out[x] += ki * (down[x] + up[x]);
        }
    }
}

/// `resize(src, (dw, dh), INTER_LINEAR)` on a float plane with any number of
/// channels.
pub(crate) fn resize_linear(src: &Plane, dw: usize, dh: usize, simd: Copies) -> Plane {
    let (sw, sh, cn) = (src.width, src.height, src.channels);
    if dw == sw && dh == sh {
        return src.clone();
    }
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return Plane::zeros(dw, dh, cn);
    }
    let inv_scale_x = dw as f64 / sw as f64;
    let inv_scale_y = dh as f64 / sh as f64;
    let scale_x = 1.0 / inv_scale_x;
    let scale_y = 1.0 / inv_scale_y;
    let iscale_x = scale_x.round_ties_even();
    let iscale_y = scale_y.round_ties_even();
    let area_fast = (scale_x - iscale_x).abs() < f64::EPSILON && (scale_y - iscale_y).abs() < f64::EPSILON;
    if area_fast && iscale_x == 2.0 && iscale_y == 2.0 {
        return resize_area_half(src, dw, dh, simd);
    }

    // Horizontal coefficients.
    let mut xofs = vec![0usize; dw];
    let mut alpha = vec![[0f32; 2]; dw];
    let mut xmax = dw;
    for dx in 0..dw {
        let mut fx = ((dx as f64 + 0.5) * scale_x - 0.5) as f32;
        let mut sx = i64::from(floor_i32(fx));
        fx -= sx as f32;
        if sx < 0 {
            fx = 0.0;
            sx = 0;
        }
        if sx + 1 >= sw as i64 {
            xmax = xmax.min(dx);
            if sx >= sw as i64 - 1 {
                fx = 0.0;
                sx = sw as i64 - 1;
            }
        }
        xofs[dx] = sx as usize;
        alpha[dx] = [1.0 - fx, fx];
    }

    let xmap = XMap { xofs: &xofs, alpha: &alpha, xmax, cn };
    let mut dst = Plane::zeros(dw, dh, cn);
    let dstride = dw * cn;
    dst.data.par_chunks_mut(dstride).enumerate().for_each_init(
        || (vec![0f32; dstride], vec![0f32; dstride]),
        |(buf0, buf1), (dy, out)| {
            let mut fy = ((dy as f64 + 0.5) * scale_y - 0.5) as f32;
            let sy = i64::from(floor_i32(fy));
            fy -= sy as f32;
            let clip = |v: i64| v.clamp(0, sh as i64 - 1) as usize;
            let rows = (src.row(clip(sy)), src.row(clip(sy + 1)));
            resize_row(simd, rows, &xmap, fy, buf0, buf1, out);
        },
    );
    dst
}

/// The horizontal coefficients of [`resize_linear`]: source pixel and the two
/// weights per output pixel (outputs from `xmax` on copy the source pixel).
struct XMap<'a> {
    xofs: &'a [usize],
    alpha: &'a [[f32; 2]],
    xmax: usize,
    cn: usize,
}

avx2_dispatch!(
    with_copies
    fn resize_row = resize_row_body(
        rows: (&[f32], &[f32]),
        xmap: &XMap,
        fy: f32,
        buf0: &mut [f32],
        buf1: &mut [f32],
        out: &mut [f32],
    )
);

/// One source row `s` of [`resize_linear`] resized horizontally into `out`.
#[inline(always)]
fn hresize(s: &[f32], xmap: &XMap, out: &mut [f32]) {
    let &XMap { xofs, alpha, xmax, cn } = xmap;
    for dx in 0..xmax {
        let sx = xofs[dx] * cn;
        let [a0, a1] = alpha[dx];
        for k in 0..cn {
            out[dx * cn + k] = s[sx + k] * a0 + s[sx + k + cn] * a1;
        }
    }
    for dx in xmax..xofs.len() {
        let sx = xofs[dx] * cn;
        out[dx * cn..(dx + 1) * cn].copy_from_slice(&s[sx..sx + cn]);
    }
}

/// One output row of [`resize_linear`]: both source rows resized
/// horizontally, then blended with weights `1 - fy` and `fy`.
#[inline(always)]
fn resize_row_body(rows: (&[f32], &[f32]), xmap: &XMap, fy: f32, buf0: &mut [f32], buf1: &mut [f32], out: &mut [f32]) {
    hresize(rows.0, xmap, buf0);
    hresize(rows.1, xmap, buf1);
    let (b0, b1) = (1.0 - fy, fy);
    let len = out.len();
    let (buf0, buf1) = (&buf0[..len], &buf1[..len]);
    for x in 0..len {
        out[x] = buf0[x] * b0 + buf1[x] * b1;
    }
}

/// OpenCV's fast area resize for an exact 2x downscale (which `resize` uses for
/// `INTER_LINEAR` too): the mean of each 2x2 block, summed as OpenCV's
/// vector path does for 1 or 4 channels and as its scalar path otherwise.
fn resize_area_half(src: &Plane, dw: usize, dh: usize, simd: Copies) -> Plane {
    let cn = src.channels;
    let dstride = dw * cn;
    let mut dst = Plane::zeros(dw, dh, cn);
    // The 128-bit vector path covers whole groups of 4 output values.
    let vec_end = if cn == 1 || cn == 4 { (dstride / 4) * 4 } else { 0 };
    dst.data.par_chunks_mut(dstride).enumerate().for_each(|(dy, out)| {
        area_half_row(simd, src.row(2 * dy), src.row(2 * dy + 1), cn, vec_end, out);
    });
    dst
}

avx2_dispatch!(
    with_copies
    fn area_half_row = area_half_row_body(s0: &[f32], s1: &[f32], cn: usize, vec_end: usize, out: &mut [f32])
);

/// One output row of [`resize_area_half`] from source rows `s0` and `s1`.
#[inline(always)]
fn area_half_row_body(s0: &[f32], s1: &[f32], cn: usize, vec_end: usize, out: &mut [f32]) {
    if cn == 1 {
        // The same sums without a division per value, so that it vectorises.
        let w = out.len();
        let (s0, s1) = (&s0[..2 * w], &s1[..2 * w]);
        let vec_end = vec_end.min(w);
        for (i, o) in out[..vec_end].iter_mut().enumerate() {
            let (a, b, c, d) = (s0[2 * i], s0[2 * i + 1], s1[2 * i], s1[2 * i + 1]);
            *o = ((a + b) + (c + d)) * 0.25;
        }
        for (i, o) in out.iter_mut().enumerate().skip(vec_end) {
            let (a, b, c, d) = (s0[2 * i], s0[2 * i + 1], s1[2 * i], s1[2 * i + 1]);
            *o = (((a + b) + c) + d) * 0.25;
        }
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let (px, k) = (i / cn, i % cn);
        let a = s0[2 * px * cn + k];
        let b = s0[(2 * px + 1) * cn + k];
        let c = s1[2 * px * cn + k];
        let d = s1[(2 * px + 1) * cn + k];
        *o = if i < vec_end { ((a + b) + (c + d)) * 0.25 } else { (((a + b) + c) + d) * 0.25 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_101_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|p| reflect_101(p, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect_101(-4, 1), 0);
    }

    #[test]
    fn gaussian_kernel_sums_to_one_and_uses_the_small_table() {
        assert_eq!(gaussian_kernel(3, 0.0), vec![0.25, 0.5, 0.25]);
        for (n, s) in [(3, 0.5), (9, 1.5), (19, 3.5)] {
            let k = gaussian_kernel(n, s);
            let sum: f32 = k.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "n={n} sum={sum}");
            assert_eq!(k[0], k[n - 1]);
        }
    }

    #[test]
    fn resize_keeps_constants_and_halves_by_block_means() {
        let p = Plane { width: 4, height: 2, channels: 1, data: vec![0., 2., 4., 6., 2., 4., 6., 8.] };
        let r = resize_linear(&p, 2, 1, Copies::Native);
        assert_eq!(r.data, vec![2.0, 6.0]);
        let c = Plane { width: 3, height: 3, channels: 2, data: vec![1.5; 18] };
        let up = resize_linear(&c, 7, 5, Copies::Native);
        assert!(up.data.iter().all(|&v| (v - 1.5).abs() < 1e-6));
    }
}
