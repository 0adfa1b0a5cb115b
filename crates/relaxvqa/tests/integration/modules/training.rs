use super::*;
use relaxvqa::mos::Labelled;
use relaxvqa::training::{evaluate, read_init, train, TrainOptions};

fn opts() -> TrainOptions {
    TrainOptions::default()
}

/// `predict` scores what the head can score: NaN where the head has an
/// imputer to fill it, never an infinity; the row is named.
#[test]
fn predict_refuses_what_the_head_cannot_score() {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("tiny.safetensors");
    let mut hf = save_tiny_head(&head, 4, OutputScale::Mos1To5, "tiny");
    let data = |x: Vec<f64>| Labelled {
        names: vec!["a".into(), "b".into()],
        x,
        dim: 4,
        y: vec![1.0, 2.0],
        groups: None,
        group_names: Vec::new(),
        unmatched: Vec::new(),
    };
    let (pred, scale) = relaxvqa::training::predict(&head, &data(vec![0.1, f64::NAN, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
        .expect("NaN is filled by the imputer");
    assert_eq!((pred.len(), scale), (2, OutputScale::Mos1To5));
    assert!(pred.iter().all(|p| p.is_finite()), "{pred:?}");
    for bad in [f64::INFINITY, f64::NEG_INFINITY] {
        let (msg, kind) = err(relaxvqa::training::predict(&head, &data(vec![0.1, 0.2, 0.3, 0.4, 0.5, bad, 0.7, 0.8])));
        println!("{msg}");
        assert!(msg.starts_with("b: ") && msg.contains("inf"), "{msg}");
        assert_eq!(kind, ErrorKind::Input);
    }
    // Without an imputer, a missing value cannot be scored either.
    hf.imputer = None;
    save_head_file(&head, &hf).unwrap();
    let (msg, _) = err(relaxvqa::training::predict(&head, &data(vec![f64::NAN, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])));
    assert!(msg.starts_with("a: ") && msg.contains("no imputer"), "{msg}");
}

/// The defaults are accepted, with or without a head to start from.
#[test]
fn defaults_pass_check() {
    assert!(opts().check(false).is_ok());
    assert!(opts().check(true).is_ok());
}

/// 0 epochs is refused when training from scratch, allowed when fine-tuning.
#[test]
fn zero_epochs_only_when_fine_tuning() {
    let o = TrainOptions { epochs: Some(0), ..opts() };
    let (msg, kind) = err(o.check(false));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("--epochs 0"), "{msg}");
    assert!(o.check(true).is_ok());
    assert!(TrainOptions { epochs: Some(1), ..opts() }.check(false).is_ok());
}

/// Fewer than 2 folds, or a batch of 0, is refused.
#[test]
fn folds_and_batch_size_limits() {
    for folds in [0, 1] {
        let (msg, _) = err(TrainOptions { folds, ..opts() }.check(false));
        assert!(msg.contains(&format!("--folds {folds}")), "{msg}");
    }
    assert!(TrainOptions { folds: 2, ..opts() }.check(false).is_ok());
    let (msg, _) = err(TrainOptions { batch_size: 0, ..opts() }.check(true));
    assert!(msg.contains("--batch-size 0"), "{msg}");
    assert!(TrainOptions { batch_size: 1, ..opts() }.check(false).is_ok());
}

/// Learning rates must be finite and >= 0 (0 allowed), for `--lr` and `--swa-lr`.
#[test]
fn learning_rates_must_be_finite_and_not_negative() {
    for lr in [-0.1, f64::NAN, f64::INFINITY] {
        let (msg, _) = err(TrainOptions { lr, ..opts() }.check(false));
        assert!(msg.starts_with("--lr "), "{lr}: {msg}");
    }
    assert!(TrainOptions { lr: 0.0, ..opts() }.check(false).is_ok());
    for r in [-1.0, f64::NAN, f64::NEG_INFINITY] {
        let (msg, _) = err(TrainOptions { swa_lr: Some(r), ..opts() }.check(false));
        assert!(msg.starts_with("--swa-lr "), "{r}: {msg}");
    }
    assert!(TrainOptions { swa_lr: Some(0.05), ..opts() }.check(false).is_ok());
}

/// Default epochs: 120 below 5,000 videos, else 20; a given count always wins.
#[test]
fn epochs_for_follows_the_authors() {
    let o = opts();
    assert_eq!([o.epochs_for(0), o.epochs_for(4999), o.epochs_for(5000), o.epochs_for(39_000)], [120, 120, 20, 20]);
    let o = TrainOptions { epochs: Some(7), ..opts() };
    assert_eq!([o.epochs_for(10), o.epochs_for(10_000)], [7, 7]);
}

/// Each fold needs at least 2 videos: `n >= 2 * folds`.
#[test]
fn check_folds_needs_two_videos_per_fold() {
    let o = opts();
    assert!(o.check_folds(20).is_ok());
    assert!(o.check_folds(1000).is_ok());
    let (msg, kind) = err(o.check_folds(19));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("--folds 10") && msg.contains("19 training videos"), "{msg}");
    assert!(TrainOptions { folds: 2, ..opts() }.check_folds(4).is_ok());
    assert!(TrainOptions { folds: 2, ..opts() }.check_folds(3).is_err());
}

/// The folds suggested by the message fit the videos whenever any 2 folds do.
#[test]
fn check_folds_suggests_folds_that_fit() {
    for n in 4..80 {
        let o = TrainOptions { folds: n / 2 + 1, ..opts() };
        let (msg, _) = err(o.check_folds(n));
        let k: usize = msg
            .split("use --folds ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no suggestion in {msg}"));
        assert!(k >= 2, "{msg}");
        assert!(TrainOptions { folds: k, ..opts() }.check_folds(n).is_ok(), "n {n}: {msg}");
    }
}

