//! `relaxvqa eval`: Evaluate predictions or a head: SRCC, KRCC, PLCC, RMSE.

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {}

/// Runs `relaxvqa eval`.
pub fn run(_a: EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa eval is not available in this build yet")
}
