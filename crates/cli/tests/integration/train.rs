//! `relaxvqa eval` and `relaxvqa train` through the binary: the metrics of
//! every case of the reference metrics fixture, training a head on a small
//! synthetic feature matrix (reproducible bit for bit), scoring it with
//! `eval --model`, the split protocol with groups, fine-tuning from an
//! existing head (`--init`), and bad input.

use std::path::Path;
use std::process::Output;

use crate::common::{relaxvqa, run, synthetic_head_file};
use relaxvqa_fixtures::fixture;
use relaxvqa_model::head::{load_head_file, read_head_weights, HEAD_TENSORS};

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "relaxvqa failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn eval_predictions_matches_metrics_fixture() {
    let text = std::fs::read_to_string(fixture("head/metrics.json")).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let y: Vec<f64> = serde_json::from_value(case["y_true"].clone()).unwrap();
        let p: Vec<f64> = serde_json::from_value(case["y_pred"].clone()).unwrap();
        let mut csv = String::from("name,mos,pred\n");
        for (i, (a, b)) in y.iter().zip(&p).enumerate() {
            // `{:?}` prints the shortest string that reads back to the same f64.
            csv.push_str(&format!("v{i},{a:?},{b:?}\n"));
        }
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, csv).unwrap();
        let out = json_of(&run(relaxvqa().args(["eval", "--json", "--predictions"]).arg(&path)));
        let m = &out["metrics"];
        for (key, tol) in [("srcc", 1e-9), ("krcc", 1e-9), ("plcc_raw", 1e-9), ("plcc", 1e-4), ("rmse", 1e-4)] {
            let got = m[key].as_f64().unwrap();
            let want = case[key].as_f64().unwrap();
            println!("{name} {key}: got {got} want {want} diff {:.3e}", (got - want).abs());
            assert!((got - want).abs() <= tol, "{name} {key}: {got} vs {want}");
        }
    }
}

const DIM: usize = 35203;

/// A small deterministic generator for the synthetic data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes a combined feature matrix of `n` rows where the first 50 columns
/// carry the target (plus noise) and the rest are noise; a few NaNs. Also a
/// MOS CSV with names, MOS and a content column (8 contents). Returns the
/// paths.
fn synthetic_dataset(dir: &Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut rng = Lcg(42);
    let mut x = Vec::with_capacity(n * DIM);
    let mut mos = String::from("name,mos,content\n");
    let mut names = Vec::new();
    for i in 0..n {
        let y = 1.0 + 4.0 * rng.next();
        for c in 0..DIM {
            let v = if c < 50 { y + 0.2 * rng.next() } else { rng.next() };
            x.push(if (i * 7 + c) % 9973 == 0 { f64::NAN } else { v });
        }
        let name = format!("clip{i:02}");
        mos.push_str(&format!("{name}.mp4,{y:?},c{}\n", i % 8));
        names.push(name);
    }
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![n, DIM], &bytes).unwrap();
    let meta = std::collections::HashMap::from([("names".to_owned(), serde_json::to_string(&names).unwrap())]);
    let st = safetensors::serialize([("features", view)], Some(meta)).unwrap();
    let features = dir.join("features.safetensors");
    std::fs::write(&features, st).unwrap();
    let mos_path = dir.join("mos.csv");
    std::fs::write(&mos_path, mos).unwrap();
    (features, mos_path)
}

