//! Training and evaluation of ReLaX-VQA heads (spec section 7): metrics as
//! scipy computes them, the authors' loss and optimiser, the split protocol.

pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod preprocess;
pub mod protocol;
pub mod rng;
pub mod train;

/// Why training could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A tensor has the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        /// Which tensor.
        what: &'static str,
        /// The shape wanted, in words.
        expected: String,
        /// The shape found.
        got: Vec<usize>,
    },
    /// A state dict lacks a tensor the head needs.
    #[error("state dict has no tensor `{0}`")]
    MissingTensor(&'static str),
    /// A batch with no rows.
    #[error("empty batch")]
    EmptyBatch,
    /// BatchNorm in training mode needs at least two rows.
    #[error("training batch of {0} row(s): BatchNorm needs at least 2")]
    BatchTooSmall(usize),
    /// Inconsistent settings or data.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Metrics of a validation or test set failed.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
}
