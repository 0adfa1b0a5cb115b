//! The library's scoring batch: timeline windows validated once (whatever
//! front end gives them), and a scores CSV resumed only from rows made with
//! the same window.

use std::path::{Path, PathBuf};

use relaxvqa::batch::{read_rows, ScoreBatch, ScoreBatchOptions, ScoreOutcome, Videos};
use relaxvqa::{ErrorKind, ExtractOptions, Model, ModelOptions, ScoreOptions};

fn model() -> Model {
    let opts = ModelOptions {
        weights: "synthetic".into(),
        head: Some(relaxvqa::testing::head()),
        threads: Some(2),
        ..Default::default()
    };
    Model::load(opts).expect("the synthetic model")
}

fn options(video: &Path, output: &Path, segments: Option<f64>) -> ScoreBatchOptions {
    ScoreBatchOptions {
        videos: Videos { inputs: vec![video.to_owned()], ..Default::default() },
        head: relaxvqa::testing::head(),
        weights: "synthetic".into(),
        segments,
        output: Some(output.to_owned()),
        ..Default::default()
    }
}

/// A copy of the fixture clip (so its identity is this test's own).
fn clip(dir: &Path) -> PathBuf {
    let p = dir.join("clip.mp4");
    std::fs::copy(relaxvqa::testing::clip(), &p).expect("copy the clip");
    p
}

#[test]
fn windows_that_are_not_finite_durations_of_at_least_a_millisecond_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path());
    let m = model();
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-300, 1e-15, 1e-4] {
        let out = dir.path().join("scores.csv");
        let e = ScoreBatch::plan(options(&video, &out, Some(w))).err().unwrap_or_else(|| panic!("{w} accepted"));
        println!("plan, segments {w}: {e}");
        assert_eq!(e.kind(), ErrorKind::Input, "{w}: {e}");
        assert!(e.to_string().contains("segments"), "{e}");
        assert!(!out.exists(), "{w}: a CSV was written for a refused run");
        let e = m.score(video.as_path(), &ScoreOptions { segments: Some(w), ..Default::default() }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input, "Model::score, segments {w}: {e}");
    }
    // The longest window is one window over the whole clip, start < end.
    let s = m.score(video.as_path(), &ScoreOptions { segments: Some(1e308), ..Default::default() }).unwrap();
    let segs = s.segments.expect("a timeline");
    println!("1e308 s: {segs:?}");
    assert_eq!(segs.len(), 1);
    assert!(segs[0].start == 0.0 && segs[0].end > segs[0].start && segs[0].end < 10.0, "{segs:?}");
    assert!((segs[0].score - s.score).abs() < 1e-9, "one window is the whole video: {} vs {}", segs[0].score, s.score);
}

#[test]
fn a_scores_csv_is_resumed_only_from_rows_of_the_same_window() {
    let dir = tempfile::tempdir().unwrap();
    let video = clip(dir.path());
    let out = dir.path().join("scores.csv");
    let m = model();
    let run = |segments: Option<f64>| -> (usize, Vec<ScoreOutcome>) {
        let b = ScoreBatch::plan(options(&video, &out, segments)).expect("plan");
        let todo = b.todo().len();
        (todo, b.run(Some(&m), &ExtractOptions::default(), |_, _| {}).expect("run"))
    };
    // Without a timeline: scored, one row without segments.
    let (todo, first) = run(None);
    assert_eq!(todo, 1);
    let whole = match &first[0] {
        ScoreOutcome::Scored { score } => score.score,
        o => panic!("{o:?}"),
    };
    assert_eq!(read_rows(&out).unwrap()[0].segments, "");
    // The same run again: kept.
    assert_eq!(run(None).0, 0);
    // With 1 s windows: the row without segments is not taken for it.
    let (todo, second) = run(Some(1.0));
    assert_eq!(todo, 1, "a row without segments was kept for a run with --segments 1s");
    match &second[0] {
        ScoreOutcome::Scored { score } => {
            assert_eq!(score.score, whole);
            assert!(score.segments.as_ref().is_some_and(|s| s.len() >= 2), "{:?}", score.segments);
        }
        o => panic!("{o:?}"),
    }
    let rows = read_rows(&out).unwrap();
    assert_eq!(rows.len(), 1, "the older row is dropped: {rows:?}");
    assert!(rows[0].segments.contains(';') && rows[0].segment_seconds == "1", "{:?}", rows[0]);
    // 1 s again: kept; 2 s or none: scored again.
    assert_eq!(run(Some(1.0)).0, 0);
    assert_eq!(run(Some(2.0)).0, 1);
    assert_eq!(run(None).0, 1);
    let rows = read_rows(&out).unwrap();
    assert_eq!((rows.len(), rows[0].segments.as_str(), rows[0].segment_seconds.as_str()), (1, "", ""));
}
