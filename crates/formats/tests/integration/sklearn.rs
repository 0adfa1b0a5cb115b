//! The authors' KoNViD-1k imputer and scaler, read natively, against what
//! scikit-learn reads from the same files (`konvid_1k_scaler_expected.safetensors`).

use relaxvqa_fixtures::{fixture, TensorFile};
use relaxvqa_formats::joblib::{self, read_min_max_scaler, read_simple_imputer};
use relaxvqa_formats::FormatError;

fn expected() -> TensorFile {
    TensorFile::open(&fixture("head/konvid_1k_scaler_expected.safetensors"))
}

/// Counts values whose bit patterns differ.
fn bit_mismatches(a: &[f64], b: &[f64]) -> usize {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count()
}

#[test]
fn fitted_vectors_are_bit_exact() {
    let exp = expected();
    let imputer = read_simple_imputer(&fixture("head/konvid_1k_imputer.pkl")).unwrap();
    let scaler = read_min_max_scaler(&fixture("head/konvid_1k_scaler.pkl")).unwrap();
    assert_eq!(imputer.strategy, "mean");
    assert_eq!(scaler.feature_range, (0.0, 1.0));
    let cases: [(&str, &[f64]); 5] = [
        ("imputer.statistics", &imputer.statistics),
        ("scaler.min", &scaler.min),
        ("scaler.scale", &scaler.scale),
        ("scaler.data_min", &scaler.data_min),
        ("scaler.data_max", &scaler.data_max),
    ];
    for (name, ours) in cases {
        let theirs = exp.get(name).f64();
        let bad = bit_mismatches(ours, &theirs);
        println!("{name}: {} values, {bad} differing bit patterns", ours.len());
        assert_eq!(bad, 0, "{name}");
        assert_eq!(ours.len(), 35203);
    }
    // data_range_ is data_max_ - data_min_ as scikit-learn computed it.
    let worst = scaler
        .data_range
        .iter()
        .zip(scaler.data_max.iter().zip(&scaler.data_min))
        .map(|(r, (hi, lo))| (r - (hi - lo)).abs())
        .fold(0.0f64, f64::max);
    println!("data_range vs data_max - data_min: max abs diff {worst:e}");
    assert_eq!(worst, 0.0);
}

#[test]
fn transform_matches_scikit_learn() {
    let exp = expected();
    let imputer = read_simple_imputer(&fixture("head/konvid_1k_imputer.pkl")).unwrap();
    let scaler = read_min_max_scaler(&fixture("head/konvid_1k_scaler.pkl")).unwrap();
    for (input, output) in [("input", "transformed"), ("input_with_nan", "transformed_with_nan")] {
        let mut x = exp.get(input).f64();
        let nans = x.iter().filter(|v| v.is_nan()).count();
        imputer.transform_in_place(&mut x);
        scaler.transform_in_place(&mut x);
        let want = exp.get(output).f64();
        let max_diff = x.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
        let bad = bit_mismatches(&x, &want);
        println!("{input} ({nans} NaN) -> {output}: max abs diff {max_diff:e}, {bad} differing bit patterns");
        assert!(max_diff <= 1e-12, "{input}: max abs diff {max_diff:e} > 1e-12");
        assert!(x.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn another_class_is_named() {
    let e = read_min_max_scaler(&fixture("head/konvid_1k_imputer.pkl")).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("sklearn.impute._base.SimpleImputer"), "{e}");
    let e = read_simple_imputer(&fixture("head/konvid_1k_scaler.pkl")).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("MinMaxScaler"), "{e}");

    // A StandardScaler object (protocol 4, as joblib writes it).
    let mut p = vec![0x80, 4];
    for s in ["sklearn.preprocessing._data", "StandardScaler"] {
        p.push(0x8c);
        p.push(s.len() as u8);
        p.extend(s.as_bytes());
    }
    p.extend([0x93, b')', 0x81, b'}', b'b', b'.']);
    let pk = joblib::parse(&p).unwrap();
    let e = joblib::min_max_scaler_from(&pk).unwrap_err();
    println!("{e}");
    assert!(matches!(e, FormatError::UnexpectedClass { .. }));
    assert!(e.to_string().contains("sklearn.preprocessing._data.StandardScaler"), "{e}");

    // A pickle of a plain list.
    let pk = joblib::parse(b"\x80\x04].").unwrap();
    let e = joblib::simple_imputer_from(&pk).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("list"), "{e}");
}

#[test]
fn scaler_with_nan_is_refused() {
    let path = fixture("head/konvid_1k_scaler.pkl");
    let mut bytes = std::fs::read(&path).unwrap();
    let scale = expected().get("scaler.scale").f64();
    // Find scale_'s raw bytes by its first 16 values and poison column 3.
    let pattern: Vec<u8> = scale[..16].iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = bytes.windows(pattern.len()).position(|w| w == pattern.as_slice()).expect("scale_ bytes not found");
    bytes[at + 3 * 8..at + 4 * 8].copy_from_slice(&f64::NAN.to_le_bytes());
    let pk = joblib::parse(&bytes).unwrap();
    let e = joblib::min_max_scaler_from(&pk).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("scale_") && e.to_string().contains("column 3"), "{e}");
}

#[test]
fn damaged_files_are_errors() {
    let bytes = std::fs::read(fixture("head/konvid_1k_scaler.pkl")).unwrap();
    // Truncated anywhere: inside the opcodes, inside an array, before STOP.
    for cut in [0, 1, 2, 11, 100, 355, 356, 367, 368, 5000, 281_992, 282_043, bytes.len() - 1] {
        let e = joblib::parse(&bytes[..cut]).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "cut {cut}: {e}");
    }
    println!("truncated at 5000: {}", joblib::parse(&bytes[..5000]).unwrap_err());
    // Garbage.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let e = joblib::parse(&garbage).unwrap_err();
    println!("garbage: {e}");
    let e = joblib::parse(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00I42\n.").unwrap_err();
    println!("text opcode: {e}");
    assert!(matches!(e, FormatError::UnsupportedOpcode { code: b'I', offset: 11, .. }), "{e}");
    // Compressed joblib.
    let e = joblib::parse(&[0x78, 0x9c, 1, 2, 3]).unwrap_err();
    println!("zlib: {e}");
    assert!(e.to_string().contains("zlib"), "{e}");
    // Missing file.
    let e = read_simple_imputer(std::path::Path::new("/nonexistent/x.pkl")).unwrap_err();
    assert!(matches!(e, FormatError::Io { .. }), "{e}");
}
