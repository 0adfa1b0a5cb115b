//! Running means of the six blocks (spec section 5), in f64.

use crate::layout::{Over, BLOCKS, FEATURE_LEN};

/// Sums per block and the counts to divide them by.
pub(crate) struct Accumulator {
    sums: Vec<f64>,
    frames: usize,
    pairs: usize,
}

impl Accumulator {
    pub fn new() -> Self {
        Self { sums: vec![0.0; FEATURE_LEN], frames: 0, pairs: 0 }
    }

    /// Adds one block's values for one image.
    pub fn add(&mut self, block: usize, values: &[f32]) {
        let b = BLOCKS[block];
        debug_assert_eq!(values.len(), b.len);
        for (s, &v) in self.sums[b.offset..b.offset + b.len].iter_mut().zip(values) {
            *s += v as f64;
        }
    }

    /// Counts one sampled frame.
    pub fn count_frame(&mut self) {
        self.frames += 1;
    }

    /// Counts one pair.
    pub fn count_pair(&mut self) {
        self.pairs += 1;
    }

    /// The means; the pair blocks are NaN when there was no pair.
    pub fn finish(mut self) -> Vec<f64> {
        for b in BLOCKS {
            let n = match b.over {
                Over::Frames => self.frames,
                Over::Pairs => self.pairs,
            };
            for s in &mut self.sums[b.offset..b.offset + b.len] {
                *s = if n == 0 { f64::NAN } else { *s / n as f64 };
            }
        }
        self.sums
    }
}
