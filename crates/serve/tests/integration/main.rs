//! The integration tests of `relaxvqa-serve` (`crates/serve`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod api;
mod common;
mod postgres_store;
mod untrusted;
