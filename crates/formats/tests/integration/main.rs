//! The integration tests of `relaxvqa-formats` (`crates/formats`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod robustness;
mod sklearn;
mod torch;
