//! The integration tests of `relaxvqa-image` (`crates/image`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod flow;
mod fragment;
mod resize;
