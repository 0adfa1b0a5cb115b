//! Bad and unusual inputs through the binary (the review of about 270 of
//! them): no non-finite score or feature is ever an output, outputs and
//! inputs are checked before any work, exit statuses say what happened,
//! nothing is left behind, nothing is silently accepted, and every message
//! is one line that names the input once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use relaxvqa_fixtures::video;

use crate::common::{relaxvqa, run, synthetic_head_file};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure with exit status 1 and one line on stderr holding `want`.
fn fails_with(o: &Output, want: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit status: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    assert!(e.contains(want), "wanted {want:?} in: {e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// A per-video feature file whose vector is `values`.
fn feature_file(path: &Path, values: &[f64]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![values.len()], &bytes).unwrap();
    std::fs::write(path, safetensors::serialize([("video.features", view)], None).unwrap()).unwrap();
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("tmp")))
        .collect()
}

const DIM: usize = 35203;

#[test]
fn a_non_finite_score_or_feature_is_an_error_never_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let huge = dir.path().join("huge.safetensors");
    feature_file(&huge, &vec![1e300; DIM]);
    let nan = dir.path().join("nan.safetensors");
    feature_file(&nan, &vec![f64::NAN; DIM]);
    for (f, want) in [(&huge, "not a finite number"), (&nan, "not finite")] {
        let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--features").arg(f));
        fails_with(&o, f.file_name().unwrap().to_str().unwrap());
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!String::from_utf8_lossy(&o.stdout).contains("\tNaN"), "NaN printed as a score");
    }
}

#[test]
fn outputs_and_inputs_are_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    // Weights that cannot load: an error about them would mean the work had
    // started before the output or the input was checked.
    let bad_weights = dir.path().join("no-such-weights.safetensors");
    let missing_dir = dir.path().join("missing/out.safetensors");
    let o = run(relaxvqa()
        .arg("extract")
        .arg(video("testsrc2_noise"))
        .arg("--weights")
        .arg(&bad_weights)
        .arg("-o")
        .arg(&missing_dir));
    fails_with(&o, "no such folder");
    let notes = dir.path().join("notes.mp4");
    std::fs::write(&notes, "not a video\n").unwrap();
    let o = run(relaxvqa()
        .arg("extract")
        .arg(&notes)
        .arg("--weights")
        .arg(&bad_weights)
        .arg("-o")
        .arg(dir.path().join("o.safetensors")));
    fails_with(&o, "notes.mp4");
    assert!(!stderr(&o).contains("no-such-weights"), "the video is probed before the weights load");
    // An --out-dir that is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = run(relaxvqa()
        .args(["extract", "--out-dir"])
        .arg(&file)
        .arg(video("testsrc2_noise"))
        .arg("--weights")
        .arg(&bad_weights));
    fails_with(&o, "a-file");
    // train -o into a missing folder fails before the features are read.
    let o = run(relaxvqa()
        .args(["train", "--features"])
        .arg(dir.path().join("no-features.safetensors"))
        .arg("--mos")
        .arg(dir.path().join("no-mos.csv"))
        .arg("-o")
        .arg(dir.path().join("missing/head.safetensors")));
    fails_with(&o, "no such folder");
    // report -o likewise.
    let o = run(relaxvqa()
        .arg("report")
        .arg(video("testsrc2_noise"))
        .arg("--weights")
        .arg(&bad_weights)
        .arg("-o")
        .arg(dir.path().join("missing/r.html")));
    fails_with(&o, "no such folder");
}

#[test]
fn exit_status_is_1_when_every_input_failed() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--features").arg(&bad));
    assert_eq!(o.status.code(), Some(1), "one bad feature file: {}", stderr(&o));
    let notes = dir.path().join("notes.mp4");
    std::fs::write(&notes, "not a video\n").unwrap();
    let o = run(relaxvqa().arg("score").arg(&notes).args(["--weights", "synthetic", "--model"]).arg(&head));
    assert_eq!(o.status.code(), Some(1), "one bad video: {}", stderr(&o));
    // A batch where every video fails.
    let out_dir = dir.path().join("out");
    let o = run(relaxvqa()
        .arg("extract")
        .arg(&notes)
        .arg(&bad)
        .args(["--weights", "synthetic", "--quiet", "--out-dir"])
        .arg(&out_dir));
    assert_eq!(o.status.code(), Some(1), "all failed: {}", stderr(&o));
    let failures = std::fs::read_to_string(out_dir.join("failures.csv")).unwrap();
    assert_eq!(failures.lines().count(), 3, "{failures}");
}

