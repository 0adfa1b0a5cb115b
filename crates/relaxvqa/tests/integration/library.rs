//! The library as a third party uses it: one model, inputs of every kind
//! giving the same values, cancellation, a batch that survives a panicking
//! worker and resumes only what the same video and weights produced, and a
//! stream whose frame size changes finishing in bounded time.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use relaxvqa::batch::{entries, run_each, ExtractBatch, Outcome};
use relaxvqa::{CancelToken, Error, ExtractOptions, Input, Model, ModelOptions};
use relaxvqa_fixtures::video;

fn model() -> Model {
    Model::load(ModelOptions { weights: "synthetic".into(), threads: Some(2), ..Default::default() }).unwrap()
}

#[test]
fn files_bytes_and_readers_give_the_same_features() {
    let m = model();
    assert_eq!(m.threads(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = relaxvqa_fixtures::attack::tiny_clip(dir.path());
    let opts = ExtractOptions::default();
    let a = m.extract(path.as_path(), &opts).unwrap();
    let b = m.extract(Input::bytes("clip.mp4", std::fs::read(&path).unwrap()), &opts).unwrap();
    let c = m.extract(Input::reader("stream", std::fs::File::open(&path).unwrap()), &opts).unwrap();
    assert_eq!(a.values.len(), relaxvqa::FEATURE_LEN);
    let same = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
    assert!(same(&a.values, &b.values), "bytes differ from the file");
    assert!(same(&a.values, &c.values), "a reader differs from the file");
    assert_eq!(b.provenance.input, "clip.mp4");
    assert_eq!((a.sampled_frames, a.pairs), (2, 2));
}

/// Bytes and readers are untrusted by default: a playlist naming a private
/// clip by `file:` URL or by a 127.0.0.1 URL is refused (kind `Refused`),
/// and the loopback server gets no request; a path given by the caller is
/// trusted and follows it, and so do bytes the caller marks trusted.
#[test]
fn bytes_are_untrusted_unless_the_caller_says_so() {
    use relaxvqa_fixtures::attack::{corpus, private_clip, Canary};
    let m = model();
    let dir = tempfile::tempdir().unwrap();
    private_clip(dir.path());
    let canary = Canary::start();
    let opts = ExtractOptions::default();
    for a in corpus(dir.path(), &canary).iter().filter(|a| a.name.starts_with("hls-") && a.name != "hls-bare-path") {
        let e = m.extract(Input::bytes(a.file.clone(), a.bytes.clone()), &opts).unwrap_err();
        println!("{}: {e}", a.name);
        assert_eq!(e.kind(), relaxvqa::ErrorKind::Refused, "{e}");
        assert!(e.to_string().contains("playlists and manifests are not accepted"), "{e}");
        let e = m.extract(Input::reader(a.file.clone(), std::io::Cursor::new(a.bytes.clone())), &opts).unwrap_err();
        assert_eq!(e.kind(), relaxvqa::ErrorKind::Refused, "{e}");
        let path = dir.path().join(&a.file);
        std::fs::write(&path, &a.bytes).unwrap();
        let e = m.extract(Input::path(&path).untrusted(), &opts).unwrap_err();
        assert_eq!(e.kind(), relaxvqa::ErrorKind::Refused, "{e}");
        if a.name == "hls-file-url" {
            // The caller's own playlist, trusted: FFmpeg follows it.
            let f = m.extract(Input::bytes(a.file.clone(), a.bytes.clone()).trusted(), &opts);
            assert!(f.is_err(), "trusted bytes still open no protocol for their segments");
            let f = m.extract(path.as_path(), &opts).unwrap();
            assert_eq!(f.frames_decoded, 12, "a trusted path follows its playlist");
        }
    }
    assert_eq!(canary.hits(), 0, "no request reached the loopback server");
}

#[test]
fn cancelling_returns_promptly_with_cancelled() {
    let m = model();
    let cancel = CancelToken::new();
    let opts = ExtractOptions { cancel: cancel.clone(), ..Default::default() };
    cancel.cancel();
    let t = Instant::now();
    let e = m.extract(video("carphone_pristine").as_path(), &opts).unwrap_err();
    println!("{e} after {:?}", t.elapsed());
    assert!(matches!(e, Error::Cancelled), "{e:?}");
    assert_eq!(e.kind(), relaxvqa::ErrorKind::Cancelled);
}

#[test]
fn a_stream_that_changes_size_finishes_with_a_warning() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(model().extract(video_ts("size_change").as_path(), &ExtractOptions::default()));
    });
    let r = rx.recv_timeout(Duration::from_secs(300)).expect("size_change.ts did not finish: it hangs");
    let f = r.unwrap();
    println!("{} frames, {} samples, warnings {:?}", f.frames_decoded, f.sampled_frames, f.warnings);
    assert_eq!(f.frames_decoded, 88);
    assert!(f.warnings.iter().any(|w| w.contains("frame size changed")), "{:?}", f.warnings);
}

fn video_ts(stem: &str) -> std::path::PathBuf {
    relaxvqa_fixtures::fixture(&format!("videos/{stem}.ts"))
}

#[test]
fn a_panicking_item_is_that_items_error_and_the_others_go_on() {
    let items = [1, 2, 3, 4, 5];
    let mut got = Vec::new();
    run_each(
        &items,
        2,
        |i| format!("item {i}"),
        |&i| if i == 3 { panic!("boom") } else { Ok(i * 10) },
        || false,
        |k, r| got.push((k, r.map_err(|e| e.to_string()))),
    );
    got.sort_by_key(|g| g.0);
    println!("{got:?}");
    assert_eq!(got.len(), 5);
    assert_eq!(got[2].1, Err("item 3: internal error (a worker panicked); please report it".to_owned()));
    assert_eq!(got[4].1, Ok(50));
}

#[test]
fn a_batch_resumes_only_outputs_of_the_same_video_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let clip = relaxvqa_fixtures::attack::tiny_clip(dir.path());
    let (entries, dups) = entries(vec![(clip.clone(), vec![]), (clip.clone(), vec![])]);
    assert_eq!((entries.len(), dups.len()), (1, 1), "a video listed twice is done once");
    let b = ExtractBatch::new(dir.path().join("out"), entries, vec![]);
    let m = model();
    let s = b.run(&m, &ExtractOptions::default(), |_, _| {}).unwrap();
    assert!(matches!(s.outcomes[0], Outcome::Done { .. }));
    assert_eq!(s.combined.rows, 1);
    assert!(b.todo("synthetic").is_empty(), "same video and weights: kept");
    assert_eq!(b.todo("hub"), vec![0], "other weights: recomputed");
    // The same video touched (a new modification time) is another video.
    let f = std::fs::File::options().append(true).open(&clip).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5)).unwrap();
    assert_eq!(b.todo("synthetic"), vec![0], "a changed video: recomputed");
}
