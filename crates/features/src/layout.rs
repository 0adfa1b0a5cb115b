//! The feature vector's layout (spec section 5): six blocks, each a mean over
//! the sampled frames (S) or the pairs (P).

/// The widths of the networks' outputs and of the whole vector, defined
/// beside the networks and the head that produce and read them; the blocks
/// below add up to the whole (tested).
pub use relaxvqa_model::backbone::{LAYER_STACK_LEN, RESNET_POOL_LEN, VIT_POOL_LEN};
pub use relaxvqa_model::head::FEATURE_LEN;

/// Over which images a block is averaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Over {
    /// The sampled frames S.
    Frames,
    /// The pairs P.
    Pairs,
}

/// One block of the feature vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Stable name, used in JSON and reports.
    pub name: &'static str,
    /// First index in the vector.
    pub offset: usize,
    /// Number of values.
    pub len: usize,
    /// What it is averaged over.
    pub over: Over,
}

/// The six blocks in vector order.
pub const BLOCKS: [Block; 6] = [
    Block { name: "frame_resnet_layerstack", offset: 0, len: LAYER_STACK_LEN, over: Over::Frames },
    Block { name: "frame_vit_pool", offset: 13_120, len: VIT_POOL_LEN, over: Over::Frames },
    Block { name: "frag_resnet_layerstack", offset: 15_424, len: LAYER_STACK_LEN, over: Over::Pairs },
    Block { name: "merged_resnet_pool", offset: 28_544, len: RESNET_POOL_LEN, over: Over::Pairs },
    Block { name: "frag_vit_pool", offset: 30_595, len: VIT_POOL_LEN, over: Over::Pairs },
    Block { name: "merged_vit_pool", offset: 32_899, len: VIT_POOL_LEN, over: Over::Pairs },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_vector() {
        let mut at = 0;
        for b in BLOCKS {
            assert_eq!(b.offset, at, "{}", b.name);
            at += b.len;
        }
        assert_eq!(at, FEATURE_LEN);
    }
}
