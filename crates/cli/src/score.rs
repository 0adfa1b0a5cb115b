//! `relaxvqa score`: Score videos (or saved features) with a quality head.

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {}

/// Runs `relaxvqa score`.
pub fn run(_a: ScoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa score is not available in this build yet")
}
