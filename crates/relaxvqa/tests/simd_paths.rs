//! Every kernel path this CPU runs (`RELAXVQA_SIMD`: portable, avx2) gives
//! the same feature vector, bit for bit: the AVX2 copies of our kernels are
//! the portable bodies compiled with wider vectors and no FMA contraction.
//! (The parity of the default path with the authors' reference is checked
//! by the extraction tests; equal bits carry it to every path.) One test in
//! its own binary: it switches the process's path.

use relaxvqa::{ExtractOptions, Model, ModelOptions};
use relaxvqa_image::simd::{path, set_path, supported, SimdPath};

#[test]
fn every_supported_path_gives_the_same_features() {
    let model = Model::load(ModelOptions { weights: "synthetic".into(), threads: Some(2), ..Default::default() })
        .expect("the synthetic model");
    let paths = supported();
    println!("paths this CPU runs: {paths:?}; chosen at start: {:?} ({})", path(), relaxvqa::simd().reason);
    let mut runs: Vec<(SimdPath, Vec<f64>)> = Vec::new();
    for p in paths {
        set_path(p).expect("a supported path");
        assert_eq!(relaxvqa::simd().path, p.as_str());
        let t0 = std::time::Instant::now();
        let f = model.extract(relaxvqa::testing::clip(), &ExtractOptions::default()).expect("extract");
        println!("{}: {} values in {:.2} s", p.as_str(), f.values.len(), t0.elapsed().as_secs_f64());
        runs.push((p, f.values));
    }
    let (first, base) = &runs[0];
    for (p, v) in &runs[1..] {
        let same = v.iter().zip(base).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        println!("{} vs {}: {same} of {} values bit-identical", p.as_str(), first.as_str(), v.len());
        assert_eq!(same, v.len(), "{} and {} differ", p.as_str(), first.as_str());
    }
    assert!(set_path(SimdPath::Portable).is_ok());
}
