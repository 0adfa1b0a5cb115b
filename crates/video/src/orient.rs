//! Display rotation: which turn or flip the FFmpeg command-line tool applies
//! by default (`-autorotate`) for a stream's display matrix, and applying it
//! to a decoded RGB frame. Pure code, so every case is unit-tested without
//! FFmpeg.
//!
//! The rule is the one of `fftools/ffmpeg_filter.c` in FFmpeg 5.1: the angle
//! is `theta = -round(av_display_rotation_get(m))` taken modulo 360, and
//! - `theta = 90`: `transpose=clock`, or `cclock_flip` when `m[3] > 0`;
//! - `theta = 180`: `hflip` when `m[0] < 0`, then `vflip` when `m[4] < 0`;
//! - `theta = 270`: `transpose=cclock`, or `clock_flip` when `m[3] < 0`;
//! - `theta = 0`: `vflip` when `m[4] < 0`;
//! - any other angle: the CLI inserts a `rotate` filter (arbitrary angles);
//!   those are not reproduced here and the frame is left as decoded.
//!
//! A file muxed with `-metadata:s:v:0 rotate=90` has a matrix whose rotation
//! is 90 degrees counter-clockwise (ffprobe prints `rotation=90`), so the CLI
//! turns the picture 90 degrees counter-clockwise (`numpy.rot90(frame, 1)`).
//!
//! The FFmpeg decoder applies these with the CLI's own filters, on the
//! decoded planes before the RGB conversion; [`Orientation::apply`] turns an
//! RGB frame, which gives the same bytes for 8-bit 4:2:0 sources of even
//! size but not for deep or odd-sized ones (see `tests/integration/decode.rs`).

use relaxvqa_image::RgbImage;

/// A lossless rearrangement of a frame's pixels: the eight symmetries of a
/// rectangle, named after what they do to the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Orientation {
    /// Leave the frame as decoded.
    #[default]
    Identity,
    /// Turn 90 degrees counter-clockwise (`transpose=cclock`, `numpy.rot90(f, 1)`).
    Rotate90Ccw,
    /// Turn 180 degrees (`hflip` then `vflip`).
    Rotate180,
    /// Turn 90 degrees clockwise (`transpose=clock`, `numpy.rot90(f, -1)`).
    Rotate90Cw,
    /// Mirror left-right (`hflip`).
    FlipHorizontal,
    /// Mirror top-bottom (`vflip`).
    FlipVertical,
    /// Swap rows and columns (`transpose=cclock_flip`, `out[y][x] = in[x][y]`).
    Transpose,
    /// Swap rows and columns across the other diagonal (`transpose=clock_flip`).
    AntiTranspose,
}

impl Orientation {
    /// What the FFmpeg 5.1 CLI applies for a display matrix (nine 16.16 /
    /// 2.30 fixed-point values, row-major, as in `AV_PKT_DATA_DISPLAYMATRIX`);
    /// `None` (no matrix) means no change.
    pub fn from_display_matrix(matrix: Option<&[i32; 9]>) -> Self {
        let Some(m) = matrix else {
            return Self::Identity;
        };
        let theta = cli_rotation(m);
        if (theta - 90.0).abs() < 1.0 {
            if m[3] > 0 {
                Self::Transpose
            } else {
                Self::Rotate90Cw
            }
        } else if (theta - 180.0).abs() < 1.0 {
            match (m[0] < 0, m[4] < 0) {
                (true, true) => Self::Rotate180,
                (true, false) => Self::FlipHorizontal,
                (false, true) => Self::FlipVertical,
                (false, false) => Self::Identity,
            }
        } else if (theta - 270.0).abs() < 1.0 {
            if m[3] < 0 {
                Self::AntiTranspose
            } else {
                Self::Rotate90Ccw
            }
        } else if theta.abs() < 1.0 && m[4] < 0 {
            Self::FlipVertical
        } else {
            // theta == 0 without a flip, NaN (a degenerate matrix), or an
            // angle that is not a multiple of 90 degrees.
            Self::Identity
        }
    }

    /// Whether the width and height are exchanged.
    pub fn swaps_dimensions(self) -> bool {
        matches!(self, Self::Rotate90Ccw | Self::Rotate90Cw | Self::Transpose | Self::AntiTranspose)
    }

