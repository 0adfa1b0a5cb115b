//! `relaxvqa score`: quality scores of videos (or of saved feature files)
//! from a head: the authors' published heads through the zoo, or a head file
//! of ours. Batches are tolerant (a failed video is recorded, the others go
//! on) and resumable with `--output scores.csv`; `--segments 2s` adds a
//! per-window timeline, because users want to see where quality drops.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use candle_core::Device;
use clap::Args;
use relaxvqa_features::layout::{Over, BLOCKS};
use relaxvqa_features::{ExtractOptions, SampleFeatures, VideoFeatures};
use relaxvqa_model::head::{load_head_file, Head, OutputScale};
use relaxvqa_model::zoo::{self, Zoo};
use serde_json::json;

use crate::args::RawArgs;

/// The `--json` schema name and version of `relaxvqa score`.
pub const SCORE_SCHEMA: &str = "relaxvqa.score/1";

/// `relaxvqa score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Video file(s), or folders of videos.
    #[arg(value_name = "VIDEO")]
    pub inputs: Vec<PathBuf>,
    /// Saved features to score without decoding: per-video files from
    /// `relaxvqa extract`, the combined matrix of `extract --list`
    /// (`features.safetensors`, one score per row), or a folder of either.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub features: Vec<PathBuf>,
    /// A CSV with a column of video paths (relative to the CSV or absolute).
    #[arg(long, value_name = "CSV")]
    pub list: Option<PathBuf>,
    /// The CSV column holding the paths (default: the first of path, file,
    /// filename, video, vid, name).
    #[arg(long, value_name = "NAME")]
    pub path_column: Option<String>,
    /// File extension appended to list entries that have none (e.g. mp4).
    #[arg(long, value_name = "EXT")]
    pub ext: Option<String>,
    /// The head: a zoo name (see `relaxvqa models list`; fetched and cached)
    /// or a head file (.safetensors, from `models convert` or training).
    #[arg(long, default_value = zoo::DEFAULT_HEAD, value_name = "NAME|FILE")]
    pub model: String,
    /// Backbone weights: hub (default), synthetic (tests only), a folder or
    /// file, or resnet50=SRC,vit=SRC.
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// Report scores on this scale (1-5, 0-100) instead of the head's own.
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
    /// Also score windows of this length (e.g. 2s, 500ms, 1m): sampled
    /// frames grouped by time, mean-pooled, scored with the same head.
    #[arg(long, value_name = "DURATION")]
    pub segments: Option<String>,
    /// Write the scores to this CSV too; videos already in it are skipped.
    #[arg(short, long, value_name = "CSV")]
    pub output: Option<PathBuf>,
    /// Score again videos already in the --output CSV.
    #[arg(long)]
    pub force: bool,
    /// One JSON document on stdout (schema relaxvqa.score/1).
    #[arg(long)]
    pub json: bool,
    /// Images per network batch (rounded up to a multiple of --threads).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// A head ready to score, and what to say about it.
pub struct LoadedModel {
    /// The head.
    pub head: Head,
    /// The zoo name, or the file name.
    pub name: String,
    /// Where it came from (the authors' file and blob id, or the head file).
    pub source: String,
}

/// Loads `--model`: an existing file is one of our head files; anything
/// else must be a zoo name (fetched into the cache when missing).
pub fn load_model(spec: &str) -> anyhow::Result<LoadedModel> {
    let path = Path::new(spec);
    if path.is_file() || spec.ends_with(".safetensors") {
        let hf = load_head_file(path).with_context(|| format!("--model {spec}"))?;
        let source = if hf.source.is_empty() { path.display().to_string() } else { hf.source.clone() };
        let head = hf.into_head(&Device::Cpu).with_context(|| format!("--model {spec}"))?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| spec.to_owned());
        return Ok(LoadedModel { head, name, source });
    }
    let Some(h) = zoo::find_head(spec) else {
        bail!(
            "--model {spec}: neither a head file nor a published head (known: {}; see `relaxvqa models list`)",
            zoo::head_names().join(", ")
        );
    };
    if let Some(w) = h.warning {
        eprintln!("relaxvqa: warning: {}: {w}", h.name);
    }
    let head = Zoo::from_env().load_head(h, &Device::Cpu).with_context(|| format!("--model {}", h.name))?;
    Ok(LoadedModel { head, name: h.name.to_owned(), source: zoo::source(h) })
}

