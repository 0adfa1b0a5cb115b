//! `relaxvqa models` through the binary: the list, a fetch from a local
//! server with the authors' URL layout (a head whose blob id does not match
//! is refused and nothing is cached), and conversion to our head format.

use std::collections::HashMap;
use std::process::{Command, Output};

use relaxvqa_fixtures::fixture;
use relaxvqa_model::head::load_head_file;
use relaxvqa_model::zoo;

fn relaxvqa(cache: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relaxvqa"));
    c.env("RELAXVQA_LOG", "error").env("RELAXVQA_CACHE_DIR", cache).env_remove("HF_HUB_OFFLINE");
    c
}

fn run(c: &mut Command) -> Output {
    let out = c.output().expect("running relaxvqa");
    println!("stdout: {}", String::from_utf8_lossy(&out.stdout));
    println!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A server on 127.0.0.1 answering GET `/<commit>/<path>` from `files`, 404 otherwise.
fn serve(files: HashMap<String, Vec<u8>>) -> String {
    relaxvqa_fixtures::serve_files("", files)
}

#[test]
fn list_names_every_head() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(relaxvqa(dir.path()).args(["models", "list", "--json"]));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "relaxvqa.models/1");
    let heads = v["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 13);
    assert_eq!(heads[0]["name"], zoo::DEFAULT_HEAD);
    assert_eq!(heads[0]["default"], true);
    assert!(heads.iter().all(|h| h["cached"] == false));
    let o = run(relaxvqa(dir.path()).args(["models", "list"]));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("lsvq-trained"));
}

#[test]
fn fetch_refuses_a_wrong_blob_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let head = zoo::find_head(zoo::DEFAULT_HEAD).unwrap();
    let at = |p: &str| format!("{}/{p}", zoo::ZOO_COMMIT);
    let files = HashMap::from([
        (at(zoo::KONVID_1K.imputer.path), std::fs::read(fixture("head/konvid_1k_imputer.pkl")).unwrap()),
        (at(zoo::KONVID_1K.scaler.path), std::fs::read(fixture("head/konvid_1k_scaler.pkl")).unwrap()),
        (at(head.file.path), b"a tampered head".to_vec()),
    ]);
    let endpoint = serve(files);
    let o =
        run(relaxvqa(dir.path()).env(zoo::ZOO_ENDPOINT_VAR, &endpoint).args(["models", "fetch", zoo::DEFAULT_HEAD]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(head.file.blob_id) && err.contains("not the published file"), "{err}");
    let cached = dir.path().join("zoo").join(zoo::ZOO_COMMIT).join(head.file.path);
    assert!(!cached.exists());
    let left: Vec<_> = std::fs::read_dir(cached.parent().unwrap()).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");

    let o = run(relaxvqa(dir.path()).env(zoo::ZOO_ENDPOINT_VAR, &endpoint).args(["models", "fetch", "youtube-ugc"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HTTP 404"));

    // Score with a zoo head that cannot be fetched: a clear error.
    let o =
        run(relaxvqa(dir.path()).env(zoo::ZOO_ENDPOINT_VAR, &endpoint).args(["score", "--features", "x.safetensors"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(head.file.blob_id));
}

/// The authors' own head format given to `score --model`: one line that
/// says how to convert it, not a safetensors parse error.
#[test]
fn a_pth_head_says_how_to_convert_it() {
    let dir = tempfile::tempdir().unwrap();
    let pth = fixture("head/head_plain_64.pth");
    let o = run(relaxvqa(dir.path())
        .args(["score", "--weights", "synthetic", "--model"])
        .arg(&pth)
        .arg(relaxvqa_fixtures::video("testsrc2_noise")));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("PyTorch checkpoint") && e.contains("relaxvqa models convert --head"), "{e}");
    assert!(!e.contains("safetensors: header"), "{e}");
}

#[test]
fn convert_writes_our_head_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("head.safetensors");
    let o = run(relaxvqa(dir.path())
        .args(["models", "convert", "--head"])
        .arg(fixture("head/head_swa_64.pth"))
        .args(["--scale", "0-100", "-o"])
        .arg(&out));
    assert!(o.status.success());
    let hf = load_head_file(&out).unwrap();
    assert_eq!(hf.input_width, 64);
    assert_eq!(hf.output_scale.as_str(), "mos_0_100");
    assert!(hf.source.contains("head_swa_64.pth"));

    // Widths that disagree: an error, no file.
    let bad = dir.path().join("bad.safetensors");
    let o = run(relaxvqa(dir.path())
        .args(["models", "convert", "--head"])
        .arg(fixture("head/head_plain_64.pth"))
        .arg("--imputer")
        .arg(fixture("head/konvid_1k_imputer.pkl"))
        .args(["--scale", "1-5", "-o"])
        .arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert!(!bad.exists());
}
