//! Pure image preparation for ReLaX-VQA: typed frame buffers, the residual,
//! patch ranking and fragment mosaics, Farneback optical flow, the flow image,
//! and Pillow-compatible resizing. No FFmpeg, no tensors: plain functions on
//! plain buffers, so every stage is testable alone (spec sections 3 and 4).

pub mod buffer;
pub mod error;
pub mod fragment;
pub mod gray;

pub use buffer::{FlowField, GrayImage, ImageBuffer, RgbImage};
pub use error::ImageError;
pub mod flow;
pub mod resize;
pub mod simd;
