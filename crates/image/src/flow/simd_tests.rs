//! The AVX2 copies of the row kernels against the baseline ones, bit for bit,
//! on fixture pairs and on a large odd-sized synthetic pair.

use relaxvqa_fixtures::{TensorFile, VIDEOS};

use super::farneback::{flow_with_kernels, FarnebackParams};
use super::flow_image::flow_to_rgb_with;
use crate::gray::rgb_to_gray;
use crate::simd::Copies;
use crate::{FlowField, GrayImage, RgbImage};

fn rgb(t: &TensorFile, name: &str) -> RgbImage {
    let ten = t.get(name);
    RgbImage::from_vec(ten.shape[1], ten.shape[0], ten.u8()).expect("fixture image has H*W*3 bytes")
}

/// A smooth textured frame shifted by `(sx, sy)`.
fn frame(w: usize, h: usize, sx: f64, sy: f64) -> GrayImage {
    GrayImage::from_vec(w, h, relaxvqa_fixtures::shifted_pattern(w, h, sx, sy)).expect("w*h bytes")
}

/// Flow and flow image of a pair with both sets of kernels; asserts that
/// every bit agrees.
fn assert_same_both_ways(prev: &GrayImage, next: &GrayImage, what: &str) {
    let params = FarnebackParams::default();
    let native = flow_with_kernels(prev, next, &params, Copies::Native).expect("same size");
    let baseline = flow_with_kernels(prev, next, &params, Copies::Baseline).expect("same size");
    let bits = |f: &FlowField| f.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    assert!(bits(&native) == bits(&baseline), "{what}: flow differs between kernel copies");
    let img_native = flow_to_rgb_with(&native, Copies::Native);
    let img_baseline = flow_to_rgb_with(&native, Copies::Baseline);
    assert!(img_native.as_bytes() == img_baseline.as_bytes(), "{what}: flow image differs between kernel copies");
}

#[test]
fn native_kernels_match_baseline_bit_for_bit() {
    #[cfg(target_arch = "x86_64")]
    println!("AVX2 kernels in use: {}", std::arch::is_x86_feature_detected!("avx2"));
    for stem in VIDEOS {
        let t = TensorFile::reference(stem);
        for j in [0, t.count("video.pair_count") - 1] {
            let prev = rgb_to_gray(&rgb(&t, &format!("frame.{j}.rgb")));
            let next = rgb_to_gray(&rgb(&t, &format!("pair.{j}.next_rgb")));
            assert_same_both_ways(&prev, &next, &format!("{stem} pair {j}"));
        }
    }
    // Odd sizes, and the benchmark's 1280x720.
    for (w, h) in [(1280, 720), (333, 211), (37, 61)] {
        assert_same_both_ways(&frame(w, h, 0.0, 0.0), &frame(w, h, 1.3, -0.6), &format!("synthetic {w}x{h}"));
    }
}
