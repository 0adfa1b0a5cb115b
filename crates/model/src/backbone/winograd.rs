//! 3x3 stride-1 convolutions by Winograd's minimal filtering, F(m x m, 3x3)
//! (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016), over channels-last buffers.
//!
//! Why: ResNet-50's thirteen 3x3 stride-1 convolutions hold 37% of its
//! multiply-adds. F(4x4, 3x3) computes each 4x4 output tile from a 6x6 input
//! tile with 36 multiplications per (input, output) channel pair instead of
//! 144, so these convolutions become 36 matrix products four times smaller
//! than the im2col product, plus cheap linear transforms of the tiles. The
//! transforms are exact in real arithmetic; in f32 they add rounding of the
//! order of 1e-6 relative, far inside the 1e-4 parity bar (the tests compare
//! with the im2col path).
//!
//! Layout: the input transform writes `V[xi][tile][cin]` (one row-major
//! matrix per transformed position `xi`), the products give
//! `M[xi][tile][cout] = V[xi] * U[xi]` with `U[xi]` (`[cin, cout]`) the
//! transformed filters made at load time, and the output transform folds
//! each tile's `M` values back into `m x m` output pixels.

use rayon::prelude::*;
use relaxvqa_image::avx2_dispatch;

use super::kernels::BufferPool;
use super::matmul::{matmul, MatRef, Threads};

/// Transformed floats of one group of images at most (`V` and `M` each):
/// bigger batches run in groups so that the buffers stay bounded.
const GROUP_BUDGET: usize = 1 << 22;

/// The transform matrices of one F(m x m, 3x3) algorithm.
struct Transforms {
    /// Output tile side.
    m: usize,
    /// `B^T`, `alpha x alpha` with `alpha = m + 2`.
    bt: &'static [f64],
    /// `G`, `alpha x 3`.
    g: &'static [f64],
    /// `A^T`, `m x alpha`.
    at: &'static [f64],
}

/// F(4x4, 3x3), interpolation points 0, 1, -1, 2, -2 and infinity.
const F4: Transforms = Transforms {
    m: 4,
    bt: &[
        4.0, 0.0, -5.0, 0.0, 1.0, 0.0, //
        0.0, -4.0, -4.0, 1.0, 1.0, 0.0, //
        0.0, 4.0, -4.0, -1.0, 1.0, 0.0, //
        0.0, -2.0, -1.0, 2.0, 1.0, 0.0, //
        0.0, 2.0, -1.0, -2.0, 1.0, 0.0, //
        0.0, 4.0, 0.0, -5.0, 0.0, 1.0,
    ],
    g: &[
        1.0 / 4.0,
        0.0,
        0.0,
        -1.0 / 6.0,
        -1.0 / 6.0,
        -1.0 / 6.0,
        -1.0 / 6.0,
        1.0 / 6.0,
        -1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 12.0,
        1.0 / 6.0,
        1.0 / 24.0,
        -1.0 / 12.0,
        1.0 / 6.0,
        0.0,
        0.0,
        1.0,
    ],
    at: &[
        1.0, 1.0, 1.0, 1.0, 1.0, 0.0, //
        0.0, 1.0, -1.0, 2.0, -2.0, 0.0, //
        0.0, 1.0, 1.0, 4.0, 4.0, 0.0, //
        0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
    ],
};

/// F(2x2, 3x3), interpolation points 0, 1, -1 and infinity.
const F2: Transforms = Transforms {
    m: 2,
    bt: &[
        1.0, 0.0, -1.0, 0.0, //
        0.0, 1.0, 1.0, 0.0, //
        0.0, -1.0, 1.0, 0.0, //
        0.0, 1.0, 0.0, -1.0,
    ],
    g: &[1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.0, 0.0, 1.0],
    at: &[
        1.0, 1.0, 1.0, 0.0, //
        0.0, 1.0, -1.0, -1.0,
    ],
};

/// Which algorithm a convolution uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// F(2x2, 3x3): 16 products, 2.25 times fewer multiplications (kept,
    /// and tested, as the numerically gentler choice; the network uses F4).
    #[cfg_attr(not(test), allow(dead_code))]
    F2,
    /// F(4x4, 3x3): 36 products, 4 times fewer multiplications.
    F4,
}

impl Tile {
    fn transforms(self) -> &'static Transforms {
        match self {
            Tile::F2 => &F2,
            Tile::F4 => &F4,
        }
    }
}

