//! Moving a PyTorch weight (`[out, in...]`, one output per row) into the
//! layout our matrix products read (`[in, out]`, one output per column),
//! done once when a network is built.
//!
//! A plain double loop writes one value per cache line and faulted in the
//! destination page by page while it did: the ViT's 85 M values took about
//! 0.9 s of CPU on every model load. Here a band of [`BAND`] outputs is
//! moved at a time, so each destination row is written 64 contiguous bytes
//! at a time and the band's source rows are read sequentially. The values
//! and their places are exactly the plain loop's.

/// Outputs moved together: one 64-byte cache line of f32.
const BAND: usize = 16;

/// Transposes `src` (`rows` x `cols`, row-major) into a `cols` x `rows`
/// row-major matrix whose row `j` is `dest_row(j)`, applying `value(r, v)`
/// to each element `v` of source row `r` (scaling by output channel).
///
/// # Panics
/// When `src` is not `rows * cols` long or `dest_row` is not a permutation
/// of `0..cols` (programming errors: the shapes come from the network
/// definition, checked against the state dict before).
pub(crate) fn transpose_with(
    src: &[f32],
    rows: usize,
    cols: usize,
    dest_row: impl Fn(usize) -> usize,
    value: impl Fn(usize, f32) -> f32,
) -> Vec<f32> {
    assert_eq!(src.len(), rows * cols, "weight matrix size");
    let mut dst = vec![0f32; rows * cols];
    for r0 in (0..rows).step_by(BAND) {
        let band = r0..(r0 + BAND).min(rows);
        for j in 0..cols {
            let d = dest_row(j) * rows;
            for r in band.clone() {
                dst[d + r] = value(r, src[r * cols + j]);
            }
        }
    }
    dst
}

/// `src` (`rows` x `cols`) transposed, values unchanged.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    transpose_with(src, rows, cols, |j| j, |_, v| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_where_the_plain_loop_puts_it() {
        for (rows, cols) in [(1, 1), (3, 5), (16, 16), (17, 33), (40, 7)] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
            let t = transpose(&src, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r].to_bits(), src[r * cols + c].to_bits(), "{rows}x{cols} at {r},{c}");
                }
            }
            // Reversed destination rows and a per-row scale.
            let s = transpose_with(&src, rows, cols, |j| cols - 1 - j, |r, v| v * (r + 1) as f32);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(s[(cols - 1 - c) * rows + r], src[r * cols + c] * (r + 1) as f32);
                }
            }
        }
    }
}
