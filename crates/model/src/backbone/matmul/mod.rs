//! The backbones' matrix products (about two thirds of an extraction):
//! strided views over slices, one entry point, and which of the `gemm`
//! crate's kernel sets it runs, chosen once per process.
//!
//! - `avx2`: gemm's FMA kernels on 256-bit vectors, on every x86-64 CPU with
//!   AVX2 and FMA.
//! - `avx512`: gemm's AVX-512 kernels, only on a CPU with AVX-512F. They ran
//!   an extraction 1.60x faster on an Intel Xeon and slower on an
//!   AMD EPYC whose cores split 512-bit operations in two, so `auto` does
//!   not guess from the CPU's name: the first time on a CPU it times both on
//!   one product shaped like the networks' (a few tens of milliseconds) and
//!   keeps the result in the user cache dir, like FFTW's wisdom
//!   (`calibration`); AVX-512 runs when it is at least 5% faster.
//! - `scalar`: gemm's own pick on a CPU without both AVX2 and FMA (its portable
//!   kernels, or its FMA ones where a CPU has FMA but no AVX2).
//!
//! `RELAXVQA_SIMD=avx512|avx2` forces one (a path the CPU lacks is never
//! taken); `portable` forces our own kernels' baseline copies and leaves the
//! products on `avx2`, since gemm's scalar kernels would make an extraction
//! about ten times slower to prove nothing about our code.
//!
//! gemm picks its kernels itself at its first call and cannot be switched at
//! run time, so the `avx2` products are gemm's FMA kernels instantiated here
//! through gemm's public generic driver (exactly as gemm instantiates them,
//! which the tests check bit for bit where gemm itself picks FMA), and the
//! `avx512` products call gemm, which on a CPU with AVX-512F picks its
//! AVX-512 kernels (the `x86-v4` feature). The network shapes, packing and
//! threading are gemm's in both.
//!
//! Three parts, each naming only those before it: this module (the views,
//! the product, the kernel sets), `calibration` (the timings behind `auto`,
//! kept between runs) and `choice` (the set this process runs).

mod calibration;
mod choice;

pub use calibration::Calibration;
pub use choice::{choice, current, set, supported, MatmulChoice};

/// A set of matrix-product kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernels {
    /// Whatever gemm picks by itself on a CPU without both AVX2 and FMA
    /// (its portable kernels, or its FMA ones on the rare CPU with FMA but
    /// no AVX2).
    Scalar,
    /// gemm's FMA kernels on 256-bit vectors.
    Avx2,
    /// gemm's AVX-512 kernels.
    Avx512,
}

impl MatmulKernels {
    /// `scalar`, `avx2` or `avx512`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatmulKernels::Scalar => "scalar",
            MatmulKernels::Avx2 => "avx2",
            MatmulKernels::Avx512 => "avx512",
        }
    }

    pub(super) fn from_u8(v: u8) -> MatmulKernels {
        match v {
            3 => MatmulKernels::Avx512,
            2 => MatmulKernels::Avx2,
            _ => MatmulKernels::Scalar,
        }
    }

    pub(super) fn to_u8(self) -> u8 {
        match self {
            MatmulKernels::Scalar => 1,
            MatmulKernels::Avx2 => 2,
            MatmulKernels::Avx512 => 3,
        }
    }
}

/// A read-only strided matrix over a slice.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Distance between rows, in elements.
    pub rs: usize,
    /// Distance between columns, in elements.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix with rows `rs` apart.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        Self { data, rows, cols, rs, cs: 1 }
    }

    /// The transpose (a view, nothing moves).
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// True when every element index lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Whether a product may use the whole thread pool or must stay on the
/// calling thread (because it already runs inside a parallel task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// All rayon threads.
    Pool,
    /// The calling thread only.
    One,
}