/// Parses `--scale`.
pub fn parse_scale(s: &str) -> anyhow::Result<OutputScale> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1-5" | "mos_1_5" | "1_5" => Ok(OutputScale::Mos1To5),
        "0-100" | "mos_0_100" | "0_100" => Ok(OutputScale::Mos0To100),
        "raw" => Ok(OutputScale::Raw),
        _ => bail!("--scale {s}: expected 1-5, 0-100 or raw"),
    }
}

/// A human name for a scale.
pub fn scale_label(s: OutputScale) -> &'static str {
    match s {
        OutputScale::Mos1To5 => "MOS 1-5",
        OutputScale::Mos0To100 => "MOS 0-100",
        _ => "raw",
    }
}

/// Parses a window length (`2s`, `2`, `500ms`, `1m`, `1.5s`) into seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<f64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("min") {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .with_context(|| format!("--segments {s}: expected a positive duration such as 2s, 500ms or 1m"))?;
    Ok(v * mult)
}

/// The score of one time window.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds (the window's nominal end, or the video's end).
    pub end: f64,
    /// Sampled frames in the window.
    pub frames: usize,
    /// Of which have a pair.
    pub pairs: usize,
    /// The score, on the reported scale.
    pub score: f64,
}

/// Mean-pools the per-sample rows by window: frame blocks over every sample
/// of the window, pair blocks over the samples that have a pair (NaN when
/// none has, for the imputer to fill). Returns (window index, frames, pairs,
/// pooled row) in time order.
pub fn pool_windows(samples: &[SampleFeatures], fps: f64, window: f64) -> Vec<(u64, usize, usize, Vec<f64>)> {
    let mut groups: BTreeMap<u64, Vec<&SampleFeatures>> = BTreeMap::new();
    for s in samples {
        let w = ((s.frame_number as f64 / fps) / window).floor().max(0.0) as u64;
        groups.entry(w).or_default().push(s);
    }
    let pair_probe = BLOCKS.iter().find(|b| b.over == Over::Pairs).map(|b| b.offset).unwrap_or(0);
    groups
        .into_iter()
        .map(|(w, rows)| {
            let len = rows.first().map(|r| r.values.len()).unwrap_or(0);
            let mut pooled = vec![f64::NAN; len];
            let paired: Vec<&&SampleFeatures> =
                rows.iter().filter(|r| r.values.get(pair_probe).is_some_and(|v| !v.is_nan())).collect();
            for b in BLOCKS {
                let over: Vec<&SampleFeatures> = match b.over {
                    Over::Frames => rows.clone(),
                    Over::Pairs => paired.iter().map(|r| **r).collect(),
                };
                if over.is_empty() {
                    continue;
                }
                let end = (b.offset + b.len).min(len);
                for (i, slot) in pooled.iter_mut().enumerate().take(end).skip(b.offset) {
                    let sum: f64 = over.iter().map(|r| f64::from(r.values[i])).sum();
                    *slot = sum / over.len() as f64;
                }
            }
            (w, rows.len(), paired.len(), pooled)
        })
        .collect()
}

