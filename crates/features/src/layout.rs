//! The feature vector's layout (spec section 5): six blocks, each a mean over
//! the sampled frames (S) or the pairs (P).

/// Length of the ResNet-50 layer stack (15 taps, spatially averaged).
pub const RESNET_LAYER_STACK: usize = 13_120;
/// Length of the ResNet-50 pool (2048 averaged outputs, then mean, max, std).
pub const RESNET_POOL: usize = 2_051;
/// Length of the ViT pool (mean, max, std of 768 channels).
pub const VIT_POOL: usize = 2_304;
/// Length of the whole feature vector.
pub const FEATURE_LEN: usize = 35_203;

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
    Block { name: "frame_resnet_layerstack", offset: 0, len: RESNET_LAYER_STACK, over: Over::Frames },
    Block { name: "frame_vit_pool", offset: 13_120, len: VIT_POOL, over: Over::Frames },
    Block { name: "frag_resnet_layerstack", offset: 15_424, len: RESNET_LAYER_STACK, over: Over::Pairs },
    Block { name: "merged_resnet_pool", offset: 28_544, len: RESNET_POOL, over: Over::Pairs },
    Block { name: "frag_vit_pool", offset: 30_595, len: VIT_POOL, over: Over::Pairs },
    Block { name: "merged_vit_pool", offset: 32_899, len: VIT_POOL, over: Over::Pairs },
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