/// The nonzero entries of each row of a row-major matrix, as
/// `(column, coefficient)`, so that the transforms skip the zeros.
fn sparse_rows(mat: &[f64], cols: usize) -> Vec<Vec<(usize, f32)>> {
    mat.chunks_exact(cols)
        .map(|row| row.iter().enumerate().filter(|(_, &v)| v != 0.0).map(|(j, &v)| (j, v as f32)).collect())
        .collect()
}

/// A 3x3, stride 1, padding 1 convolution prepared for Winograd.
pub(crate) struct WinogradConv {
    tile: Tile,
    /// `U[xi]` for every `xi < alpha^2`: `[cin, cout]` row-major, one after
    /// the other.
    u: Vec<f32>,
    cin: usize,
    cout: usize,
    bt: Vec<Vec<(usize, f32)>>,
    at: Vec<Vec<(usize, f32)>>,
}

impl WinogradConv {
    /// Transforms filters given as the im2col matrix `w` (`[9 * cin, cout]`,
    /// rows ordered ky, kx, cin), in f64.
    pub fn new(w: &[f32], cin: usize, cout: usize, tile: Tile) -> Self {
        assert_eq!(w.len(), 9 * cin * cout, "3x3 filter matrix size");
        let t = tile.transforms();
        let alpha = t.m + 2;
        let mut u = vec![0f32; alpha * alpha * cin * cout];
        let mut gg = vec![0f64; alpha * 3];
        for ci in 0..cin {
            for co in 0..cout {
                let g = |ky: usize, kx: usize| f64::from(w[((ky * 3 + kx) * cin + ci) * cout + co]);
                // gg = G g (alpha x 3), then U = gg G^T (alpha x alpha).
                for i in 0..alpha {
                    for kx in 0..3 {
                        gg[i * 3 + kx] = (0..3).map(|ky| t.g[i * 3 + ky] * g(ky, kx)).sum();
                    }
                }
                for i in 0..alpha {
                    for j in 0..alpha {
                        let v: f64 = (0..3).map(|kx| gg[i * 3 + kx] * t.g[j * 3 + kx]).sum();
                        u[((i * alpha + j) * cin + ci) * cout + co] = v as f32;
                    }
                }
            }
        }
        Self { tile, u, cin, cout, bt: sparse_rows(t.bt, alpha), at: sparse_rows(t.at, alpha) }
    }

    /// Output tile side and transformed tile side.
    fn sides(&self) -> (usize, usize) {
        let m = self.tile.transforms().m;
        (m, m + 2)
    }

    /// Convolves channels-last `x` (`[b, h, w, cin]`) into `out`
    /// (`[b, h, w, cout]`, overwritten), without bias, then runs
    /// `epilogue(pixel)` on every output pixel's `cout` values while they
    /// are in cache.
    #[allow(clippy::too_many_arguments)]
    pub fn forward<F>(&self, x: &[f32], b: usize, h: usize, w: usize, out: &mut [f32], pool: &BufferPool, epilogue: &F)
    where
        F: Fn(&mut [f32]) + Sync,
    {
        let (cin, cout) = (self.cin, self.cout);
        assert_eq!(x.len(), b * h * w * cin, "Winograd input size");
        assert_eq!(out.len(), b * h * w * cout, "Winograd output size");
        let (m, alpha) = self.sides();
        let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
        let tiles_per_image = th * tw;
        let per_image = alpha * alpha * tiles_per_image * cin.max(cout);
        let group = (GROUP_BUDGET / per_image).clamp(1, b.max(1));
        let mut v = pool.take(group * alpha * alpha * tiles_per_image * cin);
        let mut mm = pool.take(group * alpha * alpha * tiles_per_image * cout);
        for (g, dst) in out.chunks_mut(group * h * w * cout).enumerate() {
            let n = dst.len() / (h * w * cout);
            let tiles = n * tiles_per_image;
            let src = &x[g * group * h * w * cin..(g * group + n) * h * w * cin];
            let v = &mut v[..alpha * alpha * tiles * cin];
            let mm = &mut mm[..alpha * alpha * tiles * cout];
            self.input_transform(src, h, w, v);
            // One product per transformed position, spread over the pool:
            // `V[.][xi]` is a strided view of the tile-major buffer.
            let v = &*v;
            let stride = alpha * alpha * cin;
            mm.par_chunks_mut(tiles * cout).enumerate().for_each(|(xi, mo)| {
                let u = &self.u[xi * cin * cout..(xi + 1) * cin * cout];
                matmul(
                    mo,
                    cout,
                    MatRef::new(&v[xi * cin..], tiles, cin, stride),
                    MatRef::new(u, cin, cout, cout),
                    false,
                    1.0,
                    Threads::One,
                );
            });
            self.output_transform(mm, n, h, w, dst, epilogue);
        }
        pool.give(v);
        pool.give(mm);
    }

