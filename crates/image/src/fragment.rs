//! Fragments (spec section 4, steps 1-4 and 7-8): the residual between two
//! frames, 16x16 patch scores, the stable top-196 ranking, the 14x14 mosaics,
//! and the merged fragment with OpenCV's `addWeighted` rounding.

use crate::{ImageError, RgbImage};

/// Side of a square patch, in pixels.
pub const PATCH: usize = 16;
/// Patches per mosaic side (14 x 16 = 224).
pub const GRID: usize = 14;
/// Patches kept per fragment (14 x 14).
pub const KEPT: usize = GRID * GRID;
/// Side of a fragment mosaic, in pixels.
pub const FRAGMENT_SIDE: usize = GRID * PATCH;

/// A patch position in the patch grid: (row, column), both from 0.
pub type PatchPos = (usize, usize);

/// Patch scores over the top-left `rows*16 x cols*16` region of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchScores {
    /// Patch rows (`floor(H / 16)`).
    pub rows: usize,
    /// Patch columns (`floor(W / 16)`).
    pub cols: usize,
    /// Sum of all 16x16x3 byte values of each patch, row-major.
    pub sums: Vec<u64>,
}

/// Everything step 4 to 8 make from one pair of frames and its flow image.
#[derive(Clone, Debug)]
pub struct PairFragments {
    /// Patch scores of the residual `|F(n+1) - F(n)|`.
    pub residual_scores: PatchScores,
    /// Patches selected by the residual, in mosaic order.
    pub positions: Vec<PatchPos>,
    /// Patches selected by the flow image, in mosaic order.
    pub flow_positions: Vec<PatchPos>,
    /// Patches of `F(n)` at `positions`.
    pub frame_fragment: RgbImage,
    /// `0.5 * residual fragment + 0.5 * flow fragment`, OpenCV rounding.
    pub merged_fragment: RgbImage,
}

/// `|b - a|` per byte (step 1).
pub fn residual(a: &RgbImage, b: &RgbImage) -> Result<RgbImage, ImageError> {
    same_size(a, b)?;
    let data = a.as_bytes().iter().zip(b.as_bytes()).map(|(&x, &y)| x.abs_diff(y)).collect();
    RgbImage::from_vec(a.width(), a.height(), data)
}

/// Sum of each 16x16x3 patch over the whole-patch region (step 2).
pub fn patch_scores(img: &RgbImage) -> PatchScores {
    let (rows, cols) = (img.height() / PATCH, img.width() / PATCH);
    let mut sums = vec![0u64; rows * cols];
    for y in 0..rows * PATCH {
        let row = &img.row(y)[..cols * PATCH * 3];
        let out = &mut sums[(y / PATCH) * cols..(y / PATCH + 1) * cols];
        for (s, chunk) in out.iter_mut().zip(row.chunks_exact(PATCH * 3)) {
            *s += chunk.iter().map(|&v| v as u64).sum::<u64>();
        }
    }
    PatchScores { rows, cols, sums }
}

/// The `KEPT` highest-scoring patches (ties by raster order: a stable
/// descending sort), re-ordered by (row, column) for the mosaic (steps 3-4).
/// Only the first `rows * cols` sums count (all of them for scores from
/// [`patch_scores`]), so every position is inside the grid.
pub fn select_patches(scores: &PatchScores) -> Vec<PatchPos> {
    let cells = scores.sums.len().min(scores.rows.saturating_mul(scores.cols));
    let mut order: Vec<usize> = (0..cells).collect();
    order.sort_by(|&i, &j| scores.sums[j].cmp(&scores.sums[i])); // stable
    order.truncate(KEPT);
    order.sort_unstable();
    order.into_iter().map(|i| (i / scores.cols, i % scores.cols)).collect()
}

/// Copies the patches at `positions` of `img` into the cells of a 224x224
/// mosaic that starts all zero: the m-th patch goes to cell (m / 14, m % 14);
/// positions past the first [`KEPT`] are ignored.
///
/// # Errors
/// [`ImageError::PatchOutside`] when a position is outside the image's grid
/// of whole 16x16 patches.
pub fn mosaic(img: &RgbImage, positions: &[PatchPos]) -> Result<RgbImage, ImageError> {
    let (rows, cols) = (img.height() / PATCH, img.width() / PATCH);
    if let Some(&(row, col)) = positions.iter().take(KEPT).find(|&&(r, c)| r >= rows || c >= cols) {
        return Err(ImageError::PatchOutside { row, col, rows, cols });
    }
    let mut out = RgbImage::zeros(FRAGMENT_SIDE, FRAGMENT_SIDE);
    let stride = FRAGMENT_SIDE * 3;
    for (m, &(r, c)) in positions.iter().take(KEPT).enumerate() {
        let (cy, cx) = (m / GRID, m % GRID);
        for dy in 0..PATCH {
            let src = &img.row(r * PATCH + dy)[c * PATCH * 3..(c + 1) * PATCH * 3];
            let at = (cy * PATCH + dy) * stride + cx * PATCH * 3;
            out.as_bytes_mut()[at..at + PATCH * 3].copy_from_slice(src);
        }
    }
    Ok(out)
}

