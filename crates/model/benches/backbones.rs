//! Throughput of the two backbones with synthetic weights at batch 1, 8 and
//! 16 (criterion reports images/s; GFLOP/s is images/s times the network's
//! cost per image, also printed once per configuration from a timed run).
//!
//! `cargo bench -p relaxvqa-model --bench backbones`; set
//! `RELAXVQA_BENCH_BATCHES=8` (comma-separated) to run fewer sizes and
//! `RELAXVQA_BENCH_NETS=resnet` (or `vit`, `gemm`) to run one part only.

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use relaxvqa_image::RgbImage;
use relaxvqa_model::backbone::{
    resnet50_expected_tensors, vit_b16_expected_tensors, ImageBatch, Normalisation, ResNet50, VitB16,
};
use relaxvqa_model::synthetic::synthetic_state_dict;

fn batches() -> Vec<usize> {
    std::env::var("RELAXVQA_BENCH_BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 8, 16])
}

/// A deterministic textured 224x224 image.
fn image(seed: usize) -> RgbImage {
    let data = (0..224 * 224 * 3).map(|i| ((i * 31 + seed * 97) ^ (i >> 7)) as u8).collect();
    RgbImage::from_vec(224, 224, data).expect("224x224x3 bytes")
}

/// User plus system CPU time of this process so far, from `/proc/self/stat`
/// (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// Whether `part` was asked for by `RELAXVQA_BENCH_NETS` (all when unset).
fn wanted(part: &str) -> bool {
    std::env::var("RELAXVQA_BENCH_NETS").map_or(true, |v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case(part)))
}

/// Benchmarks one network, `run` being its forward pass.
fn bench_network(c: &mut Criterion, name: &str, norm: Normalisation, gflop_per_image: f64, run: impl Fn(&ImageBatch)) {
    let mut group = c.benchmark_group(name);
    // Seconds per iteration: flat sampling, the minimum of 10 samples.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for b in batches() {
        let images: Vec<RgbImage> = (0..b).map(image).collect();
        let refs: Vec<&RgbImage> = images.iter().collect();
        let batch = ImageBatch::from_images(&refs, norm).expect("batch");
        // A few timed passes for direct figures next to criterion's: wall
        // clock, and process CPU time (less sensitive to other processes
        // sharing the cores; 2 x CPU-time throughput estimates an idle
        // 2-core machine).
        run(&batch);
        let passes = (16 / b).clamp(2, 8);
        let (start, cpu0) = (Instant::now(), cpu_seconds());
        for _ in 0..passes {
            run(&batch);
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let images = (b * passes) as f64;
        println!(
            "{} batch {b}: {:.2} images/s, {:.0} GFLOP/s wall; {:.0} GFLOP per CPU-second ({} passes)",
            name,
            images / wall,
            images * gflop_per_image / wall,
            images * gflop_per_image / cpu,
            passes
        );
        group.throughput(Throughput::Elements(b as u64));
        group.bench_with_input(BenchmarkId::new("batch", b), &batch, |bench, batch| {
            bench.iter(|| run(batch));
        });
    }
    group.finish();
}

fn resnet(c: &mut Criterion) {
    if wanted("resnet") {
        let net = ResNet50::from_state_dict(&synthetic_state_dict(&resnet50_expected_tensors())).expect("build");
        bench_network(c, ResNet50::NAME, ResNet50::NORMALISATION, ResNet50::GFLOP_PER_IMAGE, |b| {
            net.forward(b).expect("forward");
        });
    }
}

fn vit(c: &mut Criterion) {
    if wanted("vit") {
        let net = VitB16::from_state_dict(&synthetic_state_dict(&vit_b16_expected_tensors())).expect("build");
        bench_network(c, VitB16::NAME, VitB16::NORMALISATION, VitB16::GFLOP_PER_IMAGE, |b| {
            net.forward(b).expect("forward");
        });
    }
}

/// A matrix product alone (candle's CPU matmul, on the same `gemm` crate
/// the networks call), on a ViT MLP shape: the yardstick that
/// says how close the networks come to their own ceiling under the load
/// present when the benchmark runs.
fn gemm_yardstick(c: &mut Criterion) {
    if !wanted("gemm") {
        return;
    }
    let (m, k, n) = (1576, 768, 3072);
    let x = Tensor::ones((m, k), candle_core::DType::F32, &Device::Cpu).expect("x");
    let w = Tensor::ones((k, n), candle_core::DType::F32, &Device::Cpu).expect("w");
    let gflop = 2.0 * (m * k * n) as f64 / 1e9;
    x.matmul(&w).expect("warm-up");
    let (start, cpu0) = (Instant::now(), cpu_seconds());
    for _ in 0..10 {
        x.matmul(&w).expect("matmul");
    }
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    println!(
        "gemm {m}x{k}x{n}: {:.0} GFLOP/s wall; {:.0} GFLOP per CPU-second",
        10.0 * gflop / wall,
        10.0 * gflop / cpu
    );
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function(format!("{m}x{k}x{n}"), |bench| bench.iter(|| x.matmul(&w).expect("matmul")));
    group.finish();
}

criterion_group!(benches, gemm_yardstick, resnet, vit);
criterion_main!(benches);
