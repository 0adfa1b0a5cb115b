//! # relaxvqa: no-reference video quality (ReLaX-VQA)
//!
//! A quality score for a video with no pristine reference: the authors'
//! 35,203 ReLaX-VQA features (ResNet-50 layer stacking and DINO ViT-B/16 on
//! frames, residual fragments and optical-flow fragments), and their
//! published MLP heads. This crate is what every front end (the `relaxvqa`
//! command, the Python package, the HTTP service) stands on; its modules
//! read as what a user does:
//!
//! - [`Model`]: load the backbones and a head once;
//! - [`Model::extract`]: a video's [`Features`];
//! - [`Model::score`] ([`score`]): its score and per-window timeline;
//! - [`batch`]: a whole dataset, resumable, with a combined matrix;
//! - [`report::render`]: an HTML page of what the model looked at.
//!
//! ## Scoring a file
//! ```
//! # fn main() -> relaxvqa::Result<()> {
//! # let clip = relaxvqa::testing::clip();
//! # let head = relaxvqa::testing::head();
//! use relaxvqa::{Model, ModelOptions, ScoreOptions};
//! let model = Model::load(ModelOptions {
//!     weights: "synthetic".into(), // "hub" for the real weights
//!     head: Some(head),            // a zoo name such as "konvid-1k", or a head file
//!     ..Default::default()
//! })?;
//! let score = model.score(clip.as_path(), &ScoreOptions::default())?;
//! assert!(score.score.is_finite());
//! # Ok(()) }
//! ```
//!
//! ## Scoring bytes in memory
//! An upload or a buffer is read through FFmpeg's custom I/O, never written
//! to disk:
//! ```
//! # fn main() -> relaxvqa::Result<()> {
//! # let clip = relaxvqa::testing::clip();
//! # let head = relaxvqa::testing::head();
//! use relaxvqa::{Input, Model, ModelOptions, ScoreOptions};
//! let model = Model::load(ModelOptions { weights: "synthetic".into(), head: Some(head), ..Default::default() })?;
//! let bytes: Vec<u8> = std::fs::read(&clip).expect("the clip");
//! let score = model.score(Input::bytes("upload.mp4", bytes), &ScoreOptions::default())?;
//! println!("{:.3} on {:?}", score.score, score.scale);
//! # Ok(()) }
//! ```
//!
//! ## Scoring a stream, with a timeline
//! Any `Read + Seek`, or any URL or pipe FFmpeg opens (`Input::url("-")` is
//! standard input):
//! ```
//! # fn main() -> relaxvqa::Result<()> {
//! # let clip = relaxvqa::testing::clip();
//! # let head = relaxvqa::testing::head();
//! use relaxvqa::{Input, Model, ModelOptions, ScoreOptions};
//! let model = Model::load(ModelOptions { weights: "synthetic".into(), head: Some(head), ..Default::default() })?;
//! let file = std::fs::File::open(&clip).expect("the clip");
//! let opts = ScoreOptions { segments: Some(1.0), ..Default::default() };
//! let score = model.score(Input::reader("stream", file), &opts)?;
//! for s in score.segments.unwrap_or_default() {
//!     println!("{:5.1}-{:5.1} s  {:.3}", s.start, s.end, s.score);
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod batch;
mod error;
mod extract;
pub mod files;
pub mod head;
mod input;
mod inspect;
mod model;
#[cfg(feature = "training")]
pub mod mos;
mod open;
pub mod published;
pub mod report;
pub mod score;
#[cfg(feature = "synth")]
pub mod synth;
#[cfg(feature = "training")]
pub mod training;

pub use error::{Error, ErrorKind, Result};
pub use extract::{
    DecodeReport, DecodeSummary, DumpTensor, ExtractOptions, ExtractSummary, Features, Progress, ProgressFn,
    Provenance, SampleFeatures, StageTimings, TensorData, VERSION,
};
pub use head::{LoadedHead, OutputScale};
pub use input::{open_untrusted_file, FrameRate, Input, RawOptions, RawVideo, ReadSeek, Trust};
pub use inspect::{inspect, simd, Inspection, MatmulChoice, Simd, VideoSummary};
pub use model::{probe, Model, ModelOptions, DEFAULT_BATCH_SIZE};
/// Stops an extraction from another thread (every front end's cancel).
pub use relaxvqa_features::CancelToken;
/// The length of the feature vector (35,203).
pub use relaxvqa_features::FEATURE_LEN;
pub use score::{Score, ScoreOptions, Segment};

/// The decoder's resource limits and their defaults (`docs/security.md`).
pub use relaxvqa_video::limits;
/// Silences FFmpeg's own log lines (a front end's one-line errors say the
/// same in its words); `RELAXVQA_LOG=debug` callers may leave it on.
pub use relaxvqa_video::quiet_ffmpeg_log;
pub use relaxvqa_video::Limits;
/// The frame-size limit every front end defaults to (8K UHD).
pub use relaxvqa_video::DEFAULT_MAX_PIXELS;

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
