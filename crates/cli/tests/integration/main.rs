//! The integration tests of `relaxvqa-cli` (`crates/cli`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod bad_inputs;
mod common;
mod extract;
mod models;
mod replicas;
mod report;
mod score;
mod serve;
mod synth;
mod train;
