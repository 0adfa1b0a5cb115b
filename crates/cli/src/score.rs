//! `relaxvqa score`: quality scores of videos (or of saved feature files)
//! from a head, run by the library's [`ScoreBatch`]: tolerant, resumable
//! with `--output scores.csv`, `--segments 2s` for a timeline.

use std::process::ExitCode;

use crate::args::ScoreArgs;
use anyhow::Context;
use relaxvqa::batch::{ScoreBatch, ScoreBatchOptions, ScoreOutcome};
use relaxvqa::head::scale_label;
use relaxvqa::score::parse_duration;
use relaxvqa::ExtractOptions;
use serde_json::json;

/// The `--json` schema name and version of `relaxvqa score`.
pub const SCORE_SCHEMA: &str = "relaxvqa.score/1";

/// Runs `relaxvqa score`.
pub fn run(a: ScoreArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let segments = a
        .segments
        .as_deref()
        .map(parse_duration)
        .transpose()
        .with_context(|| format!("--segments {}", a.segments.as_deref().unwrap_or_default()))?;
    let batch = ScoreBatch::plan(ScoreBatchOptions {
        videos: a.videos.videos(&a.inputs),
        features: a.features.clone(),
        head: a.head.model.clone(),
        weights: a.backbones.weights.clone(),
        scale: a.head.scale.clone(),
        segments,
        raw: a.raw.options(),
        output: a.output.clone(),
        force: a.force,
    })
    .with_context(|| format!("--model {}", a.head.model))?;
    if let Some(w) = &batch.head().warning {
        eprintln!("relaxvqa: warning: {w}");
    }
    let single = batch.items().len() == 1;
    let model = if batch.needs_backbones() {
        if single {
            relaxvqa::probe(batch.task(0)?.input()?, &a.backbones.limits())?;
        }
        Some(a.backbones.load(None, threads)?)
    } else {
        None
    };
    let todo = batch.todo().len() as u64;
    let pb =
        crate::output::bar(if single { 0 } else { todo }, if single { "samples" } else { "videos" }, a.quiet || a.json);
    let opts = ExtractOptions { progress: single.then(|| crate::output::sample_progress(&pb)), ..Default::default() };
    let outcomes = batch.run(model.as_ref(), &opts, |it, o| match o {
        None => pb.set_message(it.name.clone()),
        Some(o) => {
            let path = it.path.display().to_string();
            match o {
                ScoreOutcome::Failed { error } => {
                    pb.suspend(|| eprintln!("relaxvqa: error: {}", crate::output::naming(&path, error)))
                }
                ScoreOutcome::Scored { score } => {
                    for w in &score.warnings {
                        pb.suspend(|| eprintln!("relaxvqa: warning: {path}: {w}"));
                    }
                }
                ScoreOutcome::Skipped { .. } => {}
            }
            if !single {
                pb.inc(1);
            }
        }
    })?;
    pb.finish_and_clear();
    let count = |f: fn(&ScoreOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let failed = count(|o| matches!(o, ScoreOutcome::Failed { .. }));
    let skipped = count(|o| matches!(o, ScoreOutcome::Skipped { .. }));
    let label = scale_label(batch.scale());
    if a.json {
        let head = batch.head();
        crate::output::print_json(&json!({
            "schema": SCORE_SCHEMA,
            "relaxvqa_version": relaxvqa::VERSION,
            "model": {
                "name": head.name,
                "source": head.source,
                "output_scale": head.output_scale().as_str(),
                "input_width": head.head.input_width(),
            },
            "weights": a.backbones.weights,
            "scale": batch.scale().as_str(),
            "segments": batch.segments(),
            "scored": outcomes.len() - failed - skipped,
            "skipped": skipped,
            "failed": failed,
            "videos": batch.results(&outcomes),
        }))?;
    } else {
        for (it, o) in batch.items().iter().zip(&outcomes) {
            match o {
                ScoreOutcome::Scored { score } => {
                    println!("{}\t{:.4}\t{label}", it.name, score.score);
                    for s in score.segments.iter().flatten() {
                        println!("  {:8.2}-{:<8.2} s\t{:.4}", s.start, s.end, s.score);
                    }
                }
                ScoreOutcome::Skipped { score, .. } => {
                    println!("{}\t{score}\t{label}\t(already in the output)", it.name)
                }
                ScoreOutcome::Failed { error } => println!("{}\tfailed: {error}", it.name),
            }
        }
    }
    Ok(crate::output::batch_exit(outcomes.len(), failed))
}