    /// `V[tile][xi] = (B^T d B)[xi]` for every tile of `n` images (tiles
    /// row-major over images, tile rows and tile columns).
    fn input_transform(&self, x: &[f32], h: usize, w: usize, v: &mut [f32]) {
        let (m, alpha) = self.sides();
        let c = self.cin;
        let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
        let per_tile = alpha * alpha * c;
        // One task per row of tiles.
        v.par_chunks_mut(tw * per_tile).enumerate().for_each(|(r, out)| {
            let (img, ty) = (r / th, r % th);
            let image = &x[img * h * w * c..(img + 1) * h * w * c];
            let mut d = vec![0f32; per_tile];
            let mut t = vec![0f32; per_tile];
            for (tx, o) in out.chunks_exact_mut(per_tile).enumerate() {
                // Gather the alpha x alpha input tile (zeros outside).
                for i in 0..alpha {
                    let iy = (ty * m + i).wrapping_sub(1);
                    for j in 0..alpha {
                        let ix = (tx * m + j).wrapping_sub(1);
                        let dst = &mut d[(i * alpha + j) * c..(i * alpha + j + 1) * c];
                        if iy < h && ix < w {
                            dst.copy_from_slice(&image[(iy * w + ix) * c..(iy * w + ix + 1) * c]);
                        } else {
                            dst.fill(0.0);
                        }
                    }
                }
                // t = B^T d (over rows), then V = t B (over columns).
                combine(&self.bt, &d, &mut t, alpha, c, Axis::Rows);
                combine(&self.bt, &t, o, alpha, c, Axis::Cols);
            }
        });
    }

    /// `out[tile] = A^T M A`, cropped to the image.
    fn output_transform<F>(&self, mm: &[f32], n: usize, h: usize, w: usize, out: &mut [f32], epilogue: &F)
    where
        F: Fn(&mut [f32]) + Sync,
    {
        let (m, alpha) = self.sides();
        let c = self.cout;
        let (th, tw) = (h.div_ceil(m), w.div_ceil(m));
        let plane = n * th * tw * c;
        // One task per band of m pixel rows of one image.
        out.par_chunks_mut(h * w * c).enumerate().for_each(|(img, image)| {
            debug_assert!(img < n);
            image.par_chunks_mut(m * w * c).enumerate().for_each(|(ty, band)| {
                let rows_here = band.len() / (w * c);
                let mut s = vec![0f32; alpha * alpha * c];
                let mut t = vec![0f32; m * alpha * c];
                let mut y = vec![0f32; m * m * c];
                for tx in 0..tw {
                    let tile = (img * th + ty) * tw + tx;
                    for xi in 0..alpha * alpha {
                        let at = xi * plane + tile * c;
                        s[xi * c..(xi + 1) * c].copy_from_slice(&mm[at..at + c]);
                    }
                    combine(&self.at, &s, &mut t, alpha, c, Axis::Rows);
                    combine(&self.at, &t, &mut y, alpha, c, Axis::Cols);
                    for i in 0..rows_here {
                        for j in 0..m.min(w - tx * m) {
                            let ox = tx * m + j;
                            let px = &mut band[(i * w + ox) * c..(i * w + ox + 1) * c];
                            px.copy_from_slice(&y[(i * m + j) * c..(i * m + j + 1) * c]);
                            epilogue(px);
                        }
                    }
                }
            });
        });
    }
}

/// Which index of a tile a transform combines over.
#[derive(Clone, Copy)]
enum Axis {
    /// `dst[i][j] = sum_k mat[i][k] src[k][j]` (src has `alpha` rows).
    Rows,
    /// `dst[i][j] = sum_k src[i][k] mat[j][k]` (src has `alpha` columns).
    Cols,
}

