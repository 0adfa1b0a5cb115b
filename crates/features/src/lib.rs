//! The ReLaX-VQA feature pipeline (spec sections 1-5): a video in, its
//! 35,203-value feature vector out, with every intermediate on request.
//!
//! Stages run as a pipeline of threads: the decoder streams sampled frames,
//! a preparation stage resizes them and builds the pair fragments (flow
//! included), and the networks consume batches of prepared images, so the
//! networks never wait on the decoder for long videos and memory stays
//! bounded by the channel capacities, whatever the video's length.

mod accumulate;
mod backbones;
mod cancel;
mod consume;
mod dump;
mod error;
mod extract;
pub mod layout;
mod observe;
mod options;
mod prepare;

pub use backbones::{Backbones, CpuBackbones, ResNetOutput};
pub use cancel::CancelToken;
pub use dump::{write_safetensors, DumpTensor, TensorData};
pub use error::{FeatureError, NetworkCause};
pub use extract::{extract, extract_observed, extract_path, extract_with, VideoFeatures};
pub use layout::{Block, BLOCKS, FEATURE_LEN};
pub use observe::{Observer, SampleImages};
pub use options::{ExtractOptions, SampleFeatures, StageTimings, LARGE_FRAME_PIXELS};