#[test]
fn an_unwritable_index_leaves_nothing_behind_and_failures_are_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(out_dir.join("index.csv")).unwrap();
    let notes = dir.path().join("notes.mp4");
    std::fs::write(&notes, "not a video\n").unwrap();
    let o = run(relaxvqa()
        .arg("extract")
        .arg(&notes)
        .args(["--weights", "synthetic", "--quiet", "--out-dir"])
        .arg(&out_dir));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("index.csv"), "{}", stderr(&o));
    assert!(out_dir.join("failures.csv").is_file(), "failures.csv written");
    assert!(temp_files(&out_dir).is_empty(), "temporary files left: {:?}", temp_files(&out_dir));
}

#[test]
fn frames_smaller_than_a_patch_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    for size in ["2x2", "17x9"] {
        let clip = dir.path().join(format!("tiny_{size}.mkv"));
        let ok = Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=25"))
            .args(["-frames:v", "12", "-c:v", "ffv1", "-pix_fmt", "yuv444p"])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(ok.success());
        let o = run(relaxvqa()
            .arg("extract")
            .arg(&clip)
            .args(["--weights", "synthetic", "-o"])
            .arg(dir.path().join(format!("{size}.safetensors"))));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("smaller than one 16x16 patch"), "{size}: {}", stderr(&o));
    }
}

#[test]
fn nothing_is_silently_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("f.safetensors");
    feature_file(&features, &vec![0.5; DIM]);
    let mos = dir.path().join("mos.csv");
    std::fs::write(&mos, "name,mos\nf,3.0\n").unwrap();
    let train = |extra: &[&str]| {
        run(relaxvqa().args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos).args(extra))
    };
    fails_with(&train(&["--epochs", "0", "-o", "h.safetensors"]), "--epochs 0");
    fails_with(&train(&["--splits", "0"]), "--splits 0");
    fails_with(
        &train(&["--folds", "100", "-o", "h.safetensors"]),
        "--folds 100: 1 training videos give fewer than 2 per fold",
    );
    // A list that names a video twice extracts it once, and says so.
    let list = dir.path().join("list.csv");
    let v = video("testsrc2_noise");
    std::fs::write(&list, format!("path\n{}\n{}\n", v.display(), v.display())).unwrap();
    let out_dir = dir.path().join("out");
    let o = run(relaxvqa()
        .arg("extract")
        .arg("--list")
        .arg(&list)
        .args(["--weights", "synthetic", "--quiet", "--json", "--out-dir"])
        .arg(&out_dir));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("repeat a video already listed"), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["videos"].as_array().unwrap().len(), 1);
}

#[test]
fn messages_name_the_input_once_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(relaxvqa().args(["score", "x.mp4", "--model", "no-such-head"]));
    fails_with(&o, "no-such-head");
    assert_eq!(stderr(&o).matches("no-such-head").count(), 1, "{}", stderr(&o));
    let missing = dir.path().join("missing.mp4");
    let o = run(relaxvqa()
        .arg("extract")
        .arg(&missing)
        .args(["--weights", "synthetic", "-o"])
        .arg(dir.path().join("m.safetensors")));
    fails_with(&o, "missing.mp4");
    assert_eq!(stderr(&o).matches("missing.mp4").count(), 1, "{}", stderr(&o));
    // A .npy given as features.
    let npy = dir.path().join("features.npy");
    std::fs::write(&npy, b"\x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }").unwrap();
    let head = synthetic_head_file(dir.path());
    let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--features").arg(&npy));
    fails_with(&o, "NumPy .npy file");
    assert!(!stderr(&o).to_lowercase().contains("header too large"), "{}", stderr(&o));
    // An output in a missing folder names the real target, not a temporary file.
    let o = run(relaxvqa()
        .arg("extract")
        .arg(video("testsrc2_noise"))
        .args(["--weights", "synthetic", "-o"])
        .arg(dir.path().join("nope/x.safetensors")));
    fails_with(&o, "nope");
    // (The test's own folder is a random `.tmpXXXXXX`: left out of the check.)
    let said = stderr(&o).replace(dir.path().to_str().unwrap(), "DIR");
    assert!(!said.contains(".relaxvqa-") && !said.contains(".tmp"), "{said}");
}

fn ffmpeg(args: &[&str]) {
    let ok = Command::new("ffmpeg").args(["-nostdin", "-loglevel", "error", "-y"]).args(args).status().unwrap();
    assert!(ok.success(), "ffmpeg {args:?}");
}

