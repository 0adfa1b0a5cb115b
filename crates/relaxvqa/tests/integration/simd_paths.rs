//! Every kernel path this CPU runs gives the authors' features: each
//! combination of our own kernels' path (`portable`, `avx2`) and the matrix
//! products' kernels (`avx2`, and `avx512` where the CPU has it) meets every
//! parity bar against the reference fixture, and for one set of product
//! kernels our two paths agree bit for bit (the AVX2 copies are the portable
//! bodies compiled with wider vectors and no FMA contraction). One test in
//! its own binary: it switches the process's paths.

use relaxvqa::{ExtractOptions, Model, ModelOptions};
use relaxvqa_image::simd::{path, set_path, supported, SimdPath};
use relaxvqa_model::backbone::matmul::{self as matmul, MatmulKernels};

#[test]
fn every_supported_path_gives_the_reference_features() {
    let model = Model::load(ModelOptions { weights: "synthetic".into(), threads: Some(2), ..Default::default() })
        .expect("the synthetic model");
    let s = relaxvqa::simd();
    println!("our paths: {:?}, chosen {:?} ({})", supported(), path(), s.reason);
    println!("product kernels: {:?}, chosen {} ({})", matmul::supported(), s.matmul.kernels, s.matmul.reason);
    let mut runs: Vec<(MatmulKernels, SimdPath, Vec<f64>)> = Vec::new();
    for k in matmul::supported() {
        matmul::set(k).expect("a supported kernel set");
        for p in supported() {
            set_path(p).expect("a supported path");
            let s = relaxvqa::simd();
            assert_eq!((s.path, s.matmul.kernels), (p.as_str(), k.as_str()));
            let t0 = std::time::Instant::now();
            let f = model.extract(relaxvqa::testing::clip(), &ExtractOptions::default()).expect("extract");
            let label = format!("products {} + ours {}", k.as_str(), p.as_str());
            println!("{label}: {} values in {:.2} s", f.values.len(), t0.elapsed().as_secs_f64());
            relaxvqa_fixtures::assert_parity(&label, "testsrc2_noise", &f.values);
            runs.push((k, p, f.values));
        }
    }
    assert!(runs.len() >= 2, "at least portable and one product kernel set");
    for (k, p, v) in &runs {
        let (_, first, base) = runs.iter().find(|(k0, _, _)| k0 == k).expect("the first run of these kernels");
        let same = v.iter().zip(base).filter(|(a, b)| a.to_bits() == b.to_bits()).count();
        println!(
            "products {}: ours {} vs {}: {same} of {} bit-identical",
            k.as_str(),
            p.as_str(),
            first.as_str(),
            v.len()
        );
        assert_eq!(same, v.len(), "products {}: {} and {} differ", k.as_str(), p.as_str(), first.as_str());
    }
    assert!(set_path(SimdPath::Portable).is_ok());
}
