use super::*;
use relaxvqa::batch::{
    collect_rows, entries, output_of, read_list, run_each, videos_in, write_reports, BatchSummary, Combined, Entry,
    ExtractBatch, ListOptions, Outcome,
};
use relaxvqa::files::{feature_metadata, is_complete, read_feature_rows, Identity};
use relaxvqa::FEATURE_LEN;

/// Writes a complete per-video feature file of `identity`, every value `v`.
fn feature_file(path: &Path, identity: &Identity, v: f64) {
    let bytes: Vec<u8> = vec![v; FEATURE_LEN].into_iter().flat_map(f64::to_le_bytes).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![FEATURE_LEN], &bytes).unwrap();
    safetensors::serialize_to_file([("video.features", view)], Some(feature_metadata(identity)), path).unwrap();
}

/// A dummy "video" file (its content is never decoded here).
fn video(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    write(&p, content);
    p
}

fn entry(name: &str, path: &Path) -> Entry {
    Entry { name: name.into(), path: path.to_owned(), extra: Vec::new() }
}

fn batch(out_dir: &Path, entries: Vec<Entry>, force: bool) -> ExtractBatch {
    ExtractBatch::new(out_dir, entries, Vec::new()).with_force(force)
}

/// A folder's videos are its files with a video extension (any case),
/// sorted by name; other files and sub-folders are left out.
#[test]
fn videos_in_takes_video_files_sorted() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["b.mkv", "a.MP4", "z.y4m", "notes.txt", "noext", "c.mp4.part"] {
        video(dir.path(), f, "x");
    }
    std::fs::create_dir(dir.path().join("folder.mp4")).unwrap();
    let got = videos_in(dir.path()).unwrap();
    let names: Vec<_> = got.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["a.MP4", "b.mkv", "z.y4m"]);
    assert!(videos_in(&dir.path().join("absent")).is_err());
}

/// A list's relative entries resolve against its folder (or `video_dir`),
/// entries without an extension get `ext`, and the other columns are kept.
#[test]
fn read_list_resolves_paths_and_keeps_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.csv");
    write(&list, "video,mos\nclip1,3.1\nsub/clip2.mkv,4\n/abs/x.mp4,2\n");
    let opts = ListOptions { ext: Some(".mp4".into()), ..Default::default() };
    let (rows, cols) = read_list(&list, &opts).unwrap();
    assert_eq!(cols, ["mos"]);
    let paths: Vec<_> = rows.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(paths, [dir.path().join("clip1.mp4"), dir.path().join("sub/clip2.mkv"), PathBuf::from("/abs/x.mp4")]);
    assert_eq!(rows[0].1, [("mos".to_owned(), "3.1".to_owned())]);
    let opts = ListOptions { video_dir: Some("/data/videos".into()), ..Default::default() };
    let (rows, _) = read_list(&list, &opts).unwrap();
    assert_eq!(rows[0].0, Path::new("/data/videos/clip1"), "no ext given: left as is");
}

/// The path column is the first of path, file, filename, video, vid, name
/// (any case), or the one named.
#[test]
fn read_list_picks_the_path_column() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("l.csv");
    write(&list, "name,Path,other\nn1,/v/p1.mp4,o1\n");
    let (rows, cols) = read_list(&list, &ListOptions::default()).unwrap();
    assert_eq!(rows[0].0, Path::new("/v/p1.mp4"));
    assert_eq!(cols, ["name", "other"]);
    let opts = ListOptions { path_column: Some("other".into()), ..Default::default() };
    let (rows, cols) = read_list(&list, &opts).unwrap();
    assert_eq!(rows[0].0, dir.path().join("o1"));
    assert_eq!(cols, ["name", "Path"]);
}

