//! Dense optical flow (Farneback, as OpenCV computes it) and the flow image (spec section 4, steps 5-6).
//!
//! Pure Rust: [`farneback_flow`] follows OpenCV 4.9's CPU
//! `calcOpticalFlowFarneback` step by step (pyramid, polynomial expansion,
//! matrix update, box-filter flow update) in OpenCV's precision (end-point
//! error against OpenCV 4.9 about 1e-5 pixel), and [`flow_to_rgb`] replays
//! the authors' `cartToPolar` / `normalize` / HSV code operation by operation
//! (byte-identical to the reference flow images but for 2 bytes, see
//! `tests/integration/flow.rs`).

mod farneback;
mod flow_image;
mod fmath;
mod plane;
#[cfg(test)]
mod simd_tests;

pub use farneback::{farneback_flow, farneback_flow_with, FarnebackParams};
pub use flow_image::{cart_to_polar, flow_to_rgb, hsv_to_rgb_u8, HsvRounding};