/// Scores each window of `out`'s per-sample rows with `head`, converted to
/// `scale`.
pub fn segment_scores(
    head: &Head,
    out: &VideoFeatures,
    window: f64,
    scale: OutputScale,
) -> anyhow::Result<Vec<Segment>> {
    let samples = out.per_sample.as_deref().context("per-sample features were not kept")?;
    let fps = out.info.frame_rate.num as f64 / out.info.frame_rate.den.max(1) as f64;
    if !(fps.is_finite() && fps > 0.0) {
        bail!("the video reports no frame rate; cannot place frames in time");
    }
    let duration = out.frames_decoded as f64 / fps;
    let pooled = pool_windows(samples, fps, window);
    let rows: Vec<&[f64]> = pooled.iter().map(|p| p.3.as_slice()).collect();
    let scores = head.score_batch(&rows)?;
    pooled
        .iter()
        .zip(scores)
        .map(|((w, frames, pairs, _), s)| {
            let start = *w as f64 * window;
            Ok(Segment {
                start,
                end: ((*w + 1) as f64 * window).min(duration.max(start)),
                frames: *frames,
                pairs: *pairs,
                score: convert(head.output_scale(), s, scale)?,
            })
        })
        .collect()
}

/// Converts a raw head output to the reported scale.
pub fn convert(from: OutputScale, y: f64, to: OutputScale) -> anyhow::Result<f64> {
    from.convert(y, to)
        .with_context(|| format!("cannot convert a {} head's scores to {}", scale_label(from), scale_label(to)))
}

/// One input of a run.
#[derive(Clone, Debug)]
struct Item {
    name: String,
    path: PathBuf,
    is_features: bool,
    /// A feature input's vector, read up front (a combined matrix or a
    /// folder gives one item per row), or why it could not be read.
    row: Option<Result<Vec<f64>, String>>,
}

/// What became of one input.
#[derive(Clone, Debug)]
enum Outcome {
    Scored { score: f64, segments: Option<Vec<Segment>>, warnings: Vec<String> },
    Skipped { score: String },
    Failed(String),
}

