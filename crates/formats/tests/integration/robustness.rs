//! Deterministic mutation testing of the readers, in stable Rust.
//!
//! cargo-fuzz (`crates/formats/fuzz`) explores further but needs nightly;
//! this test runs everywhere. It applies seeded random mutations (bit
//! flips, interesting values over length fields, truncations, insertions,
//! deletions, duplicated spans, stray opcodes) to the fixture files and the
//! fuzz seeds, and feeds each result to the pickle, joblib and torch
//! readers. Every reader must return `Ok` or `Err`: a panic fails the test
//! with the seed and case number, and the failing input is written out.
//!
//! It also checks the promise that length fields cannot trigger huge
//! allocations: a counting allocator records the largest single allocation
//! each thread makes while reading each input (the other tests of the
//! binary run beside it), which must stay within a fixed multiple of the
//! input size.
//!
//! `RELAXVQA_ROBUSTNESS_CASES` sets the number of cases per seed file
//! (default 5000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use relaxvqa_fixtures::rng::Rng;
use relaxvqa_formats::{joblib, pickle, torch};

/// Forwards to the system allocator, remembering the largest request of
/// the calling thread.
struct CountingAlloc;

thread_local! {
    /// The largest allocation this thread asked for since the last reset.
    /// Constant-initialised and without a destructor, so reading it from
    /// the allocator neither allocates nor registers anything.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// Records `size` as this thread's largest request if it is one.
fn note(size: usize) {
    // `try_with`: during a thread's teardown the slot may be gone.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract; the only addition is a relaxed atomic
// thread-local update, which neither allocates nor touches the memory being
// managed.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as our caller's, forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward every allocation).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as for dealloc; `new_size` is passed through unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Pickle opcodes (and near misses) to splice in.
const OPCODES: &[u8] = b"().0123NQRXabceghjlqrstu}])KMJGBC\x80\x81\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98IFLSVTUPipgo";

/// Where mutations land: half of them in the first 2 KiB, where the opcodes
/// (or the zip header) are, the rest anywhere; in a zip, also the central directory at the end.
fn position(rng: &mut Rng, len: usize) -> usize {
    match rng.below(4) {
        0 | 1 => rng.below(len.min(2048)),
        2 => len.saturating_sub(1 + rng.below(len.min(4096))),
        _ => rng.below(len),
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            v.push(rng.next() as u8);
            continue;
        }
        let at = position(rng, v.len());
        match rng.below(9) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v[at] = [0x00, 0xff, 0x7f, 0x80, 0x01, rng.next() as u8][rng.below(6)],
            2 => v.truncate(at),
            3 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            4 => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            5 => {
                // An interesting 32- or 64-bit value, e.g. over a length field.
                let vals: [u64; 7] = [0xffff_ffff, 0x7fff_ffff, 0x8000_0000, u64::MAX, 1 << 40, 0x1_0000, rng.next()];
                let bytes = vals[rng.below(vals.len())].to_le_bytes();
                let n = if rng.below(2) == 0 { 4 } else { 8 };
                for (i, b) in bytes[..n].iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            6 => {
                let len = 1 + rng.below(64);
                let from = rng.below(v.len());
                let chunk: Vec<u8> = v[from..(from + len).min(v.len())].to_vec();
                v.splice(at..at, chunk);
            }
            7 => v[at] = OPCODES[rng.below(OPCODES.len())],
            _ => v.insert(at, OPCODES[rng.below(OPCODES.len())]),
        }
    }
    v
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Pickle,
    Joblib,
    Torch,
}

fn run(target: Target, data: &[u8]) {
    match target {
        Target::Pickle => {
            if let Ok(pk) = pickle::parse(data) {
                let _ = pk.describe(pk.root());
            }
        }
        Target::Joblib => {
            if let Ok(pk) = joblib::parse(data) {
                let _ = joblib::simple_imputer_from(&pk);
                let _ = joblib::min_max_scaler_from(&pk);
            }
        }
        Target::Torch => {
            let _ = torch::read_state_dict_from(Cursor::new(data), None);
        }
    }
}

fn shared(rel: &str) -> PathBuf {
    relaxvqa_fixtures::fixture(rel)
}

fn seeds(dir: &str) -> Vec<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(dir);
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn mutated_inputs_never_panic_or_overallocate() {
    let cases: usize = std::env::var("RELAXVQA_ROBUSTNESS_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(5000);
    let mut inputs: Vec<(Target, PathBuf, usize)> = Vec::new();
    for p in seeds("pickle") {
        inputs.push((Target::Pickle, p, cases));
    }
    for p in seeds("joblib") {
        inputs.push((Target::Joblib, p, cases));
    }
    for p in seeds("torch") {
        inputs.push((Target::Torch, p, cases));
    }
    // The full-size fixtures: fewer cases, each costs a copy of the file.
    inputs.push((Target::Joblib, shared("head/konvid_1k_imputer.pkl"), cases / 5));
    inputs.push((Target::Joblib, shared("head/konvid_1k_scaler.pkl"), cases / 10));
    inputs.push((Target::Torch, shared("head/head_plain_64.pth"), cases / 5));
    inputs.push((Target::Torch, shared("head/head_swa_64.pth"), cases / 5));

    // Panics here are counted and reported below, not printed.
    let quiet = relaxvqa_fixtures::panics::quiet_panics();
    let start = Instant::now();
    let mut total = 0usize;
    let mut failures = Vec::new();
    let mut worst_ratio = 0.0f64;
    for (seed_index, (target, path, n)) in inputs.iter().enumerate() {
        let original = std::fs::read(path).unwrap();
        let t0 = Instant::now();
        let mut rng = Rng(0x5eed_0000 + seed_index as u64);
        let mut largest_here = 0usize;
        for case in 0..*n {
            let input = if case == 0 { original.clone() } else { mutate(&mut rng, &original) };
            LARGEST.with(|l| l.set(0));
            let outcome = catch_unwind(AssertUnwindSafe(|| run(*target, &input)));
            let largest = LARGEST.with(Cell::get);
            largest_here = largest_here.max(largest);
            // Arena and stack entries cost at most ~128 bytes per input byte
            // (Vec doubling included); anything beyond means a length field
            // was trusted.
            let limit = 128 * input.len() + (1 << 20);
            if input.len() >= 1024 {
                worst_ratio = worst_ratio.max(largest as f64 / input.len() as f64);
            }
            if outcome.is_err() || largest > limit {
                let out = std::env::temp_dir().join(format!("relaxvqa-robustness-{seed_index}-{case}.bin"));
                let _ = std::fs::write(&out, &input);
                failures.push(format!(
                    "{target:?} on {} case {case}: {} (largest allocation {largest} bytes for {} input bytes); input saved to {}",
                    path.display(),
                    if outcome.is_err() { "PANIC" } else { "allocation over limit" },
                    input.len(),
                    out.display()
                ));
            }
            total += 1;
        }
        println!(
            "{target:?} {}: {n} cases in {:.2?}, largest single allocation {largest_here} bytes (input {} bytes)",
            path.file_name().unwrap().to_string_lossy(),
            t0.elapsed(),
            original.len()
        );
    }
    drop(quiet);
    println!(
        "{total} cases in {:.2?}, {} findings; worst largest-allocation / input-size ratio (inputs >= 1 KiB) {worst_ratio:.1}",
        start.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "findings:\n{}", failures.join("\n"));
}
