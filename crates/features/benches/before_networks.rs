//! Decode + sample + resize + flow + fragments for whole videos, with
//! stand-in networks that cost nothing: the part of `extract` before the
//! backbones, on carphone_pristine.mp4 and a generated 1280x720 25 fps 5 s clip.

use std::path::PathBuf;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use relaxvqa_features::{extract_path, layout, Backbones, ExtractOptions, FeatureError, ResNetOutput};
use relaxvqa_image::RgbImage;

struct NoNets;

impl Backbones for NoNets {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        Ok(images
            .iter()
            .map(|_| ResNetOutput {
                layer_stack: vec![0.0; layout::LAYER_STACK_LEN],
                pool: vec![0.0; layout::RESNET_POOL_LEN],
            })
            .collect())
    }
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        Ok(images.iter().map(|_| vec![0.0; layout::VIT_POOL_LEN]).collect())
    }
}

/// A 1280x720 25 fps 5 s x264 clip made once with the ffmpeg command-line tool.
fn hd_clip() -> PathBuf {
    let path = std::env::temp_dir().join("relaxvqa_bench_720p25_5s.mp4");
    if !path.exists() {
        let status = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
            .args(["-vf", "noise=alls=12:allf=t,format=yuv420p", "-t", "5", "-c:v", "libx264", "-crf", "23"])
            .arg(&path)
            .status()
            .expect("running ffmpeg");
        assert!(status.success(), "ffmpeg failed to make the benchmark clip");
    }
    path
}

fn bench(c: &mut Criterion) {
    let videos =
        [("carphone_176x144", relaxvqa_fixtures::video("carphone_pristine")), ("testsrc2_1280x720", hd_clip())];
    let mut g = c.benchmark_group("before_networks");
    g.sample_size(10);
    for (name, path) in videos {
        g.bench_function(name, |b| {
            b.iter(|| extract_path(&path, &NoNets, &ExtractOptions::default(), &mut |_| {}).expect("extract"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