/// A folder, a list without a path column, a named column that is
/// absent, an empty path or a ragged row is refused, naming the row.
#[test]
fn read_list_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (msg, _) = err(read_list(dir.path(), &ListOptions::default()));
    assert!(msg.contains("--list takes a CSV file"), "{msg}");
    let list = dir.path().join("l.csv");
    write(&list, "mos,title\n1,a\n");
    let (msg, kind) = err(read_list(&list, &ListOptions::default()));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("no path column") && msg.contains("--path-column"), "{msg}");
    let opts = ListOptions { path_column: Some("clip".into()), ..Default::default() };
    let (msg, _) = err(read_list(&list, &opts));
    assert!(msg.contains("no column named clip") && msg.contains("mos, title"), "{msg}");
    write(&list, "path,mos\na.mp4,1\n ,2\n");
    let (msg, _) = err(read_list(&list, &ListOptions::default()));
    assert!(msg.contains("row 3: empty path"), "{msg}");
    write(&list, "path,mos\na.mp4,1\nb.mp4\n");
    let (msg, _) = err(read_list(&list, &ListOptions::default()));
    assert!(msg.contains("row 3"), "{msg}");
}

/// The list's rows come first, then the inputs in the order given (a
/// folder as its sorted videos); only list rows carry other columns.
#[test]
fn collect_rows_takes_the_list_then_each_input_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("videos");
    std::fs::create_dir(&folder).unwrap();
    let b = video(&folder, "b.mp4", "b");
    let a = video(&folder, "a.mp4", "a");
    let list = dir.path().join("l.csv");
    write(&list, "path,mos\n/x/l.mp4,3\n");
    let single = dir.path().join("single.mkv");
    let (rows, cols) = collect_rows(Some(&list), &[folder.clone(), single.clone()], &ListOptions::default()).unwrap();
    let paths: Vec<_> = rows.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(paths, [PathBuf::from("/x/l.mp4"), a, b, single]);
    assert_eq!(cols, ["mos"]);
    assert_eq!(rows[0].1.len(), 1);
    assert!(rows[1..].iter().all(|(_, extra)| extra.is_empty()));
    let (rows, cols) = collect_rows(None, &[], &ListOptions::default()).unwrap();
    assert!(rows.is_empty() && cols.is_empty());
}

/// Names are file stems made safe (other characters become `_`), with
/// `-2`, `-3` on clashes; a path listed again (even spelled otherwise)
/// is dropped and returned apart; other columns are carried.
#[test]
fn entries_name_uniquely_and_drop_repeated_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("x")).unwrap();
    std::fs::create_dir_all(dir.path().join("y")).unwrap();
    let xa = video(&dir.path().join("x"), "a.mp4", "1");
    let ya = video(&dir.path().join("y"), "a.mkv", "2");
    let odd = video(dir.path(), "my clip!.mp4", "3");
    let again = dir.path().join("x/./a.mp4");
    let extra = vec![("mos".to_owned(), "4".to_owned())];
    let rows = vec![
        (xa.clone(), extra.clone()),
        (ya.clone(), Vec::new()),
        (again.clone(), Vec::new()),
        (odd.clone(), Vec::new()),
        (PathBuf::from("/missing/a-2.mp4"), Vec::new()),
        (PathBuf::from("/missing/a-2.mp4"), Vec::new()),
    ];
    let (es, dups) = entries(rows);
    let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "a-2", "my_clip_", "a-2-2"]);
    assert_eq!(es[0], Entry { name: "a".into(), path: xa, extra });
    assert_eq!(es[1].path, ya);
    assert_eq!(dups, [again, PathBuf::from("/missing/a-2.mp4")]);
}

/// Each entry's output is `<out>/<name>.safetensors`.
#[test]
fn output_of_is_the_name_in_the_output_folder() {
    let e = entry("clip-2", Path::new("/v/clip.mp4"));
    assert_eq!(output_of(Path::new("/out"), &e), Path::new("/out/clip-2.safetensors"));
}

