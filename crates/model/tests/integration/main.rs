//! The integration tests of `relaxvqa-model` (`crates/model`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod backbones;
mod head;
mod synthetic;
mod weights;
mod zoo;
