//! `relaxvqa models`: List, fetch and convert the published quality heads.

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {}

/// Runs `relaxvqa models`.
pub fn run(_a: ModelsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa models is not available in this build yet")
}
