//! `relaxvqa extract`: one video to a feature file, or a batch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use relaxvqa::batch::{Entry, ExtractBatch, Outcome};
use relaxvqa::{probe, ExtractOptions, Input};
use serde_json::json;

use crate::args::{Dump, ExtractArgs, RawArgs};

/// Runs `relaxvqa extract`.
pub fn run(a: ExtractArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let batch = a.videos.list.is_some()
        || a.out_dir.is_some()
        || a.inputs.len() != 1
        || a.inputs.first().is_some_and(|p| p.is_dir());
    if batch {
        return run_batch(a, threads);
    }
    let video = a.inputs[0].clone();
    let output = a.output.clone().unwrap_or_else(|| default_output(&video));
    relaxvqa::files::check_writable(&output)?;
    probe(input(&video, &a.raw)?, &a.backbones.limits())?;
    let input = input(&video, &a.raw)?;
    let model = a.backbones.load(None, threads)?;
    let pb = crate::output::bar(0, "samples", a.quiet || a.json);
    let opts = ExtractOptions {
        dump: a.dump == Dump::All,
        progress: Some(crate::output::sample_progress(&pb)),
        ..Default::default()
    };
    let out = model.extract_to_file(input, &output, &opts, a.f32)?;
    pb.finish_and_clear();
    for w in &out.warnings {
        eprintln!("relaxvqa: warning: {}: {w}", video.display());
    }
    if a.json {
        crate::output::print_json(&out.summary(Some(&output)))?;
    } else {
        println!(
            "{}: {} frames, k = {}, {} sampled, {} pairs, {:.2} s -> {}",
            video.display(),
            out.frames_decoded,
            out.frame_interval,
            out.sampled_frames,
            out.pairs,
            out.timings.total,
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `clip.mp4` -> `clip.features.safetensors` in the current folder.
fn default_output(video: &Path) -> PathBuf {
    let stem = video.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    PathBuf::from(format!("{stem}.features.safetensors"))
}

/// The input of a VIDEO argument (`-` is standard input) with the raw flags.
pub fn input(video: &Path, raw: &RawArgs) -> anyhow::Result<Input> {
    let input = if video.as_os_str() == "-" { Input::url("-") } else { Input::path(video) };
    Ok(raw.options().apply(input)?)
}

/// Says once which list rows repeat a video already listed.
pub fn warn_duplicates(duplicates: &[PathBuf]) {
    if let Some(first) = duplicates.first() {
        eprintln!(
            "relaxvqa: warning: {} row(s) repeat a video already listed and are done once ({}{})",
            duplicates.len(),
            first.display(),
            if duplicates.len() > 1 { ", ..." } else { "" }
        );
    }
}

/// Runs batch extraction.
fn run_batch(a: ExtractArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    if a.dump == Dump::All {
        bail!("--dump all is for one video at a time (it keeps every intermediate); drop it in batch mode");
    }
    let out_dir = a.out_dir.clone().context("batch mode needs --out-dir DIR")?;
    let (b, duplicates) = ExtractBatch::plan(&a.videos.videos(&a.inputs), &out_dir)?;
    warn_duplicates(&duplicates);
    let b = b.with_force(a.force).with_jobs(a.jobs).with_f32(a.f32).with_raw(a.raw.options());
    b.prepare()?;
    let todo = b.todo(&a.backbones.weights);
    let summary = if todo.is_empty() {
        b.finish_unchanged(&a.backbones.weights)?
    } else {
        let model = a.backbones.load(None, threads)?;
        let pb = crate::output::bar(todo.len() as u64, "videos", a.quiet || a.json);
        let summary = b.run(&model, &ExtractOptions::default(), |e: &Entry, o: Option<&Outcome>| match o {
            None => pb.set_message(e.name.clone()),
            Some(o) => {
                if let Outcome::Failed { error } = o {
                    let line = crate::output::naming(&e.path.display().to_string(), error);
                    pb.suspend(|| eprintln!("relaxvqa: error: {line}"));
                }
                pb.inc(1);
            }
        })?;
        pb.finish_and_clear();
        summary
    };
    let (done, skipped, failed) = (summary.done(), summary.skipped(), summary.failed());
    if a.json {
        let videos = b.results(&summary.outcomes);
        crate::output::print_json(&json!({
            "schema": "relaxvqa.extract-batch/1",
            "out_dir": out_dir,
            "done": done, "skipped": skipped, "failed": failed,
            "combined": summary.combined,
            "videos": videos,
        }))?;
    } else {
        println!(
            "{} videos: {done} extracted, {skipped} already done, {failed} failed -> {}",
            b.entries().len(),
            out_dir.display()
        );
        if failed > 0 {
            println!("failures listed in {}", out_dir.join("failures.csv").display());
        }
    }
    Ok(crate::output::batch_exit(b.entries().len(), failed))
}
