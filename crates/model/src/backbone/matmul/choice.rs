//! Which kernel set this process runs: the one the CPU has, unless
//! `RELAXVQA_SIMD` asks for another it runs; on a CPU with AVX-512, `auto`
//! takes what the calibration measured (`calibration`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use relaxvqa_image::simd::{cpu_has, request, Request};

use super::calibration::{self, Calibration};
use super::MatmulKernels;

/// The kernels in use and why, for `relaxvqa info` and the logs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MatmulChoice {
    /// `scalar`, `avx2` or `avx512`.
    pub kernels: &'static str,
    /// Why: the CPU, `RELAXVQA_SIMD`, or the calibration.
    pub reason: String,
    /// The timings behind an `auto` choice on a CPU with AVX-512.
    pub calibration: Option<Calibration>,
}

/// 0: not chosen yet; otherwise `MatmulKernels::to_u8`.
static KERNELS: AtomicU8 = AtomicU8::new(0);
static CHOICE: OnceLock<MatmulChoice> = OnceLock::new();

/// The kernel sets this CPU runs, slowest first.
pub fn supported() -> Vec<MatmulKernels> {
    let mut v = Vec::new();
    if cpu_has("fma") && cpu_has("avx2") {
        v.push(MatmulKernels::Avx2);
    } else {
        v.push(MatmulKernels::Scalar);
    }
    if avx512_runs() {
        v.push(MatmulKernels::Avx512);
    }
    v
}

/// Whether gemm's AVX-512 kernels run here: built for this target and the
/// CPU has what they use (gemm checks only AVX-512F; they also use the AVX2
/// and FMA instructions).
fn avx512_runs() -> bool {
    cfg!(target_arch = "x86_64") && cpu_has("avx512f") && cpu_has("avx2") && cpu_has("fma")
}

/// The set gemm picks by itself on this CPU.
#[cfg(test)]
fn gemms_own_pick() -> MatmulKernels {
    if avx512_runs() {
        MatmulKernels::Avx512
    } else if cpu_has("fma") {
        MatmulKernels::Avx2
    } else {
        MatmulKernels::Scalar
    }
}

/// Chooses from the request, the CPU and (only for `auto` on a CPU with
/// AVX-512) `calibrate`.
fn decide(
    request: &Request,
    supported: &[MatmulKernels],
    calibrate: impl FnOnce() -> (Calibration, &'static str),
) -> (MatmulKernels, String, Option<Calibration>) {
    let has = |k| supported.contains(&k);
    let base = if has(MatmulKernels::Avx2) { MatmulKernels::Avx2 } else { MatmulKernels::Scalar };
    let base_why = if base == MatmulKernels::Avx2 { "the CPU has AVX2 and FMA" } else { "the CPU has no FMA" };
    match request {
        Request::Avx512 if has(MatmulKernels::Avx512) => (MatmulKernels::Avx512, "RELAXVQA_SIMD=avx512".into(), None),
        Request::Avx512 => (base, format!("RELAXVQA_SIMD=avx512, but the CPU has no AVX-512: {}", base.as_str()), None),
        Request::Avx2 if base == MatmulKernels::Avx2 => (base, "RELAXVQA_SIMD=avx2".into(), None),
        Request::Avx2 => (base, "RELAXVQA_SIMD=avx2, but the CPU has no AVX2 and FMA: scalar".into(), None),
        Request::Portable => (base, format!("RELAXVQA_SIMD=portable applies to our own kernels; {base_why}"), None),
        Request::Auto | Request::Unknown(_) if !has(MatmulKernels::Avx512) => {
            (base, format!("detected: {base_why}, no AVX-512"), None)
        }
        Request::Auto | Request::Unknown(_) => {
            let (cal, source) = calibrate();
            let k = if cal.avx512_wins() { MatmulKernels::Avx512 } else { MatmulKernels::Avx2 };
            let why = format!(
                "calibrated ({source}): avx512 {:.2} ms, avx2 {:.2} ms for one product; {} wins",
                cal.avx512_ms,
                cal.avx2_ms,
                k.as_str()
            );
            (k, why, Some(cal))
        }
    }
}

/// The choice of this process, made at the first call (from
/// `RELAXVQA_SIMD`, the CPU and, where it has AVX-512, the cached or a new
/// calibration). Loading a model calls it, so that a calibration never runs
/// while the networks keep the cores busy.
pub fn choice() -> &'static MatmulChoice {
    CHOICE.get_or_init(|| {
        let (k, reason, calibration) = decide(request(), &supported(), calibration::cached_or_measured);
        let _ = KERNELS.compare_exchange(0, k.to_u8(), Ordering::SeqCst, Ordering::SeqCst);
        MatmulChoice { kernels: k.as_str(), reason, calibration }
    })
}

/// The kernels the products run now.
pub fn current() -> MatmulKernels {
    match KERNELS.load(Ordering::Relaxed) {
        0 => {
            choice();
            MatmulKernels::from_u8(KERNELS.load(Ordering::Relaxed))
        }
        v => MatmulKernels::from_u8(v),
    }
}

