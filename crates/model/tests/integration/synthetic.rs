//! The synthetic-weights generator against the spec's test vectors
//! (`tests/data/synthetic_weights_vectors.json`): seeds, first draws,
//! f32 bit patterns at given indices and the f64 sum of every value.

use relaxvqa_model::synthetic::{seed, synthetic_tensor, uniform};
use serde_json::Value;

#[test]
fn matches_spec_test_vectors() {
    let path = relaxvqa_fixtures::fixture("synthetic_weights_vectors.json");
    let text = std::fs::read_to_string(&path).expect("read test vectors");
    let doc: Value = serde_json::from_str(&text).expect("parse test vectors");
    let cases = doc["cases"].as_array().expect("cases array");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let shape: Vec<usize> =
            case["shape"].as_array().expect("shape").iter().map(|v| v.as_u64().expect("dim") as usize).collect();
        let want_seed = u64::from_str_radix(case["fnv1a64"].as_str().expect("fnv"), 16).expect("hex seed");
        assert_eq!(seed(name), want_seed, "{name}: seed");
        // The decimal `u` values are informational (JSON decimals need not
        // parse to the exact double); the bit patterns below are the check.
        for (i, u) in case["u"].as_array().expect("u").iter().enumerate() {
            let (ours, want) = (uniform(want_seed, i), u.as_f64().expect("u value"));
            assert!((ours - want).abs() <= 1e-15, "{name}: u[{i}] {ours} vs {want}");
        }
        let t = synthetic_tensor(name, &shape);
        assert_eq!(t.shape, shape);
        let idx = case["index"].as_array().expect("index");
        let bits = case["values_f32_bits"].as_array().expect("bits");
        for (i, b) in idx.iter().zip(bits) {
            let i = i.as_u64().expect("index") as usize;
            let want = u32::from_str_radix(b.as_str().expect("bits"), 16).expect("hex bits");
            assert_eq!(t.data[i].to_bits(), want, "{name}[{i}]: {} vs {}", t.data[i], f32::from_bits(want));
        }
        let sum: f64 = t.data.iter().map(|&v| f64::from(v)).sum();
        let want_sum = case["sum_f64"].as_f64().expect("sum");
        let rel = (sum - want_sum).abs() / want_sum.abs().max(1e-300);
        assert!(rel < 1e-9, "{name}: sum {sum} vs {want_sum} (rel {rel:e})");
        println!("{name}: {} values, sum {sum} (rel err {rel:.1e})", t.data.len());
    }
}
