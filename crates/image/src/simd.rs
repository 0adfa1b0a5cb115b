//! Which vector instructions our own kernels use (the flow's row kernels,
//! the Winograd transforms, the bias/GELU/softmax rows), chosen once per
//! process and readable by anyone who wants to say what ran:
//!
//! - `RELAXVQA_SIMD=avx512|avx2|portable` forces a path (tests, benchmarks,
//!   comparisons); `auto` or unset takes the best one the CPU runs. A path
//!   the CPU lacks is never taken (it would stop the process with an illegal
//!   instruction): the choice falls back and says why. [`request`] is the
//!   parsed variable, for the matrix products' own choice (the model crate's
//!   `backbone::matmul`), which reads the same variable.
//! - Every path gives the same numbers: the AVX2 copies are the portable
//!   bodies compiled with 8-lane vectors and no FMA contraction, so they do
//!   the same IEEE operations in the same order (tests compare them bit for
//!   bit).
//! - There are no AVX-512 copies of these kernels: none has run on a
//!   machine with AVX-512, and none ships before it has. A CPU with AVX-512
//!   runs the AVX2 copies, and [`choice`] says so.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// A set of kernel copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimdPath {
    /// Baseline x86-64 (SSE2) or whatever the target has by default.
    Portable,
    /// 256-bit vectors (AVX2).
    Avx2,
}

impl SimdPath {
    /// `portable` or `avx2`, as `RELAXVQA_SIMD` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SimdPath::Portable => "portable",
            SimdPath::Avx2 => "avx2",
        }
    }
}

/// The path in use and why: what `relaxvqa info` prints, so that a
/// measurement can say which path it measured.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SimdChoice {
    /// `portable` or `avx2`.
    pub path: &'static str,
    /// Why: detected, forced, or a forced path the CPU lacks.
    pub reason: String,
    /// What the CPU offers, of what matters here: `avx2`, `fma`, `avx512f`.
    pub cpu: Vec<&'static str>,
}

/// What `RELAXVQA_SIMD` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Unset, empty or `auto`: the best path for this CPU.
    Auto,
    /// `portable`.
    Portable,
    /// `avx2`.
    Avx2,
    /// `avx512`.
    Avx512,
    /// Anything else (the value, trimmed and lower-cased): treated as `auto`,
    /// and the reason says so.
    Unknown(String),
}

impl Request {
    /// Reads a value of `RELAXVQA_SIMD` (case and surrounding blanks ignored).
    pub fn parse(value: Option<&str>) -> Request {
        let Some(v) = value.map(|v| v.trim().to_ascii_lowercase()) else { return Request::Auto };
        match v.as_str() {
            "" | "auto" => Request::Auto,
            "portable" => Request::Portable,
            "avx2" => Request::Avx2,
            "avx512" => Request::Avx512,
            _ => Request::Unknown(v),
        }
    }
}

/// This process's `RELAXVQA_SIMD`, read once.
pub fn request() -> &'static Request {
    static REQUEST: OnceLock<Request> = OnceLock::new();
    REQUEST.get_or_init(|| Request::parse(std::env::var("RELAXVQA_SIMD").ok().as_deref()))
}

/// 0: not chosen yet; otherwise 1 + the path's index.
static PATH: AtomicU8 = AtomicU8::new(0);
static CHOICE: OnceLock<SimdChoice> = OnceLock::new();

/// Whether this CPU has `feature`, of `avx2`, `fma` and `avx512f` (false
/// for any other name, and on other architectures).
pub fn cpu_has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// Chooses from what `RELAXVQA_SIMD` asks and what the CPU has.
fn decide(request: &Request) -> (SimdPath, String) {
    let best = if cpu_has("avx2") { SimdPath::Avx2 } else { SimdPath::Portable };
    let detected = match (best, cpu_has("avx512f")) {
        (SimdPath::Avx2, true) => {
            "the CPU has AVX-512 and AVX2; AVX2 copies (no AVX-512 copies are built: none has been tested yet)"
        }
        (SimdPath::Avx2, false) => "the CPU has AVX2",
        (SimdPath::Portable, _) => "the CPU has no AVX2",
    };
    match request {
        Request::Auto => (best, format!("detected: {detected}")),
        Request::Portable => (SimdPath::Portable, "RELAXVQA_SIMD=portable".into()),
        Request::Avx2 if best == SimdPath::Avx2 => (SimdPath::Avx2, "RELAXVQA_SIMD=avx2".into()),
        Request::Avx2 => (best, "RELAXVQA_SIMD=avx2, but the CPU has no AVX2: portable copies".into()),
        Request::Avx512 => (
            best,
            format!("RELAXVQA_SIMD=avx512, but no AVX-512 copies of these kernels are built: {} copies", best.as_str()),
        ),
        Request::Unknown(f) => {
            (best, format!("RELAXVQA_SIMD={f} is not one of auto, avx512, avx2, portable; {detected}"))
        }
    }
}

