//! Runtime choice of the flow's row kernels: each hot row function has a
//! generic `#[inline(always)]` body, an AVX2 copy of it (8-lane vectors
//! instead of the baseline x86-64 target's 4), and a dispatcher that takes the
//! AVX2 copy when the process's path is AVX2 ([`crate::simd`]).
//!
//! FMA is deliberately not enabled: Rust never contracts `a * b + c` by
//! itself, so the AVX2 copies do the same IEEE operations in the same order
//! as the baseline build and give bit-identical results (the explicit fused
//! steps, `fma_f32`, stay exactly as they are).

/// Which copies of the row kernels to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Simd {
    /// The baseline (SSE2) copies, whatever the CPU: for tests.
    #[cfg_attr(not(test), allow(dead_code))]
    Baseline,
    /// The process's path ([`crate::simd::path`]): AVX2 where the CPU has
    /// it, unless `RELAXVQA_SIMD` says otherwise.
    Native,
}

/// Defines `$name(simd, args...)`, which runs `$body(args...)` (an
/// `#[inline(always)]` function) compiled for AVX2 when `simd` is
/// [`Simd::Native`] and the CPU has AVX2, and as compiled otherwise.
macro_rules! avx2_dispatch {
    ($(#[$attr:meta])* $vis:vis fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$attr])*
        $vis fn $name(simd: $crate::flow::simd::Simd, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if simd == $crate::flow::simd::Simd::Native && $crate::simd::avx2() {
                // SAFETY: the only requirement of calling a function compiled
                // for AVX2 is a CPU that has it: `simd::avx2()` is true only
                // when the CPU has AVX2 (`simd::decide` and `simd::set_path`
                // check it before choosing that path).
                return unsafe { avx2($($arg),*) };
            }
            let _ = simd;
            $body($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;
