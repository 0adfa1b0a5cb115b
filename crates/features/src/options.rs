//! What an extraction is given and what it reports besides the features:
//! options, per-stage timings and per-sample rows (shared by the pipeline's
//! stages, so that none of them imports another for its types).

use std::sync::Arc;

use serde::Serialize;

use crate::CancelToken;
use relaxvqa_video::DEFAULT_MAX_PIXELS;

/// How to run an extraction.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Images per network batch (frames, frame fragments and merged
    /// fragments together, taken across sample boundaries), rounded up to a
    /// whole number of images per compute thread; the first batch is one
    /// image per thread, so the networks start with the first sample.
    pub batch_size: usize,
    /// Keep every intermediate tensor (`--dump all`); holds the whole video's
    /// sampled frames in memory, so meant for short clips.
    pub dump: bool,
    /// Keep each sample's own feature rows (for per-segment scores).
    pub per_sample: bool,
    /// Stops the extraction when cancelled (checked between frames and
    /// between network batches); the extraction then returns
    /// [`crate::FeatureError::Cancelled`].
    pub cancel: CancelToken,
    /// Frames with more pixels than this are refused before any work
    /// ([`crate::FeatureError::TooLarge`]); `None` for no limit. Optical flow runs
    /// at full resolution: see `relaxvqa_video::DEFAULT_MAX_PIXELS`.
    pub max_pixels: Option<u64>,
    /// The thread pool of the preparation stage (resize, flow, fragments);
    /// `None` makes one for this extraction with as many threads as the
    /// calling pool. A model that extracts many videos passes its own.
    pub prepare_pool: Option<Arc<rayon::ThreadPool>>,
}

/// Frames above this many pixels get one preparation worker instead of two:
/// each worker holds a full-resolution optical-flow pyramid, so two of them
/// at 8K cost gigabytes for little gain (the networks are the bottleneck).
pub const LARGE_FRAME_PIXELS: u64 = 2560 * 1440;

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            batch_size: 8,
            dump: false,
            per_sample: false,
            cancel: CancelToken::default(),
            max_pixels: Some(DEFAULT_MAX_PIXELS),
            prepare_pool: None,
        }
    }
}

/// Seconds spent in each stage (stages overlap, so they can add up to more
/// than the wall time).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimings {
    /// Decoding and RGB conversion.
    pub decode: f64,
    /// Pillow-compatible resizing.
    pub resize: f64,
    /// Optical flow and the flow image.
    pub flow: f64,
    /// Residual, ranking and mosaics.
    pub fragments: f64,
    /// ResNet-50 passes.
    pub resnet: f64,
    /// ViT-B/16 passes.
    pub vit: f64,
    /// The networks waiting for prepared images.
    pub network_wait: f64,
    /// Wall time of the whole extraction.
    pub total: f64,
}

/// The feature rows of one sampled frame (and its pair), for per-segment use.
#[derive(Clone, Debug)]
pub struct SampleFeatures {
    /// The frame number `n`.
    pub frame_number: u64,
    /// The sample's own 35,203 values: frame blocks from this frame, pair
    /// blocks from its pair (NaN when it has none).
    pub values: Vec<f32>,
}
