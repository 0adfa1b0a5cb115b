//! Video input for ReLaX-VQA (spec section 1): decoding, RGB conversion
//! bit-exact with the FFmpeg 5.1 command-line tool the authors used, display
//! rotation, and frame sampling.
//!
//! The pipeline runs on [`SampledFrames`], which yields, in order, each
//! sampled frame `n` in `S = { n : n mod k == 0 }` with the RGB of frame
//! `n + 1` when the pair `(n, n + 1)` is in `P`:
//!
//! ```no_run
//! # fn main() -> Result<(), relaxvqa_video::VideoError> {
//! let mut samples = relaxvqa_video::sampled_frames("video.mp4")?;
//! println!("k = {}", samples.sampling().interval());
//! for sample in samples.by_ref() {
//!     let sample = sample?;
//!     // sample.index = i, sample.rgb = frame.{i}.rgb,
//!     // sample.next_rgb = pair.{i}.next_rgb (None for a last frame)
//! }
//! println!("N = {}, |S| = {}, |P| = {}", samples.frames_decoded(), samples.sampled_count(), samples.pair_count());
//! # Ok(()) }
//! ```
//!
//! Frames come from a [`FrameSource`]: [`VideoDecoder`] (FFmpeg, feature
//! `ffmpeg`, on by default) for files, [`IterSource`] for frames made in
//! memory. Only two RGB frames are held at a time; frames that are neither
//! sampled nor successors are decoded but never converted.

#![warn(missing_docs)]

mod decode_report;
mod error;
pub mod limits;
pub mod orient;
pub mod sample;
mod source;
mod stream;

#[cfg(feature = "ffmpeg")]
mod decode;
#[cfg(feature = "ffmpeg")]
mod file;
#[cfg(feature = "ffmpeg")]
pub mod policy;
#[cfg(feature = "ffmpeg")]
mod probe;

pub use decode_report::{DecodeReport, SizeChange};
pub use error::VideoError;
pub use limits::{Limit, Limits, DEFAULT_MAX_PIXELS};
pub use orient::Orientation;
pub use sample::{frame_interval, FrameRate, Sampling};
pub use source::{Frame, FrameSource, IterSource, VideoInfo};
pub use stream::{Sample, SampledFrames};

#[cfg(feature = "ffmpeg")]
pub use decode::{
    open, open_input, open_raw, open_with, quiet_ffmpeg_log, sampled_frames, DecodeOptions, MediaInput, RawVideo,
    ReadSeek, VideoDecoder,
};
#[cfg(feature = "ffmpeg")]
pub use file::open_regular;
#[cfg(feature = "ffmpeg")]
pub use policy::Trust;
#[cfg(feature = "ffmpeg")]
pub use probe::probe;

/// The RGB frame type, re-exported so callers need not depend on
/// `relaxvqa-image` just to name it.
pub use relaxvqa_image::RgbImage;