/// Work is every entry without a complete output from the same video and
/// weights (all with `force`); a cut-short file is not complete.
#[test]
fn todo_skips_only_complete_outputs_of_the_same_video_and_weights() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let vids: Vec<PathBuf> =
        ["a", "b", "c", "d", "e"].iter().map(|n| video(dir.path(), &format!("{n}.mp4"), n)).collect();
    let es: Vec<Entry> = vids.iter().zip(["a", "b", "c", "d", "e"]).map(|(p, n)| entry(n, p)).collect();
    let b = batch(&out, es.clone(), false);
    feature_file(&output_of(&out, &es[0]), &b.identity(&es[0], "hub"), 1.0); // complete
                                                                             // b: no output
    feature_file(&output_of(&out, &es[2]), &b.identity(&es[2], "synthetic"), 1.0); // other weights
    feature_file(&output_of(&out, &es[3]), &b.identity(&es[3], "hub"), 1.0);
    write(&vids[3], "the video changed"); // other size
    feature_file(&output_of(&out, &es[4]), &b.identity(&es[4], "hub"), 1.0);
    let cut = std::fs::read(output_of(&out, &es[4])).unwrap();
    std::fs::write(output_of(&out, &es[4]), &cut[..cut.len() - 8]).unwrap(); // cut short
    assert_eq!(b.todo("hub"), [1, 2, 3, 4]);
    assert_eq!(b.todo("synthetic"), [0, 1, 3, 4]);
    assert_eq!(batch(&out, es, true).todo("hub"), [0, 1, 2, 3, 4]);
}

/// `prepare` makes the output folder (parents included) and refuses a
/// path that is a file.
#[test]
fn prepare_makes_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a/b/out");
    batch(&out, Vec::new(), false).prepare().unwrap();
    assert!(out.is_dir());
    let file = video(dir.path(), "file", "x");
    assert!(batch(&file, Vec::new(), false).prepare().is_err());
}

/// The index lists every entry with its status and other columns,
/// failures hold the failed ones, and the combined matrix holds the
/// complete outputs from the same weights, in list order.
#[test]
fn write_reports_writes_index_failures_and_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut es: Vec<Entry> =
        ["a", "b", "c", "d", "e"].iter().map(|n| entry(n, &video(dir.path(), &format!("{n}.mp4"), n))).collect();
    es[0].extra = vec![("mos".into(), "3.5".into())];
    let id = |e: &Entry, w: &str| Identity::of_file(&e.path, w);
    feature_file(&output_of(&out, &es[0]), &id(&es[0], "hub"), 0.5);
    feature_file(&output_of(&out, &es[1]), &id(&es[1], "hub"), 1.5);
    feature_file(&output_of(&out, &es[4]), &id(&es[4], "synthetic"), 9.0);
    let outcomes = vec![
        Outcome::Done { seconds: 1.0, frames: 10, warnings: Vec::new() },
        Outcome::Skipped,
        Outcome::Failed { error: "cannot decode, \"bad\"".into() },
        Outcome::Done { seconds: 1.0, frames: 10, warnings: Vec::new() }, // no output after all
        Outcome::Skipped,                                                 // other weights
    ];
    let combined = write_reports(&out, &es, &["mos".into()], &outcomes, "hub").unwrap();
    assert_eq!(combined.rows, 2);
    assert_eq!(combined.npy, out.join("features.npy"));
    assert!(combined.npy.is_file());
    let m = read_feature_rows(&combined.path).unwrap();
    assert_eq!(m.names, ["a", "b"]);
    assert_eq!(m.dim, FEATURE_LEN);
    assert!(m.x[..FEATURE_LEN].iter().all(|&v| v == 0.5) && m.x[FEATURE_LEN..].iter().all(|&v| v == 1.5));
    assert_eq!(std::fs::read_to_string(out.join("features.names.txt")).unwrap(), "a\nb\n");

    let mut index = csv::Reader::from_path(out.join("index.csv")).unwrap();
    assert_eq!(index.headers().unwrap(), vec!["name", "path", "status", "output", "mos"]);
    let rows: Vec<Vec<String>> = index.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let status: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(status, ["done", "skipped", "failed", "missing", "missing"]);
    assert_eq!(rows[0][3], output_of(&out, &es[0]).display().to_string());
    assert_eq!((rows[0][4].as_str(), rows[1][4].as_str()), ("3.5", ""));
    let mut failures = csv::Reader::from_path(out.join("failures.csv")).unwrap();
    let f: Vec<Vec<String>> = failures.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(f, [vec!["c".to_owned(), es[2].path.display().to_string(), "cannot decode, \"bad\"".to_owned()]]);
}