/// Runs `relaxvqa score`.
pub fn run(a: ScoreArgs) -> anyhow::Result<ExitCode> {
    let window = a.segments.as_deref().map(parse_duration).transpose()?;
    if window.is_some() && !a.features.is_empty() {
        bail!("--segments needs the videos: feature files keep only the whole-video vector");
    }
    let items = items(&a)?;
    if items.is_empty() {
        bail!("nothing to score: give videos, --list CSV or --features FILE...");
    }
    let model = load_model(&a.model)?;
    let scale = a.scale.as_deref().map(parse_scale).transpose()?.unwrap_or(model.head.output_scale());
    convert(model.head.output_scale(), 0.0, scale)?;
    let previous = match &a.output {
        Some(p) if p.exists() && !a.force => read_previous(p)?,
        _ => HashMap::new(),
    };
    let mut outcomes: Vec<Outcome> = items
        .iter()
        .map(|it| match previous.get(&it.name) {
            Some(s) => Outcome::Skipped { score: s.clone() },
            None => Outcome::Failed(String::new()),
        })
        .collect();
    let todo: Vec<usize> = (0..items.len()).filter(|&i| !matches!(outcomes[i], Outcome::Skipped { .. })).collect();
    let need_nets = todo.iter().any(|&i| !items[i].is_features);
    let nets = if need_nets { Some(crate::extract::load_backbones(&a.weights)?) } else { None };
    let decode = crate::extract::decode_options(&a.raw, 0)?;
    let opts = ExtractOptions { batch_size: a.batch_size, dump: false, per_sample: window.is_some() };
    let single = items.len() == 1;
    let pb = crate::output::bar(
        if single { 0 } else { todo.len() as u64 },
        if single { "samples" } else { "videos" },
        a.quiet || a.json,
    );
    for &i in &todo {
        let it = &items[i];
        pb.set_message(it.name.clone());
        let r = (|| -> anyhow::Result<Outcome> {
            if it.is_features {
                let f = match &it.row {
                    Some(Ok(row)) => row.clone(),
                    Some(Err(e)) => bail!("{e}"),
                    None => crate::batch::read_features(&it.path)?,
                };
                let s = model.head.score(&f).with_context(|| it.path.display().to_string())?;
                return Ok(Outcome::Scored {
                    score: convert(model.head.output_scale(), s, scale)?,
                    segments: None,
                    warnings: vec![],
                });
            }
            let nets = nets.as_ref().context("backbones not loaded")?;
            let out = crate::extract::extract_video(&it.path, &decode, nets, &opts, &mut |n| {
                if single {
                    pb.set_position(n as u64)
                }
            })?;
            let s = model.head.score(&out.features)?;
            let segments = window.map(|w| segment_scores(&model.head, &out, w, scale)).transpose()?;
            Ok(Outcome::Scored {
                score: convert(model.head.output_scale(), s, scale)?,
                segments,
                warnings: crate::extract::warnings(&out),
            })
        })();
        outcomes[i] = match r {
            Ok(o) => o,
            Err(e) => {
                pb.suspend(|| eprintln!("relaxvqa: error: {}: {e:#}", it.path.display()));
                Outcome::Failed(format!("{e:#}"))
            }
        };
        if let Outcome::Scored { warnings, .. } = &outcomes[i] {
            for w in warnings {
                pb.suspend(|| eprintln!("relaxvqa: warning: {}: {w}", it.path.display()));
            }
        }
        if !single {
            pb.inc(1);
        }
        if let Some(out) = &a.output {
            write_csv(out, &items, &outcomes, &model, scale, &previous)?;
        }
    }
    pb.finish_and_clear();
    if let Some(out) = &a.output {
        write_csv(out, &items, &outcomes, &model, scale, &previous)?;
    }
    let failed = outcomes.iter().filter(|o| matches!(o, Outcome::Failed(_))).count();
    let skipped = outcomes.iter().filter(|o| matches!(o, Outcome::Skipped { .. })).count();
    if a.json {
        let videos: Vec<_> = items.iter().zip(&outcomes).map(|(it, o)| item_json(it, o, scale)).collect();
        crate::output::print_json(&json!({
            "schema": SCORE_SCHEMA,
            "relaxvqa_version": env!("CARGO_PKG_VERSION"),
            "model": {
                "name": model.name,
                "source": model.source,
                "output_scale": model.head.output_scale().as_str(),
                "input_width": model.head.input_width(),
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
    Ok(if failed > 0 { ExitCode::from(crate::EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}

fn item_json(it: &Item, o: &Outcome, scale: OutputScale) -> serde_json::Value {
    let base = json!({"name": it.name, "path": it.path, "input": if it.is_features { "features" } else { "video" }});
    let mut v = match o {
        Outcome::Scored { score, segments, warnings } => json!({
            "status": "scored",
            "score": score,
            "scale": scale.as_str(),
            "warnings": warnings,
            "segments": segments.as_ref().map(|s| s.iter().map(|s| json!({
                "start": s.start, "end": s.end, "frames": s.frames, "pairs": s.pairs, "score": s.score,
            })).collect::<Vec<_>>()),
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
    let mut raw: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(list) = &a.list {
        let (rows, _) = crate::batch::read_list(list, None, a.path_column.as_deref(), a.ext.as_deref())?;
        raw.extend(rows.into_iter().map(|(p, _)| (p, false)));
    }
    for input in &a.inputs {
        if input.is_dir() {
            let files = crate::batch::videos_in(input)?;
            raw.extend(files.into_iter().map(|p| (p, false)));
        } else {
            raw.push((input.clone(), false));
        }
    }
    // (path, name, row) of every input: a feature path may be one video's
    // file, a combined matrix (`extract --list`'s features.safetensors) or a
    // folder of either, each giving one input per row.
    type Row = Option<Result<Vec<f64>, String>>;
    let mut inputs: Vec<(PathBuf, Option<String>, Row)> = raw.into_iter().map(|(p, _)| (p, None, None)).collect();
    for p in &a.features {
        match crate::train::data::read_features(p) {
            Ok(f) if f.dim > 0 => {
                for (name, row) in f.names.into_iter().zip(f.x.chunks_exact(f.dim)) {
                    inputs.push((p.clone(), Some(name), Some(Ok(row.to_vec()))));
                }
            }
            Ok(_) => inputs.push((p.clone(), None, Some(Err("no feature rows".to_owned())))),
            Err(e) => inputs.push((p.clone(), None, Some(Err(format!("{e:#}"))))),
        }
    }
    let mut used = HashSet::new();
    Ok(inputs
        .into_iter()
        .map(|(path, row_name, row)| {
            let is_features = row.is_some();
            let mut stem: String = row_name.unwrap_or_else(|| {
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into())
            });
            if is_features {
                if let Some(s) = stem.strip_suffix(".features") {
                    stem = s.to_owned();
                }
            }
            let mut name = stem.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{stem}-{n}");
                n += 1;
            }
            Item { name, path, is_features, row }
        })
        .collect())
}

const CSV_HEADER: [&str; 7] = ["name", "path", "score", "scale", "model", "segments", "error"];

/// The scored rows of an earlier `--output` CSV: name -> score text.
fn read_previous(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header row", path.display()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let (Some(n), Some(s)) = (headers.iter().position(|h| h == "name"), headers.iter().position(|h| h == "score"))
    else {
        bail!(
            "{}: not a relaxvqa score CSV (needs name and score columns); give another --output or remove it",
            path.display()
        );
    };
    let mut out = HashMap::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), line + 2))?;
        let (name, score) = (rec.get(n).unwrap_or(""), rec.get(s).unwrap_or("").trim());
        if !name.is_empty() && score.parse::<f64>().is_ok_and(f64::is_finite) {
            out.insert(name.to_owned(), score.to_owned());
        }
    }
    Ok(out)
}

/// Writes the CSV (temporary file, then rename): every item scored so far or
/// earlier, and the failures.
fn write_csv(
    path: &Path,
    items: &[Item],
    outcomes: &[Outcome],
    model: &LoadedModel,
    scale: OutputScale,
    previous: &HashMap<String, String>,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let mut seen = HashSet::new();
    for (it, o) in items.iter().zip(outcomes) {
        let (score, segments, error) = match o {
            Outcome::Scored { score, segments, .. } => (
                format!("{score}"),
                segments
                    .iter()
                    .flatten()
                    .map(|s| format!("{}-{}:{}", s.start, s.end, s.score))
                    .collect::<Vec<_>>()
                    .join(";"),
                String::new(),
            ),
            Outcome::Skipped { score } => (score.clone(), String::new(), String::new()),
            Outcome::Failed(e) if e.is_empty() => continue,
            Outcome::Failed(e) => (String::new(), String::new(), e.clone()),
        };
        seen.insert(it.name.as_str());
        let path = it.path.display().to_string();
        w.write_record([it.name.as_str(), &path, &score, scale.as_str(), &model.name, &segments, &error])?;
    }
    // Rows of the earlier file that this run did not name stay.
    let mut rest: Vec<(&String, &String)> = previous.iter().filter(|(n, _)| !seen.contains(n.as_str())).collect();
    rest.sort();
    for (name, score) in rest {
        w.write_record([name.as_str(), "", score, scale.as_str(), &model.name, "", ""])?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::batch::write_file(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), 2.0);
        assert_eq!(parse_duration("500ms").unwrap(), 0.5);
        assert_eq!(parse_duration("1m").unwrap(), 60.0);
        assert_eq!(parse_duration("1.5").unwrap(), 1.5);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn windows_pool_frames_and_pairs_apart() {
        let len = relaxvqa_features::FEATURE_LEN;
        let row = |n: u64, v: f32, pair: bool| {
            let mut values = vec![v; len];
            if !pair {
                for b in BLOCKS.iter().filter(|b| b.over == Over::Pairs) {
                    values[b.offset..b.offset + b.len].fill(f32::NAN);
                }
            }
            SampleFeatures { frame_number: n, values }
        };
        let samples = [row(0, 1.0, true), row(10, 3.0, false), row(30, 5.0, false)];
        let w = pool_windows(&samples, 10.0, 2.0);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].0, w[0].1, w[0].2), (0, 2, 1));
        assert_eq!(w[0].3[0], 2.0);
        assert_eq!(w[0].3[BLOCKS[2].offset], 1.0);
        assert_eq!((w[1].0, w[1].1, w[1].2), (1, 1, 0));
        assert!(w[1].3[BLOCKS[2].offset].is_nan());
    }
}
