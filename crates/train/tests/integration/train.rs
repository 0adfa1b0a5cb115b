//! The training loop and protocol on a small synthetic problem: seeded
//! reproducibility, learning, the exported state dict, SWA with early
//! stopping, k-fold selection and repeated splits, fine-tuning from given
//! weights, the optional SWALR schedule, and byte-identical head files.

use candle_core::{Device, Tensor};
use relaxvqa_model::head::{save_head_file, OutputScale};
use relaxvqa_model::StateDict;
use relaxvqa_train::loss::{mae_rank_loss, scalar};
use relaxvqa_train::model::{HeadConfig, TrainHead, PARAMETER_NAMES};
use relaxvqa_train::optim::{cosine_annealing_lr, cosine_annealing_step};
use relaxvqa_train::preprocess::{head_file, Preprocessing};
use relaxvqa_train::protocol::{kfold, median, repeated_splits, select_by_cv, train_test_split, Selection};
use relaxvqa_train::rng::Rng;
use relaxvqa_train::train::{evaluate_head, train_head, Dataset, InitWeights, TrainConfig};

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

/// Every value of the named tensors as bits.
fn bits_of(sd: &StateDict, names: &[&str]) -> Vec<u32> {
    names.iter().flat_map(|n| sd.get(n).expect("tensor").data.iter().map(|v| v.to_bits())).collect()
}

/// A head trained for a few epochs on other data, as a fine-tuning start.
fn pretrained_init(seed: u64) -> StateDict {
    let cfg = TrainConfig { epochs: 15, ..small_config(seed) };
    train_head(&synthetic(96, 40 + seed), None, &cfg, &Device::Cpu).expect("pretrain").head.to_state_dict().expect("sd")
}

#[test]
fn fine_tuning_with_no_step_returns_the_init_weights() {
    let data = synthetic(64, 12);
    let dev = Device::Cpu;
    let init = pretrained_init(1);
    let all: Vec<&str> = init.iter().map(|(n, _)| n).collect();

    // 0 epochs: the whole state dict, BatchNorm buffers included, unchanged.
    let cfg = TrainConfig { epochs: 0, init: Some(InitWeights::new(init.clone())), ..small_config(3) };
    let out = train_head(&data, None, &cfg, &dev).expect("0 epochs").head.to_state_dict().expect("sd");
    assert_eq!(bits_of(&out, &all), bits_of(&init, &all), "0 epochs must return the init head bit for bit");

    // Learning rate 0 for 12 epochs, with SWA: every Linear and BatchNorm
    // weight unchanged (the running statistics are recomputed, as always).
    let mut cfg = TrainConfig { epochs: 12, swa: true, init: Some(InitWeights::new(init.clone())), ..small_config(3) };
    cfg.sgd.lr = 0.0;
    cfg.eta_min = 0.0;
    let trained = train_head(&data, None, &cfg, &dev).expect("lr 0");
    assert!(trained.history.iter().all(|r| r.lr == 0.0));
    let out = trained.head.to_state_dict().expect("sd");
    assert_eq!(bits_of(&out, &PARAMETER_NAMES), bits_of(&init, &PARAMETER_NAMES), "lr 0 must not move a weight");
    assert_ne!(bits_of(&out, &["bn1.running_mean"]), bits_of(&init, &["bn1.running_mean"]));
    println!("0 epochs and lr 0: {} parameter values unchanged", bits_of(&out, &PARAMETER_NAMES).len());

    // Each fold of cross-validation starts from the init weights too.
    let cfg = TrainConfig { epochs: 0, init: Some(InitWeights::new(init.clone())), ..small_config(3) };
    let cv = select_by_cv(&data, 3, Selection::ByRmse, &cfg, &dev).expect("cv");
    assert_eq!(bits_of(&cv.head.to_state_dict().expect("sd"), &all), bits_of(&init, &all));
}

