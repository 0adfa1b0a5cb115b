//! The networks and the head of ReLaX-VQA in candle: weights (real, local or
//! synthetic), ResNet-50 layer stacking, DINO ViT-B/16 pooling, and the
//! imputer + scaler + MLP head that maps a feature vector to a score.

pub mod backbone;
pub mod head;
pub mod synthetic;
pub mod weights;
pub mod zoo;

pub use weights::state_dict::{HostTensor, StateDict};

/// The workspace's atomic-write helper, re-exported for crates that reach
/// the readers through this one.
pub use relaxvqa_formats::atomic;