fn extract_json(input: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = run(relaxvqa()
        .arg("extract")
        .arg(input)
        .args(["--weights", "synthetic", "--json"])
        .args(extra)
        .arg("-o")
        .arg(out));
    assert!(o.status.success(), "{}: {}", input.display(), stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn damaged_mid_file_is_decoded_like_ffmpeg_and_matches_its_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("damaged_mid.safetensors");
    let j = extract_json(&video("damaged_mid"), &out, &["--dump", "all"]);
    println!("decode: {}, warnings: {}", j["decode"], j["warnings"]);
    assert_eq!(j["frames"], 74, "74 of 75 frames decode, as with the FFmpeg CLI");
    assert!(j["decode"]["concealed_errors"].as_u64().unwrap() >= 1);
    assert!(j["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("skipped")));
    let tool = relaxvqa_fixtures::compare_tool();
    let c = run(Command::new("python3")
        .arg(&tool)
        .arg(&out)
        .arg(relaxvqa_fixtures::fixture("reference/damaged_mid.safetensors")));
    assert!(c.status.success(), "compare_features.py reported failures on damaged_mid");
}

#[test]
fn cut_short_and_partial_raw_inputs_give_features_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    // A faststart MP4 (index first) cut at 50%.
    let full = dir.path().join("full.mp4");
    let full_args: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        "testsrc2=size=160x120:rate=25".into(),
        "-t".into(),
        "3".into(),
        "-c:v".into(),
        "libx264".into(),
        "-pix_fmt".into(),
        "yuv420p".into(),
        "-movflags".into(),
        "+faststart".into(),
        full.display().to_string(),
    ];
    ffmpeg(&full_args.iter().map(String::as_str).collect::<Vec<_>>());
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let j = extract_json(&cut, &dir.path().join("cut.safetensors"), &[]);
    println!("cut: frames {}, decode {}", j["frames"], j["decode"]);
    assert!(j["frames"].as_u64().unwrap() > 10 && j["frames"].as_u64().unwrap() < 75);
    assert_eq!(j["decode"]["ended_early"], true);
    // A raw file of 26 whole 64x48 yuv420p frames and part of another.
    let raw = dir.path().join("clip.yuv");
    let frame = 64 * 48 * 3 / 2;
    let data: Vec<u8> = (0..26 * frame + 1000).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&raw, data).unwrap();
    let j = extract_json(&raw, &dir.path().join("raw.safetensors"), &["--size", "64x48", "--fps", "25"]);
    println!("raw: frames {}, warnings {}", j["frames"], j["warnings"]);
    assert_eq!(j["frames"], 26);
    assert_eq!(j["decode"]["partial_frame_dropped"], true);
}

/// `relaxvqa extract` of a decompression bomb (a 2 MB PNG of 16000x16000
/// 16-bit RGBA, 2 GiB decoded) and of a raw H.264 stream that switches
/// from 64x64 to 15360x8640: one line naming the frame limit, exit 1, no
/// output, and the bomb refused before the networks load, under 1 GiB at
/// its peak (`os.wait4`'s `ru_maxrss` of the command, through a small
/// Python parent).
#[test]
fn decompression_bombs_are_refused_before_they_cost_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = relaxvqa_fixtures::bombs::png_bomb(dir.path());
    let out = dir.path().join("bomb.safetensors");
    let measured = run(Command::new("python3")
        .args([
            "-c",
            "import os, subprocess, sys\n\
             p = subprocess.Popen(sys.argv[1:], stderr=subprocess.PIPE)\n\
             _, status, usage = os.wait4(p.pid, 0)\n\
             sys.stderr.write(p.stderr.read().decode())\n\
             print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)",
        ])
        .arg(env!("CARGO_BIN_EXE_relaxvqa"))
        .arg("extract")
        .arg(&bomb)
        .args(["--weights", "synthetic", "-o"])
        .arg(&out)
        .env("RELAXVQA_LOG", "error"));
    let text = String::from_utf8_lossy(&measured.stdout);
    let mut fields = text.split_whitespace();
    let code: i32 = fields.next().unwrap().parse().unwrap();
    let peak_kib: u64 = fields.next().unwrap().parse().unwrap();
    let e = stderr(&measured);
    println!("exit {code}, peak {} MiB: {e}", peak_kib >> 10);
    assert_eq!(code, 1);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("--max-pixels"), "{e}");
    assert!(peak_kib < 1 << 20, "peak {peak_kib} KiB");
    assert!(!out.exists());

    let switch = relaxvqa_fixtures::bombs::h264_size_switch(dir.path());
    let o = run(relaxvqa().arg("extract").arg(&switch).args(["--weights", "synthetic", "-o"]).arg(&out));
    fails_with(&o, "frames of 15360x8640: over the limit of 33177600 pixels a frame (raise --max-pixels");
    assert!(!out.exists());
}