/// The choice of this process (made at the first call, from
/// `RELAXVQA_SIMD` and the CPU).
pub fn choice() -> &'static SimdChoice {
    CHOICE.get_or_init(|| {
        let (path, reason) = decide(request());
        let _ = PATH.compare_exchange(0, path as u8 + 1, Ordering::SeqCst, Ordering::SeqCst);
        let cpu = ["avx2", "fma", "avx512f"].into_iter().filter(|f| cpu_has(f)).collect();
        SimdChoice { path: path_of(PATH.load(Ordering::SeqCst)).as_str(), reason, cpu }
    })
}

fn path_of(v: u8) -> SimdPath {
    match v {
        2 => SimdPath::Avx2,
        _ => SimdPath::Portable,
    }
}

/// The path our kernels run now.
pub fn path() -> SimdPath {
    match PATH.load(Ordering::Relaxed) {
        0 => {
            choice();
            path_of(PATH.load(Ordering::Relaxed))
        }
        v => path_of(v),
    }
}

/// Whether the AVX2 copies run (checked by every dispatching kernel).
#[inline]
pub fn avx2() -> bool {
    path() == SimdPath::Avx2
}

/// Switches the path for the rest of the process (tests that compare the
/// paths in one process; benchmarks). Refuses a path the CPU lacks.
pub fn set_path(path: SimdPath) -> Result<(), String> {
    if path == SimdPath::Avx2 && !cpu_has("avx2") {
        return Err("this CPU has no AVX2".into());
    }
    choice();
    PATH.store(path as u8 + 1, Ordering::SeqCst);
    Ok(())
}

/// The paths this CPU runs, portable first.
pub fn supported() -> Vec<SimdPath> {
    let mut v = vec![SimdPath::Portable];
    if cpu_has("avx2") {
        v.push(SimdPath::Avx2);
    }
    v
}

/// Which copies of a dispatched kernel to run ([`avx2_dispatch!`] with
/// `with_copies`): tests compare the baseline copies with the process's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copies {
    /// The baseline (SSE2) copies, whatever the CPU.
    Baseline,
    /// The process's path ([`path`]): AVX2 where the CPU has it, unless
    /// `RELAXVQA_SIMD` says otherwise.
    Native,
}

/// Defines a kernel that runs `$body` (an `#[inline(always)]` function of
/// the same arguments) compiled for AVX2 when the process's path is AVX2
/// ([`avx2`]), and as compiled otherwise: the one place where a copy for
/// AVX2 is made and called (with its SAFETY argument), for this crate's
/// kernels and the model crate's.
///
/// `avx2_dispatch!(pub fn name = body(a: A, b: B) -> R);` defines
/// `name(a, b)`; `avx2_dispatch!(with_copies fn name = body(a: A) -> R);`
/// defines `name(copies: Copies, a)`, which runs the baseline copy when
/// `copies` is [`Copies::Baseline`] (for tests that compare the two).
///
/// No FMA is enabled: Rust never contracts `a * b + c` by itself, so an
/// AVX2 copy does the same IEEE operations in the same order as the
/// baseline build, with 8-lane vectors instead of 4, and gives
/// bit-identical results.
#[macro_export]
macro_rules! avx2_dispatch {
    (with_copies $(#[$attr:meta])* $vis:vis fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$attr])*
        $vis fn $name(copies: $crate::simd::Copies, $($arg: $ty),*) $(-> $ret)? {
            $crate::avx2_dispatch!(@run copies == $crate::simd::Copies::Native, $body($($arg: $ty),*) $(-> $ret)?)
        }
    };
    ($(#[$attr:meta])* $vis:vis fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $crate::avx2_dispatch!(@run true, $body($($arg: $ty),*) $(-> $ret)?)
        }
    };
    (@run $wanted:expr, $body:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn avx2($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        if $wanted && $crate::simd::avx2() {
            // SAFETY: the only requirement of calling a function compiled
            // for AVX2 is a CPU that has it: `simd::avx2()` is true only
            // when the CPU has AVX2 (`simd::decide` and `simd::set_path`
            // check it before choosing that path).
            return unsafe { avx2($($arg),*) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = $wanted;
        $body($($arg),*)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_path_is_taken_only_when_the_cpu_runs_it() {
        let d = |v: Option<&str>| decide(&Request::parse(v));
        assert_eq!(d(Some("portable")).0, SimdPath::Portable);
        let best = if cpu_has("avx2") { SimdPath::Avx2 } else { SimdPath::Portable };
        for f in [None, Some("auto"), Some(""), Some("AVX2 "), Some("avx512"), Some("neon")] {
            let (p, why) = d(f);
            println!("{f:?}: {} ({why})", p.as_str());
            assert_eq!(p, best, "{f:?}");
        }
        assert!(d(Some("avx512")).1.contains("no AVX-512 copies of these kernels"));
        assert!(d(Some("neon")).1.contains("not one of auto, avx512, avx2, portable"));
        assert_eq!(Request::parse(Some(" AVX512\n")), Request::Avx512);
        assert_eq!(Request::parse(Some("sse")), Request::Unknown("sse".into()));
    }
}
