//! `relaxvqa score`: quality scores of videos (or of saved feature files)
//! from a head. Batches are tolerant (a failed input is recorded, the
//! others go on) and resumable with `--output scores.csv`; `--segments 2s`
//! adds a per-window timeline.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::ScoreArgs;
use anyhow::{bail, Context};
use relaxvqa::batch::{self, ListOptions};
use relaxvqa::files::Identity;
use relaxvqa::head::{convert, parse_scale, scale_label, LoadedHead};
use relaxvqa::score::{parse_duration, score_features, ScoreOptions, Segment};
use relaxvqa::scores::{row_matches, segments_column, unique_names, RunKey, ScoreRow, ScoresCsv};
use relaxvqa::{ExtractOptions, OutputScale};
use serde_json::json;

/// The `--json` schema name and version of `relaxvqa score`.
pub const SCORE_SCHEMA: &str = "relaxvqa.score/1";

/// One input of a run.
struct Item {
    name: String,
    path: PathBuf,
    /// A feature input's vector, read up front (a combined matrix or a
    /// folder gives one item per row), or why it could not be read.
    row: Option<Result<Vec<f64>, String>>,
}

/// What became of one input.
enum Outcome {
    Scored { score: f64, segments: Option<Vec<Segment>>, warnings: Vec<String> },
    Skipped { score: String },
    Failed(String),
}

/// Runs `relaxvqa score`.
pub fn run(a: ScoreArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let window = a
        .segments
        .as_deref()
        .map(parse_duration)
        .transpose()
        .with_context(|| format!("--segments {}", a.segments.as_deref().unwrap_or_default()))?;
    if window.is_some() && !a.features.is_empty() {
        bail!("--segments needs the videos: feature files keep only the whole-video vector");
    }
    let raw = crate::extract::raw_video(&a.raw)?;
    let items = items(&a)?;
    if items.is_empty() {
        bail!("nothing to score: give videos, --list CSV or --features FILE...");
    }
    let head = LoadedHead::load(&a.model).with_context(|| format!("--model {}", a.model))?;
    if let Some(w) = &head.warning {
        eprintln!("relaxvqa: warning: {w}");
    }
    let scale = a.scale.as_deref().map(parse_scale).transpose()?.unwrap_or(head.output_scale());
    convert(head.output_scale(), 0.0, scale)?;
    let identity = |it: &Item| Identity::of_file(&it.path, if it.row.is_some() { "" } else { &a.weights });
    let key = RunKey {
        model: head.name.clone(),
        model_source: head.source.clone(),
        weights: a.weights.clone(),
        scale: scale.as_str().to_owned(),
    };
    let (mut csv, previous) = match &a.output {
        Some(p) => {
            let (c, prev) = ScoresCsv::open(p, a.force, &key)?;
            (Some(c), prev)
        }
        None => (None, Default::default()),
    };
    let mut outcomes: Vec<Option<Outcome>> = items
        .iter()
        .map(|it| match previous.get(&it.name) {
            Some(r) if row_matches(r, &identity(it)) => Some(Outcome::Skipped { score: r.score.clone() }),
            _ => None,
        })
        .collect();
    let todo: Vec<usize> = (0..items.len()).filter(|&i| outcomes[i].is_none()).collect();
    let need_nets = todo.iter().any(|&i| items[i].row.is_none());
    if need_nets {
        for &i in &todo {
            if items[i].row.is_none() && items.len() == 1 {
                relaxvqa::probe(&crate::extract::input(&items[i].path, &a.raw)?)?;
            }
        }
    }
    let model =
        if need_nets { Some(crate::extract::load(&a.weights, threads, a.batch_size, a.max_pixels)?) } else { None };
    let single = items.len() == 1;
    let pb = crate::output::bar(
        if single { 0 } else { todo.len() as u64 },
        if single { "samples" } else { "videos" },
        a.quiet || a.json,
    );
    let sopts = ScoreOptions {
        segments: window,
        scale: Some(scale),
        extract: ExtractOptions {
            per_sample: window.is_some(),
            progress: single.then(|| crate::output::sample_progress(&pb)),
            ..Default::default()
        },
    };
    let score_one = |it: &Item| -> relaxvqa::Result<Outcome> {
        pb.set_message(it.name.clone());
        if let Some(row) = &it.row {
            let f = row.as_ref().map_err(|e| relaxvqa::Error::Invalid(e.clone()))?;
            let score = head.score(f, scale, &it.path.display().to_string())?;
            return Ok(Outcome::Scored { score, segments: None, warnings: vec![] });
        }
        let model = model.as_ref().ok_or_else(|| relaxvqa::Error::Invalid("backbones not loaded".into()))?;
        let mut input = relaxvqa::Input::path(&it.path);
        if let Some(r) = &raw {
            input = input.raw(r.clone());
        }
        let features = model.extract(input, &sopts.extract)?;
        let s = score_features(&head, &features, &sopts)?;
        Ok(Outcome::Scored { score: s.score, segments: s.segments, warnings: s.warnings })
    };
    let mut csv_error = None;
    batch::run_each(
        &todo,
        1,
        |&i| items[i].path.display().to_string(),
        |&i| score_one(&items[i]),
        || false,
        |k, r| {
            let i = todo[k];
            let it = &items[i];
            let o = match r {
                Ok(o) => o,
                Err(e) => {
                    let msg = e.to_string();
                    let path = it.path.display().to_string();
                    let line = if msg.contains(&path) { msg.clone() } else { format!("{path}: {msg}") };
                    pb.suspend(|| eprintln!("relaxvqa: error: {line}"));
                    Outcome::Failed(msg)
                }
            };
            if let Outcome::Scored { warnings, .. } = &o {
                for w in warnings {
                    pb.suspend(|| eprintln!("relaxvqa: warning: {}: {w}", it.path.display()));
                }
            }
            if !single {
                pb.inc(1);
            }
            if let Some(c) = csv.as_mut() {
                if let Err(e) = c.append(&csv_row(it, &o, &key).with_identity(&identity(it))) {
                    csv_error.get_or_insert(e);
                }
            }
            outcomes[i] = Some(o);
        },
    );
    pb.finish_and_clear();
    if let Some(e) = csv_error {
        return Err(e.into());
    }
    let outcomes: Vec<Outcome> =
        outcomes.into_iter().map(|o| o.unwrap_or_else(|| Outcome::Failed("not run".into()))).collect();
    let failed = outcomes.iter().filter(|o| matches!(o, Outcome::Failed(_))).count();
    let skipped = outcomes.iter().filter(|o| matches!(o, Outcome::Skipped { .. })).count();
    if a.json {
        let videos: Vec<_> = items.iter().zip(&outcomes).map(|(it, o)| item_json(it, o, scale)).collect();
        crate::output::print_json(&json!({
            "schema": SCORE_SCHEMA,
            "relaxvqa_version": relaxvqa::VERSION,
            "model": {
                "name": head.name,
                "source": head.source,
                "output_scale": head.output_scale().as_str(),
                "input_width": head.head.input_width(),
            },
            "weights": a.weights,
            "scale": scale.as_str(),
            "segments": window,
            "scored": outcomes.len() - failed - skipped,
            "skipped": skipped,
            "failed": failed,
            "videos": videos,
        }))?;
    } else {
        for (it, o) in items.iter().zip(&outcomes) {
            match o {
                Outcome::Scored { score, segments, .. } => {
                    println!("{}\t{score:.4}\t{}", it.name, scale_label(scale));
                    for s in segments.iter().flatten() {
                        println!("  {:8.2}-{:<8.2} s\t{:.4}", s.start, s.end, s.score);
                    }
                }
                Outcome::Skipped { score } => {
                    println!("{}\t{score}\t{}\t(already in the output)", it.name, scale_label(scale))
                }
                Outcome::Failed(e) => println!("{}\tfailed: {e}", it.name),
            }
        }
    }
    Ok(crate::output::batch_exit(items.len(), failed))
}

