//! The integration tests of `relaxvqa-features` (`crates/features`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod failures;
mod pipeline;
