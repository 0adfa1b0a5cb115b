//! Pillow parity of the backbone input resizes: every sampled frame of every
//! reference fixture (`frame.{i}.rgb`) resized with BILINEAR and LANCZOS and
//! compared byte by byte with Pillow 10.2's output stored in the fixture
//! (`frame.{i}.resnet_input_rgb`, `frame.{i}.vit_input_rgb`).

use relaxvqa_fixtures::{TensorFile, VIDEOS};
use relaxvqa_image::resize::{resnet_input, vit_input};
use relaxvqa_image::RgbImage;

/// Largest absolute difference and number of identical bytes.
fn compare(ours: &[u8], want: &[u8]) -> (u8, usize) {
    assert_eq!(ours.len(), want.len());
    let max = ours.iter().zip(want).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    let same = ours.iter().zip(want).filter(|(a, b)| a == b).count();
    (max, same)
}

#[test]
fn matches_pillow_on_fixture_frames() {
    let mut worst = 0u8;
    for stem in VIDEOS {
        let file = TensorFile::reference(stem);
        let frames = file.count("video.sampled_frame_count");
        for i in 0..frames {
            let rgb = file.get(&format!("frame.{i}.rgb"));
            let (h, w) = (rgb.shape[0], rgb.shape[1]);
            let img = RgbImage::from_vec(w, h, rgb.u8()).expect("fixture frame size");
            for (label, ours, key) in [
                ("bilinear", resnet_input(&img), format!("frame.{i}.resnet_input_rgb")),
                ("lanczos", vit_input(&img), format!("frame.{i}.vit_input_rgb")),
            ] {
                let want = file.get(&key).u8();
                let (max, same) = compare(ours.as_bytes(), &want);
                println!(
                    "{stem} frame {i} {label} {w}x{h}->224x224: max abs diff {max}, identical {:.4}%",
                    100.0 * same as f64 / want.len() as f64
                );
                worst = worst.max(max);
            }
        }
    }
    assert!(worst <= 1, "a resize is {worst} levels off Pillow");
}
