//! `relaxvqa synth`: Make a learnable synthetic-distortion dataset with FFmpeg.

use std::process::ExitCode;

use clap::Args;

/// `relaxvqa synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {}

/// Runs `relaxvqa synth`.
pub fn run(_a: SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("relaxvqa synth is not available in this build yet")
}