fn csv_row(it: &Item, o: &Outcome, key: &RunKey) -> ScoreRow {
    let (score, segments, error) = match o {
        Outcome::Scored { score, segments, .. } => (
            format!("{score}"),
            segments_column(segments.iter().flatten().map(|s| (s.start, s.end, s.score))),
            String::new(),
        ),
        Outcome::Skipped { score } => (score.clone(), String::new(), String::new()),
        Outcome::Failed(e) => (String::new(), String::new(), e.clone()),
    };
    ScoreRow {
        name: it.name.clone(),
        path: it.path.display().to_string(),
        score,
        scale: key.scale.clone(),
        model: key.model.clone(),
        segments,
        error,
        model_source: key.model_source.clone(),
        ..Default::default()
    }
}

fn item_json(it: &Item, o: &Outcome, scale: OutputScale) -> serde_json::Value {
    let base = json!({"name": it.name, "path": it.path, "input": if it.row.is_some() { "features" } else { "video" }});
    let mut v = match o {
        Outcome::Scored { score, segments, warnings } => json!({
            "status": "scored",
            "score": score,
            "scale": scale.as_str(),
            "warnings": warnings,
            "segments": segments,
        }),
        Outcome::Skipped { score } => {
            json!({"status": "skipped", "score": score.parse::<f64>().ok(), "scale": scale.as_str()})
        }
        Outcome::Failed(e) => json!({"status": "failed", "error": e}),
    };
    if let (Some(v), Some(b)) = (v.as_object_mut(), base.as_object()) {
        for (k, x) in b {
            v.insert(k.clone(), x.clone());
        }
    }
    v
}

/// The inputs: videos (files, folders, a list) and feature files, with
/// unique names (file stems; `.features` dropped from feature files).
fn items(a: &ScoreArgs) -> anyhow::Result<Vec<Item>> {
    let list_opts = ListOptions { path_column: a.path_column.clone(), video_dir: None, ext: a.ext.clone() };
    let (rows, _) = batch::collect_rows(a.list.as_deref(), &a.inputs, &list_opts)?;
    type Row = Option<Result<Vec<f64>, String>>;
    let mut inputs: Vec<(PathBuf, Option<String>, Row)> = rows.into_iter().map(|(p, _)| (p, None, None)).collect();
    for p in &a.features {
        match relaxvqa::files::read_feature_rows(p) {
            Ok(f) if f.dim > 0 => {
                for (name, row) in f.names.into_iter().zip(f.x.chunks_exact(f.dim)) {
                    inputs.push((p.clone(), Some(name), Some(Ok(row.to_vec()))));
                }
            }
            Ok(_) => inputs.push((p.clone(), None, Some(Err(format!("{}: no feature rows", p.display()))))),
            Err(e) => inputs.push((p.clone(), None, Some(Err(e.to_string())))),
        }
    }
    let stems: Vec<String> = inputs
        .iter()
        .map(|(path, row_name, row)| {
            let stem = row_name.clone().unwrap_or_else(|| {
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into())
            });
            match (row.is_some(), stem.strip_suffix(".features")) {
                (true, Some(s)) => s.to_owned(),
                _ => stem,
            }
        })
        .collect();
    Ok(unique_names(stems).into_iter().zip(inputs).map(|(name, (path, _, row))| Item { name, path, row }).collect())
}