#[test]
fn fine_tuning_starts_from_the_init_weights() {
    // One batch per epoch and no dropout: the first epoch's training loss is
    // the init head's training-mode loss on the whole set (in some order).
    let data = synthetic(64, 13);
    let dev = Device::Cpu;
    let init = pretrained_init(2);
    let cfg = TrainConfig {
        epochs: 5,
        batch_size: 64,
        drop_rate: 0.0,
        init: Some(InitWeights::new(init.clone())),
        ..small_config(4)
    };
    let hc = HeadConfig { hidden_features: 16, drop_rate: 0.0, ..HeadConfig::authors(DIM) };
    let mut by_hand = TrainHead::from_state_dict(hc, &init, &dev).expect("init head");
    let x = data.features(&dev).expect("x");
    let y = Tensor::from_slice(data.targets(), (data.len(), 1), &dev).expect("y");
    let pred = by_hand.forward_train(&x, &mut Rng::new(0)).expect("forward");
    let want = scalar(&mae_rank_loss(&pred, &y, cfg.loss).expect("loss")).expect("scalar");

    let fine = train_head(&data, None, &cfg, &dev).expect("fine-tune");
    let got = fine.history[0].train_loss;
    let scratch = train_head(&data, None, &TrainConfig { init: None, ..cfg.clone() }, &dev).expect("scratch");
    let cold = scratch.history[0].train_loss;
    println!(
        "epoch-0 loss: fine-tuned {got:.7}, init head by hand {want:.7} (diff {:.1e}), from scratch {cold:.7}",
        (got - want).abs()
    );
    assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{got} vs {want}");
    assert!((cold - want).abs() > 1e-2, "a fresh head starts elsewhere: {cold} vs {want}");
    // And training moved on from there.
    assert!(fine.history.last().expect("epochs").train_loss < got);
}

#[test]
fn swa_lr_anneals_to_a_constant_during_averaging() {
    // Default: the closed-form cosine schedule, unchanged.
    let base = TrainConfig { epochs: 40, swa: true, ..small_config(5) };
    let cosine: Vec<f64> = (0..40).map(|e| cosine_annealing_lr(0.1, 1e-5, 40, e)).collect();
    assert_eq!(base.lr_schedule(), cosine);

    let cfg = TrainConfig { swa_lr: Some(0.05), ..base.clone() };
    let lrs = cfg.lr_schedule();
    let start = cfg.swa_start();
    assert_eq!(start, 28);
    for (e, lr) in lrs.iter().enumerate() {
        println!("epoch {e:>2}: lr {lr:.6}");
    }
    // Before the first SWALR step: the cosine schedule (recursive form, so
    // equal to rounding). The first averaging epoch still uses it.
    for e in 0..=start {
        assert!((lrs[e] - cosine[e]).abs() <= 1e-12, "epoch {e}: {} vs {}", lrs[e], cosine[e]);
    }
    // The first SWALR step by hand: alpha = (1 - cos(pi / 10)) / 2 applied to
    // the cosine step's rate.
    let alpha = (1.0 - (std::f64::consts::PI / 10.0).cos()) / 2.0;
    let after_cos = cosine_annealing_step(lrs[start], 0.1, 1e-5, 40, start + 1);
    assert!((lrs[start + 1] - (0.05 * alpha + after_cos * (1.0 - alpha))).abs() <= 1e-15);
    // Annealing for 10 epochs (the cosine steps in between first pull the
    // rate down a little, as in PyTorch), then exactly the constant.
    assert!(lrs[start + 1..start + 10].iter().all(|&lr| lr > 0.0 && lr < 0.05));
    assert!(lrs[start + 10..].iter().all(|&lr| lr == 0.05), "constant swa_lr after annealing");

    // The training loop uses that schedule.
    let data = synthetic(48, 14);
    let small = TrainConfig { epochs: 20, swa_anneal_epochs: 3, ..cfg };
    let trained = train_head(&data, None, &small, &Device::Cpu).expect("train");
    let used: Vec<f64> = trained.history.iter().map(|r| r.lr).collect();
    assert_eq!(used, small.lr_schedule());
    assert!(used[small.swa_start() + 3..].iter().all(|&lr| lr == 0.05));
}

#[test]
fn same_seed_same_head_file_bytes() {
    let data = synthetic(64, 15);
    let raw: Vec<f64> = (0..data.len() * DIM).map(|i| (i % 17) as f64 * 0.25).collect();
    let y: Vec<f64> = data.targets().iter().map(|&v| f64::from(v)).collect();
    let (pre, train) = Preprocessing::fit_dataset(&raw, &y, DIM).expect("preprocess");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = TrainConfig { hidden_features: 256, epochs: 3, ..small_config(9) };
    let write = |name: &str| -> Vec<u8> {
        let head = train_head(&train, None, &cfg, &Device::Cpu).expect("train").head;
        let mut file = head_file(&head, &pre, OutputScale::Mos1To5, "test").expect("head file");
        file.metadata.insert("fine_tuned_from".into(), "x.pth".into());
        file.metadata.insert("fine_tuned_from_sha256".into(), "0".repeat(64));
        let path = dir.path().join(name);
        save_head_file(&path, &file).expect("save");
        std::fs::read(&path).expect("read")
    };
    let (a, b) = (write("a.safetensors"), write("b.safetensors"));
    println!("two trainings, {} bytes each, identical: {}", a.len(), a == b);
    assert!(a == b, "same seed, same head file bit for bit");
}
