//! End-to-end tests of `relaxvqa extract` through the binary: parity of the
//! whole feature vector with the reference fixtures (synthetic weights),
//! batch mode with a failure and resumption, and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use relaxvqa_fixtures::{assert_parity, compare_tool, fixture, video, TensorFile, VIDEOS};

use crate::common::{relaxvqa, run};

#[test]
fn extract_matches_every_reference_fixture() {
    let dir = tempfile::tempdir().unwrap();
    for stem in VIDEOS {
        let out = dir.path().join(format!("{stem}.safetensors"));
        let o = run(relaxvqa()
            .args(["extract"])
            .arg(video(stem))
            .args(["--weights", "synthetic", "--dump", "all", "-o"])
            .arg(&out));
        assert!(o.status.success(), "{stem}: extract failed");
        assert_parity("extract", stem, &TensorFile::open(&out).get("video.features").f64());
        // The standard-library comparison tool runs every check, exact items included.
        let tool = compare_tool();
        let c =
            run(Command::new("python3").arg(&tool).arg(&out).arg(fixture(&format!("reference/{stem}.safetensors"))));
        assert!(c.status.success(), "{stem}: compare_features.py reported failures");
    }
}

fn write_list(dir: &Path, videos: &[PathBuf]) -> PathBuf {
    let list = dir.join("videos.csv");
    let mut s = String::from("path,mos\n");
    for (i, v) in videos.iter().enumerate() {
        s.push_str(&format!("{},{}.5\n", v.display(), i + 1));
    }
    std::fs::write(&list, s).unwrap();
    list
}

#[test]
fn batch_records_a_failure_goes_on_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.mp4");
    let bytes = std::fs::read(video("testsrc2_noise")).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() / 3]).unwrap();
    // Three short clips (the features themselves are checked against the
    // reference by the test above).
    let tiny = relaxvqa_fixtures::attack::tiny_clip(dir.path());
    let stems = ["clip_a", "clip_b", "clip_c"];
    let mut videos: Vec<PathBuf> = stems.iter().map(|s| dir.path().join(format!("{s}.mp4"))).collect();
    for v in &videos {
        std::fs::copy(&tiny, v).unwrap();
    }
    videos.push(corrupt);
    let list = write_list(dir.path(), &videos);
    let out_dir = dir.path().join("out");
    let batch = |extra: &[&str]| {
        run(relaxvqa()
            .args(["extract", "--list"])
            .arg(&list)
            .arg("--out-dir")
            .arg(&out_dir)
            .args(["--weights", "synthetic", "--json", "--quiet"])
            .args(extra))
    };
    let first = batch(&["--jobs", "2"]);
    assert_eq!(first.status.code(), Some(3), "some-failed exit status");
    let j: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!((j["done"].as_u64(), j["failed"].as_u64(), j["skipped"].as_u64()), (Some(3), Some(1), Some(0)));
    for stem in stems {
        assert!(out_dir.join(format!("{stem}.safetensors")).exists(), "{stem} output");
    }
    let failures = std::fs::read_to_string(out_dir.join("failures.csv")).unwrap();
    assert_eq!(failures.lines().count(), 2, "{failures}");
    assert!(failures.contains("corrupt.mp4"));
    let index = std::fs::read_to_string(out_dir.join("index.csv")).unwrap();
    assert!(index.lines().next().unwrap().ends_with(",mos"), "{index}");
    let combined = TensorFile::open(&out_dir.join("features.safetensors"));
    assert_eq!(combined.get("features").shape, vec![3, 35203]);
    // The combined row of each video equals its own output.
    let row0 = &combined.get("features").f64()[..35203];
    let own = TensorFile::open(&out_dir.join(format!("{}.safetensors", stems[0]))).get("video.features").f64();
    assert_eq!(row0, own.as_slice());

    let second = batch(&[]);
    assert_eq!(second.status.code(), Some(3));
    let j: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!((j["done"].as_u64(), j["failed"].as_u64(), j["skipped"].as_u64()), (Some(0), Some(1), Some(3)));
}

