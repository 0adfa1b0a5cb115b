//! The library's one error type. Every message is one line that names the
//! input and says what is wrong; [`Error::kind`] sorts errors into the few
//! classes a front end maps to its own (an exit code, a Python exception, an
//! HTTP status).

use std::path::{Path, PathBuf};

use relaxvqa_features::FeatureError;
use relaxvqa_model::head::HeadError;
use relaxvqa_model::weights::WeightsError;
use relaxvqa_model::zoo::ZooError;
use relaxvqa_video::VideoError;

/// Why a call of this library failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The video could not be opened or decoded (the message names it).
    #[error(transparent)]
    Video(Box<VideoError>),
    /// Feature extraction stopped (a network, a frame too large, a
    /// non-finite feature, cancellation, ...).
    #[error(transparent)]
    Features(Box<FeatureError>),
    /// The backbone weights could not be found, downloaded or read.
    #[error(transparent)]
    Weights(Box<WeightsError>),
    /// A quality head could not be read, or failed.
    #[error("{context}: {source}")]
    Head {
        /// What was being done (the head's name or file).
        context: String,
        /// The cause.
        source: Box<HeadError>,
    },
    /// A published head could not be fetched.
    #[error("{context}: {source}")]
    Zoo {
        /// The head's name.
        context: String,
        /// The cause.
        source: Box<ZooError>,
    },
    /// Training or evaluation failed.
    #[error("{context}: {source}")]
    Train {
        /// What was being done.
        context: String,
        /// The cause.
        source: Box<relaxvqa_train::TrainError>,
    },
    /// An argument or an input file (a list, a feature file, a MOS table) is
    /// not what it must be; the message says what to do.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (the real target, never a temporary name).
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A score came out infinite or NaN: never reported as a result.
    #[error("{0}: the score is not a finite number (the features are out of the range the head was trained on)")]
    NotFinite(String),
    /// The caller cancelled the work.
    #[error("cancelled")]
    Cancelled,
    /// A worker of a batch panicked on one input (a bug); the batch went on.
    #[error("{0}: internal error (a worker panicked); please report it")]
    Panicked(String),
}

/// The classes of [`Error`], for front ends that map them (exit codes,
/// Python exception classes, HTTP statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The video itself: missing, not media, damaged beyond use, too large.
    Decode,
    /// An untrusted input refused by the input policy before it was read as
    /// media: a playlist or manifest, a container not on the accepted list,
    /// a URL ([`crate::Trust`]).
    Refused,
    /// The video goes over one of the decoder's [`crate::Limits`] (frame
    /// size, streams, duration, sampled frames): the message names the
    /// limit and the option that raises it.
    Limit,
    /// Backbone weights.
    Weights,
    /// The quality head (zoo, head file, scoring).
    Model,
    /// Arguments and input files other than videos.
    Input,
    /// Reading or writing files.
    Io,
    /// Cancelled by the caller.
    Cancelled,
    /// A bug.
    Internal,
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Video(v) if matches!(v.as_ref(), VideoError::Refused { .. }) => ErrorKind::Refused,
            Error::Video(v) if matches!(v.as_ref(), VideoError::OverLimit { .. }) => ErrorKind::Limit,
            Error::Video(_) => ErrorKind::Decode,
            Error::Features(f) => match f.as_ref() {
                FeatureError::Video(VideoError::Refused { .. }) => ErrorKind::Refused,
                FeatureError::Video(VideoError::OverLimit { .. }) | FeatureError::TooLarge { .. } => ErrorKind::Limit,
                FeatureError::Video(_) | FeatureError::NoFrames(_) | FeatureError::Image { .. } => ErrorKind::Decode,
                FeatureError::Weights(_) => ErrorKind::Weights,
                FeatureError::Cancelled(_) => ErrorKind::Cancelled,
                FeatureError::Write { .. } => ErrorKind::Io,
                FeatureError::NotFinite { .. } | FeatureError::Network { .. } => ErrorKind::Model,
                _ => ErrorKind::Internal,
            },
            Error::Weights(_) => ErrorKind::Weights,
            Error::Head { .. } | Error::Zoo { .. } | Error::NotFinite(_) => ErrorKind::Model,
            Error::Invalid(_) | Error::Train { .. } => ErrorKind::Input,
            Error::Io { .. } => ErrorKind::Io,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Panicked(_) => ErrorKind::Internal,
        }
    }

    /// An [`Error::Invalid`] with this message.
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// An [`Error::Io`] on `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Error::Io { path: path.to_owned(), source }
    }

    /// An [`Error::Train`] with its context.
    #[cfg(feature = "training")]
    pub(crate) fn train(context: impl Into<String>) -> impl FnOnce(relaxvqa_train::TrainError) -> Self {
        let context = context.into();
        move |source| Error::Train { context, source: Box::new(source) }
    }

    /// An [`Error::Head`] with its context.
    pub(crate) fn head(context: impl Into<String>) -> impl FnOnce(HeadError) -> Self {
        let context = context.into();
        move |source| Error::Head { context, source: Box::new(source) }
    }
}

impl From<FeatureError> for Error {
    fn from(e: FeatureError) -> Self {
        match e {
            FeatureError::Video(v) => Error::Video(Box::new(v)),
            FeatureError::Weights(w) => Error::Weights(Box::new(w)),
            FeatureError::Cancelled(_) => Error::Cancelled,
            other => Error::Features(Box::new(other)),
        }
    }
}

impl From<VideoError> for Error {
    fn from(e: VideoError) -> Self {
        Error::Video(Box::new(e))
    }
}

impl From<WeightsError> for Error {
    fn from(e: WeightsError) -> Self {
        Error::Weights(Box::new(e))
    }
}

/// The result type of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
