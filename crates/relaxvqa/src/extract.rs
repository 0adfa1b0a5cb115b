//! Extraction results and options: the 35,203 values of a video with its
//! per-sample rows, counts, warnings and provenance.

use std::collections::BTreeMap;
use std::sync::Arc;

use relaxvqa_features::CancelToken;
use relaxvqa_features::VideoFeatures;
pub use relaxvqa_features::{DumpTensor, SampleFeatures, StageTimings, TensorData};
pub use relaxvqa_video::DecodeReport;
use relaxvqa_video::Limits;
use relaxvqa_video::VideoInfo;
use serde::{Deserialize, Serialize};

/// The version of this library, recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Progress of one video: samples through the networks so far, and how many
/// to expect when the container says how many frames it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Samples done.
    pub done: usize,
    /// Samples expected (an estimate from the container's frame count).
    pub total: Option<usize>,
}

/// A progress callback; called on the thread that runs the extraction.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to extract one video.
#[derive(Clone, Default)]
pub struct ExtractOptions {
    /// Keep every intermediate tensor under the reference fixtures' names
    /// (holds the whole video's sampled frames: short clips only).
    pub dump: bool,
    /// Keep each sample's own feature row (for per-window scores).
    pub per_sample: bool,
    /// FFmpeg decoder threads; 0 lets FFmpeg pick. Set 1 when many videos
    /// are decoded at once.
    pub decode_threads: usize,
    /// Stops the extraction when cancelled (promptly: between frames and
    /// between network batches); the call then returns [`crate::Error::Cancelled`].
    pub cancel: CancelToken,
    /// Called as samples go through the networks.
    pub progress: Option<ProgressFn>,
    /// What an untrusted input may make the decoder spend (frame size,
    /// streams, duration, sampled frames; [`Limits::untrusted`] by
    /// default). A trusted input keeps only the model's
    /// [`crate::ModelOptions::max_pixels`]; an untrusted one gets the
    /// smaller of the two frame-size limits.
    pub limits: Limits,
}

impl ExtractOptions {
    /// The decoder's limits for an input of this trust, under a model whose
    /// frame-size limit is `model_max_pixels`.
    pub(crate) fn decode_limits(&self, model_max_pixels: Option<u64>, trust: crate::Trust) -> Limits {
        match trust {
            crate::Trust::Trusted => Limits::trusted(model_max_pixels),
            crate::Trust::Untrusted => {
                let max_pixels = match (self.limits.max_pixels, model_max_pixels) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Limits { max_pixels, ..self.limits.clone() }
            }
        }
    }
}

impl std::fmt::Debug for ExtractOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtractOptions")
            .field("dump", &self.dump)
            .field("per_sample", &self.per_sample)
            .field("decode_threads", &self.decode_threads)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("progress", &self.progress.is_some())
            .field("limits", &self.limits)
            .finish()
    }
}

/// What was computed from what: recorded in outputs, shown in reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Provenance {
    /// The input's name (path, URL or given name).
    pub input: String,
    /// The backbone weights, as given (`hub`, `synthetic`, a path, ...).
    pub weights: String,
    /// This library's version.
    pub version: String,
    /// Frames decoded.
    pub frames: u64,
    /// Sampled frames.
    pub sampled_frames: usize,
    /// Pairs.
    pub pairs: usize,
    /// The sampling interval k.
    pub frame_interval: u64,
}

/// A video's features.
#[derive(Clone, Debug)]
pub struct Features {
    /// The 35,203 values (spec section 5); the four fragment blocks are NaN
    /// when the video has no frame pair.
    pub values: Vec<f64>,
    /// Each sample's own row, when asked for.
    pub per_sample: Option<Vec<SampleFeatures>>,
    /// What the decoder reported.
    pub info: VideoInfo,
    /// k.
    pub frame_interval: u64,
    /// N, frames decoded.
    pub frames_decoded: u64,
    /// |S|.
    pub sampled_frames: usize,
    /// |P|.
    pub pairs: usize,
    /// Seconds per stage.
    pub timings: StageTimings,
    /// What a user should know about the result.
    pub warnings: Vec<String>,
    /// What decoding worked around (concealed errors, an early end, a size
    /// change): also in the warnings, and in feature files' metadata.
    pub decode: DecodeReport,
    /// Every intermediate, when asked for.
    pub dump: Option<BTreeMap<String, DumpTensor>>,
    /// What was computed from what.
    pub provenance: Provenance,
}

