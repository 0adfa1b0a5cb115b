//! Errors of feature extraction.

use std::path::PathBuf;

/// What can stop a video's feature extraction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// Decoding failed (the message names the file and the cause).
    #[error(transparent)]
    Video(#[from] relaxvqa_video::VideoError),
    /// An image operation refused its input.
    #[error("{path}: frame {frame}: {source}")]
    Image {
        /// The video.
        path: PathBuf,
        /// The frame number.
        frame: u64,
        /// The cause.
        source: relaxvqa_image::ImageError,
    },
    /// A network failed.
    #[error("{network}: {message}")]
    Network {
        /// Which network.
        network: &'static str,
        /// The cause.
        message: String,
    },
    /// The video decoded to no frame at all.
    #[error("{0}: no frame could be decoded")]
    NoFrames(PathBuf),
    /// Writing an output file failed.
    #[error("writing {path}: {message}")]
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
