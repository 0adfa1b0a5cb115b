//! Farneback flow and flow image on a synthetic 1280x720 pair (a smooth
//! textured pattern shifted by a sub-pixel amount).
//!
//! `cargo bench -p relaxvqa-image --bench flow`

use criterion::{criterion_group, criterion_main, Criterion};
use relaxvqa_image::flow::{farneback_flow, flow_to_rgb};
use relaxvqa_image::GrayImage;
use std::hint::black_box;

/// A smooth textured frame shifted by `(sx, sy)`.
fn frame(w: usize, h: usize, sx: f64, sy: f64) -> GrayImage {
    GrayImage::from_vec(w, h, relaxvqa_fixtures::shifted_pattern(w, h, sx, sy)).expect("w*h bytes")
}

fn bench_flow(c: &mut Criterion) {
    let (w, h) = (1280, 720);
    let a = frame(w, h, 0.0, 0.0);
    let b = frame(w, h, 1.3, -0.6);
    let mut group = c.benchmark_group("flow_1280x720");
    group.sample_size(10);
    group.bench_function("farneback_flow", |bench| {
        bench.iter(|| farneback_flow(black_box(&a), black_box(&b)).expect("same size"))
    });
    let flow = farneback_flow(&a, &b).expect("same size");
    group.bench_function("flow_to_rgb", |bench| bench.iter(|| flow_to_rgb(black_box(&flow))));
    group.finish();
}

criterion_group!(benches, bench_flow);
criterion_main!(benches);
