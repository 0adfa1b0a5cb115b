//! Gunnar Farneback's dense optical flow as OpenCV 4.9's CPU
//! `calcOpticalFlowFarneback` computes it, with box-filter averaging (flags 0)
//! and no initial flow. Every step keeps OpenCV's precision (float buffers,
//! double accumulators where OpenCV has them) and its operation order, so the
//! result agrees with OpenCV's to float rounding.

use rayon::prelude::*;

use super::fmath::floor_i32;
use super::plane::{cv_round, gaussian_blur, resize_linear, Plane};
use crate::avx2_dispatch;
use crate::simd::Copies;
use crate::{FlowField, GrayImage, ImageError};

/// Parameters of [`farneback_flow_with`]; `Default` is the set ReLaX-VQA uses
/// (OpenCV's `pyr_scale 0.5, levels 3, winsize 15, iterations 3, poly_n 5,
/// poly_sigma 1.2, flags 0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FarnebackParams {
    /// Scale between pyramid levels, in (0, 1).
    pub pyr_scale: f64,
    /// Number of pyramid levels above the full-resolution one (fewer are used
    /// when a level would be under 32 pixels wide or high, as in OpenCV).
    pub levels: usize,
    /// Side of the box window averaging the polynomial coefficients (>= 1).
    pub win_size: usize,
    /// Iterations per pyramid level.
    pub iterations: usize,
    /// Half-size of the polynomial-expansion neighbourhood (>= 1).
    pub poly_n: usize,
    /// Standard deviation of the Gaussian weighting the expansion.
    pub poly_sigma: f64,
}

impl FarnebackParams {
    /// Checks the parameters (see [`farneback_flow_with`]).
    pub fn validate(&self) -> Result<(), ImageError> {
        let invalid = |name, value: String, requirement| Err(ImageError::InvalidParameter { name, value, requirement });
        if !(self.pyr_scale > 0.0 && self.pyr_scale < 1.0) {
            return invalid("pyr_scale", format!("{:?}", self.pyr_scale), "must be in (0, 1)");
        }
        if self.win_size == 0 {
            return invalid("win_size", "0".into(), "must be at least 1");
        }
        if self.poly_n == 0 {
            return invalid("poly_n", "0".into(), "must be at least 1");
        }
        // OpenCV replaces a sigma under f32's epsilon (negative included)
        // with 0.3 * poly_n, so only a non-finite one is refused.
        if !self.poly_sigma.is_finite() {
            return invalid("poly_sigma", format!("{:?}", self.poly_sigma), "must be finite");
        }
        Ok(())
    }
}

impl Default for FarnebackParams {
    fn default() -> Self {
        Self { pyr_scale: 0.5, levels: 3, win_size: 15, iterations: 3, poly_n: 5, poly_sigma: 1.2 }
    }
}

/// Dense flow from `prev` to `next` with ReLaX-VQA's parameters
/// ([`FarnebackParams::default`]): for each pixel of `prev`, the `(dx, dy)`
/// displacement to its match in `next` (spec section 4, step 5).
///
/// Errors when the two images differ in size.
pub fn farneback_flow(prev: &GrayImage, next: &GrayImage) -> Result<FlowField, ImageError> {
    farneback_flow_with(prev, next, &FarnebackParams::default())
}

/// Dense flow from `prev` to `next` with explicit parameters (box-filter
/// averaging, no initial flow: OpenCV's flags 0).
///
/// # Errors
/// [`ImageError::SizeMismatch`] when the two images differ in size;
/// [`ImageError::InvalidParameter`] on parameters OpenCV rejects or cannot
/// run: `pyr_scale` outside (0, 1), `win_size` or `poly_n` of 0, a
/// `poly_sigma` that is not finite.
pub fn farneback_flow_with(
    prev: &GrayImage,
    next: &GrayImage,
    params: &FarnebackParams,
) -> Result<FlowField, ImageError> {
    flow_with_kernels(prev, next, params, Copies::Native)
}

