//! `relaxvqa synth-dataset` end to end on one small source: every distortion
//! level becomes a clip with a row in `videos.csv`, with the level target by
//! default and the PSNR target on request.

mod common;

use common::{relaxvqa, run};
use relaxvqa_fixtures::video;

/// Rows of `videos.csv` as (path, mos, content, distortion, level, psnr).
fn rows(csv_path: &std::path::Path) -> Vec<(String, f64, String, String, String, f64)> {
    let mut r = csv::Reader::from_path(csv_path).expect("videos.csv");
    let header = r.headers().expect("header").clone();
    assert_eq!(&header[7], "family");
    r.records()
        .map(|rec| {
            let rec = rec.expect("csv row");
            assert_eq!(&rec[7], &rec[2], "a given source video is its own family");
            let num = |i: usize| rec[i].parse::<f64>().expect("number");
            (rec[0].to_owned(), num(1), rec[2].to_owned(), rec[3].to_owned(), rec[4].to_owned(), num(5))
        })
        .collect()
}

#[test]
fn synth_dataset_makes_every_level_with_its_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = video("testsrc2_static");
    for target in ["level", "psnr"] {
        let out = dir.path().join(target);
        let o = run(relaxvqa()
            .arg("synth-dataset")
            .arg("--out")
            .arg(&out)
            .args(["--no-lavfi", "--duration", "0.4", "--size", "64x48", "--target", target, "--sources"])
            .arg(&source));
        assert!(o.status.success(), "synth-dataset --target {target} failed");
        let rows = rows(&out.join("videos.csv"));
        assert_eq!(rows.len(), 18, "18 distortion levels per source");
        for (path, mos, content, dist, level, psnr) in &rows {
            assert!(out.join(path).is_file(), "{path} missing");
            assert_eq!(content, "testsrc2_static", "no test sources, so the file's own name");
            assert!((1.0..=5.0).contains(mos), "{path}: target {mos}");
            let want = if target == "level" {
                match (dist.as_str(), level.as_str()) {
                    ("pristine", _) => 5.0,
                    ("crf", "51") => 1.3,
                    ("blur", "4") => 1.9,
                    _ => *mos,
                }
            } else {
                1.0 + 4.0 * ((psnr - 18.0) / 30.0).clamp(0.0, 1.0)
            };
            assert!((mos - want).abs() < 1e-3, "{path}: target {mos}, expected {want}");
        }
        // The pristine encode is the closest to the source.
        let best = rows.iter().max_by(|a, b| a.5.total_cmp(&b.5)).map(|r| r.3.clone());
        assert_eq!(best.as_deref(), Some("pristine"));
    }
}
