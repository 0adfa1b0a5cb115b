//! Farneback flow and flow image on a synthetic 1280x720 pair (a smooth
//! textured pattern shifted by a sub-pixel amount).
//!
//! `cargo bench -p relaxvqa-image --bench flow`

use criterion::{criterion_group, criterion_main, Criterion};
use relaxvqa_image::flow::{farneback_flow, flow_to_rgb};
use relaxvqa_image::GrayImage;
use std::hint::black_box;

fn frame(w: usize, h: usize, sx: f64, sy: f64) -> GrayImage {
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f64 - sx, y as f64 - sy);
            let v = 128.0
                + 50.0 * (xf * 0.11).sin() * (yf * 0.07).cos()
                + 30.0 * ((xf + 1.7 * yf) * 0.031).sin()
                + 20.0 * (xf * 0.53 + yf * 0.29).sin();
            data.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    GrayImage::from_vec(w, h, data).expect("w*h bytes")
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