/// A report that cannot be written does not stop the others; the error
/// is returned after all were tried.
#[test]
fn write_reports_tries_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("index.csv")).unwrap(); // a folder in the way
    let e = entry("a", &video(dir.path(), "a.mp4", "a"));
    feature_file(&output_of(&out, &e), &Identity::of_file(&e.path, "hub"), 2.0);
    let r = write_reports(&out, &[e], &[], &[Outcome::Skipped], "hub");
    let (msg, _) = err(r);
    assert!(msg.contains("index.csv"), "{msg}");
    assert!(out.join("failures.csv").is_file());
    assert_eq!(read_feature_rows(&out.join("features.safetensors")).unwrap().names, ["a"]);
}

/// A video named `features.mp4` must keep its own output: no entry's
/// output may be the combined matrix, and after the reports its output
/// is still a complete per-video file.
#[test]
fn a_video_named_features_keeps_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("videos");
    std::fs::create_dir(&videos).unwrap();
    for (name, body) in
        [("features.mp4", "f"), ("Features.mkv", "F"), ("INDEX.avi", "i"), ("a.mp4", "a"), ("A.mov", "A")]
    {
        video(&videos, name, body);
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (rows, _) = collect_rows(None, std::slice::from_ref(&videos), &ListOptions::default()).unwrap();
    let (es, _) = entries(rows);
    for (k, e) in es.iter().enumerate() {
        feature_file(&output_of(&out, e), &Identity::of_file(&e.path, "hub"), k as f64);
    }
    let outcomes = vec![Outcome::Skipped; es.len()];
    let combined = write_reports(&out, &es, &[], &outcomes, "hub").unwrap();
    for e in &es {
        let o = output_of(&out, e);
        assert_ne!(o, combined.path, "{} shares the combined matrix's file", e.name);
        assert!(is_complete(&o, &Identity::of_file(&e.path, "hub")), "{} lost its output", e.name);
    }
    // Names differ also without case (one file on macOS and Windows) and
    // none is a combined file's.
    let lower: std::collections::HashSet<String> = es.iter().map(|e| e.name.to_lowercase()).collect();
    assert_eq!(lower.len(), es.len(), "{:?}", es.iter().map(|e| &e.name).collect::<Vec<_>>());
    for reserved in ["features", "index", "failures"] {
        assert!(!lower.contains(reserved), "an entry is called {reserved}");
    }
}

/// Every item runs once and is handed over with its index; a panic
/// becomes that item's `Panicked` error and the others go on.
#[test]
fn run_each_runs_every_item_and_survives_panics() {
    let items: Vec<u32> = (0..10).collect();
    let mut got: Vec<(usize, Result<u32, String>)> = Vec::new();
    run_each(
        &items,
        3,
        |i| format!("item {i}"),
        |&i| if i == 4 { panic!("worker panic in a test (expected)") } else { Ok(i * 10) },
        || false,
        |k, r| got.push((k, r.map_err(|e| e.to_string()))),
    );
    got.sort_by_key(|(k, _)| *k);
    assert_eq!(got.iter().map(|(k, _)| *k).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    for (k, r) in &got {
        if *k == 4 {
            let e = r.as_ref().unwrap_err();
            assert!(e.starts_with("item 4:") && e.contains("panicked"), "{e}");
        } else {
            assert_eq!(r.as_ref().ok(), Some(&(*k as u32 * 10)));
        }
    }
}

/// `jobs` 0 still runs the items (on one thread); nothing runs once
/// cancelled.
#[test]
fn run_each_clamps_jobs_and_honours_cancel() {
    let items = [1, 2, 3];
    let mut n = 0;
    run_each(&items, 0, |i| i.to_string(), |&i| Ok(i), || false, |_, _| n += 1);
    assert_eq!(n, 3);
    let mut ran = 0;
    run_each(&items, 2, |i| i.to_string(), |&i| Ok(i), || true, |_, _| ran += 1);
    assert_eq!(ran, 0);
}

/// The summary counts each kind of outcome.
#[test]
fn summary_counts_outcomes() {
    let s = BatchSummary {
        outcomes: vec![
            Outcome::Skipped,
            Outcome::Done { seconds: 0.1, frames: 1, warnings: Vec::new() },
            Outcome::Failed { error: "x".into() },
            Outcome::Skipped,
            Outcome::Skipped,
        ],
        combined: Combined { path: "f.safetensors".into(), rows: 4, npy: "f.npy".into() },
    };
    assert_eq!((s.done(), s.skipped(), s.failed()), (1, 3, 1));
}