/// Switches the kernels for the rest of the process (tests that compare
/// them in one process; benchmarks). Refuses a set the CPU lacks.
pub fn set(kernels: MatmulKernels) -> Result<(), String> {
    if !supported().contains(&kernels) {
        return Err(format!("this CPU does not run gemm's {} kernels", kernels.as_str()));
    }
    choice();
    KERNELS.store(kernels.to_u8(), Ordering::SeqCst);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{matmul_with, MatRef, Threads};
    use super::*;

    fn cal(avx512_ms: f64, avx2_ms: f64) -> Calibration {
        Calibration { avx512_ms, avx2_ms }
    }

    #[test]
    fn forced_kernels_are_taken_only_where_the_cpu_runs_them() {
        let all = [MatmulKernels::Avx2, MatmulKernels::Avx512];
        let avx2_only = [MatmulKernels::Avx2];
        let never = || -> (Calibration, &'static str) { panic!("no calibration is needed here") };
        let d = |r: &str, s: &[MatmulKernels]| decide(&Request::parse(Some(r)), s, never);
        assert_eq!(d("avx512", &all).0, MatmulKernels::Avx512);
        assert_eq!(d("avx2", &all).0, MatmulKernels::Avx2);
        assert_eq!(d("portable", &all).0, MatmulKernels::Avx2, "portable is about our kernels");
        let (k, why, _) = d("avx512", &avx2_only);
        assert_eq!(k, MatmulKernels::Avx2);
        assert!(why.contains("no AVX-512"), "{why}");
        let (k, why, c) = d("auto", &avx2_only);
        assert_eq!((k, c), (MatmulKernels::Avx2, None));
        assert_eq!(why, "detected: the CPU has AVX2 and FMA, no AVX-512");
        assert_eq!(d("avx2", &[MatmulKernels::Scalar]).0, MatmulKernels::Scalar);
    }

    #[test]
    fn auto_on_an_avx512_cpu_keeps_what_the_calibration_measured() {
        let all = [MatmulKernels::Avx2, MatmulKernels::Avx512];
        for (c, want) in [
            (cal(6.0, 10.0), MatmulKernels::Avx512),
            (cal(9.6, 10.0), MatmulKernels::Avx2),
            (cal(12.0, 10.0), MatmulKernels::Avx2),
        ] {
            let (k, why, got) = decide(&Request::Auto, &all, || (c.clone(), "measured now"));
            println!("{c:?}: {} ({why})", k.as_str());
            assert_eq!((k, got), (want, Some(c)));
            assert!(why.starts_with("calibrated (measured now): avx512 "), "{why}");
        }
    }

    /// A product in f64 from the views' elements.
    fn reference(a: MatRef<'_>, b: MatRef<'_>) -> Vec<f64> {
        let at = |m: &MatRef<'_>, i: usize, j: usize| f64::from(m.data[i * m.rs + j * m.cs]);
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
            }
        }
        out
    }

    /// gemm itself, as it picks its kernels.
    fn gemm_own(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, scale: f32, par: gemm::Parallelism) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        assert!(dst.len() >= m * n && a.data.len() >= m * k && b.data.len() >= k * n);
        // SAFETY: `dst` holds m x n row-major values; `a` and `b` are the
        // test's dense matrices (or their transposes), whose every element
        // index `i * rs + j * cs` lies inside their slices (checked above for
        // the dense shapes used here); `dst` is a unique borrow.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                a.data.as_ptr(),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr(),
                b.cs as isize,
                b.rs as isize,
                1.0,
                scale,
                false,
                false,
                false,
                par,
            )
        }
    }

    /// Every kernel set this CPU runs computes the product (against f64),
    /// and the set gemm would pick by itself gives gemm's bits exactly: on
    /// an AVX2 machine that proves the FMA instantiation here is gemm's own.
    #[test]
    fn every_kernel_set_computes_the_product_and_gemms_pick_matches_gemm_bit_for_bit() {
        let own = gemms_own_pick();
        println!("supported: {:?}; gemm's own pick: {own:?}", supported());
        let mut checked_own = 0;
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 300, 48), (392, 1152, 256)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 991) as f32 / 991.0 - 0.5).collect();
            let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let views = [
                (MatRef::new(&a, m, k, k), MatRef::new(&b, k, n, n)),
                (MatRef::new(&at, k, m, m).t(), MatRef::new(&b, k, n, n)),
            ];
            for (va, vb) in views {
                for (accumulate, scale, threads) in
                    [(false, 1.0f32, Threads::One), (true, 0.5, Threads::Pool), (false, 2.0, Threads::Pool)]
                {
                    let start: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 * 0.25).collect();
                    let want: Vec<f64> = reference(va, vb)
                        .iter()
                        .zip(&start)
                        .map(|(p, s)| if accumulate { f64::from(*s) } else { 0.0 } + f64::from(scale) * p)
                        .collect();
                    for kern in supported() {
                        let mut got = start.clone();
                        matmul_with(kern, &mut got, n, va, vb, accumulate, scale, threads);
                        let err = got.iter().zip(&want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max);
                        let bound = 1e-5 * (k as f64) * f64::from(scale.max(1.0));
                        assert!(err <= bound, "{kern:?} {m}x{k}x{n}: error {err:e} > {bound:e}");
                        if kern == own {
                            let par = match threads {
                                Threads::One => gemm::Parallelism::None,
                                Threads::Pool => gemm::Parallelism::Rayon(0),
                            };
                            let mut theirs = start.clone();
                            gemm_own(&mut theirs, va, vb, accumulate, scale, par);
                            let same = got.iter().zip(&theirs).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "{kern:?} {m}x{k}x{n} differs from gemm's own bits");
                            checked_own += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked_own, 30, "gemm's own pick is among the supported sets");
    }
}
