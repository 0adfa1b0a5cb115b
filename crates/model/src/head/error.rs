//! The one error type of the scoring head.

use std::path::PathBuf;

/// Everything that can go wrong building a head or scoring with it.
///
/// The common user mistake is pairing files that do not belong together (a
/// head trained on one feature width with a scaler of another, a backbone
/// checkpoint given as a head); those errors name both sides.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// A head weight the MLP needs is absent from the state dict.
    #[error("head weights lack {name} (found: {found})")]
    MissingTensor {
        /// The state-dict name (after removing `module.`).
        name: String,
        /// The names present, abbreviated.
        found: String,
    },

    /// State-dict entries the head does not have (a strict load, as PyTorch's
    /// `load_state_dict` default): usually a checkpoint of another network.
    #[error("head weights hold tensors the ReLaX-VQA head does not have: {names}")]
    UnexpectedTensors {
        /// The names, abbreviated.
        names: String,
    },

    /// A head weight of the wrong shape.
    #[error("head weight {name} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The state-dict name.
        name: String,
        /// The shape the MLP needs, given the input width of `fc1.weight`.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },

    /// Two parts that must agree on the feature width do not.
    #[error("the head takes {head} features but the {what} has {found}")]
    WidthMismatch {
        /// Which part disagrees (`imputer`, `scaler`, `feature vector`, ...).
        what: &'static str,
        /// The head's input width (`fc1.weight` columns).
        head: usize,
        /// The other part's width.
        found: usize,
    },

    /// A feature that is still not finite after imputation and scaling
    /// (a NaN with no imputer, an infinity): the score would be NaN.
    #[error("feature {index} is {value} after preprocessing{hint}")]
    NonFiniteFeature {
        /// Column index.
        index: usize,
        /// The value.
        value: f64,
        /// A hint on the cause.
        hint: &'static str,
    },

    /// A value that is not a valid output scale name.
    #[error("unknown output scale {0:?} (expected mos_1_5, mos_0_100 or raw)")]
    UnknownOutputScale(String),

    /// A published file (`.pth`, joblib pickle) could not be read.
    #[error(transparent)]
    Format(#[from] relaxvqa_formats::FormatError),

    /// Writing a head file failed (the message names the file and the cause).
    #[error(transparent)]
    Write(std::io::Error),

    /// A head file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A head file that is not valid safetensors.
    #[error("{path}: invalid safetensors: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The safetensors crate's diagnosis.
        source: safetensors::SafeTensorError,
    },

    /// A safetensors file that is not a head file of a version this program reads.
    #[error("{path}: not a usable relaxvqa head file: {reason}")]
    BadHeadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The tensor library failed.
    #[error("tensor computation: {0}")]
    Candle(#[from] candle_core::Error),
}
