//! `relaxvqa extract`: one video to a feature file, or a batch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use relaxvqa::batch::{self, Entry, ExtractBatch, ListOptions, Outcome};
use relaxvqa::files::{check_writable, write_features, Identity};
use relaxvqa::{probe, ExtractOptions, Features, Input, Model, ModelOptions, RawVideo};
use serde_json::json;

use crate::args::{Dump, ExtractArgs, RawArgs};

/// Runs `relaxvqa extract`.
pub fn run(a: ExtractArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let batch =
        a.list.is_some() || a.out_dir.is_some() || a.inputs.len() != 1 || a.inputs.first().is_some_and(|p| p.is_dir());
    if batch {
        return run_batch(a, threads);
    }
    let video = a.inputs[0].clone();
    let output = a.output.clone().unwrap_or_else(|| default_output(&video));
    check_writable(&output)?;
    let input = input(&video, &a.raw)?;
    probe(&input)?;
    let model = load(&a.weights, threads, a.batch_size, a.max_pixels)?;
    let pb = crate::output::bar(0, "samples", a.quiet || a.json);
    let opts = ExtractOptions {
        dump: a.dump == Dump::All,
        progress: Some(crate::output::sample_progress(&pb)),
        ..Default::default()
    };
    let out = model.extract(input, &opts)?;
    pb.finish_and_clear();
    write_features(&output, &out, &identity(&video, &a.weights), a.f32)?;
    for w in &out.warnings {
        eprintln!("relaxvqa: warning: {}: {w}", video.display());
    }
    if a.json {
        crate::output::print_json(&summary_json(&video, &output, &out, &a.weights))?;
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

/// The identity recorded in a feature file made from `video`.
fn identity(video: &Path, weights: &str) -> Identity {
    if video.as_os_str() == "-" {
        Identity::of_name("-", weights)
    } else {
        Identity::of_file(video, weights)
    }
}

/// `clip.mp4` -> `clip.features.safetensors` in the current folder.
fn default_output(video: &Path) -> PathBuf {
    let stem = video.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    PathBuf::from(format!("{stem}.features.safetensors"))
}

/// Loads the backbones (and a head) with the command's settings.
pub fn load(weights: &str, threads: Option<usize>, batch_size: usize, max_pixels: u64) -> anyhow::Result<Model> {
    let opts = ModelOptions {
        weights: weights.to_owned(),
        threads,
        batch_size,
        max_pixels: (max_pixels > 0).then_some(max_pixels),
        ..Default::default()
    };
    Model::load(opts).with_context(|| format!("--weights {weights}"))
}

/// The input of a VIDEO argument (`-` is standard input) with the raw flags.
pub fn input(video: &Path, raw: &RawArgs) -> anyhow::Result<Input> {
    let input = if video.as_os_str() == "-" { Input::url("-") } else { Input::path(video) };
    Ok(match raw_video(raw)? {
        Some(r) => input.raw(r),
        None => input,
    })
}

/// The raw-video parameters of the flags.
pub fn raw_video(raw: &RawArgs) -> anyhow::Result<Option<RawVideo>> {
    let Some(size) = &raw.size else { return Ok(None) };
    let (width, height) =
        relaxvqa::parse_size(size).with_context(|| format!("--size {size}: expected WxH, e.g. 1920x1080"))?;
    let fps = raw.fps.as_deref().unwrap_or("25");
    let frame_rate =
        relaxvqa::parse_rate(fps).with_context(|| format!("--fps {fps}: expected N or N/D, e.g. 30000/1001"))?;
    Ok(Some(RawVideo {
        width,
        height,
        pixel_format: raw.pix_fmt.clone().unwrap_or_else(|| "yuv420p".into()),
        frame_rate,
    }))
}

/// The `--json` summary of one video.
fn summary_json(video: &Path, output: &Path, out: &Features, weights: &str) -> serde_json::Value {
    json!({
        "schema": "relaxvqa.extract/1",
        "video": video,
        "output": output,
        "weights": weights,
        "width": out.info.width,
        "height": out.info.height,
        "r_frame_rate": format!("{}/{}", out.info.frame_rate.num, out.info.frame_rate.den),
        "frames": out.frames_decoded,
        "frame_interval": out.frame_interval,
        "sampled_frames": out.sampled_frames,
        "pairs": out.pairs,
        "seconds": out.timings.total,
        "timings": out.timings,
        "warnings": out.warnings,
        "decode": {
            "concealed_errors": out.decode.concealed_errors,
            "ended_early": out.decode.ended_early,
            "partial_frame_dropped": out.decode.partial_frame_dropped,
            "size_changed": out.decode.size_change.is_some(),
        },
        "relaxvqa_version": relaxvqa::VERSION,
    })
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
    let list_opts =
        ListOptions { path_column: a.path_column.clone(), video_dir: a.video_dir.clone(), ext: a.ext.clone() };
    let (rows, extra_columns) = batch::collect_rows(a.list.as_deref(), &a.inputs, &list_opts)?;
    let (entries, duplicates) = batch::entries(rows);
    if entries.is_empty() {
        bail!("no videos to process");
    }
    warn_duplicates(&duplicates);
    let b = ExtractBatch {
        out_dir: out_dir.clone(),
        entries,
        extra_columns,
        force: a.force,
        jobs: a.jobs.max(1),
        as_f32: a.f32,
        raw: raw_video(&a.raw)?,
    };
    b.prepare()?;
    let todo = b.todo(&a.weights);
    let summary = if todo.is_empty() {
        let outcomes = vec![Outcome::Skipped; b.entries.len()];
        let combined = batch::write_reports(&out_dir, &b.entries, &b.extra_columns, &outcomes, &a.weights)?;
        batch::BatchSummary { outcomes, combined }
    } else {
        let model = load(&a.weights, threads, a.batch_size, a.max_pixels)?;
        let pb = crate::output::bar(todo.len() as u64, "videos", a.quiet || a.json);
        let summary = b.run(&model, &ExtractOptions::default(), |e: &Entry, o: Option<&Outcome>| match o {
            None => pb.set_message(e.name.clone()),
            Some(o) => {
                if let Outcome::Failed { error } = o {
                    // Most errors name the file already; name it when not.
                    let path = e.path.display().to_string();
                    let line = if error.contains(&path) { error.clone() } else { format!("{path}: {error}") };
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
        let videos: Vec<_> = b
            .entries
            .iter()
            .zip(&summary.outcomes)
            .map(|(e, o)| match o {
                Outcome::Done { seconds, frames, warnings } => {
                    json!({"name": e.name, "path": e.path, "status": "done", "seconds": seconds, "frames": frames, "warnings": warnings})
                }
                Outcome::Skipped => json!({"name": e.name, "path": e.path, "status": "skipped"}),
                Outcome::Failed { error } => json!({"name": e.name, "path": e.path, "status": "failed", "error": error}),
            })
            .collect();
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
            b.entries.len(),
            out_dir.display()
        );
        if failed > 0 {
            println!("failures listed in {}", out_dir.join("failures.csv").display());
        }
    }
    Ok(crate::output::batch_exit(b.entries.len(), failed))
}