#[test]
fn train_is_reproducible_and_eval_scores_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 40);
    let train = |out: &str, seed: &str| {
        let t = std::time::Instant::now();
        let o = json_of(&run(relaxvqa()
            .args(["train", "--features"])
            .arg(&features)
            .arg("--mos")
            .arg(&mos)
            .args(["--epochs", "4", "--folds", "3", "--seed", seed, "--scale", "mos_1_5", "-o"])
            .arg(dir.path().join(out))));
        println!("train {out}: {:.1} s", t.elapsed().as_secs_f64());
        o
    };
    let a = train("a.safetensors", "5");
    assert_eq!(a["videos"], 40);
    assert_eq!(a["features"], DIM);
    train("b.safetensors", "5");
    train("c.safetensors", "6");
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert!(read("a.safetensors") == read("b.safetensors"), "same seed must give the same head bit for bit");
    assert!(read("a.safetensors") != read("c.safetensors"), "another seed gives another head");

    let preds = dir.path().join("preds.csv");
    let e = json_of(&run(relaxvqa()
        .args(["eval", "--features"])
        .arg(&features)
        .arg("--mos")
        .arg(&mos)
        .arg("--model")
        .arg(dir.path().join("a.safetensors"))
        .arg("--write-predictions")
        .arg(&preds)));
    assert_eq!(e["output_scale"], "mos_1_5");
    let srcc = e["metrics"]["srcc"].as_f64().unwrap();
    println!("training-set SRCC of the trained head: {srcc:.4}");
    assert!(srcc > 0.5, "the head learned the target columns: SRCC {srcc}");
    // The written predictions give the same metrics through --predictions.
    let again = json_of(&run(relaxvqa().args(["eval", "--predictions"]).arg(&preds)));
    let d = (again["metrics"]["srcc"].as_f64().unwrap() - srcc).abs();
    assert!(d < 1e-12, "predictions CSV round trip: {d}");
}

#[test]
fn train_splits_keep_groups_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 40);
    let o = json_of(&run(relaxvqa().args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos).args([
        "--epochs",
        "3",
        "--folds",
        "3",
        "--splits",
        "3",
        "--group-column",
        "content",
        "--seed",
        "1",
    ])));
    assert_eq!(o["splits"], 3);
    assert_eq!(o["test"].as_array().unwrap().len(), 3);
    // 8 contents of 5 clips: ceil(0.2 * 8) = 2 contents = 10 test clips per split.
    assert!(o["test"].as_array().unwrap().iter().all(|m| m["n"] == 10));
    println!("median SRCC {}", o["median"]["srcc"]);
    assert!(o["median"]["srcc"].as_f64().unwrap().is_finite());
}

#[test]
fn batch_size_changes_the_run_and_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 24);
    let train = |name: &str, extra: &[&str]| {
        let head = dir.path().join(name);
        let mut c = relaxvqa();
        c.args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos);
        c.args(["--epochs", "2", "--folds", "2", "--seed", "3"]).args(extra).arg("-o").arg(&head);
        (run(&mut c), head)
    };
    let (o256, h256) = train("b256.safetensors", &[]);
    let (o4, h4) = train("b4.safetensors", &["--batch-size", "4"]);
    assert!(o256.status.success() && o4.status.success());
    assert_eq!(json_of(&o256)["batch_size"], 256);
    assert_eq!(json_of(&o4)["batch_size"], 4);
    // 24 videos: one step per epoch at 256, several at 4, so different heads.
    assert_ne!(std::fs::read(&h256).unwrap(), std::fs::read(&h4).unwrap());
    let (o0, h0) = train("b0.safetensors", &["--batch-size", "0"]);
    assert!(!o0.status.success(), "--batch-size 0 is refused");
    assert!(!h0.exists());
}

#[test]
fn patience_zero_runs_every_epoch_of_every_fold() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 24);
    let train = |name: &str, extra: &[&str]| {
        let mut c = relaxvqa();
        c.args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos);
        c.args(["--epochs", "7", "--folds", "3", "--seed", "5"]).args(extra).arg("-o").arg(dir.path().join(name));
        let o = run(&mut c);
        assert!(o.status.success(), "train {extra:?} failed");
        json_of(&o)
    };
    let off = train("off.safetensors", &["--patience", "0"]);
    assert_eq!(off["patience"], serde_json::Value::Null);
    println!("--patience 0: epochs run {}", off["epochs_run"]);
    assert_eq!(off["epochs_run"], serde_json::json!([7, 7, 7]));
    let on = train("on.safetensors", &[]);
    assert_eq!(on["patience"], 5);
    let runs = on["epochs_run"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|e| (1..=7).contains(&e.as_u64().unwrap())), "{runs:?}");
}

