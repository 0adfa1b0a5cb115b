//! The integration tests of `relaxvqa-train` (`crates/train`), one binary with a
//! module a subject (as ripgrep's tests are): one link instead of one a file.

mod head_parity;
mod loss_optim;
mod metrics;
mod preprocess;
mod train;
