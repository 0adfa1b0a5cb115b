//! RGB to 8-bit gray exactly as OpenCV's `cvtColor(RGB2GRAY)` on 8-bit input.

use crate::{GrayImage, RgbImage};

/// OpenCV's fixed-point luma: `(9798 R + 19235 G + 3735 B + 16384) >> 15`.
pub fn rgb_to_gray(img: &RgbImage) -> GrayImage {
    let data = img
        .as_bytes()
        .chunks_exact(3)
        .map(|p| ((9798 * p[0] as u32 + 19235 * p[1] as u32 + 3735 * p[2] as u32 + 16384) >> 15) as u8)
        .collect();
    GrayImage::from_vec(img.width(), img.height(), data).expect("length is width*height by construction")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_matches_opencv_rule() {
        let img = RgbImage::from_vec(3, 1, vec![255, 255, 255, 0, 0, 0, 10, 200, 30]).unwrap();
        let g = rgb_to_gray(&img);
        // 9798*10 + 19235*200 + 3735*30 + 16384 = 4077,410 -> >>15 = 124
        assert_eq!(g.as_bytes(), &[255, 0, ((9798 * 10 + 19235 * 200 + 3735 * 30 + 16384) >> 15) as u8]);
    }
}