#[test]
fn bad_input_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    let out = run(relaxvqa().args(["eval", "--predictions"]).arg(&missing));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.csv"), "error names the file: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let (features, _) = synthetic_dataset(dir.path(), 4);
    let mos = dir.path().join("other.csv");
    std::fs::write(&mos, "vid,mos\nunrelated,3.0\n").unwrap();
    let head = dir.path().join("head.safetensors");
    let out = run(relaxvqa().args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos).arg("-o").arg(&head));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no feature row"));
    assert!(!head.exists(), "no partial head file");
}

#[test]
fn train_init_fine_tunes_an_existing_head() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 40);
    let init = synthetic_head_file(dir.path());
    let init_sha = read_head_weights(&init).unwrap().sha256;
    // `train --init` on the dataset, with more arguments.
    let train_init = |extra: &[&str]| {
        let mut c = relaxvqa();
        c.args(["train", "--features"]).arg(&features).arg("--mos").arg(&mos).arg("--init").arg(&init).args(extra);
        c
    };
    let train = |out: &str, extra: &[&str]| {
        let t = std::time::Instant::now();
        let o =
            json_of(&run(train_init(&["--folds", "3", "--seed", "2"]).args(extra).arg("-o").arg(dir.path().join(out))));
        println!("train --init {out}: {:.1} s", t.elapsed().as_secs_f64());
        o
    };
    let init_file = load_head_file(&init).unwrap();

    // No epoch: the MLP is the init head's, exactly; the imputer and scaler
    // are refitted on the new data.
    let o = train("zero.safetensors", &["--epochs", "0"]);
    assert_eq!(o["init"]["sha256"], init_sha.as_str());
    let zero = load_head_file(&dir.path().join("zero.safetensors")).unwrap();
    for name in HEAD_TENSORS {
        let (a, b) = (zero.weights.get(name).unwrap(), init_file.weights.get(name).unwrap());
        assert!(a.data.iter().zip(&b.data).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} changed in 0 epochs");
    }
    assert_ne!(zero.imputer, init_file.imputer, "the imputer is refitted on the training data");
    assert_ne!(zero.scaler, init_file.scaler, "the scaler is refitted on the training data");

    // A few epochs at a small rate: the weights move, and the head says
    // where it started.
    let o = train("tuned.safetensors", &["--epochs", "2", "--lr", "0.01"]);
    assert_eq!(o["lr"], 0.01);
    let tuned = load_head_file(&dir.path().join("tuned.safetensors")).unwrap();
    assert_eq!(tuned.metadata.get("fine_tuned_from").map(String::as_str), Some("synthetic_head.safetensors"));
    assert_eq!(tuned.metadata.get("fine_tuned_from_sha256"), Some(&init_sha));
    assert_eq!(init_sha.len(), 64);
    assert!(tuned.source.contains("fine-tuned from synthetic_head.safetensors"), "{}", tuned.source);
    assert_ne!(tuned.weights.get("fc1.weight"), init_file.weights.get("fc1.weight"));

    // The split protocol starts every split from the init head too.
    let s = json_of(&run(&mut train_init(&["--epochs", "1", "--folds", "2", "--splits", "2", "--lr", "0.01"])));
    assert_eq!(s["init"]["sha256"], init_sha.as_str());
    assert_eq!(s["test"].as_array().unwrap().len(), 2);
}

#[test]
fn train_init_refuses_what_is_not_a_relaxvqa_head() {
    let dir = tempfile::tempdir().unwrap();
    let (features, mos) = synthetic_dataset(dir.path(), 6);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a head").unwrap();
    let cases = [
        (text, "neither a PyTorch checkpoint"),
        // The authors' format, but a 64-input head.
        (fixture("head/head_swa_64.pth"), "takes 64 features, not the 35203"),
        // A safetensors file that is a feature matrix, not a head.
        (features.clone(), "not a usable relaxvqa head file"),
        (dir.path().join("missing.pth"), "missing.pth"),
    ];
    for (init, want) in cases {
        let head = dir.path().join("head.safetensors");
        let out = run(relaxvqa()
            .args(["train", "--features"])
            .arg(&features)
            .arg("--mos")
            .arg(&mos)
            .arg("--init")
            .arg(&init)
            .args(["--epochs", "1", "--folds", "2", "-o"])
            .arg(&head));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: accepted", init.display());
        assert!(err.contains(want), "{}: {err}", init.display());
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!head.exists(), "no output file");
    }
}
