//! The integration tests of `relaxvqa-relaxvqa` (`crates/relaxvqa`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod library;
mod modules;
mod public_api;
mod score_batch;
mod simd_paths;