#[test]
fn bad_input_gives_one_clear_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.path().join("truncated.mp4");
    let bytes = std::fs::read(video("carphone_pristine")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cases: [(PathBuf, &str); 4] = [
        (dir.path().join("missing.mp4"), "missing.mp4"),
        (text, "notes.mp4"),
        (empty, "empty.mp4"),
        (truncated, "truncated.mp4"),
    ];
    for (input, name) in cases {
        let out = dir.path().join(format!("{name}.safetensors"));
        let o = run(relaxvqa().arg("extract").arg(&input).args(["--weights", "synthetic", "-o"]).arg(&out));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: one line: {stderr}");
        assert!(stderr.contains(name), "{name}: names the file: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}");
        assert!(!out.exists(), "{name}: no output file");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{name}: temporary files left");
    }
}

#[test]
fn a_folder_given_to_list_says_how_to_pass_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(relaxvqa()
        .args(["extract", "--list"])
        .arg(dir.path())
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .args(["--weights", "synthetic"]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("VIDEO argument"), "{stderr}");
}

#[test]
fn standard_input_gives_the_features_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "1"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(ok.success());
    let (a, b) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
    let o = run(relaxvqa().arg("extract").arg(&clip).args(["--weights", "synthetic", "-o"]).arg(&a));
    assert!(o.status.success());
    let o = run(relaxvqa()
        .args(["extract", "-", "--weights", "synthetic", "-o"])
        .arg(&b)
        .stdin(std::fs::File::open(&clip).unwrap()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (fa, fb) = (TensorFile::open(&a).get("video.features").f64(), TensorFile::open(&b).get("video.features").f64());
    assert!(fa.iter().zip(&fb).all(|(x, y)| x.to_bits() == y.to_bits()), "stdin differs from the file");
}

/// `relaxvqa info`: what the decoder reports, how the video is sampled, and
/// which kernel path runs and why (`RELAXVQA_SIMD` forces one).
#[test]
fn info_says_what_the_video_is_and_which_kernels_run() {
    let clip = video("testsrc2_noise");
    // A CPU with AVX-512 calibrates the product kernels: into a throwaway
    // cache dir, not the user's.
    let cache = tempfile::tempdir().unwrap();
    let out = run(relaxvqa().env("XDG_CACHE_HOME", cache.path()).args(["info", "--json", "--count"]).arg(&clip));
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "relaxvqa.info/1");
    assert_eq!(
        (j["width"].as_u64(), j["height"].as_u64(), j["r_frame_rate"].as_str()),
        (Some(320), Some(240), Some("24/1"))
    );
    assert_eq!((j["frame_interval"].as_u64(), j["decoded_frames"].as_u64()), (Some(12), Some(48)));
    assert_eq!((j["sampled_frames"].as_u64(), j["pairs"].as_u64()), (Some(4), Some(4)));
    let has_avx2 = j["simd"]["cpu"].as_array().unwrap().iter().any(|f| f == "avx2");
    assert_eq!(j["simd"]["path"], if has_avx2 { "avx2" } else { "portable" }, "{}", j["simd"]);
    assert!(j["simd"]["reason"].as_str().unwrap().starts_with("detected: "), "{}", j["simd"]);

    let has_avx512 = j["simd"]["cpu"].as_array().unwrap().iter().any(|f| f == "avx512f");
    let products = j["simd"]["matmul"]["kernels"].as_str().unwrap();
    let why = j["simd"]["matmul"]["reason"].as_str().unwrap();
    println!("products: {products} ({why})");
    if has_avx512 {
        // Decided by timing both (cached), never by the CPU's name.
        assert!(why.starts_with("calibrated ("), "{why}");
        assert!(j["simd"]["matmul"]["calibration"]["avx512_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    } else {
        assert_eq!((products, j["simd"]["matmul"]["calibration"].is_null()), ("avx2", true), "{why}");
        assert_eq!(why, "detected: the CPU has AVX2 and FMA, no AVX-512");
    }

    let out = run(relaxvqa().env("RELAXVQA_SIMD", "portable").args(["info", "--json"]).arg(&clip));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["simd"]["path"].as_str(), j["simd"]["reason"].as_str()),
        (Some("portable"), Some("RELAXVQA_SIMD=portable"))
    );
    let out = run(relaxvqa().env("RELAXVQA_SIMD", "avx512").args(["info"]).arg(&clip));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("no AVX-512 copies of these kernels"), "{text}");
    let products = text.lines().find(|l| l.trim_start().starts_with("products")).unwrap_or_default();
    if has_avx512 {
        assert!(products.contains("avx512 (RELAXVQA_SIMD=avx512)"), "{text}");
    } else {
        assert!(products.contains("avx2 (RELAXVQA_SIMD=avx512, but the CPU has no AVX-512: avx2)"), "{text}");
    }
}
