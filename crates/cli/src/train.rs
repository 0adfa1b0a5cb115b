//! `relaxvqa train`: Train a quality head on features and MOS (the authors' protocol).

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa train`.
#[derive(Args, Debug)]
pub struct TrainArgs {}

/// Runs `relaxvqa train`.
pub fn run(_a: TrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa train is not available in this build yet")
}
