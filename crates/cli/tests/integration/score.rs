//! End-to-end tests of `relaxvqa score`: a full-size head with synthetic
//! weights and the fixture KoNViD-1k imputer and scaler, scored on the
//! fixture videos (synthetic backbones) against the reference scores; the
//! same from saved feature files; per-window scores; a failed video in a
//! batch; resuming from the output CSV; bad input.

use std::process::Output;

use relaxvqa_fixtures::{fixture, video, VIDEOS};

use crate::common::{relaxvqa, run, synthetic_head_file};

/// End-to-end scores against the authors' code on the reference features.
const VIDEO_TOL: f64 = 1e-3;
/// Scores from saved features against scores from the videos.
const FEATURES_TOL: f64 = 1e-6;
/// Scores of the authors' reference features against the authors' head
/// (f32 arithmetic on their side), as in the model crate's head test.
const REFERENCE_TOL: f64 = 1e-5;

/// The full-size head with synthetic weights after the KoNViD-1k imputer and
/// scaler, raw output scale, saved as a head file.
fn expected(stem: &str) -> f64 {
    let text = std::fs::read_to_string(fixture("head/synthetic_head_scores.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["scores"][stem].as_f64().unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).expect("score --json prints JSON")
}

fn score_of(doc: &serde_json::Value, name: &str) -> f64 {
    let v = doc["videos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(v["status"], "scored", "{name}: {v}");
    v["score"].as_f64().unwrap()
}

#[test]
fn scores_match_reference_from_videos_and_from_features() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let broken = dir.path().join("broken.mp4");
    std::fs::write(&broken, b"not a video").unwrap();
    let csv = dir.path().join("scores.csv");

    // Videos (and one broken file): exit 3, every good video scored.
    let mut c = relaxvqa();
    c.arg("score").args(VIDEOS.map(video)).arg(&broken);
    c.args(["--weights", "synthetic", "--json", "--segments", "2s", "--model"]).arg(&head).arg("--output").arg(&csv);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(3), "a failed video gives exit 3");
    let doc = json(&o);
    assert_eq!(doc["schema"], "relaxvqa.score/1");
    assert_eq!(doc["failed"], 1);
    assert_eq!(doc["model"]["output_scale"], "raw");
    let mut worst = 0.0_f64;
    for stem in VIDEOS {
        let got = score_of(&doc, stem);
        let d = (got - expected(stem)).abs();
        println!("{stem}: video score {got}, reference {}, diff {d:e} (tolerance {VIDEO_TOL:e})", expected(stem));
        worst = worst.max(d);
        let v = doc["videos"].as_array().unwrap().iter().find(|v| v["name"] == stem).unwrap();
        let segs = v["segments"].as_array().unwrap();
        assert!(!segs.is_empty(), "{stem}: no segments");
        for s in segs {
            assert!(s["score"].as_f64().unwrap().is_finite());
            assert!(s["end"].as_f64().unwrap() > s["start"].as_f64().unwrap());
        }
    }
    println!("video scores: max abs diff {worst:e}");
    assert!(worst <= VIDEO_TOL);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.contains("broken") && text.lines().count() == 5, "csv:\n{text}");

    // Resume with the same window: the scored videos are skipped (no
    // backbones needed), the broken one retried.
    let mut c = relaxvqa();
    c.arg("score").args(VIDEOS.map(video)).arg(&broken);
    c.args(["--weights", "synthetic", "--json", "--segments", "2s", "--model"]);
    c.arg(&head).arg("--output").arg(&csv);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(3));
    let again = json(&o);
    assert_eq!(again["skipped"], 3);
    assert_eq!(again["failed"], 1);

    // Saved features give the same numbers as the videos: one video
    // extracted to a file (the extraction itself is checked against the
    // reference by the extract module) ...
    let own = dir.path().join("own.features.safetensors");
    let o = run(relaxvqa().arg("extract").arg(video(VIDEOS[2])).args(["--weights", "synthetic", "-o"]).arg(&own));
    assert!(o.status.success());
    let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--json").arg("--features").arg(&own));
    assert!(o.status.success());
    let (a, b) = (score_of(&json(&o), "own"), score_of(&doc, VIDEOS[2]));
    println!("{}: from its features {a}, from the video {b}, diff {:e}", VIDEOS[2], (a - b).abs());
    assert!((a - b).abs() <= FEATURES_TOL);
    // ... and the authors' own feature vectors score as the authors' head did.
    let mut files = Vec::new();
    for stem in VIDEOS {
        let out = dir.path().join(format!("{stem}.features.safetensors"));
        std::fs::copy(fixture(&format!("reference/{stem}.safetensors")), &out).unwrap();
        files.push(out);
    }
    let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--json").arg("--features").args(&files));
    assert!(o.status.success());
    let from_features = json(&o);
    let mut worst = 0.0_f64;
    for stem in VIDEOS {
        let (a, b) = (score_of(&from_features, stem), expected(stem));
        println!(
            "{stem}: from the reference features {a}, reference {b}, diff {:e} (tolerance {REFERENCE_TOL:e})",
            (a - b).abs()
        );
        worst = worst.max((a - b).abs());
    }
    assert!(worst <= REFERENCE_TOL);

    // A combined matrix (as `extract --list` writes it) and a folder of
    // per-video files give the same scores, one per row.
    let names: Vec<String> = VIDEOS.iter().map(|s| s.to_string()).collect();
    let mut matrix: Vec<u8> = Vec::new();
    for stem in VIDEOS {
        let bytes = std::fs::read(dir.path().join(format!("{stem}.features.safetensors"))).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("video.features").unwrap();
        assert_eq!(t.dtype(), safetensors::Dtype::F64);
        matrix.extend_from_slice(t.data());
    }
    let shape = vec![VIDEOS.len(), matrix.len() / 8 / VIDEOS.len()];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, shape, &matrix).unwrap();
    let meta = std::collections::HashMap::from([("names".to_owned(), serde_json::to_string(&names).unwrap())]);
    let combined = dir.path().join("features.safetensors");
    safetensors::serialize_to_file([("features", view)], Some(meta), &combined).unwrap();
    let folder = dir.path().join("per_video");
    std::fs::create_dir(&folder).unwrap();
    for f in &files {
        std::fs::copy(f, folder.join(f.file_name().unwrap())).unwrap();
    }
    for input in [&combined, &folder] {
        let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--json").arg("--features").arg(input));
        assert!(o.status.success());
        let doc2 = json(&o);
        assert_eq!(doc2["videos"].as_array().unwrap().len(), VIDEOS.len());
        for stem in VIDEOS {
            let (a, b) = (score_of(&doc2, stem), score_of(&from_features, stem));
            println!("{stem}: from {} {a}, diff {:e}", input.display(), (a - b).abs());
            assert_eq!(a, b, "{stem} from {}", input.display());
        }
    }

    // Plain output: one line per input, name, score, scale.
    let o = run(relaxvqa().arg("score").arg("--model").arg(&head).arg("--features").arg(&files[0]));
    assert!(o.status.success());
    let line = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_owned();
    assert!(line.starts_with(VIDEOS[0]) && line.ends_with("raw"), "{line}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(relaxvqa().args(["score", "x.mp4", "--model", "no-such-head"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-head"));
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let o = run(relaxvqa().arg("score").arg("x.mp4").arg("--model").arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.safetensors"));
    let o = run(relaxvqa().args(["score", "--segments", "fast", "x.mp4"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--segments fast"));
    let o = run(relaxvqa().args(["score"]));
    assert_eq!(o.status.code(), Some(1));
}
