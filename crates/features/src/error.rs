//! Errors of feature extraction.

use std::path::PathBuf;

/// The error a network implementation reports, kept whole so callers can
/// look at its cause (a wrong input size, an out-of-memory, ...).
pub type NetworkCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can stop a video's feature extraction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// Decoding failed (the message names the file and the cause).
    #[error(transparent)]
    Video(#[from] relaxvqa_video::VideoError),
    /// An image operation refused its input.
    #[error("{}: frame {frame}: {source}", path.display())]
    Image {
        /// The video.
        path: PathBuf,
        /// The frame number.
        frame: u64,
        /// The cause.
        source: relaxvqa_image::ImageError,
    },
    /// The backbone weights could not be found, downloaded, verified or read.
    #[error(transparent)]
    Weights(#[from] relaxvqa_model::weights::WeightsError),
    /// A network failed.
    #[error("{network}: {source}")]
    Network {
        /// Which network.
        network: &'static str,
        /// The cause, as the network reported it.
        source: NetworkCause,
    },
    /// The video decoded to no frame at all.
    #[error("{}: no frame could be decoded", .0.display())]
    NoFrames(PathBuf),
    /// The frames are larger than the extraction allows
    /// ([`crate::ExtractOptions::max_pixels`]).
    #[error(
        "{}: frames of {width}x{height} ({pixels} pixels) exceed the limit of {max} pixels; \
         raise it (--max-pixels) if the machine has the memory, or downscale the video first",
        path.display(), pixels = u64::from(*width) * u64::from(*height)
    )]
    TooLarge {
        /// The video.
        path: PathBuf,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// The limit in pixels.
        max: u64,
    },
    /// A feature came out infinite or NaN where it must be a number: never
    /// an output.
    #[error("{}: the {block} features are not finite (a network or the input gave inf or NaN)", path.display())]
    NotFinite {
        /// The video.
        path: PathBuf,
        /// The block's name.
        block: &'static str,
    },
    /// The caller cancelled the extraction ([`crate::CancelToken`]).
    #[error("{}: cancelled", .0.display())]
    Cancelled(PathBuf),
    /// Writing an output file failed.
    #[error("writing {}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A pipeline thread died unexpectedly.
    #[error("internal error: the {0} stage stopped unexpectedly")]
    Stage(&'static str),
}

impl FeatureError {
    /// A network error from any error value.
    pub fn network(network: &'static str, source: impl Into<NetworkCause>) -> Self {
        Self::Network { network, source: source.into() }
    }
}