/// The training configuration carries the options; patience 0 turns
/// early stopping off.
#[test]
fn config_carries_the_options() {
    let o = TrainOptions { epochs: None, seed: 7, lr: 0.05, batch_size: 32, swa_lr: Some(0.01), patience: 0, ..opts() };
    let c = o.config(100, None);
    assert_eq!((c.epochs, c.seed, c.batch_size, c.swa_lr, c.patience), (120, 7, 32, Some(0.01), None));
    assert_eq!(c.sgd.lr, 0.05);
    assert!(c.init.is_none());
    let c = TrainOptions { patience: 3, epochs: Some(9), ..opts() }.config(6000, None);
    assert_eq!((c.epochs, c.patience), (9, Some(3)));
}

/// A file that is not a head, or is missing, is an error about `--init`.
#[test]
fn read_init_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    write(&junk, "not a head");
    let (msg, kind) = err(read_init(&junk));
    assert_eq!(kind, ErrorKind::Model);
    assert!(msg.starts_with("--init"), "{msg}");
    let (msg, _) = err(read_init(&dir.path().join("absent.pth")));
    assert!(msg.starts_with("--init"), "{msg}");
}

/// A head that does not take the 35,203 ReLaX-VQA features is refused.
#[test]
fn read_init_refuses_other_widths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.safetensors");
    save_tiny_head(&path, 4, OutputScale::Mos1To5, "s");
    let (msg, kind) = err(read_init(&path));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("small.safetensors") && msg.contains("takes 4 features, not the 35203"), "{msg}");
}

fn data(n: usize) -> Labelled {
    Labelled {
        names: (0..n).map(|i| format!("v{i}")).collect(),
        x: (0..n * 2).map(|i| i as f64).collect(),
        dim: 2,
        y: (0..n).map(|i| 1.0 + i as f64 / n as f64).collect(),
        groups: None,
        group_names: Vec::new(),
        unmatched: Vec::new(),
    }
}

/// Training refuses bad options and too few videos before any work.
#[test]
fn train_refuses_before_any_work() {
    let (msg, _) = err(train(&data(5), &opts(), None, OutputScale::Mos1To5, "f"));
    assert!(msg.contains("--folds 10") && msg.contains("5 training videos"), "{msg}");
    let o = TrainOptions { epochs: Some(0), ..opts() };
    let (msg, _) = err(train(&data(50), &o, None, OutputScale::Mos1To5, "f"));
    assert!(msg.contains("--epochs 0"), "{msg}");
}

/// Evaluation refuses 0 splits and a test fraction outside (0, 1).
#[test]
fn evaluate_refuses_bad_splits() {
    let d = data(50);
    let (msg, _) = err(evaluate(&d, &opts(), None, 0, 0.2));
    assert!(msg.contains("--splits 0"), "{msg}");
    for f in [0.0, 1.0, -0.5, f64::NAN] {
        let (msg, _) = err(evaluate(&d, &opts(), None, 3, f));
        assert!(msg.contains("--test-fraction"), "{f}: {msg}");
    }
    // 50 videos with 20% held out leave 40: too few for 21 folds.
    let (msg, _) = err(evaluate(&d, &TrainOptions { folds: 21, ..opts() }, None, 3, 0.2));
    assert!(msg.contains("40 training videos"), "{msg}");
}