/// `0.5 * a + 0.5 * b` rounded to nearest, ties to even, as OpenCV's
/// `addWeighted` on 8-bit images ((1+2)/2 -> 2, (2+3)/2 -> 2); never saturates
/// since the mean of two bytes is a byte.
pub fn average_half(a: &RgbImage, b: &RgbImage) -> Result<RgbImage, ImageError> {
    same_size(a, b)?;
    let data = a
        .as_bytes()
        .iter()
        .zip(b.as_bytes())
        .map(|(&x, &y)| {
            let s = x as u16 + y as u16;
            let q = s >> 1;
            // s odd means an exact half: round up only when that makes it even.
            (q + (s & q & 1)) as u8
        })
        .collect();
    RgbImage::from_vec(a.width(), a.height(), data)
}

/// Steps 1-4 and 7-8 for one pair: `prev` = F(n), `next` = F(n+1), `flow_rgb`
/// = the flow image of the pair (step 6). Images smaller than one patch give
/// all-zero mosaics.
pub fn pair_fragments(prev: &RgbImage, next: &RgbImage, flow_rgb: &RgbImage) -> Result<PairFragments, ImageError> {
    same_size(prev, flow_rgb)?;
    let res = residual(prev, next)?;
    let residual_scores = patch_scores(&res);
    let positions = select_patches(&residual_scores);
    let flow_positions = select_patches(&patch_scores(flow_rgb));
    let frame_fragment = mosaic(prev, &positions)?;
    let merged_fragment = average_half(&mosaic(&res, &positions)?, &mosaic(flow_rgb, &flow_positions)?)?;
    Ok(PairFragments { residual_scores, positions, flow_positions, frame_fragment, merged_fragment })
}

fn same_size(a: &RgbImage, b: &RgbImage) -> Result<(), ImageError> {
    if a.width() != b.width() || a.height() != b.height() {
        return Err(ImageError::SizeMismatch(a.width(), a.height(), b.width(), b.height()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_outside_the_image_are_errors() {
        let img = RgbImage::zeros(40, 20); // 1x2 patches
        assert!(mosaic(&img, &[(0, 1)]).is_ok());
        let err = mosaic(&img, &[(0, 0), (1, 0)]).expect_err("row 1 of 1");
        assert_eq!(err, ImageError::PatchOutside { row: 1, col: 0, rows: 1, cols: 2 });
        assert!(mosaic(&RgbImage::zeros(8, 8), &[(0, 0)]).is_err());
        assert_eq!(mosaic(&RgbImage::zeros(8, 8), &[]).expect("no patches"), RgbImage::zeros(224, 224));
        // Hand-made scores whose sums disagree with rows x cols.
        assert!(select_patches(&PatchScores { rows: 3, cols: 0, sums: vec![1, 2] }).is_empty());
        assert_eq!(select_patches(&PatchScores { rows: 1, cols: 2, sums: vec![1, 5, 9] }), vec![(0, 0), (0, 1)]);
    }

    #[test]
    fn half_rounds_ties_to_even() {
        let a = RgbImage::from_vec(2, 1, vec![1, 2, 255, 0, 7, 254]).unwrap();
        let b = RgbImage::from_vec(2, 1, vec![2, 3, 255, 1, 8, 255]).unwrap();
        // 1.5->2, 2.5->2, 255, 0.5->0, 7.5->8, 254.5->254
        assert_eq!(average_half(&a, &b).unwrap().as_bytes(), &[2, 2, 255, 0, 8, 254]);
    }

    #[test]
    fn ties_keep_raster_order() {
        let scores = PatchScores { rows: 15, cols: 15, sums: vec![5; 225] };
        let sel = select_patches(&scores);
        assert_eq!(sel.len(), KEPT);
        assert_eq!(sel[0], (0, 0));
        assert_eq!(sel[KEPT - 1], (13, 0)); // the first 196 in raster order
    }

    #[test]
    fn fewer_patches_than_kept_selects_all() {
        let scores = PatchScores { rows: 2, cols: 3, sums: vec![1, 9, 3, 9, 0, 2] };
        assert_eq!(select_patches(&scores), vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn tiny_images_give_zero_mosaics() {
        let a = RgbImage::from_vec(8, 8, vec![9; 192]).unwrap();
        let b = RgbImage::zeros(8, 8);
        let f = pair_fragments(&a, &b, &b).unwrap();
        assert!(f.positions.is_empty());
        assert!(f.frame_fragment.as_bytes().iter().all(|&v| v == 0));
        assert!(f.merged_fragment.as_bytes().iter().all(|&v| v == 0));
    }

    #[test]
    fn size_mismatch_is_an_error() {
        assert!(residual(&RgbImage::zeros(2, 2), &RgbImage::zeros(3, 2)).is_err());
    }
}
