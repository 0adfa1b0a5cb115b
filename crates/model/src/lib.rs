//! The networks and the head of ReLaX-VQA: weights (real, local or
//! synthetic), ResNet-50 layer stacking and DINO ViT-B/16 pooling (on the
//! host, plain buffers and `gemm` products), and the imputer + scaler + MLP
//! head that maps a feature vector to a score (candle, which also trains
//! it).

pub mod backbone;
pub mod head;
pub mod sorted_safetensors;
pub mod synthetic;
pub mod weights;
pub mod zoo;

pub use weights::state_dict::{HostTensor, StateDict};

/// The workspace's atomic-write helper, re-exported for crates that reach
/// the readers through this one.
pub use relaxvqa_formats::atomic;
