//! The training loop and protocol on a small synthetic problem: seeded
//! reproducibility, learning, the exported state dict, SWA with early
//! stopping, k-fold selection and repeated splits.

use candle_core::Device;
use relaxvqa_train::model::{HeadConfig, TrainHead};
use relaxvqa_train::protocol::{kfold, median, repeated_splits, select_by_cv, train_test_split, Selection};
use relaxvqa_train::rng::Rng;
use relaxvqa_train::train::{evaluate_head, train_head, Dataset, TrainConfig};

const DIM: usize = 6;

/// MOS in [1, 5] from a fixed nonlinear function of 6 features in [0, 1],
/// plus a little noise.
fn synthetic(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let w = [1.5, -1.0, 0.8, 0.0, 0.5, -0.3];
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let row: Vec<f64> = (0..DIM).map(|_| rng.uniform()).collect();
        let s: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() - 0.75;
        y.push((1.0 + 4.0 / (1.0 + (-3.0 * s).exp()) + 0.1 * (rng.uniform() - 0.5)) as f32);
        x.extend(row.into_iter().map(|v| v as f32));
    }
    Dataset::new(x, y, DIM).expect("dataset")
}

fn small_config(seed: u64) -> TrainConfig {
    TrainConfig {
        hidden_features: 16,
        epochs: 40,
        batch_size: 16,
        swa: false,
        patience: None,
        ..TrainConfig::authors(40, seed)
    }
}

#[test]
fn same_seed_same_weights_bit_for_bit() {
    let data = synthetic(64, 1);
    let dev = Device::Cpu;
    let a = train_head(&data, None, &small_config(7), &dev).expect("train a").head.to_state_dict().expect("sd");
    let b = train_head(&data, None, &small_config(7), &dev).expect("train b").head.to_state_dict().expect("sd");
    let c = train_head(&data, None, &small_config(8), &dev).expect("train c").head.to_state_dict().expect("sd");
    let bits = |sd: &relaxvqa_model::StateDict| -> Vec<u32> {
        sd.iter().flat_map(|(_, t)| t.data.iter().map(|v| v.to_bits())).collect()
    };
    assert_eq!(bits(&a), bits(&b), "same seed must give identical weights");
    assert_ne!(bits(&a), bits(&c), "another seed must give other weights");
    println!("seed 7 twice: {} identical f32 values; seed 8 differs", bits(&a).len());
}

#[test]
fn training_learns_and_exports_the_authors_state_dict() {
    let (train, test) = (synthetic(160, 2), synthetic(60, 3));
    let dev = Device::Cpu;
    let trained = train_head(&train, None, &small_config(11), &dev).expect("train");
    let first = trained.history.first().expect("epochs").train_loss;
    let last = trained.history.last().expect("epochs").train_loss;
    let m = evaluate_head(&trained.head, &test).expect("metrics");
    println!(
        "train loss {first:.4} -> {last:.4}; test SRCC {:.4} KRCC {:.4} PLCC {:.4} RMSE {:.4}",
        m.srcc, m.krcc, m.plcc, m.rmse
    );
    assert!(last < first, "loss did not fall");
    assert!(m.srcc > 0.8, "test SRCC {}", m.srcc);

    let sd = trained.head.to_state_dict().expect("state dict");
    let names: Vec<&str> = sd.iter().map(|(n, _)| n).collect();
    let mut want = vec![
        "bn1.bias",
        "bn1.num_batches_tracked",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.weight",
        "fc1.bias",
        "fc1.weight",
        "fc2.bias",
        "fc2.weight",
        "fc3.bias",
        "fc3.weight",
    ];
    want.sort_unstable();
    assert_eq!(names, want);
    assert_eq!(sd.get("fc1.weight").expect("fc1").shape, vec![16, DIM]);
    assert_eq!(sd.get("fc2.weight").expect("fc2").shape, vec![8, 16]);
    assert_eq!(sd.get("fc3.weight").expect("fc3").shape, vec![1, 8]);
    let batches = sd.get("bn1.num_batches_tracked").expect("nbt").data[0];
    assert_eq!(batches, (40 * 10) as f32, "40 epochs of 10 batches");

    // Reloading the exported weights gives the same scores.
    let cfg = HeadConfig { hidden_features: 16, ..HeadConfig::authors(DIM) };
    let again = TrainHead::from_state_dict(cfg, &sd, &dev).expect("reload");
    let x = test.features(&dev).expect("x");
    assert_eq!(trained.head.predict(&x).expect("p1"), again.predict(&x).expect("p2"));
}

