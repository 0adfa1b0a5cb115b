//! `relaxvqa synth-dataset` end to end on one small source: every distortion
//! level becomes a clip with a row in `videos.csv`, with the level target by
//! default and the PSNR target on request.

use crate::common::{relaxvqa, run};
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

/// The documented level targets (README "synthetic dataset"): 5 for the
/// pristine encode, falling with each distortion's strength. Written out
/// here, not read from the library, so that a change of either is caught.
const LEVEL_TARGETS: [(&str, &str, f64); 18] = [
    ("pristine", "0", 5.0),
    ("crf", "26", 4.4),
    ("crf", "32", 3.7),
    ("crf", "38", 2.9),
    ("crf", "44", 2.1),
    ("crf", "51", 1.3),
    ("scale", "2", 3.8),
    ("scale", "3", 3.2),
    ("scale", "4", 2.6),
    ("scale", "6", 1.9),
    ("blur", "1", 4.1),
    ("blur", "2", 3.0),
    ("blur", "4", 1.9),
    ("noise", "8", 4.2),
    ("noise", "20", 3.1),
    ("noise", "40", 2.0),
    ("drop", "3", 3.6),
    ("drop", "6", 2.6),
];

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
                LEVEL_TARGETS
                    .iter()
                    .find(|(d, l, _)| d == dist && l == level)
                    .unwrap_or_else(|| panic!("{path}: unexpected distortion {dist} {level}"))
                    .2
            } else {
                1.0 + 4.0 * ((psnr - 18.0) / 30.0).clamp(0.0, 1.0)
            };
            assert!((mos - want).abs() < 1e-3, "{path}: target {mos}, expected {want}");
        }
        let mut made: Vec<(&str, &str)> = rows.iter().map(|r| (r.3.as_str(), r.4.as_str())).collect();
        let mut want: Vec<(&str, &str)> = LEVEL_TARGETS.iter().map(|(d, l, _)| (*d, *l)).collect();
        made.sort_unstable();
        want.sort_unstable();
        assert_eq!(made, want, "one clip per documented distortion level");
        // The pristine encode is the closest to the source.
        let best = rows.iter().max_by(|a, b| a.5.total_cmp(&b.5)).map(|r| r.3.clone());
        assert_eq!(best.as_deref(), Some("pristine"));
    }
}
