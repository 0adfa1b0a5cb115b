//! `relaxvqa report`: one self-contained HTML page about a video's quality
//! (see [`relaxvqa::report`]).

use std::process::ExitCode;

use crate::args::ReportArgs;
use anyhow::Context;
use relaxvqa::head::{parse_scale, scale_label};
use relaxvqa::report::{report, ReportOptions};
use relaxvqa::score::parse_duration;
use relaxvqa::ExtractOptions;

/// Runs `relaxvqa report`.
pub fn run(a: ReportArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    relaxvqa::files::check_writable(&a.output)?;
    let window = parse_duration(&a.segments).with_context(|| format!("--segments {}", a.segments))?;
    let scale = a.head.scale.as_deref().map(parse_scale).transpose()?;
    relaxvqa::probe(crate::extract::input(&a.video, &a.raw)?, &a.backbones.limits())?;
    let input = crate::extract::input(&a.video, &a.raw)?;
    let model = a.backbones.load(Some(&a.head.model), threads)?;
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
        model_source: None,
    };
    let (html, score) = report(&model, input, &opts)?;
    pb.finish_and_clear();
    relaxvqa::files::write_file(&a.output, html.as_bytes())?;
    println!("{}\t{:.4}\t{} -> {}", a.video.display(), score.score, scale_label(score.scale), a.output.display());
    Ok(ExitCode::SUCCESS)
}
