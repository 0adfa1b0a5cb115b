//! `relaxvqa report`: one self-contained HTML page about a video's quality
//! (see [`relaxvqa::report`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use relaxvqa::head::{parse_scale, scale_label, DEFAULT_HEAD};
use relaxvqa::report::{report, ReportOptions};
use relaxvqa::score::parse_duration;
use relaxvqa::{ExtractOptions, Model, ModelOptions};

use crate::args::RawArgs;

/// `relaxvqa report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The video.
    #[arg(value_name = "VIDEO")]
    pub video: PathBuf,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The head: a zoo name or a head file (as for `relaxvqa score`).
    #[arg(long, default_value = DEFAULT_HEAD, value_name = "NAME|FILE")]
    pub model: String,
    /// Backbone weights (as for `relaxvqa extract`).
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// Report scores on this scale (1-5, 0-100) instead of the head's own.
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
    /// Timeline window length.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub segments: String,
    /// At most this many sampled frames shown (evenly spread).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub max_frames: usize,
    /// Images wider than this are downscaled on the page.
    #[arg(long, default_value_t = 320, value_name = "PIXELS")]
    pub image_width: usize,
    /// Images per network batch (rounded up to a multiple of --threads).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// Refuse frames with more pixels than this (0: no limit).
    #[arg(long, default_value_t = relaxvqa::lower::features::DEFAULT_MAX_PIXELS, value_name = "N")]
    pub max_pixels: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// Runs `relaxvqa report`.
pub fn run(a: ReportArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    relaxvqa::files::check_writable(&a.output)?;
    let window = parse_duration(&a.segments).with_context(|| format!("--segments {}", a.segments))?;
    let scale = a.scale.as_deref().map(parse_scale).transpose()?;
    let input = crate::extract::input(&a.video, &a.raw)?;
    relaxvqa::probe(&input)?;
    let model = Model::load(ModelOptions {
        weights: a.weights.clone(),
        head: Some(a.model.clone()),
        threads,
        batch_size: a.batch_size,
        max_pixels: (a.max_pixels > 0).then_some(a.max_pixels),
    })
    .with_context(|| format!("--model {} --weights {}", a.model, a.weights))?;
    if let Some(w) = model.head().and_then(|h| h.warning.as_ref()) {
        eprintln!("relaxvqa: warning: {w}");
    }
    let pb = crate::output::bar(0, "samples", a.quiet);
    let opts = ReportOptions {
        window,
        max_frames: a.max_frames,
        image_width: a.image_width.max(16),
        scale,
        extract: ExtractOptions { progress: Some(crate::output::sample_progress(&pb)), ..Default::default() },
    };
    let (html, score) = report(&model, input, &opts)?;
    pb.finish_and_clear();
    relaxvqa::files::write_file(&a.output, html.as_bytes())?;
    println!("{}\t{:.4}\t{} -> {}", a.video.display(), score.score, scale_label(score.scale), a.output.display());
    Ok(ExitCode::SUCCESS)
}
