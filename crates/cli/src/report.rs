//! `relaxvqa report`: Write a self-contained HTML quality report for a video.

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa report`.
#[derive(Args, Debug)]
pub struct ReportArgs {}

/// Runs `relaxvqa report`.
pub fn run(_a: ReportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa report is not available in this build yet")
}