/// [`farneback_flow_with`] on the chosen copies of the row kernels.
pub(crate) fn flow_with_kernels(
    prev: &GrayImage,
    next: &GrayImage,
    params: &FarnebackParams,
    simd: Copies,
) -> Result<FlowField, ImageError> {
    params.validate()?;
    let (w, h) = (prev.width(), prev.height());
    if (next.width(), next.height()) != (w, h) {
        return Err(ImageError::SizeMismatch(w, h, next.width(), next.height()));
    }
    if w == 0 || h == 0 {
        return Ok(FlowField::zeros(w, h));
    }

    const MIN_SIZE: f64 = 32.0;
    let mut levels = params.levels;
    let mut scale = 1.0;
    for k in 0..params.levels {
        scale *= params.pyr_scale;
        if w as f64 * scale < MIN_SIZE || h as f64 * scale < MIN_SIZE {
            levels = k;
            break;
        }
    }

    let images = [Plane::from_u8(w, h, prev.as_bytes()), Plane::from_u8(w, h, next.as_bytes())];
    let poly = PolyKernel::new(params.poly_n, params.poly_sigma);
    let mut prev_flow: Option<Plane> = None;

    for k in (0..=levels).rev() {
        let mut scale = 1.0;
        for _ in 0..k {
            scale *= params.pyr_scale;
        }
        let sigma = (1.0 / scale - 1.0) * 0.5;
        let smooth = (cv_round(sigma * 5.0) | 1).max(3) as usize;
        let lw = cv_round(w as f64 * scale).max(1) as usize;
        let lh = cv_round(h as f64 * scale).max(1) as usize;

        let mut flow = match prev_flow.take() {
            None => Plane::zeros(lw, lh, 2),
            Some(pf) => {
                let mut f = resize_linear(&pf, lw, lh, simd);
                let up = (1.0 / params.pyr_scale) as f32;
                f.data.iter_mut().for_each(|v| *v *= up);
                f
            }
        };

        let r: Vec<Plane> = images
            .iter()
            .map(|img| {
                let blurred = gaussian_blur(img, smooth, sigma, simd);
                let level = resize_linear(&blurred, lw, lh, simd);
                poly_exp(&level, &poly, simd)
            })
            .collect();

        for _ in 0..params.iterations {
            flow_iteration(&r[0], &r[1], &mut flow, params.win_size, simd);
        }
        prev_flow = Some(flow);
    }

    let flow = prev_flow.unwrap_or_else(|| Plane::zeros(w, h, 2));
    FlowField::from_vec(w, h, flow.data)
}

/// The polynomial-expansion kernel (`FarnebackPrepareGaussian`): the Gaussian
/// `g`, `x g`, `x^2 g` for offsets `0..=n`, and the needed entries of the
/// inverse of the 6x6 moment matrix.
pub(crate) struct PolyKernel {
    n: usize,
    g: Vec<f32>,
    xg: Vec<f32>,
    xxg: Vec<f32>,
    ig11: f64,
    ig03: f64,
    ig33: f64,
    ig55: f64,
}

impl PolyKernel {
    pub(crate) fn new(n: usize, sigma: f64) -> Self {
        let sigma = if sigma < f64::from(f32::EPSILON) { n as f64 * 0.3 } else { sigma };
        let ni = n as i64;
        let len = 2 * n + 1;
        // Index i holds offset i - n.
        let mut g = vec![0f32; len];
        let mut s = 0f64;
        for x in -ni..=ni {
            let v = (-((x * x) as f64) / (2.0 * sigma * sigma)).exp() as f32;
            g[(x + ni) as usize] = v;
            s += f64::from(v);
        }
        let s = 1.0 / s;
        let mut xg = vec![0f32; len];
        let mut xxg = vec![0f32; len];
        for x in -ni..=ni {
            let i = (x + ni) as usize;
            g[i] = (f64::from(g[i]) * s) as f32;
            xg[i] = x as f32 * g[i];
            xxg[i] = (x * x) as f32 * g[i];
        }

        let mut gm = [[0f64; 6]; 6];
        for y in -ni..=ni {
            for x in -ni..=ni {
                let gy = g[(y + ni) as usize];
                let gx = g[(x + ni) as usize];
                let (xf, yf) = (x as f32, y as f32);
                gm[0][0] += f64::from(gy * gx);
                gm[1][1] += f64::from(gy * gx * xf * xf);
                gm[3][3] += f64::from(gy * gx * xf * xf * xf * xf);
                gm[5][5] += f64::from(gy * gx * xf * xf * yf * yf);
            }
        }
        let g11 = gm[1][1];
        gm[2][2] = g11;
        gm[0][3] = g11;
        gm[0][4] = g11;
        gm[3][0] = g11;
        gm[4][0] = g11;
        gm[4][4] = gm[3][3];
        gm[3][4] = gm[5][5];
        gm[4][3] = gm[5][5];
        let inv = invert_spd6(&gm);

        Self {
            n,
            g: g[n..].to_vec(),
            xg: xg[n..].to_vec(),
            xxg: xxg[n..].to_vec(),
            ig11: inv[1][1],
            ig03: inv[0][3],
            ig33: inv[3][3],
            ig55: inv[5][5],
        }
    }
}

