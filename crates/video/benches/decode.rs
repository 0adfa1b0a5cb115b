//! Decode speed: the work the pipeline asks of this crate (decode every
//! frame, convert the sampled ones and their successors), and, for scale,
//! decoding with no frame and with every frame converted.
//!
//! Inputs: the carphone fixture (176x144, 120 frames) and a 1280x720 25 fps
//! 5 s x264 clip generated with the ffmpeg CLI into a temporary folder.
//! Run: `cargo bench -p relaxvqa-video --bench decode`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use relaxvqa_video::{open_with, DecodeOptions, FrameSource, SampledFrames};

/// What is converted to RGB.
#[derive(Clone, Copy, PartialEq)]
enum Convert {
    Nothing,
    Sampled,
    All,
}

/// Decodes every frame, converting as asked; the frame count.
fn decode(path: &Path, threads: usize, convert: Convert) -> u64 {
    let dec = open_with(path, &DecodeOptions { threads, ..Default::default() }).expect("open");
    if convert == Convert::Sampled {
        let mut it = SampledFrames::new(dec).expect("frame rate");
        for s in it.by_ref() {
            std::hint::black_box(s.expect("decode"));
        }
        it.frames_decoded()
    } else {
        let mut dec = dec;
        let mut n = 0;
        while let Some(f) = dec.next_frame(convert == Convert::All).expect("decode") {
            std::hint::black_box(f);
            n += 1;
        }
        n
    }
}

fn bench(c: &mut Criterion) {
    relaxvqa_video::quiet_ffmpeg_log();
    let dir = tempfile::tempdir().expect("tempdir");
    let hd = dir.path().join("testsrc2_720p25_5s.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "5"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&hd)
        .status()
        .expect("the ffmpeg CLI is needed to generate the 720p clip");
    assert!(status.success());
    let carphone = relaxvqa_fixtures::video("carphone_pristine");

    let mut g = c.benchmark_group("decode");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    for (name, path) in [("carphone_176x144_120f", carphone.as_path()), ("testsrc2_1280x720_125f", hd.as_path())] {
        for threads in [1, 0] {
            let t = if threads == 0 { "auto".to_owned() } else { threads.to_string() };
            g.bench_function(format!("{name}/sampled/threads={t}"), |b| {
                b.iter(|| decode(path, threads, Convert::Sampled))
            });
        }
        g.bench_function(format!("{name}/none_converted/threads=1"), |b| b.iter(|| decode(path, 1, Convert::Nothing)));
        g.bench_function(format!("{name}/all_converted/threads=1"), |b| b.iter(|| decode(path, 1, Convert::All)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