    /// The RGB frame rearranged; the identity gives the frame back untouched.
    /// For frame sources that rotate RGB frames themselves, and for tests.
    pub fn apply(self, image: RgbImage) -> RgbImage {
        if self == Self::Identity {
            return image;
        }
        let (w, h) = (image.width(), image.height());
        let src = image.as_bytes();
        let (ow, oh) = if self.swaps_dimensions() { (h, w) } else { (w, h) };
        let mut out = RgbImage::zeros(ow, oh);
        let dst = out.as_bytes_mut();
        for oy in 0..oh {
            for ox in 0..ow {
                // The source pixel of output pixel (ox, oy).
                let (sx, sy) = match self {
                    Self::Identity => (ox, oy),
                    Self::Rotate90Ccw => (w - 1 - oy, ox),
                    Self::Rotate180 => (w - 1 - ox, h - 1 - oy),
                    Self::Rotate90Cw => (oy, h - 1 - ox),
                    Self::FlipHorizontal => (w - 1 - ox, oy),
                    Self::FlipVertical => (ox, h - 1 - oy),
                    Self::Transpose => (oy, ox),
                    Self::AntiTranspose => (w - 1 - oy, h - 1 - ox),
                };
                let d = (oy * ow + ox) * 3;
                let s = (sy * w + sx) * 3;
                dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
        out
    }
}

/// `av_display_rotation_get`: the counter-clockwise rotation of the matrix in
/// degrees, NaN for a degenerate matrix.
pub fn display_rotation(m: &[i32; 9]) -> f64 {
    let fp = |v: i32| f64::from(v) / 65536.0;
    let scale0 = fp(m[0]).hypot(fp(m[3]));
    let scale1 = fp(m[1]).hypot(fp(m[4]));
    if scale0 == 0.0 || scale1 == 0.0 {
        return f64::NAN;
    }
    let rotation = (fp(m[1]) / scale1).atan2(fp(m[0]) / scale0).to_degrees();
    -rotation
}

/// The CLI's `get_rotation`: `-round(display_rotation)`, brought into
/// `[0, 360)` (the clockwise angle the picture must be turned by).
fn cli_rotation(m: &[i32; 9]) -> f64 {
    let mut theta = -display_rotation(m).round();
    theta -= 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    theta
}

/// The counter-clockwise display rotation in whole degrees in `[0, 360)`, as
/// ffprobe's `rotation` (reported in [`crate::VideoInfo`]); 0 without a
/// matrix or for a degenerate one.
pub fn rotation_degrees(matrix: Option<&[i32; 9]>) -> u32 {
    match matrix.map(display_rotation) {
        Some(r) if r.is_finite() => (r.round().rem_euclid(360.0) as u32) % 360,
        _ => 0,
    }
}

/// Reads a display matrix from side-data bytes (nine native-endian `i32`);
/// `None` when the payload is too short.
pub fn matrix_from_bytes(bytes: &[u8]) -> Option<[i32; 9]> {
    if bytes.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (v, c) in m.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: i32 = 65536;
    const W: i32 = 1 << 30;

    /// Matrices as FFmpeg 5.1 writes them for `-metadata:s:v:0 rotate=R`
    /// (printed by ffprobe for files made that way).
    fn muxed(rotate: u32) -> [i32; 9] {
        match rotate {
            90 => [0, -ONE, 0, ONE, 0, 0, 0, 0, W],
            180 => [-ONE, 0, 0, 0, -ONE, 0, 0, 0, W],
            270 => [0, ONE, 0, -ONE, 0, 0, 0, 0, W],
            _ => [ONE, 0, 0, 0, ONE, 0, 0, 0, W],
        }
    }

    fn numbered(w: usize, h: usize) -> RgbImage {
        let data = (0..w * h).flat_map(|i| [i as u8, (i >> 8) as u8, 7]).collect();
        RgbImage::from_vec(w, h, data).unwrap()
    }

    fn px(img: &RgbImage, x: usize, y: usize) -> [u8; 3] {
        let i = (y * img.width() + x) * 3;
        let b = img.as_bytes();
        [b[i], b[i + 1], b[i + 2]]
    }

    #[test]
    fn muxed_rotations_map_to_the_cli_filters() {
        for (rotate, expect, degrees) in [
            (0, Orientation::Identity, 0),
            (90, Orientation::Rotate90Ccw, 90),
            (180, Orientation::Rotate180, 180),
            (270, Orientation::Rotate90Cw, 270),
        ] {
            let m = muxed(rotate);
            println!("rotate={rotate}: display_rotation {:.1}, cli theta {}", display_rotation(&m), cli_rotation(&m));
            assert_eq!(Orientation::from_display_matrix(Some(&m)), expect, "rotate={rotate}");
            assert_eq!(rotation_degrees(Some(&m)), degrees);
        }
        assert_eq!(Orientation::from_display_matrix(None), Orientation::Identity);
        assert_eq!(Orientation::from_display_matrix(Some(&[0; 9])), Orientation::Identity);
        assert_eq!(rotation_degrees(Some(&[0; 9])), 0);
        // A mirrored matrix (x negated) at theta 0 with m[4] < 0: vflip.
        assert_eq!(
            Orientation::from_display_matrix(Some(&[ONE, 0, 0, 0, -ONE, 0, 0, 0, W])),
            Orientation::FlipVertical
        );
    }

    #[test]
    fn rotations_match_numpy_rot90() {
        let (w, h) = (4, 3);
        let img = numbered(w, h);
        let ccw = Orientation::Rotate90Ccw.apply(img.clone());
        assert_eq!((ccw.width(), ccw.height()), (h, w));
        // numpy.rot90(a, 1)[i][j] == a[j][W-1-i]
        for i in 0..w {
            for j in 0..h {
                assert_eq!(px(&ccw, j, i), px(&img, w - 1 - i, j));
            }
        }
        let cw = Orientation::Rotate90Cw.apply(img.clone());
        // numpy.rot90(a, -1)[i][j] == a[H-1-j][i]
        for i in 0..w {
            for j in 0..h {
                assert_eq!(px(&cw, j, i), px(&img, i, h - 1 - j));
            }
        }
        let r180 = Orientation::Rotate180.apply(img.clone());
        assert_eq!(r180, Orientation::Rotate90Ccw.apply(ccw.clone()));
        assert_eq!(Orientation::Rotate90Cw.apply(ccw), img);
        let t = Orientation::Transpose.apply(img.clone());
        assert_eq!(px(&t, 1, 3), px(&img, 3, 1));
        let at = Orientation::AntiTranspose.apply(img.clone());
        assert_eq!(at, Orientation::Rotate180.apply(t));
        let hf = Orientation::FlipHorizontal.apply(img.clone());
        assert_eq!(Orientation::FlipVertical.apply(hf), r180);
        assert_eq!(Orientation::Identity.apply(img.clone()), img);
    }

    #[test]
    fn matrix_bytes_round_trip() {
        let m = muxed(90);
        let bytes: Vec<u8> = m.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(matrix_from_bytes(&bytes), Some(m));
        assert_eq!(matrix_from_bytes(&bytes[..35]), None);
    }
}