/// Inverse of a symmetric positive-definite 6x6 matrix by Cholesky
/// decomposition (OpenCV's `DECOMP_CHOLESKY`).
// Index loops read like the textbook algorithm; iterators would not.
#[allow(clippy::needless_range_loop)]
fn invert_spd6(a: &[[f64; 6]; 6]) -> [[f64; 6]; 6] {
    const N: usize = 6;
    let mut l = [[0f64; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                l[i][i] = s.max(0.0).sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut inv = [[0f64; N]; N];
    for col in 0..N {
        // Solve L y = e_col, then L^T x = y.
        let mut y = [0f64; N];
        for i in 0..N {
            let mut s = if i == col { 1.0 } else { 0.0 };
            for k in 0..i {
                s -= l[i][k] * y[k];
            }
            y[i] = s / l[i][i];
        }
        let mut x = [0f64; N];
        for i in (0..N).rev() {
            let mut s = y[i];
            for k in i + 1..N {
                s -= l[k][i] * x[k];
            }
            x[i] = s / l[i][i];
        }
        for i in 0..N {
            inv[i][col] = x[i];
        }
    }
    inv
}

/// `FarnebackPolyExp`: per pixel, the quadratic-polynomial coefficients of the
/// neighbourhood, stored as 5 floats `(ry, rx, ryy, rxx, rxy)` as OpenCV
/// stores them (the constant term is dropped). Borders replicate.
pub(crate) fn poly_exp(src: &Plane, k: &PolyKernel, simd: Copies) -> Plane {
    debug_assert_eq!(src.channels, 1);
    let (w, h, n) = (src.width, src.height, k.n);
    let mut dst = Plane::zeros(w, h, 5);
    let ext = w + 2 * n;
    dst.data
        .par_chunks_mut(w * 5)
        .enumerate()
        .for_each_init(|| PolyRows::new(ext, w), |bufs, (y, drow)| poly_exp_row(simd, src, k, y, bufs, drow));
    dst
}

/// Scratch rows of [`poly_exp`]: the vertical sums (padded by `n` each side)
/// and the six horizontal accumulators.
struct PolyRows {
    r0: Vec<f32>,
    r1: Vec<f32>,
    r2: Vec<f32>,
    b: [Vec<f64>; 6],
}

impl PolyRows {
    fn new(ext: usize, w: usize) -> Self {
        Self { r0: vec![0.0; ext], r1: vec![0.0; ext], r2: vec![0.0; ext], b: std::array::from_fn(|_| vec![0.0; w]) }
    }
}

avx2_dispatch!(
    with_copies
    fn poly_exp_row = poly_exp_row_body(src: &Plane, k: &PolyKernel, y: usize, bufs: &mut PolyRows, drow: &mut [f32])
);

/// One row of [`poly_exp`].
#[inline(always)]
fn poly_exp_row_body(src: &Plane, k: &PolyKernel, y: usize, bufs: &mut PolyRows, drow: &mut [f32]) {
    let (w, h, n) = (src.width, src.height, k.n);
    let PolyRows { r0, r1, r2, b } = bufs;

    // Vertical part, in float as OpenCV.
    {
        let s = src.row(y);
        let g0 = k.g[0];
        let (v0, v1, v2) = (&mut r0[n..n + w], &mut r1[n..n + w], &mut r2[n..n + w]);
        for x in 0..w {
            v0[x] = s[x] * g0;
        }
        v1.fill(0.0);
        v2.fill(0.0);
        for j in 1..=n {
            let (gk, xgk, xxgk) = (k.g[j], k.xg[j], k.xxg[j]);
            let sa = &src.row(y.saturating_sub(j))[..w];
            let sb = &src.row((y + j).min(h - 1))[..w];
            for x in 0..w {
                let p = sa[x] + sb[x];
                v0[x] += gk * p;
                v1[x] += xgk * (sb[x] - sa[x]);
                v2[x] += xxgk * p;
            }
        }
    }
    // Replicated borders for the horizontal part.
    for r in [&mut *r0, &mut *r1, &mut *r2] {
        let (first, last) = (r[n], r[n + w - 1]);
        r[..n].fill(first);
        r[n + w..].fill(last);
    }

    // Horizontal part: double accumulators; the products OpenCV forms in
    // float are formed in float here too.
    let [b1, b2, b3, b4, b5, b6] = b;
    let (b1, b2, b3, b4, b5, b6) = (&mut b1[..w], &mut b2[..w], &mut b3[..w], &mut b4[..w], &mut b5[..w], &mut b6[..w]);
    let g0 = k.g[0];
    {
        let (c0, c1, c2) = (&r0[n..n + w], &r1[n..n + w], &r2[n..n + w]);
        for x in 0..w {
            b1[x] = f64::from(c0[x] * g0);
            b3[x] = f64::from(c1[x] * g0);
            b5[x] = f64::from(c2[x] * g0);
        }
        b2.fill(0.0);
        b4.fill(0.0);
        b6.fill(0.0);
    }
    for j in 1..=n {
        let (gk, xgk, xxgk) = (k.g[j], k.xg[j], k.xxg[j]);
        let (gkd, xxgkd) = (f64::from(gk), f64::from(xxgk));
        let (p0, m0) = (&r0[n + j..n + j + w], &r0[n - j..n - j + w]);
        let (p1, m1) = (&r1[n + j..n + j + w], &r1[n - j..n - j + w]);
        let (p2, m2) = (&r2[n + j..n + j + w], &r2[n - j..n - j + w]);
        for x in 0..w {
            let tg = f64::from(p0[x] + m0[x]);
            b1[x] += tg * gkd;
            b4[x] += tg * xxgkd;
            b2[x] += f64::from((p0[x] - m0[x]) * xgk);
            b3[x] += f64::from((p1[x] + m1[x]) * gk);
            b6[x] += f64::from((p1[x] - m1[x]) * xgk);
            b5[x] += f64::from((p2[x] + m2[x]) * gk);
        }
    }
    let (ig11, ig03, ig33, ig55) = (k.ig11, k.ig03, k.ig33, k.ig55);
    for (x, d) in drow.chunks_exact_mut(5).enumerate() {
        d[0] = (b3[x] * ig11) as f32;
        d[1] = (b2[x] * ig11) as f32;
        d[2] = (b1[x] * ig03 + b5[x] * ig33) as f32;
        d[3] = (b1[x] * ig03 + b4[x] * ig33) as f32;
        d[4] = (b6[x] * ig55) as f32;
    }
}

/// Scratch rows of [`update_matrices_row`].
#[derive(Default)]
struct MatrixRows {
    /// Fractional parts of the displaced positions.
    fx: Vec<f32>,
    fy: Vec<f32>,
    /// Integer parts (floors) of the displaced positions.
    ix: Vec<i32>,
    iy: Vec<i32>,
    /// Offset of the top-left neighbour in R1, or `usize::MAX` outside.
    base: Vec<usize>,
    /// Bilinear samples of R1's five channels (0 outside).
    samp: [Vec<f32>; 5],
    /// Border fade per pixel (1 inside OpenCV's border test).
    fade: Vec<f32>,
}

impl MatrixRows {
    fn resize(&mut self, w: usize) {
        for v in [&mut self.fx, &mut self.fy, &mut self.fade] {
            v.resize(w, 0.0);
        }
        for v in &mut self.samp {
            v.resize(w, 0.0);
        }
        self.ix.resize(w, 0);
        self.iy.resize(w, 0);
        self.base.resize(w, 0);
    }
}

avx2_dispatch!(
    with_copies
    fn update_matrices_row = update_matrices_row_body(
        r0row: &[f32],
        r1: &Plane,
        frow: &[f32],
        y: usize,
        mrow: &mut [f32],
        t: &mut MatrixRows,
    )
);

/// One row of `FarnebackUpdateMatrices`: from the two expansions and the
/// current flow, the 5 per-pixel terms `(G11, G12, G22, h1, h2)` of the
/// normal equations, faded to zero near the image border. In three passes
/// over the row (positions, bilinear samples, arithmetic) so the first and
/// last vectorise; every value is computed with OpenCV's operations in
/// OpenCV's order.
#[inline(always)]
fn update_matrices_row_body(r0row: &[f32], r1: &Plane, frow: &[f32], y: usize, mrow: &mut [f32], t: &mut MatrixRows) {
    const BORDER: usize = 5;
    const FADE: [f32; BORDER] = [0.14, 0.14, 0.4472, 0.4472, 0.4472];
    let (w, h) = (r1.width, r1.height);
    let step1 = w * 5;
    t.resize(w);
    let MatrixRows { fx, fy, ix, iy, base, samp, fade } = t;
    let (fx, fy, ix, iy) = (&mut fx[..w], &mut fy[..w], &mut ix[..w], &mut iy[..w]);
    let (base, fade) = (&mut base[..w], &mut fade[..w]);
    let [s0, s1, s2, s3, s4] = samp;
    let (s0, s1, s2, s3, s4) = (&mut s0[..w], &mut s1[..w], &mut s2[..w], &mut s3[..w], &mut s4[..w]);

    // Positions, in 32-bit lanes only so that the loop vectorises (`x as i32
    // as f32` is `x as f32`: a row is far shorter than 2^31 pixels).
    let yf = y as f32;
    for (x, f) in frow[..2 * w].chunks_exact(2).enumerate() {
        let px = x as i32 as f32 + f[0];
        let py = yf + f[1];
        let x1 = floor_i32(px);
        let y1 = floor_i32(py);
        fx[x] = px - x1 as f32;
        fy[x] = py - y1 as f32;
        ix[x] = x1;
        iy[x] = y1;
    }

    // Bilinear samples of R1. OpenCV's unsigned comparisons, wrap-arounds
    // included.
    let (w1, h1) = ((w as u32).wrapping_sub(1), (h as u32).wrapping_sub(1));
    let r1d = &r1.data;
    for x in 0..w {
        let (x1, y1) = (ix[x], iy[x]);
        let inside = (x1 as u32) < w1 && (y1 as u32) < h1;
        let b = if inside { y1 as usize * step1 + x1 as usize * 5 } else { usize::MAX };
        base[x] = b;
        if b == usize::MAX {
            s0[x] = 0.0;
            s1[x] = 0.0;
            s2[x] = 0.0;
            s3[x] = 0.0;
            s4[x] = 0.0;
            continue;
        }
        let (ax, ay) = (fx[x], fy[x]);
        let a00 = (1.0 - ax) * (1.0 - ay);
        let a01 = ax * (1.0 - ay);
        let a10 = (1.0 - ax) * ay;
        let a11 = ax * ay;
        let p0 = &r1d[b..b + 10];
        let p1 = &r1d[b + step1..b + step1 + 10];
        let interp = |c: usize| a00 * p0[c] + a01 * p0[c + 5] + a10 * p1[c] + a11 * p1[c + 5];
        s0[x] = interp(0);
        s1[x] = interp(1);
        s2[x] = interp(2);
        s3[x] = interp(3);
        s4[x] = interp(4);
    }

    // Border fade: OpenCV scales only pixels its (unsigned) border test picks.
    let y_border = (y as u32).wrapping_sub(BORDER as u32) >= (h as u32).wrapping_sub(2 * BORDER as u32);
    let x_inner = (w as u32).wrapping_sub(2 * BORDER as u32);
    for (x, f) in fade.iter_mut().enumerate() {
        *f = if y_border || (x as u32).wrapping_sub(BORDER as u32) >= x_inner {
            let mut scale = if x < BORDER { FADE[x] } else { 1.0 };
            scale *= if x + BORDER >= w { FADE[w - x - 1] } else { 1.0 };
            scale *= if y < BORDER { FADE[y] } else { 1.0 };
            scale *= if y + BORDER >= h { FADE[h - y - 1] } else { 1.0 };
            scale
        } else {
            1.0
        };
    }

    // The terms (a fade of 1 changes nothing: the product is exact).
    let pixels = frow.chunks_exact(2).zip(r0row.chunks_exact(5)).zip(mrow.chunks_exact_mut(5));
    for (x, ((f, r0p), out)) in pixels.enumerate().take(w) {
        let (dx, dy) = (f[0], f[1]);
        let (mut r2, mut r3, mut r4, mut r5, mut r6);
        if base[x] != usize::MAX {
            r2 = s0[x];
            r3 = s1[x];
            r4 = (r0p[2] + s2[x]) * 0.5;
            r5 = (r0p[3] + s3[x]) * 0.5;
            r6 = (r0p[4] + s4[x]) * 0.25;
        } else {
            r2 = 0.0;
            r3 = 0.0;
            r4 = r0p[2];
            r5 = r0p[3];
            r6 = r0p[4] * 0.5;
        }
        r2 = (r0p[0] - r2) * 0.5;
        r3 = (r0p[1] - r3) * 0.5;
        r2 += r4 * dy + r6 * dx;
        r3 += r6 * dy + r5 * dx;
        let scale = fade[x];
        r2 *= scale;
        r3 *= scale;
        r4 *= scale;
        r5 *= scale;
        r6 *= scale;
        out[0] = r4 * r4 + r6 * r6;
        out[1] = (r4 + r5) * r6;
        out[2] = r5 * r5 + r6 * r6;
        out[3] = r4 * r2 + r6 * r3;
        out[4] = r6 * r2 + r5 * r3;
    }
}

/// One iteration of `FarnebackUpdateMatrices` + `FarnebackUpdateFlow_Blur`:
/// the matrices of the current flow, averaged over a `block` x `block` box
/// (replicated borders; OpenCV's double running sums, in its order), give the
/// new flow by a 2x2 solve per pixel.
///
/// The matrices are never stored whole: rows are made when the running sum
/// first needs them, into a ring of rows. That gives OpenCV's values, since a
/// matrix row only depends on the flow row it belongs to, and that flow row is
/// still the old one when the matrix row is made (it is `block / 2` rows ahead
/// of the row being solved); OpenCV's own striped update relies on the same.
pub(crate) fn flow_iteration(r0: &Plane, r1: &Plane, flow: &mut Plane, block: usize, simd: Copies) {
    let (w, h) = (flow.width, flow.height);
    let half = block / 2;
    let scale = 1.0 / (block * block) as f64;
    let len = w * 5;
    // Rows solved per block; the ring holds every matrix row a block reads.
    let chunk = 16.max(half + 2);
    let ring_rows = 2 * half + 2 + chunk;
    let mut ring = vec![0f32; ring_rows * len];
    let mut made = 0usize;
    let mut vsum = vec![0f64; len];
    let mut vrows = vec![0f64; chunk * len];

    for y0 in (0..h).step_by(chunk) {
        let y1 = (y0 + chunk).min(h);
        // Matrix rows up to the last one this block adds.
        let upto = (y1 + half).min(h);
        if upto > made {
            let start = made;
            let frozen: &Plane = flow;
            ring.par_chunks_mut(len).enumerate().for_each_init(MatrixRows::default, |t, (slot, mrow)| {
                let row = start + (slot + ring_rows - start % ring_rows) % ring_rows;
                if row < upto {
                    update_matrices_row(simd, r0.row(row), r1, frozen.row(row), row, mrow, t);
                }
            });
            made = upto;
        }
        let mrow = |r: usize| &ring[(r % ring_rows) * len..(r % ring_rows + 1) * len];

        if y0 == 0 {
            let first = mrow(0);
            let weight0 = (half + 2) as f32;
            for x in 0..len {
                vsum[x] = f64::from(first[x] * weight0);
            }
            for y in 1..half {
                let r = mrow(y.min(h - 1));
                for x in 0..len {
                    vsum[x] += f64::from(r[x]);
                }
            }
        }
        for y in y0..y1 {
            let s0 = mrow(y.saturating_sub(half + 1));
            let s1 = mrow((y + half).min(h - 1));
            let (done, rest) = vrows.split_at_mut((y - y0) * len);
            let prev: &[f64] = if y == y0 { &vsum } else { &done[(y - y0 - 1) * len..] };
            vertical_step(simd, prev, s0, s1, &mut rest[..len]);
        }
        vsum.copy_from_slice(&vrows[(y1 - y0 - 1) * len..(y1 - y0) * len]);
        flow.data[y0 * w * 2..y1 * w * 2]
            .par_chunks_mut(w * 2)
            .zip(vrows.par_chunks(len))
            .for_each_init(SolveRows::default, |t, (frow, vs)| solve_row(simd, vs, half, scale, frow, t));
    }
}

avx2_dispatch!(with_copies fn vertical_step = vertical_step_body(prev: &[f64], s0: &[f32], s1: &[f32], cur: &mut [f64]));

/// One step of the vertical running sum: `cur = prev + (s1 - s0)`.
#[inline(always)]
fn vertical_step_body(prev: &[f64], s0: &[f32], s1: &[f32], cur: &mut [f64]) {
    let len = cur.len();
    let (prev, s0, s1) = (&prev[..len], &s0[..len], &s1[..len]);
    for x in 0..len {
        cur[x] = prev[x] + f64::from(s1[x] - s0[x]);
    }
}

/// Scratch rows of [`solve_row`]: the box sums of the row, already scaled.
#[derive(Default)]
struct SolveRows {
    g11: Vec<f64>,
    g12: Vec<f64>,
    g22: Vec<f64>,
    h1: Vec<f64>,
    h2: Vec<f64>,
}

avx2_dispatch!(
    with_copies
    fn solve_row = solve_row_body(vs: &[f64], half: usize, scale: f64, frow: &mut [f32], t: &mut SolveRows)
);

/// The horizontal running sum of one row of vertical sums `vs` (5 values a
/// pixel; the row's first and last pixels repeat beyond its ends) and the
/// per-pixel 2x2 solve: first the running sum (serial along the row), then
/// the solves (independent, so that loop vectorises).
#[inline(always)]
fn solve_row_body(vs: &[f64], half: usize, scale: f64, frow: &mut [f32], t: &mut SolveRows) {
    let w = frow.len() / 2;
    let SolveRows { g11, g12, g22, h1, h2 } = t;
    for v in [&mut *g11, &mut *g12, &mut *g22, &mut *h1, &mut *h2] {
        v.resize(w, 0.0);
    }
    let (g11, g12, g22, h1, h2) = (&mut g11[..w], &mut g12[..w], &mut g22[..w], &mut h1[..w], &mut h2[..w]);
    let last = w as isize - 1;
    let px = |i: isize| {
        let i = i.clamp(0, last) as usize * 5;
        &vs[i..i + 5]
    };
    let wt = (half + 2) as f64;
    let mut s = [0f64; 5];
    for c in 0..5 {
        s[c] = vs[c] * wt;
    }
    for x in 1..half as isize {
        let p = px(x);
        for c in 0..5 {
            s[c] += p[c];
        }
    }
    let half = half as isize;
    for x in 0..w {
        let xi = x as isize;
        let (add, sub) = (px(xi + half), px(xi - half - 1));
        for c in 0..5 {
            s[c] += add[c] - sub[c];
        }
        g11[x] = s[0] * scale;
        g12[x] = s[1] * scale;
        g22[x] = s[2] * scale;
        h1[x] = s[3] * scale;
        h2[x] = s[4] * scale;
    }
    for (x, f) in frow.chunks_exact_mut(2).enumerate() {
        let (g11, g12, g22, h1, h2) = (g11[x], g12[x], g22[x], h1[x], h2[x]);
        let idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3);
        f[0] = ((g11 * h2 - g12 * h1) * idet) as f32;
        f[1] = ((g22 * h1 - g12 * h2) * idet) as f32;
    }
}

/// [`update_matrices_row`] written as OpenCV's single loop, to test the
/// three-pass version against.
#[cfg(test)]
fn update_matrices_row_reference(r0row: &[f32], r1: &Plane, frow: &[f32], y: usize, mrow: &mut [f32]) {
    const BORDER: usize = 5;
    const FADE: [f32; BORDER] = [0.14, 0.14, 0.4472, 0.4472, 0.4472];
    let (w, h) = (r1.width, r1.height);
    let step1 = w * 5;
    let r1d = &r1.data;
    // OpenCV's unsigned comparisons, wrap-arounds included.
    let y_border = (y as u32).wrapping_sub(BORDER as u32) >= (h as u32).wrapping_sub(2 * BORDER as u32);
    let x_inner = (w as u32).wrapping_sub(2 * BORDER as u32);
    let (w1, h1) = ((w as u32).wrapping_sub(1), (h as u32).wrapping_sub(1));
    let pixels = frow.chunks_exact(2).zip(r0row.chunks_exact(5)).zip(mrow.chunks_exact_mut(5));
    for (x, ((f, r0p), out)) in pixels.enumerate() {
        let (dx, dy) = (f[0], f[1]);
        let mut fx = x as f32 + dx;
        let mut fy = y as f32 + dy;
        let x1 = floor_i32(fx);
        let y1 = floor_i32(fy);
        fx -= x1 as f32;
        fy -= y1 as f32;
        let (mut r2, mut r3, mut r4, mut r5, mut r6);
        if (x1 as u32) < w1 && (y1 as u32) < h1 {
            let a00 = (1.0 - fx) * (1.0 - fy);
            let a01 = fx * (1.0 - fy);
            let a10 = (1.0 - fx) * fy;
            let a11 = fx * fy;
            let base = y1 as usize * step1 + x1 as usize * 5;
            let p0 = &r1d[base..base + 10];
            let p1 = &r1d[base + step1..base + step1 + 10];
            let interp = |c: usize| a00 * p0[c] + a01 * p0[c + 5] + a10 * p1[c] + a11 * p1[c + 5];
            r2 = interp(0);
            r3 = interp(1);
            r4 = interp(2);
            r5 = interp(3);
            r6 = interp(4);
            r4 = (r0p[2] + r4) * 0.5;
            r5 = (r0p[3] + r5) * 0.5;
            r6 = (r0p[4] + r6) * 0.25;
        } else {
            r2 = 0.0;
            r3 = 0.0;
            r4 = r0p[2];
            r5 = r0p[3];
            r6 = r0p[4] * 0.5;
        }
        r2 = (r0p[0] - r2) * 0.5;
        r3 = (r0p[1] - r3) * 0.5;
        r2 += r4 * dy + r6 * dx;
        r3 += r6 * dy + r5 * dx;

        if y_border || (x as u32).wrapping_sub(BORDER as u32) >= x_inner {
            let mut scale = if x < BORDER { FADE[x] } else { 1.0 };
            scale *= if x + BORDER >= w { FADE[w - x - 1] } else { 1.0 };
            scale *= if y < BORDER { FADE[y] } else { 1.0 };
            scale *= if y + BORDER >= h { FADE[h - y - 1] } else { 1.0 };
            r2 *= scale;
            r3 *= scale;
            r4 *= scale;
            r5 *= scale;
            r6 *= scale;
        }

        out[0] = r4 * r4 + r6 * r6;
        out[1] = (r4 + r5) * r6;
        out[2] = r5 * r5 + r6 * r6;
        out[3] = r4 * r2 + r6 * r3;
        out[4] = r6 * r2 + r5 * r3;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_errors_not_panics() {
        let img = GrayImage::from_vec(40, 36, (0..40 * 36).map(|i| (i * 7 % 251) as u8).collect()).expect("img");
        let with = |p: FarnebackParams| farneback_flow_with(&img, &img, &p);
        let d = FarnebackParams::default();
        for (p, name) in [
            (FarnebackParams { pyr_scale: 0.0, ..d }, "pyr_scale"),
            (FarnebackParams { pyr_scale: 1.0, ..d }, "pyr_scale"),
            (FarnebackParams { pyr_scale: f64::NAN, ..d }, "pyr_scale"),
            (FarnebackParams { win_size: 0, ..d }, "win_size"),
            (FarnebackParams { poly_n: 0, ..d }, "poly_n"),
            (FarnebackParams { poly_sigma: f64::INFINITY, ..d }, "poly_sigma"),
        ] {
            match with(p) {
                Err(ImageError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}: expected an InvalidParameter error, got {other:?}"),
            }
        }
        println!("example message: {}", with(FarnebackParams { pyr_scale: 1.5, ..d }).expect_err("1.5"));
        // Extreme but valid values run: windows far larger than the image,
        // OpenCV's automatic sigma, more levels than the image allows.
        let big = FarnebackParams { win_size: 301, poly_n: 40, poly_sigma: -1.0, levels: 50, iterations: 1, ..d };
        let flow = with(big).expect("large windows");
        assert_eq!((flow.width(), flow.height()), (40, 36));
        let tiny = GrayImage::from_vec(1, 1, vec![9]).expect("1x1");
        assert!(farneback_flow_with(&tiny, &tiny, &big).is_ok());
    }

    /// A small deterministic generator of floats in [lo, hi).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, lo: f32, hi: f32) -> f32 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            lo + (hi - lo) * ((self.0 >> 40) as f32 / (1u64 << 24) as f32)
        }
    }

    fn plane(w: usize, h: usize, c: usize, rng: &mut Lcg, lo: f32, hi: f32) -> Plane {
        Plane { width: w, height: h, channels: c, data: (0..w * h * c).map(|_| rng.next(lo, hi)).collect() }
    }

    #[test]
    fn three_pass_matrix_row_matches_the_single_loop() {
        let mut rng = Lcg(7);
        let mut t = MatrixRows::default();
        for (w, h) in [(1, 1), (3, 2), (8, 6), (9, 12), (12, 12), (40, 33)] {
            let r0 = plane(w, h, 5, &mut rng, -50.0, 50.0);
            let r1 = plane(w, h, 5, &mut rng, -50.0, 50.0);
            let flow = plane(w, h, 2, &mut rng, -4.0, 4.0);
            for y in 0..h {
                let mut a = vec![0f32; w * 5];
                let mut b = vec![0f32; w * 5];
                update_matrices_row(Copies::Native, r0.row(y), &r1, flow.row(y), y, &mut a, &mut t);
                update_matrices_row_reference(r0.row(y), &r1, flow.row(y), y, &mut b);
                let same = a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(same, "{w}x{h} row {y}");
            }
        }
    }

    #[test]
    fn poly_kernel_inverse_is_an_inverse() {
        let k = PolyKernel::new(5, 1.2);
        let s: f32 = k.g[0] + 2.0 * k.g[1..].iter().sum::<f32>();
        assert!((s - 1.0).abs() < 1e-6, "g sums to {s}");
        // ig11 = 1 / G(1,1), ig55 = 1 / G(5,5) for this block structure.
        assert!(k.ig11 > 0.0 && k.ig33 > 0.0 && k.ig55 > 0.0 && k.ig03 < 0.0);
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn cholesky_inverse_inverts() {
        let mut a = [[0f64; 6]; 6];
        for i in 0..6 {
            for j in 0..6 {
                a[i][j] = 1.0 / (1.0 + (i as f64 - j as f64).abs()) + if i == j { 2.0 } else { 0.0 };
            }
        }
        let inv = invert_spd6(&a);
        for i in 0..6 {
            for j in 0..6 {
                let v: f64 = (0..6).map(|k| a[i][k] * inv[k][j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-12, "({i},{j}) = {v}");
            }
        }
    }
}
