//! Every stage's failure ends the extraction promptly with that error
//! (before, a preparation or network error left the decoder blocked on a
//! full channel and the call never returned), cancellation stops it, and a
//! faulty network or a tiny frame is reported instead of panicking or
//! giving a silent wrong answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use relaxvqa_features::{
    extract, layout, Backbones, CancelToken, ExtractOptions, FeatureError, ResNetOutput, VideoFeatures,
};
use relaxvqa_image::RgbImage;
use relaxvqa_video::{FrameRate, IterSource, VideoInfo};

/// Networks that give constant outputs, fail from the `fail_at`-th call on,
/// or give outputs of the wrong length or value.
#[derive(Default)]
struct Nets {
    calls: AtomicUsize,
    fail_at: Option<usize>,
    short: bool,
    value: Option<f32>,
}

impl Backbones for Nets {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail_at.is_some_and(|f| n >= f) {
            return Err(FeatureError::network("resnet50", std::io::Error::other("out of memory (simulated)")));
        }
        let len = if self.short { 10 } else { layout::LAYER_STACK_LEN };
        let v = self.value.unwrap_or(1.0);
        Ok(images
            .iter()
            .map(|_| ResNetOutput { layer_stack: vec![v; len], pool: vec![v; layout::RESNET_POOL_LEN] })
            .collect())
    }
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        Ok(images.iter().map(|_| vec![1.0; layout::VIT_POOL_LEN]).collect())
    }
}

fn frame(w: usize, h: usize, v: u8) -> RgbImage {
    RgbImage::from_vec(w, h, (0..w * h * 3).map(|i| v.wrapping_add((i % 251) as u8)).collect()).unwrap()
}

/// A 25 fps source of `n` frames of `w`x`h`, switching to `w2`x`h2` from
/// frame `change` (an in-memory source keeps sizes as they are).
fn source(
    n: usize,
    (w, h): (usize, usize),
    change: usize,
    (w2, h2): (usize, usize),
) -> IterSource<impl Iterator<Item = RgbImage>> {
    let info = VideoInfo::synthetic("memory.mp4", w as u32, h as u32, FrameRate::new(25, 1));
    IterSource::new(info, (0..n).map(move |i| if i < change { frame(w, h, i as u8) } else { frame(w2, h2, i as u8) }))
}

/// Runs `f` on another thread and fails the test if it takes longer than
/// `limit` (instead of hanging the test run).
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> (T, Duration) {
    let (tx, rx) = mpsc::channel();
    let t = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let r =
        rx.recv_timeout(limit).unwrap_or_else(|_| panic!("the extraction did not return within {limit:?}: it hangs"));
    (r, t.elapsed())
}

fn run(nets: Nets, src_frames: usize, change: usize, opts: ExtractOptions) -> Result<VideoFeatures, FeatureError> {
    let (r, took) = bounded(Duration::from_secs(60), move || {
        extract(source(src_frames, (64, 48), change, (96, 64)), &nets, &opts, &mut |_| {})
    });
    println!("returned after {took:?}");
    r
}

#[test]
fn a_preparation_error_mid_video_ends_the_extraction() {
    // 13 frames of one size, then 600 of another: the size changes inside a
    // sampled pair (frames 12 and 13), with many samples after it.
    let e = run(Nets::default(), 613, 13, ExtractOptions::default()).unwrap_err();
    println!("{e}");
    assert!(matches!(e, FeatureError::Image { frame: 12, .. }), "{e:?}");
}

#[test]
fn a_network_error_mid_video_ends_the_extraction() {
    let nets = Nets { fail_at: Some(2), ..Default::default() };
    let e = run(nets, 2000, usize::MAX, ExtractOptions::default()).unwrap_err();
    println!("{e}");
    assert!(matches!(e, FeatureError::Network { network: "resnet50", .. }), "{e:?}");
    // The cause is kept as an error value, not a string.
    let FeatureError::Network { source, .. } = &e else { unreachable!() };
    assert!(source.to_string().contains("simulated"));
}

#[test]
fn wrong_output_lengths_are_an_error_not_a_panic() {
    let e = run(Nets { short: true, ..Default::default() }, 30, usize::MAX, ExtractOptions::default()).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("expected 13120"), "{e}");
}

#[test]
fn non_finite_features_are_an_error() {
    let nets = Nets { value: Some(f32::INFINITY), ..Default::default() };
    let e = run(nets, 30, usize::MAX, ExtractOptions::default()).unwrap_err();
    println!("{e}");
    assert!(matches!(e, FeatureError::NotFinite { .. }), "{e:?}");
}

#[test]
fn cancelling_stops_a_long_video_promptly() {
    let cancel = CancelToken::new();
    let opts = ExtractOptions { cancel: cancel.clone(), ..Default::default() };
    let c = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        c.cancel();
    });
    let t = Instant::now();
    // 100,000 frames would take minutes.
    let e = run(Nets::default(), 100_000, usize::MAX, opts).unwrap_err();
    println!("cancelled after {:?}: {e}", t.elapsed());
    assert!(matches!(e, FeatureError::Cancelled(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn frames_over_the_pixel_limit_are_refused_before_any_work() {
    let nets = Nets::default();
    let opts = ExtractOptions { max_pixels: Some(64 * 48 - 1), ..Default::default() };
    let e = run(nets, 30, usize::MAX, opts).unwrap_err();
    println!("{e}");
    assert!(matches!(e, FeatureError::TooLarge { width: 64, height: 48, .. }), "{e:?}");
}

#[test]
fn frames_smaller_than_a_patch_are_warned_about() {
    let (r, _) = bounded(Duration::from_secs(60), || {
        extract(source(30, (8, 6), usize::MAX, (8, 6)), &Nets::default(), &ExtractOptions::default(), &mut |_| {})
    });
    let out = r.unwrap();
    println!("{:?}", out.warnings);
    assert!(out.warnings.iter().any(|w| w.contains("smaller than one 16x16 patch")), "{:?}", out.warnings);
}
