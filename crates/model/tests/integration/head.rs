//! The scoring head against the authors' code: the 64-input test heads
//! (plain, DataParallel, SWA checkpoints), a full-size head with synthetic
//! weights after the KoNViD-1k imputer and scaler, and the head file format.

use candle_core::Device;
use relaxvqa_fixtures::{fixture, TensorFile, VIDEOS};
use relaxvqa_model::head::{
    head_tensor_shapes, load_head_file, save_head_file, state_dict_from_torch, Head, HeadError, HeadFile, Imputer, Mlp,
    OutputScale, Scaler, FEATURE_LEN,
};
use relaxvqa_model::StateDict;

/// Tolerance of the 64-input heads' outputs against PyTorch's (f32).
const HEAD64_TOL: f64 = 1e-5;
/// Tolerance of the full-size synthetic head's scores against the authors' code.
const SYNTHETIC_TOL: f64 = 1e-5;

fn pth(name: &str) -> StateDict {
    state_dict_from_torch(relaxvqa_formats::torch::read_state_dict(&fixture(&format!("head/{name}"))).unwrap())
}

#[test]
fn head_64_matches_pytorch_for_every_checkpoint_flavour() {
    let exp = TensorFile::open(&fixture("head/head_64_expected.safetensors"));
    let inputs = exp.get("inputs");
    assert_eq!(inputs.shape, [4, 64]);
    let inputs = inputs.f32();
    let want = exp.get("outputs").f32();
    for name in ["head_plain_64.pth", "head_dataparallel_64.pth", "head_swa_64.pth"] {
        let mlp = Mlp::from_state_dict(pth(name), &Device::Cpu).unwrap();
        assert_eq!(mlp.input_width(), 64);
        let got = mlp.forward_rows(&inputs).unwrap();
        assert_eq!(got.len(), 4);
        let max_diff = got.iter().zip(&want).map(|(a, b)| f64::from((a - b).abs())).fold(0.0, f64::max);
        println!("{name}: outputs {got:?}, expected {want:?}, max abs diff {max_diff:e} (tolerance {HEAD64_TOL:e})");
        assert!(max_diff <= HEAD64_TOL, "{name}: max abs diff {max_diff:e}");
    }
}

fn synthetic_head_weights() -> StateDict {
    let mut sd = StateDict::new();
    for (name, shape) in head_tensor_shapes(FEATURE_LEN) {
        let t = relaxvqa_model::synthetic::synthetic_tensor(&name, &shape);
        sd.insert(name, t);
    }
    sd
}

fn konvid() -> (Imputer, Scaler) {
    let imputer = relaxvqa_formats::joblib::read_simple_imputer(&fixture("head/konvid_1k_imputer.pkl")).unwrap();
    let scaler = relaxvqa_formats::joblib::read_min_max_scaler(&fixture("head/konvid_1k_scaler.pkl")).unwrap();
    (imputer.into(), scaler.into())
}

fn expected_synthetic_scores() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("head/synthetic_head_scores.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn full_size_synthetic_head_matches_reference_scores() {
    let (imputer, scaler) = konvid();
    let mlp = Mlp::from_state_dict(synthetic_head_weights(), &Device::Cpu).unwrap();
    let head = Head::new(mlp, Some(imputer), Some(scaler), OutputScale::Raw).unwrap();
    let json = expected_synthetic_scores();
    let scores = &json["scores"];
    let mut features = Vec::new();
    for stem in VIDEOS {
        let f = TensorFile::reference(stem).get("video.features").f64();
        assert_eq!(f.len(), FEATURE_LEN);
        features.push(f);
    }
    let mut worst = 0.0f64;
    for (stem, f) in VIDEOS.iter().zip(&features) {
        let want = scores[*stem].as_f64().unwrap_or_else(|| panic!("no score for {stem}"));
        let got = head.score(f).unwrap();
        let diff = (got - want).abs();
        worst = worst.max(diff);
        let nans = f.iter().filter(|v| v.is_nan()).count();
        println!("{stem}: score {got:.9} (raw output), expected {want:.9}, abs diff {diff:e}, {nans} NaN features");
        assert!(diff <= SYNTHETIC_TOL, "{stem}: abs diff {diff:e} > {SYNTHETIC_TOL:e}");
    }
    // A batch gives the same scores as one at a time, up to f32 summation
    // order (the matrix product blocks differently for other batch sizes).
    let rows: Vec<&[f64]> = features.iter().map(Vec::as_slice).collect();
    let batch = head.score_batch(&rows).unwrap();
    for (stem, (b, f)) in VIDEOS.iter().zip(batch.iter().zip(&features)) {
        let single = head.score(f).unwrap();
        let want = scores[*stem].as_f64().unwrap_or_default();
        println!(
            "{stem}: batch of 3 vs single abs diff {:e}, batch vs expected {:e}",
            (b - single).abs(),
            (b - want).abs()
        );
        assert!((b - want).abs() <= SYNTHETIC_TOL);
    }
    println!("full-size synthetic head: max abs diff {worst:e} (tolerance {SYNTHETIC_TOL:e})");
}