impl Features {
    pub(crate) fn new(v: VideoFeatures, input: String, weights: &str) -> Self {
        let provenance = Provenance {
            input,
            weights: weights.to_owned(),
            version: VERSION.to_owned(),
            frames: v.frames_decoded,
            sampled_frames: v.sampled_frames,
            pairs: v.pairs,
            frame_interval: v.frame_interval,
        };
        Self {
            values: v.features,
            per_sample: v.per_sample,
            info: v.info,
            frame_interval: v.frame_interval,
            frames_decoded: v.frames_decoded,
            sampled_frames: v.sampled_frames,
            pairs: v.pairs,
            timings: v.timings,
            warnings: v.warnings,
            decode: v.decode_report,
            dump: v.dump,
            provenance,
        }
    }

    /// The frame rate as a number (0 when the video reports none).
    pub fn fps(&self) -> f64 {
        let r = self.info.frame_rate;
        if r.den == 0 {
            0.0
        } else {
            f64::from(r.num) / f64::from(r.den)
        }
    }

    /// What `relaxvqa extract --json` prints about this extraction (and
    /// Python's `Features.to_dict()` returns), with the feature file it was
    /// written to, when it was.
    pub fn summary(&self, output: Option<&std::path::Path>) -> ExtractSummary {
        let r = self.info.frame_rate;
        ExtractSummary {
            schema: "relaxvqa.extract/1",
            video: self.provenance.input.clone(),
            output: output.map(|o| o.to_path_buf()),
            weights: self.provenance.weights.clone(),
            width: self.info.width,
            height: self.info.height,
            r_frame_rate: format!("{}/{}", r.num, r.den),
            frames: self.frames_decoded,
            frame_interval: self.frame_interval,
            sampled_frames: self.sampled_frames,
            pairs: self.pairs,
            seconds: self.timings.total,
            timings: self.timings.clone(),
            warnings: self.warnings.clone(),
            decode: DecodeSummary {
                concealed_errors: self.decode.concealed_errors,
                ended_early: self.decode.ended_early,
                partial_frame_dropped: self.decode.partial_frame_dropped,
                size_changed: self.decode.size_change.is_some(),
            },
            relaxvqa_version: VERSION,
        }
    }

    /// The tensors of a feature file: `video.*` and, when dumped, every
    /// intermediate.
    pub fn tensors(&self) -> BTreeMap<String, DumpTensor> {
        let mut t = self.dump.clone().unwrap_or_default();
        t.insert(
            "video.features".into(),
            DumpTensor::new(vec![self.values.len()], TensorData::F64(self.values.clone())),
        );
        t.insert("video.frame_interval".into(), DumpTensor::scalar_i64(self.frame_interval as i64));
        t.insert("video.sampled_frame_count".into(), DumpTensor::scalar_i64(self.sampled_frames as i64));
        t.insert("video.pair_count".into(), DumpTensor::scalar_i64(self.pairs as i64));
        t.insert("video.frame_count".into(), DumpTensor::scalar_i64(self.frames_decoded as i64));
        t
    }
}

/// One extraction without its values (schema `relaxvqa.extract/1`): what
/// the command line's `extract --json` prints and Python's
/// `Features.to_dict()` returns, so both report the same fields.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractSummary {
    /// `relaxvqa.extract/1`.
    pub schema: &'static str,
    /// The input's name.
    pub video: String,
    /// The feature file written, if one was.
    pub output: Option<std::path::PathBuf>,
    /// The backbone weights, as given.
    pub weights: String,
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// The frame rate as FFmpeg reports it, `N/D`.
    pub r_frame_rate: String,
    /// Frames decoded (N).
    pub frames: u64,
    /// The sampling interval k.
    pub frame_interval: u64,
    /// Sampled frames (|S|).
    pub sampled_frames: usize,
    /// Frame pairs (|P|).
    pub pairs: usize,
    /// Wall time of the extraction.
    pub seconds: f64,
    /// Seconds per stage (stages overlap).
    pub timings: StageTimings,
    /// What a user should know about the result.
    pub warnings: Vec<String>,
    /// What decoding worked around.
    pub decode: DecodeSummary,
    /// This library's version.
    pub relaxvqa_version: &'static str,
}

/// What decoding worked around, in an [`ExtractSummary`].
#[derive(Clone, Debug, Serialize)]
pub struct DecodeSummary {
    /// Packets skipped as corrupt or rejected.
    pub concealed_errors: u64,
    /// The file ended before the container said it would.
    pub ended_early: bool,
    /// A trailing partial raw frame was ignored.
    pub partial_frame_dropped: bool,
    /// The frame size changed mid-stream.
    pub size_changed: bool,
}
