//! Readers for the file formats the authors published: pickles, PyTorch `.pth` zip checkpoints, joblib scikit-learn objects.
//!
//! ReLaX-VQA's heads are `torch.save` state dicts and its feature scalers are
//! joblib pickles of scikit-learn objects. Reading them natively means no
//! Python at run time and no conversion step a user must run first.
//!
//! - [`pickle`]: a safe pickle reader (an inert value tree, never code execution);
//! - [`torch`]: `.pth` zip checkpoints to named `f32` tensors;
//! - [`joblib`]: joblib pickles, `SimpleImputer` and `MinMaxScaler`;
//! - [`numpy`]: NumPy arrays inside pickles;
//! - [`atomic`]: the one atomic-write helper of the workspace (temporary
//!   file beside the target, synced, renamed into place).
//!
//! Malformed input of any kind is a [`FormatError`], never a panic.

#![warn(missing_docs)]

pub mod atomic;
mod error;
pub mod joblib;
mod ndarray;
pub mod numpy;
pub mod pickle;
pub mod torch;

pub use error::FormatError;
pub use joblib::{MinMaxScaler, SimpleImputer};
pub use torch::{TorchDtype, TorchTensor};