avx2_dispatch!(
    /// Applies a sparse transform matrix (rows of `(k, coefficient)`) to a
    /// tile of `c`-vectors along one axis. `src` is `rows_src x cols_src`
    /// vectors, where the combined axis has length `alpha`.
    fn combine = combine_body(mat: &[Vec<(usize, f32)>], src: &[f32], dst: &mut [f32], alpha: usize, c: usize, axis: Axis)
);

#[inline(always)]
fn combine_body(mat: &[Vec<(usize, f32)>], src: &[f32], dst: &mut [f32], alpha: usize, c: usize, axis: Axis) {
    let out_len = mat.len();
    match axis {
        Axis::Rows => {
            // src: alpha x cols, dst: out_len x cols.
            let cols = src.len() / (alpha * c);
            for (i, row) in mat.iter().enumerate() {
                for j in 0..cols {
                    let d = &mut dst[(i * cols + j) * c..(i * cols + j + 1) * c];
                    axpy_sum(d, row.iter().map(|&(k, a)| (a, &src[(k * cols + j) * c..(k * cols + j + 1) * c])));
                }
            }
        }
        Axis::Cols => {
            // src: rows x alpha, dst: rows x out_len.
            let rows = src.len() / (alpha * c);
            for i in 0..rows {
                for (j, row) in mat.iter().enumerate() {
                    let d = &mut dst[(i * out_len + j) * c..(i * out_len + j + 1) * c];
                    axpy_sum(d, row.iter().map(|&(k, a)| (a, &src[(i * alpha + k) * c..(i * alpha + k + 1) * c])));
                }
            }
        }
    }
}

/// `d = sum of a * s` over the terms (at least one).
#[inline(always)]
fn axpy_sum<'a>(d: &mut [f32], mut terms: impl Iterator<Item = (f32, &'a [f32])>) {
    match terms.next() {
        Some((a, s)) => {
            for (x, &y) in d.iter_mut().zip(s) {
                *x = a * y;
            }
        }
        None => d.fill(0.0),
    }
    for (a, s) in terms {
        for (x, &y) in d.iter_mut().zip(s) {
            *x += a * y;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::kernels::{im2col, Window};

    /// The im2col product the Winograd path replaces.
    fn direct(x: &[f32], b: usize, h: usize, w: usize, wm: &[f32], cin: usize, cout: usize) -> Vec<f32> {
        let win = Window { h, w, c: cin, k: 3, stride: 1, pad: 1 };
        let mut col = vec![0f32; b * h * w * 9 * cin];
        im2col(x, b, win, &mut col);
        let mut out = vec![0f32; b * h * w * cout];
        let (rows, kc) = (b * h * w, 9 * cin);
        matmul(
            &mut out,
            cout,
            MatRef::new(&col, rows, kc, kc),
            MatRef::new(wm, kc, cout, cout),
            false,
            1.0,
            Threads::Pool,
        );
        out
    }

    #[test]
    fn matches_im2col_convolution() {
        for (tile, b, h, w, cin, cout) in [
            (Tile::F4, 2, 14, 14, 16, 24),
            (Tile::F4, 1, 7, 9, 8, 8),
            (Tile::F2, 2, 7, 7, 8, 16),
            (Tile::F4, 1, 56, 56, 64, 64),
        ] {
            let x: Vec<f32> = (0..b * h * w * cin).map(|i| ((i * 7919) % 1013) as f32 / 506.0 - 1.0).collect();
            let wm: Vec<f32> = (0..9 * cin * cout).map(|i| ((i * 104_729) % 997) as f32 / 4985.0 - 0.1).collect();
            let want = direct(&x, b, h, w, &wm, cin, cout);
            let conv = WinogradConv::new(&wm, cin, cout, tile);
            let mut got = vec![f32::NAN; want.len()];
            conv.forward(&x, b, h, w, &mut got, &BufferPool::default(), &|_: &mut [f32]| {});
            let num: f64 = got.iter().zip(&want).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
            let den: f64 = want.iter().map(|&v| f64::from(v).powi(2)).sum();
            let rel = (num / den).sqrt();
            println!("Winograd {tile:?} {b}x{h}x{w}x{cin}->{cout}: relative L2 error {rel:.2e}");
            assert!(rel < 1e-5, "{tile:?} {h}x{w}: relative error {rel}");
        }
    }
}
