//! The calibration behind `auto` on a CPU with AVX-512, kept between runs
//! like FFTW's wisdom: `<user cache dir>/relaxvqa/matmul-wisdom.json` maps a
//! CPU (its brand string) and this build to the two timings. A missing,
//! unreadable or foreign entry means measuring again (a few tens of
//! milliseconds); a cache dir that cannot be written means measuring in
//! every process, never an error. Delete the file to measure again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::time::Instant;

use super::{matmul_with, MatRef, MatmulKernels, Threads};

/// How much faster the AVX-512 kernels must be to be chosen: a tie keeps
/// AVX2 (wider vectors can lower the clock of the whole core on some CPUs,
/// which one short product does not show).
const AVX512_MARGIN: f64 = 0.95;

/// Rounds of the calibration, alternating the two kernel sets; each keeps
/// its fastest round.
const ROUNDS: usize = 5;

/// Both kernel sets' time for the calibration product on one thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// gemm's AVX-512 kernels, fastest round, in milliseconds.
    pub avx512_ms: f64,
    /// gemm's AVX2 kernels, fastest round, in milliseconds.
    pub avx2_ms: f64,
}

impl Calibration {
    /// Whether AVX-512 is faster by the margin (both times finite).
    pub fn avx512_wins(&self) -> bool {
        self.avx512_ms.is_finite() && self.avx2_ms.is_finite() && self.avx512_ms <= AVX512_MARGIN * self.avx2_ms
    }
}

#[derive(Default, Serialize, Deserialize)]
struct WisdomFile {
    schema: String,
    cpus: BTreeMap<String, Calibration>,
}

const SCHEMA: &str = "relaxvqa.matmul-wisdom/1";

/// What a calibration is valid for: the CPU model and this build's kernels.
fn key() -> String {
    format!("{} | relaxvqa-model {} | gemm 0.19", cpu_brand(), env!("CARGO_PKG_VERSION"))
}

fn cpu_brand() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(b) = raw_cpuid::CpuId::new().get_processor_brand_string() {
            return b.as_str().trim().to_owned();
        }
    }
    "unknown CPU".to_owned()
}

fn default_path() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("relaxvqa").join("matmul-wisdom.json"))
}

/// The entry for `key` in the file at `path`, if it is there and readable.
fn load(path: &Path, key: &str) -> Option<Calibration> {
    let text = std::fs::read(path).ok()?;
    let file: WisdomFile = serde_json::from_slice(&text).ok()?;
    let c = file.cpus.get(key)?.clone();
    (file.schema == SCHEMA && c.avx512_ms.is_finite() && c.avx2_ms.is_finite()).then_some(c)
}

/// Adds (or replaces) `key`'s entry in the file at `path`, keeping the
/// others (an unreadable file is replaced); written atomically.
fn store(path: &Path, key: &str, c: &Calibration) -> std::io::Result<()> {
    let mut file: WisdomFile =
        std::fs::read(path).ok().and_then(|t| serde_json::from_slice(&t).ok()).unwrap_or_default();
    file.schema = SCHEMA.to_owned();
    file.cpus.insert(key.to_owned(), c.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    relaxvqa_formats::atomic::write_atomic(path, &bytes)
}

/// The product the calibration times: a 3x3 convolution of a late ResNet
/// stage as a matrix product (392 positions x 1,152 inputs x 256 outputs,
/// 231 MFLOP, a few milliseconds), on the calling thread.
pub(crate) fn time_product(kernels: MatmulKernels, reps: usize) -> f64 {
    let (m, k, n) = (392usize, 1152usize, 256usize);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let mut dst = vec![0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        matmul_with(kernels, &mut dst, n, MatRef::new(&a, m, k, k), MatRef::new(&b, k, n, n), false, 1.0, Threads::One);
        best = best.min(t0.elapsed().as_secs_f64() * 1e3);
    }
    std::hint::black_box(&dst);
    best
}

/// Times both kernel sets, alternating, after one warm-up product each.
fn measure() -> Calibration {
    time_product(MatmulKernels::Avx512, 1);
    time_product(MatmulKernels::Avx2, 1);
    let (mut avx512_ms, mut avx2_ms) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        avx512_ms = avx512_ms.min(time_product(MatmulKernels::Avx512, 1));
        avx2_ms = avx2_ms.min(time_product(MatmulKernels::Avx2, 1));
    }
    Calibration { avx512_ms, avx2_ms }
}

