//! Parity with the reference fixtures (spec section 1): the sampling counts
//! and every decoded RGB frame, byte for byte (tolerance: 0).

use relaxvqa_fixtures::{video, TensorFile, VIDEOS};
use relaxvqa_video::{sampled_frames, RgbImage};

/// Largest absolute difference between two byte buffers of equal length.
fn max_abs_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

fn check(name: &str, got: &RgbImage, reference: &TensorFile) -> u8 {
    let t = reference.get(name);
    assert_eq!(t.shape, vec![got.height(), got.width(), 3], "{name}: shape");
    let expected = t.u8();
    let diff = max_abs_diff(got.as_bytes(), &expected);
    let differing = got.as_bytes().iter().zip(&expected).filter(|(a, b)| a != b).count();
    println!("  {name}: {}x{}, max abs diff {diff}, {differing} bytes differ", got.width(), got.height());
    diff
}

#[test]
fn decoded_frames_match_the_reference_byte_for_byte() {
    relaxvqa_video::quiet_ffmpeg_log();
    for stem in VIDEOS {
        let reference = TensorFile::reference(stem);
        let mut samples = sampled_frames(video(stem)).unwrap_or_else(|e| panic!("{e}"));
        println!("{stem}: {:?}", samples.info());
        let mut worst = 0u8;
        for sample in samples.by_ref() {
            let sample = sample.unwrap_or_else(|e| panic!("{e}"));
            worst = worst.max(check(&format!("frame.{}.rgb", sample.index), &sample.rgb, &reference));
            if let Some(next) = &sample.next_rgb {
                worst = worst.max(check(&format!("pair.{}.next_rgb", sample.index), next, &reference));
            }
        }
        let k = samples.sampling().interval();
        println!(
            "{stem}: N = {}, k = {k}, |S| = {}, |P| = {}, max abs diff over all frames {worst}",
            samples.frames_decoded(),
            samples.sampled_count(),
            samples.pair_count()
        );
        assert_eq!(k as usize, reference.count("video.frame_interval"), "{stem}: frame_interval");
        assert_eq!(
            samples.sampled_count(),
            reference.count("video.sampled_frame_count"),
            "{stem}: sampled_frame_count"
        );
        assert_eq!(samples.pair_count(), reference.count("video.pair_count"), "{stem}: pair_count");
        assert_eq!(worst, 0, "{stem}: decoded RGB differs from the reference");
    }
}
