//! The trainable head against the authors' published format: it computes
//! the fixture head's outputs from its `.pth` weights, and the state dict it
//! exports loads into `relaxvqa-model`'s inference MLP with the same scores.

use candle_core::{Device, Tensor};
use relaxvqa_fixtures::{fixture, TensorFile};
use relaxvqa_train::model::{HeadConfig, TrainHead};
use relaxvqa_train::rng::Rng;
use relaxvqa_train::train::{train_head, Dataset, TrainConfig};

/// f32 outputs of order 1 through three layers.
const TOL: f64 = 1e-5;

#[test]
fn inference_matches_the_authors_head_fixture() {
    let dev = Device::Cpu;
    let expected = TensorFile::open(&fixture("head/head_64_expected.safetensors"));
    let (inputs, outputs) = (expected.get("inputs").f32(), expected.get("outputs").f32());
    for file in ["head_plain_64.pth", "head_dataparallel_64.pth", "head_swa_64.pth"] {
        let sd = relaxvqa_model::weights::pth::read_pth(&fixture(&format!("head/{file}"))).expect("read pth");
        let sd = sd.strip_prefix("module.", &["n_averaged"]);
        let head = TrainHead::from_state_dict(HeadConfig::authors(64), &sd, &dev).expect("head");
        let x = Tensor::from_slice(&inputs, (4, 64), &dev).expect("x");
        let got = head.predict(&x).expect("predict");
        for (i, (&g, &w)) in got.iter().zip(&outputs).enumerate() {
            let d = (f64::from(g) - f64::from(w)).abs();
            println!("{file} row {i}: ours {g:.7} torch {w:.7} |diff| {d:.2e} (tol {TOL:.0e})");
            assert!(d <= TOL, "{file} row {i}");
        }
    }
}

#[test]
fn exported_weights_load_into_the_inference_head() {
    let dev = Device::Cpu;
    let mut rng = Rng::new(3);
    let (n, dim) = (40, 12);
    let x: Vec<f32> = (0..n * dim).map(|_| rng.uniform() as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| 1.0 + 4.0 * x[i * dim..(i + 1) * dim].iter().sum::<f32>() / dim as f32).collect();
    let data = Dataset::new(x.clone(), y, dim).expect("data");
    let cfg = TrainConfig { epochs: 3, batch_size: 16, swa: false, patience: None, ..TrainConfig::authors(3, 1) };
    let trained = train_head(&data, None, &cfg, &dev).expect("train");
    let ours = trained.head.predict(&data.features(&dev).expect("x")).expect("predict");
    let sd = trained.head.to_state_dict().expect("sd");
    let mlp = relaxvqa_model::head::Mlp::from_state_dict(sd, &dev).expect("inference head accepts the export");
    let theirs = mlp.forward_rows(&x).expect("forward");
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs()).fold(0.0, f64::max);
    println!("trained head vs relaxvqa-model Mlp over {n} rows: max |diff| {worst:.2e} (tol {TOL:.0e})");
    assert!(worst <= TOL);
}