/// The calibration for this CPU and build: from the wisdom file, or
/// measured now and stored there. Only called on a CPU that runs both sets.
pub(crate) fn cached_or_measured() -> (Calibration, &'static str) {
    cached_or_measured_at(default_path().as_deref(), &key(), measure)
}

fn cached_or_measured_at(
    path: Option<&Path>,
    key: &str,
    measure: impl FnOnce() -> Calibration,
) -> (Calibration, &'static str) {
    if let Some(c) = path.and_then(|p| load(p, key)) {
        return (c, "cached");
    }
    let c = measure();
    match path {
        Some(p) => match store(p, key, &c) {
            Ok(()) => (c, "measured now, cached"),
            Err(e) => {
                tracing::debug!("keeping the matrix-product calibration: {e}");
                (c, "measured now; the cache dir is not writable")
            }
        },
        None => (c, "measured now; no cache dir"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(avx512_ms: f64, avx2_ms: f64) -> Calibration {
        Calibration { avx512_ms, avx2_ms }
    }

    #[test]
    fn the_margin_keeps_avx2_on_a_tie() {
        assert!(cal(9.4, 10.0).avx512_wins());
        assert!(!cal(9.6, 10.0).avx512_wins());
        assert!(!cal(f64::NAN, 10.0).avx512_wins());
        assert!(!cal(1.0, f64::INFINITY).avx512_wins());
    }

    #[test]
    fn a_calibration_is_measured_once_per_cpu_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/relaxvqa/matmul-wisdom.json");
        let (c, how) = cached_or_measured_at(Some(&path), "cpu A", || cal(3.0, 5.0));
        assert_eq!((c, how), (cal(3.0, 5.0), "measured now, cached"));
        let never = || -> Calibration { panic!("measured although cached") };
        assert_eq!(cached_or_measured_at(Some(&path), "cpu A", never), (cal(3.0, 5.0), "cached"));
        // Another CPU (or build) on the same home directory measures its own.
        let (c, _) = cached_or_measured_at(Some(&path), "cpu B", || cal(7.0, 5.0));
        assert_eq!(c, cal(7.0, 5.0));
        assert_eq!(load(&path, "cpu A"), Some(cal(3.0, 5.0)), "the other entry is kept");
        let text = std::fs::read_to_string(&path).unwrap();
        println!("{text}");
        assert!(text.contains(SCHEMA) && text.contains("cpu B"));
    }

    #[test]
    fn a_damaged_or_unwritable_cache_means_measuring_again_never_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("matmul-wisdom.json");
        for damaged in ["{not json", "{\"schema\":\"other/9\",\"cpus\":{\"k\":{\"avx512_ms\":1,\"avx2_ms\":2}}}", ""] {
            std::fs::write(&path, damaged).unwrap();
            let (c, how) = cached_or_measured_at(Some(&path), "k", || cal(4.0, 5.0));
            assert_eq!((c, how), (cal(4.0, 5.0), "measured now, cached"), "{damaged:?}");
        }
        assert_eq!(load(&path, "k"), Some(cal(4.0, 5.0)));
        // A cache "dir" that is a file: measured, not stored, no error.
        let blocked = dir.path().join("matmul-wisdom.json/inside.json");
        let (_, how) = cached_or_measured_at(Some(&blocked), "k", || cal(4.0, 5.0));
        assert_eq!(how, "measured now; the cache dir is not writable");
        assert_eq!(cached_or_measured_at(None, "k", || cal(4.0, 5.0)).1, "measured now; no cache dir");
    }

    /// The calibration's product runs on every kernel set this CPU has and
    /// gives a time.
    #[test]
    fn the_calibration_product_is_timed_on_the_kernels_asked_for() {
        for k in super::super::supported() {
            let ms = time_product(k, 3);
            println!("{}: {ms:.2} ms per product", k.as_str());
            assert!(ms.is_finite() && ms > 0.0, "{ms}");
        }
    }
}
