//! Deterministic mutation testing of the decode front end, in stable Rust.
//!
//! cargo-fuzz (`crates/video/fuzz`, target `decode`) explores further but
//! needs nightly; this test runs everywhere, over the same function
//! (`fuzz/decode_input.rs`): the fuzz seeds as they are, then seeded random
//! mutations (byte flips, interesting values, truncations, deletions,
//! duplicated spans, splices of two inputs) of the seeds and the fixture
//! videos. Every input must end in frames or a `VideoError`: a panic fails
//! the test with the seed and case number, and the failing input is
//! written out.
//!
//! It stops after `RELAXVQA_ROBUSTNESS_CASES` cases (default 3000) or
//! `RELAXVQA_ROBUSTNESS_SECONDS` (default 30), whichever comes first
//! (`scripts/test_long.sh` runs many more).

use relaxvqa_fixtures::rng::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../fuzz/decode_input.rs"]
mod decode_input;

/// One to four mutations of `data`, with `other` as splice material.
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            // Flip bits in a few bytes.
            0 => {
                for _ in 0..1 + rng.below(8) {
                    if len > 0 {
                        let i = rng.below(len);
                        out[i] ^= 1 << rng.below(8);
                    }
                }
            }
            // An interesting value over 1, 2 or 4 bytes (length fields).
            1 => {
                let values: [u32; 8] = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff];
                let v = values[rng.below(values.len())].to_be_bytes();
                let width = [1usize, 2, 4][rng.below(3)];
                if len >= width {
                    let i = rng.below(len - width + 1);
                    out[i..i + width].copy_from_slice(&v[4 - width..]);
                }
            }
            // Truncate.
            2 => out.truncate(rng.below(len + 1)),
            // Delete a span.
            3 => {
                let start = rng.below(len + 1);
                let end = (start + 1 + rng.below(256)).min(len);
                out.drain(start..end.max(start));
            }
            // Duplicate a span.
            4 => {
                let start = rng.below(len + 1);
                let end = (start + 1 + rng.below(512)).min(len);
                let span = out[start..end.max(start)].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, span);
            }
            // Overwrite a span with random bytes.
            5 => {
                let start = rng.below(len + 1);
                let end = (start + 1 + rng.below(64)).min(len);
                for b in &mut out[start..end.max(start)] {
                    *b = rng.next() as u8;
                }
            }
            // Splice: this input's head with another's tail.
            _ => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
        }
    }
    out
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect();
    // The fixture videos, smallest first (the large one only as a prefix).
    for rel in ["videos/testsrc2_static.mp4", "videos/damaged_mid.mp4", "videos/size_change.ts"] {
        let path = relaxvqa_fixtures::fixture(rel);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(120_000);
        out.push((rel.to_owned(), bytes));
    }
    out
}

fn run_one(what: &str, data: &[u8]) -> decode_input::Outcome {
    match catch_unwind(AssertUnwindSafe(|| decode_input::decode(data))) {
        Ok(outcome) => outcome,
        Err(_) => {
            let path = std::env::temp_dir().join(format!("relaxvqa-video-robustness-{}.bin", what.replace('/', "_")));
            let _ = std::fs::write(&path, data);
            panic!("{what}: decoding panicked; input written to {}", path.display());
        }
    }
}

#[test]
fn any_bytes_end_in_frames_or_an_error() {
    relaxvqa_video::quiet_ffmpeg_log();
    let cases: usize = std::env::var("RELAXVQA_ROBUSTNESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seconds = std::env::var("RELAXVQA_ROBUSTNESS_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let budget = Duration::from_secs(seconds);
    let start = Instant::now();
    let seeds = seeds();
    // The seeds as they are: each must decode.
    for (name, data) in &seeds {
        let o = run_one(name, data);
        println!("seed {name}: {o:?}");
        assert!(o.opened && o.frames > 0 && !o.failed, "seed {name} does not decode: {o:?}");
    }
    // Inputs the fuzzer once failed on (see fuzz/README.md): they must
    // still end in frames or an error.
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&regressions)
        .map_or_else(|e| panic!("{}: {e}", regressions.display()), |d| d.map(|e| e.unwrap().path()).collect());
    found.sort();
    for path in found {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        println!("regression {name}: {:?}", run_one(&name, &std::fs::read(&path).unwrap()));
    }
    let mut rng = Rng(0x5eed_0f71_de00);
    let (mut opened, mut with_frames, mut failed, mut worked_around, mut done) = (0, 0, 0, 0, 0);
    for case in 0..cases {
        if start.elapsed() > budget {
            break;
        }
        let (name, data) = &seeds[case % seeds.len()];
        let other = &seeds[rng.below(seeds.len())].1;
        let input = mutate(&mut rng, data, other);
        let o = run_one(&format!("{name}-case{case}"), &input);
        opened += usize::from(o.opened);
        with_frames += usize::from(o.frames > 0);
        failed += usize::from(o.failed);
        worked_around += usize::from(o.worked_around);
        done += 1;
    }
    println!(
        "{done} mutated inputs in {:.1} s: {opened} opened, {with_frames} gave frames, {worked_around} decoded with a \
         non-clean report, {failed} ended in an error after opening; no panic",
        start.elapsed().as_secs_f64()
    );
    assert!(done >= cases.min(200), "only {done} cases ran in the time budget");
}