#[test]
fn swa_with_early_stopping() {
    let data = synthetic(120, 4);
    let dev = Device::Cpu;
    let mut rng = Rng::new(5);
    let (tr, va) = train_test_split(data.len(), 0.2, &mut rng).expect("split");
    let (train, val) = (data.subset(&tr), data.subset(&va));
    let cfg = TrainConfig { swa: true, patience: Some(3), ..small_config(3) };
    let out = train_head(&train, Some(&val), &cfg, &dev).expect("train");
    for r in &out.history {
        println!("epoch {:>2} lr {:.5} train {:.4} val {:?}", r.epoch, r.lr, r.train_loss, r.val_loss);
    }
    println!(
        "stopped early: {} after {} epochs (SWA from epoch {})",
        out.stopped_early,
        out.history.len(),
        cfg.swa_start()
    );
    assert!(out.history.len() > cfg.swa_start(), "early stopping counts only once averaging has begun");
    assert!(out.history.iter().all(|r| r.val_loss.is_some_and(f64::is_finite)));
    // update_bn ran over one pass of 96 rows in batches of 16.
    assert_eq!(out.head.num_batches_tracked(), 6);
    let m = evaluate_head(&out.head, &val).expect("metrics");
    println!("validation after SWA: SRCC {:.4} RMSE {:.4}", m.srcc, m.rmse);
    assert!(m.srcc > 0.7);
}

#[test]
fn kfold_sizes_and_disjointness() {
    let folds = kfold(23, 5, &mut Rng::new(1)).expect("kfold");
    let sizes: Vec<usize> = folds.iter().map(|(_, v)| v.len()).collect();
    assert_eq!(sizes, vec![5, 5, 5, 4, 4]);
    let mut all: Vec<usize> = folds.iter().flat_map(|(_, v)| v.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..23).collect::<Vec<_>>());
    for (t, v) in &folds {
        assert_eq!(t.len() + v.len(), 23);
        assert!(t.iter().all(|i| !v.contains(i)));
    }
    let (tr, te) = train_test_split(10, 0.2, &mut Rng::new(2)).expect("split");
    assert_eq!((tr.len(), te.len()), (8, 2));
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(kfold(3, 5, &mut Rng::new(1)).is_err());
}

#[test]
fn cross_validation_and_repeated_splits_run() {
    let data = synthetic(90, 6);
    let dev = Device::Cpu;
    let cfg = TrainConfig { epochs: 15, ..small_config(9) };
    let cv = select_by_cv(&data, 3, Selection::ByRmse, &cfg, &dev).expect("cv");
    let rmses: Vec<f64> = cv.folds.iter().map(|m| m.rmse).collect();
    println!("fold RMSEs {rmses:?}, chosen fold {}", cv.fold);
    assert!(rmses.iter().all(|&r| r >= rmses[cv.fold]));
    let report = repeated_splits(&data, 3, 0.2, 3, Selection::ByKrcc, &cfg, &dev).expect("splits");
    println!("medians over 3 splits: {:?} (folds {:?})", report.median, report.chosen_folds);
    assert_eq!(report.test.len(), 3);
    assert!(report.median.srcc.is_finite() && report.median.rmse > 0.0);
}

#[test]
fn reproducible_at_full_width_with_threaded_matmul() {
    // 4,096 inputs and the authors' 256 hidden units: large enough for
    // candle's CPU matmul to split work across threads.
    let (n, dim) = (96, 4096);
    let mut rng = Rng::new(21);
    let x: Vec<f32> = (0..n * dim).map(|_| rng.uniform() as f32).collect();
    let y: Vec<f32> = (0..n).map(|_| 1.0 + 4.0 * rng.uniform() as f32).collect();
    let data = Dataset::new(x, y, dim).expect("data");
    let cfg = TrainConfig { epochs: 2, batch_size: 48, swa: false, patience: None, ..TrainConfig::authors(2, 5) };
    let run = || -> Vec<u32> {
        let sd = train_head(&data, None, &cfg, &Device::Cpu).expect("train").head.to_state_dict().expect("sd");
        sd.iter().flat_map(|(_, t)| t.data.iter().map(|v| v.to_bits())).collect()
    };
    let (a, b) = (run(), run());
    println!("{} f32 values, identical: {}", a.len(), a == b);
    assert_eq!(a, b);
}
