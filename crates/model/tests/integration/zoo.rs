//! The model zoo against a local HTTP server with the authors' URL layout:
//! the fixture KoNViD-1k imputer and scaler carry the published blob ids and
//! are cached; a head whose bytes are not the published ones is refused and
//! leaves nothing in the cache; a missing file is a clear error.

use std::collections::HashMap;

use relaxvqa_fixtures::fixture;
use relaxvqa_model::zoo::{self, git_blob_id, Zoo, ZooError, ZOO_COMMIT};

/// A server on 127.0.0.1 answering GET `/<commit>/<path>` from `files`, 404 otherwise.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    relaxvqa_fixtures::serve_files("/xinyiW915/ReLaX-VQA", files)
}

fn at_commit(path: &str) -> String {
    format!("{ZOO_COMMIT}/{path}")
}

#[test]
fn fixture_pickles_carry_the_published_blob_ids() {
    for (name, f) in
        [("konvid_1k_imputer.pkl", zoo::KONVID_1K.imputer), ("konvid_1k_scaler.pkl", zoo::KONVID_1K.scaler)]
    {
        let bytes = std::fs::read(fixture(&format!("head/{name}"))).unwrap();
        let id = git_blob_id(&bytes);
        println!("{name}: blob id {id}, published {}", f.blob_id);
        assert_eq!(id, f.blob_id);
    }
}

/// Every (path, blob id) pair of the published-models page
/// (`docs/spec/published-models.md`): the documented list, independent of
/// the zoo's own table.
fn documented_files() -> Vec<(String, String)> {
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/spec/published-models.md");
    let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('`').collect();
        let path = cells.iter().find(|c| c.starts_with("model/"));
        let blob = cells.iter().find(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()));
        if let (Some(p), Some(b)) = (path, blob) {
            out.push((p.to_string(), b.to_string()));
        }
    }
    out
}

#[test]
fn the_zoo_is_the_documented_list() {
    let documented = documented_files();
    assert_eq!(documented.len(), 13 + 8, "13 heads and 4 scaler/imputer pairs on the page");
    let mut in_zoo: Vec<(String, String)> = zoo::HEADS
        .iter()
        .flat_map(|h| [h.file, h.preprocessing.imputer, h.preprocessing.scaler])
        .map(|f| (f.path.to_owned(), f.blob_id.to_owned()))
        .collect();
    in_zoo.sort();
    in_zoo.dedup();
    let mut want = documented.clone();
    want.sort();
    assert_eq!(in_zoo, want, "the zoo's files and blob ids differ from docs/spec/published-models.md");
    let heads: Vec<&str> = zoo::HEADS.iter().map(|h| h.file.path).collect();
    for (path, _) in documented.iter().filter(|(p, _)| p.ends_with(".pth")) {
        assert!(heads.contains(&path.as_str()), "{path} is not a head of the zoo");
    }
}

#[test]
fn every_published_head_is_listed() {
    assert_eq!(zoo::HEADS.len(), 13);
    assert_eq!(zoo::HEADS[0].name, zoo::DEFAULT_HEAD);
    assert_eq!(zoo::HEADS[0].file.path, "model/fine_tune_model/konvid_1k_relaxvqa_byrmse_fine_tuned_model.pth");
    for h in &zoo::HEADS {
        for f in [h.file, h.preprocessing.imputer, h.preprocessing.scaler] {
            assert_eq!(f.blob_id.len(), 40, "{}", f.path);
            assert!(f.blob_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }
    let lsvq = zoo::find_head("lsvq-trained").unwrap();
    assert!(lsvq.warning.is_some());
}

#[test]
fn downloads_are_verified_and_cached() {
    let imputer = std::fs::read(fixture("head/konvid_1k_imputer.pkl")).unwrap();
    let scaler = std::fs::read(fixture("head/konvid_1k_scaler.pkl")).unwrap();
    let head = zoo::find_head(zoo::DEFAULT_HEAD).unwrap();
    let files = HashMap::from([
        (at_commit(zoo::KONVID_1K.imputer.path), imputer.clone()),
        (at_commit(zoo::KONVID_1K.scaler.path), scaler),
        (at_commit(head.file.path), b"not the published head".to_vec()),
    ]);
    let endpoint = serve(files);
    let dir = tempfile::tempdir().unwrap();
    let z = Zoo::new(&endpoint, dir.path(), false);

    // A good file: downloaded, verified, cached; then served from the cache.
    assert!(!z.is_cached(&zoo::KONVID_1K.imputer));
    let p = z.fetch_file(&zoo::KONVID_1K.imputer).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), imputer);
    assert!(p.starts_with(dir.path().join(ZOO_COMMIT)));
    assert!(z.is_cached(&zoo::KONVID_1K.imputer));
    let offline = Zoo::new("http://127.0.0.1:9", dir.path(), true);
    assert_eq!(offline.fetch_file(&zoo::KONVID_1K.imputer).unwrap(), p);

    // Wrong bytes: refused, nothing left in the cache.
    let e = z.fetch_head(head).unwrap_err();
    println!("bad head: {e}");
    assert!(matches!(e, ZooError::BlobMismatch { .. }), "{e}");
    assert!(e.to_string().contains(head.file.blob_id));
    let weights_dir = z.cached_path(&head.file).parent().unwrap().to_owned();
    let left: Vec<_> =
        std::fs::read_dir(&weights_dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left in the cache: {left:?}");

    // Missing: a 404, named.
    let e = z.fetch_file(&zoo::YOUTUBE_UGC.scaler).unwrap_err();
    println!("missing: {e}");
    assert!(matches!(e, ZooError::Status { status: 404, .. }), "{e}");
    assert!(e.to_string().contains("youtube_ugc_scaler.pkl"));

    // Offline and not cached.
    let e = offline.fetch_file(&zoo::YOUTUBE_UGC.scaler).unwrap_err();
    assert!(matches!(e, ZooError::Offline { .. }), "{e}");
}