/// `dst = (accumulate ? dst : 0) + scale * a * b`, with `dst` row-major
/// (`a.rows` x `b.cols`, rows `dst_rs` apart), on this process's kernels
/// ([`choice()`]).
///
/// # Panics
/// When the shapes do not agree or a view does not fit its slice: these are
/// programming errors inside this crate, never consequences of input data.
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    scale: f32,
    threads: Threads,
) {
    matmul_with(current(), dst, dst_rs, a, b, accumulate, scale, threads)
}

/// [`matmul`] on the given kernels (the calibration and the tests compare
/// them). `Avx2` runs gemm's FMA kernels through gemm's generic driver
/// whenever the CPU has AVX2 and FMA; any other set is gemm's own pick,
/// which is `Avx512` exactly on the CPUs that run it (callers ask for a
/// set only when [`supported`] lists it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_with(
    kernels: MatmulKernels,
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    scale: f32,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "inner dimensions differ");
    assert!(a.in_bounds() && b.in_bounds(), "matrix view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= dst_rs && (m - 1) * dst_rs + n <= dst.len(), "destination too small");
    let parallelism = match threads {
        Threads::Pool => gemm::Parallelism::Rayon(0),
        Threads::One => gemm::Parallelism::None,
    };
    let (d, l, r) = (dst.as_mut_ptr(), a.data.as_ptr(), b.data.as_ptr());
    let (lcs, lrs, rcs, rrs) = (a.cs as isize, a.rs as isize, b.cs as isize, b.rs as isize);
    // gemm's FMA kernels, instantiated as gemm does for itself; the token
    // exists only when the CPU has every feature they use.
    let v3 = <gemm_common::simd::V3 as gemm_common::simd::MixedSimd<f32, f32, f32, f32>>::try_new();
    match (kernels, v3) {
        (MatmulKernels::Avx2, Some(simd)) => {
            use gemm_f32::microkernel::fma::f32 as fma;
            // SAFETY: as for `gemm::gemm` below (same pointers, strides and
            // sizes, checked by the asserts above); the microkernels need AVX2
            // and FMA, which the `V3` token proves the CPU has (its `try_new`
            // detects them at run time). The const parameters are those gemm
            // uses for its own f32 FMA instantiation: 8 lanes, MR = MR_DIV_N
            // lanes, the microkernel table's own NR and MR_DIV_N.
            unsafe {
                gemm_common::gemm::gemm_basic_generic::<
                    _,
                    f32,
                    8,
                    { fma::MR_DIV_N * 8 },
                    { fma::NR },
                    { fma::MR_DIV_N },
                    { fma::H_M },
                    { fma::H_N },
                >(
                    simd,
                    m,
                    n,
                    k,
                    d,
                    1,
                    dst_rs as isize,
                    accumulate,
                    l,
                    lcs,
                    lrs,
                    r,
                    rcs,
                    rrs,
                    1.0,
                    scale,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &fma::UKR,
                    &fma::H_UKR,
                    false,
                    parallelism,
                )
            }
        }
        // gemm's own pick: AVX-512 where the CPU has it (the `x86-v4`
        // feature), else FMA, else scalar.
        _ => {
            // SAFETY: the asserts above prove that every index gemm touches,
            // `i * rs + j * cs` for `i < rows`, `j < cols` of each operand, lies
            // inside the operand's slice (k == 0 reads nothing from `a` or `b`).
            // `dst` is a unique borrow, so it aliases neither `a` nor `b`, and
            // gemm writes only to `dst`. All strides are below `isize::MAX`
            // because they index live slices.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    d,
                    1,
                    dst_rs as isize,
                    accumulate,
                    l,
                    lcs,
                    lrs,
                    r,
                    rcs,
                    rrs,
                    1.0,
                    scale,
                    false,
                    false,
                    false,
                    parallelism,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut d = vec![1.0f32; m * n];
        matmul(&mut d, n, MatRef::new(&a, m, k, k), MatRef::new(&b, k, n, n), true, 2.0, Threads::One);
        for i in 0..m {
            for j in 0..n {
                let s: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((d[i * n + j] - (1.0 + 2.0 * s)).abs() < 1e-5);
            }
        }
    }
}
