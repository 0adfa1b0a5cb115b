//! The preparation stage: from one decoded sample to the network inputs
//! (resized frame, frame fragment, merged fragment), spec sections 3 and 4.

use std::time::{Duration, Instant};

use relaxvqa_image::flow::{farneback_flow, flow_to_rgb};
use relaxvqa_image::fragment::{pair_fragments, PatchPos};
use relaxvqa_image::gray::rgb_to_gray;
use relaxvqa_image::resize::{resnet_input, vit_input};
use relaxvqa_image::{FlowField, RgbImage};
use relaxvqa_video::Sample;

use crate::FeatureError;

/// The network inputs of one sampled frame and, when it has a pair, of the pair.
pub(crate) struct Prepared {
    /// `i`, also `j` of the pair.
    pub index: usize,
    /// The frame number `n`.
    pub frame_number: u64,
    /// Pillow BILINEAR 224x224 resize of the frame (ResNet input).
    pub resnet_in: RgbImage,
    /// Pillow LANCZOS 224x224 resize of the frame (ViT input).
    pub vit_in: RgbImage,
    /// The pair's fragments, when `(n, n+1)` is in P.
    pub pair: Option<PreparedPair>,
    /// The decoded frame, kept for `--dump all` and for observers that
    /// show the images.
    pub rgb: Option<RgbImage>,
    /// Intermediates of the pair kept for `--dump all`.
    pub dump: Option<PairDump>,
    /// Time spent resizing.
    pub resize_time: Duration,
    /// Time spent on optical flow and the flow image.
    pub flow_time: Duration,
    /// Time spent on residual, ranking and mosaics.
    pub fragment_time: Duration,
}

/// The two fragments of a pair that go through the networks.
pub(crate) struct PreparedPair {
    /// Patches of F(n) at the residual-ranked positions.
    pub frame_fragment: RgbImage,
    /// Half residual fragment, half flow fragment.
    pub merged_fragment: RgbImage,
}

/// Intermediates of one pair, kept only when dumping.
pub(crate) struct PairDump {
    pub next_rgb: RgbImage,
    pub residual_rows: usize,
    pub residual_cols: usize,
    pub residual_sums: Vec<u64>,
    pub positions: Vec<PatchPos>,
    pub tie_at_cut: bool,
    pub flow: FlowField,
    pub flow_rgb: RgbImage,
    pub flow_positions: Vec<PatchPos>,
}

/// Builds the network inputs of one sample.
pub(crate) fn prepare(
    sample: Sample,
    keep_frame: bool,
    keep_dump: bool,
    path: &std::path::Path,
) -> Result<Prepared, FeatureError> {
    let t0 = Instant::now();
    let resnet_in = resnet_input(&sample.rgb);
    let vit_in = vit_input(&sample.rgb);
    let resize_time = t0.elapsed();
    let mut flow_time = Duration::ZERO;
    let mut fragment_time = Duration::ZERO;
    let image_err = |source| FeatureError::Image { path: path.to_owned(), frame: sample.frame_number, source };
    let (pair, pair_dump) = match &sample.next_rgb {
        None => (None, None),
        Some(next) => {
            let t1 = Instant::now();
            let flow = farneback_flow(&rgb_to_gray(&sample.rgb), &rgb_to_gray(next)).map_err(image_err)?;
            let flow_rgb = flow_to_rgb(&flow);
            flow_time = t1.elapsed();
            let t2 = Instant::now();
            let f = pair_fragments(&sample.rgb, next, &flow_rgb).map_err(image_err)?;
            fragment_time = t2.elapsed();
            let dump = keep_dump.then(|| {
                let sums = &f.residual_scores.sums;
                let mut sorted = sums.clone();
                sorted.sort_unstable_by(|a, b| b.cmp(a));
                let k = relaxvqa_image::fragment::KEPT;
                PairDump {
                    next_rgb: next.clone(),
                    residual_rows: f.residual_scores.rows,
                    residual_cols: f.residual_scores.cols,
                    residual_sums: sums.clone(),
                    positions: f.positions.clone(),
                    tie_at_cut: sorted.len() > k && sorted[k - 1] == sorted[k],
                    flow,
                    flow_rgb,
                    flow_positions: f.flow_positions.clone(),
                }
            });
            (Some(PreparedPair { frame_fragment: f.frame_fragment, merged_fragment: f.merged_fragment }), dump)
        }
    };
    let rgb = (keep_frame || keep_dump).then_some(sample.rgb);
    Ok(Prepared {
        index: sample.index,
        frame_number: sample.frame_number,
        resnet_in,
        vit_in,
        pair,
        rgb,
        dump: pair_dump,
        resize_time,
        flow_time,
        fragment_time,
    })
}
