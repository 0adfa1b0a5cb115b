//! The integration tests of `relaxvqa-video` (`crates/video`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod common;
mod damage;
mod decode;
mod inputs;
mod parity;
mod robustness;
mod untrusted;