#[test]
fn widths_must_agree() {
    let (imputer, scaler) = konvid();
    let mlp = Mlp::from_state_dict(pth("head_plain_64.pth"), &Device::Cpu).unwrap();
    let e = Head::new(mlp.clone(), None, Some(scaler), OutputScale::Raw).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::WidthMismatch { what: "scaler", head: 64, found: 35203 }), "{e}");
    let e = Head::new(mlp.clone(), Some(imputer), None, OutputScale::Raw).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::WidthMismatch { what: "imputer", head: 64, found: 35203 }), "{e}");
    let head = Head::new(mlp, None, None, OutputScale::Raw).unwrap();
    let e = head.score(&[0.5; 63]).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::WidthMismatch { what: "feature vector", head: 64, found: 63 }), "{e}");
    let mut nan = vec![0.5; 64];
    nan[7] = f64::NAN;
    let e = head.score(&nan).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::NonFiniteFeature { index: 7, .. }), "{e}");

    let e = Head::from_published(
        &fixture("head/head_plain_64.pth"),
        Some(&fixture("head/konvid_1k_imputer.pkl")),
        Some(&fixture("head/konvid_1k_scaler.pkl")),
        OutputScale::Mos1To5,
        &Device::Cpu,
    )
    .unwrap_err();
    println!("from_published with mismatched files: {e}");
}

#[test]
fn bad_state_dicts_are_named() {
    let mut sd = pth("head_plain_64.pth");
    sd.remove("bn1.running_var");
    let e = Mlp::from_state_dict(sd, &Device::Cpu).unwrap_err();
    println!("{e}");
    assert!(matches!(&e, HeadError::MissingTensor { name, .. } if name == "bn1.running_var"), "{e}");

    let mut sd = pth("head_plain_64.pth");
    let t = sd.remove("fc2.bias").unwrap();
    sd.insert("fc2.bias", relaxvqa_model::HostTensor { shape: vec![127], data: t.data[..127].to_vec() });
    let e = Mlp::from_state_dict(sd, &Device::Cpu).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::ShapeMismatch { .. }), "{e}");

    let mut sd = pth("head_plain_64.pth");
    sd.insert("layer1.0.conv1.weight", relaxvqa_model::HostTensor { shape: vec![1], data: vec![0.0] });
    let e = Mlp::from_state_dict(sd, &Device::Cpu).unwrap_err();
    println!("{e}");
    assert!(matches!(e, HeadError::UnexpectedTensors { .. }), "{e}");
}

#[test]
fn output_scales() {
    assert_eq!(OutputScale::Mos0To100.convert(50.0, OutputScale::Mos1To5), Some(3.0));
    assert_eq!(OutputScale::Mos0To100.convert(0.0, OutputScale::Mos1To5), Some(1.0));
    assert_eq!(OutputScale::Mos0To100.convert(100.0, OutputScale::Mos1To5), Some(5.0));
    assert_eq!(OutputScale::Mos1To5.convert(3.0, OutputScale::Mos0To100), Some(50.0));
    assert_eq!(OutputScale::Mos1To5.convert(4.2, OutputScale::Mos1To5), Some(4.2));
    assert_eq!(OutputScale::Raw.convert(4.2, OutputScale::Mos1To5), None);
    for s in [OutputScale::Mos1To5, OutputScale::Mos0To100, OutputScale::Raw] {
        assert_eq!(OutputScale::parse(s.as_str()).unwrap(), s);
    }
    assert!(OutputScale::parse("mos").is_err());
}

#[test]
fn head_file_round_trip() {
    let dir = tempfile::tempdir().unwrap();

    // Small head, no preprocessing, from a SWA checkpoint.
    let hf = HeadFile::from_published(&fixture("head/head_swa_64.pth"), None, None, OutputScale::Mos0To100, "swa test")
        .unwrap();
    assert_eq!(hf.weights.len(), 10);
    let path = dir.path().join("small.safetensors");
    save_head_file(&path, &hf).unwrap();
    let back = load_head_file(&path).unwrap();
    assert_eq!(back, hf);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");

    // Full-size head with the KoNViD-1k imputer and scaler: same scores, bit for bit.
    let (imputer, scaler) = konvid();
    let hf =
        HeadFile::new(synthetic_head_weights(), Some(imputer), Some(scaler), OutputScale::Raw, "synthetic v1").unwrap();
    let path = dir.path().join("full.safetensors");
    save_head_file(&path, &hf).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let back = load_head_file(&path).unwrap();
    assert_eq!(back, hf);
    let features = TensorFile::reference(VIDEOS[0]).get("video.features").f64();
    let a = hf.clone().into_head(&Device::Cpu).unwrap().score(&features).unwrap();
    let b = back.into_head(&Device::Cpu).unwrap().score(&features).unwrap();
    println!("head file of {size} bytes: score before {a}, after {b}");
    assert_eq!(a.to_bits(), b.to_bits());

    // Damaged or foreign files.
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let e = load_head_file(&garbage).unwrap_err();
    println!("garbage: {e}");
    let truncated = dir.path().join("truncated.safetensors");
    let bytes = std::fs::read(dir.path().join("small.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let e = load_head_file(&truncated).unwrap_err();
    println!("truncated: {e}");
    let e = load_head_file(&fixture("head/head_64_expected.safetensors")).unwrap_err();
    println!("foreign safetensors: {e}");
    assert!(matches!(e, HeadError::BadHeadFile { .. }), "{e}");
    let e = save_head_file(&dir.path().join("no/such/dir/x.safetensors"), &hf).unwrap_err();
    println!("unwritable: {e}");
}
