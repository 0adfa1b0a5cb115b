//! A batch scoring: one row per input in a scores CSV, appended (and
//! flushed) as each score arrives, so an interrupted run keeps what it
//! finished. Inputs are videos or saved feature files; a run resumes from
//! the CSV's rows made with the same head, weights, scale and window from
//! the same files.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::scores_csv::{row_matches, segments_column, RunKey, ScoreRow, ScoresCsv};
use super::{unique_names, Videos};
use crate::extract::{ExtractOptions, Provenance, VERSION};
use crate::files::Identity;
use crate::head::{convert, parse_scale, LoadedHead, OutputScale, DEFAULT_HEAD};
use crate::score::{check_window, score_features, Score, ScoreOptions};
use crate::{Error, Input, Model, RawOptions, Result};

/// What a scoring run is given: every front end's arguments, once.
#[derive(Clone, Debug)]
pub struct ScoreBatchOptions {
    /// The videos.
    pub videos: Videos,
    /// Saved feature files: one video's file or a combined matrix (each
    /// row an input, named by the matrix).
    pub features: Vec<PathBuf>,
    /// The head: a published head's name or a head file.
    pub head: String,
    /// The backbone weights the videos are scored with.
    pub weights: String,
    /// The scale of the scores (`1-5`, `0-100`, `raw`; default the head's).
    pub scale: Option<String>,
    /// Also score windows of this many seconds.
    pub segments: Option<f64>,
    /// Raw-video parameters for every video.
    pub raw: RawOptions,
    /// The scores CSV (rows appended; earlier matching rows kept).
    pub output: Option<PathBuf>,
    /// Score every input again, starting the CSV afresh.
    pub force: bool,
}

impl Default for ScoreBatchOptions {
    fn default() -> Self {
        Self {
            videos: Videos::default(),
            features: Vec::new(),
            head: DEFAULT_HEAD.into(),
            weights: "hub".into(),
            scale: None,
            segments: None,
            raw: RawOptions::default(),
            output: None,
            force: false,
        }
    }
}

/// One input of a scoring run.
#[derive(Clone, Debug)]
pub struct ScoreItem {
    /// Its name in the run (unique; the CSV's `name`).
    pub name: String,
    /// The video, or the feature file the row came from.
    pub path: PathBuf,
    /// A feature input's vector, read up front, or why it could not be read.
    row: Option<std::result::Result<Vec<f64>, String>>,
}

impl ScoreItem {
    /// True for a saved feature row, false for a video.
    pub fn is_features(&self) -> bool {
        self.row.is_some()
    }
}

/// What became of one input: the library's [`Score`] document when it was
/// scored. Serde, tagged by `status`, so that a worker's answer crosses
/// processes as a plain dict and every front end prints the same fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScoreOutcome {
    /// Scored now.
    Scored {
        /// The score, its timeline and provenance.
        #[serde(flatten)]
        score: Score,
    },
    /// A row of an earlier run was kept.
    Skipped {
        /// Its score, as written.
        score: f64,
        /// Its scale.
        scale: String,
    },
    /// It failed; one line says why.
    Failed {
        /// Why.
        error: String,
    },
}

/// One input's outcome with its name: the items of a run's JSON document.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreResult<'a> {
    /// The input's name in the run.
    pub name: &'a str,
    /// The video or feature file.
    pub path: &'a std::path::Path,
    /// `video` or `features`.
    pub input: &'static str,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: &'a ScoreOutcome,
}

/// An input as a front end lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ItemDoc<'a> {
    /// Its index in the run.
    pub index: usize,
    /// Its name.
    pub name: &'a str,
    /// The video or feature file.
    pub path: &'a std::path::Path,
    /// The score kept from an earlier run.
    pub score: Option<f64>,
}

/// One video of a [`ScoreBatch`] as a unit of work for another thread,
/// process or machine: serde, so a scheduler carries it as a plain dict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreTask {
    /// The input's index in the batch.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// The video.
    pub path: PathBuf,
    /// The scale to score on.
    pub scale: String,
    /// Also score windows of this many seconds.
    #[serde(default)]
    pub segments: Option<f64>,
    /// Raw-video parameters.
    #[serde(default)]
    pub raw: RawOptions,
}

impl ScoreTask {
    /// The video as an input (raw when the task says so).
    pub fn input(&self) -> Result<Input> {
        self.raw.apply(Input::path(&self.path))
    }

    /// Scores the video with `model`'s head. Never fails: a failure, a
    /// panic included, is the outcome.
    pub fn run(&self, model: &Model, opts: &ExtractOptions) -> ScoreOutcome {
        let work = || -> Result<Score> {
            let input = self.input()?;
            let sopts =
                ScoreOptions { segments: self.segments, scale: Some(parse_scale(&self.scale)?), extract: opts.clone() };
            model.score(input, &sopts)
        };
        outcome_of(&self.path, work)
    }
}

/// `work`'s score as an outcome; its error or panic as a failure.
fn outcome_of(path: &std::path::Path, work: impl FnOnce() -> Result<Score>) -> ScoreOutcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(score)) => ScoreOutcome::Scored { score },
        Ok(Err(e)) => ScoreOutcome::Failed { error: e.to_string() },
        Err(_) => ScoreOutcome::Failed { error: Error::Panicked(path.display().to_string()).to_string() },
    }
}

/// A scoring run: its inputs, head, settings and the open scores CSV.
/// Planned once ([`ScoreBatch::plan`]), then run here ([`ScoreBatch::run`])
/// or by workers ([`ScoreBatch::task`], [`ScoreTask::run`],
/// [`ScoreBatch::record`]); `Sync`, so several threads may record at once.
pub struct ScoreBatch {
    items: Vec<ScoreItem>,
    head: LoadedHead,
    head_spec: String,
    scale: OutputScale,
    segments: Option<f64>,
    raw: RawOptions,
    key: RunKey,
    csv: Option<Mutex<Option<ScoresCsv>>>,
    kept: Vec<Option<f64>>,
}

impl ScoreBatch {
    /// Reads the inputs (named by file stem, `-2`, `-3` on clashes; a
    /// feature matrix's rows by their names), loads the head, checks the
    /// scale, window and raw options, and opens the CSV: its rows made by
    /// the same head, weights, scale and window from unchanged inputs are
    /// kept and those inputs skipped (unless `force`).
    pub fn plan(opts: ScoreBatchOptions) -> Result<Self> {
        let segments = opts.segments.map(check_window).transpose()?;
        if segments.is_some() && !opts.features.is_empty() {
            return Err(Error::invalid("segments need the videos: feature files keep only the whole-video vector"));
        }
        opts.raw.parse()?;
        let items = items(&opts)?;
        if items.is_empty() {
            return Err(Error::invalid("nothing to score: give videos, a list or feature files"));
        }
        let head = LoadedHead::load(&opts.head)?;
        let scale = opts.scale.as_deref().map(parse_scale).transpose()?.unwrap_or(head.output_scale());
        convert(head.output_scale(), 0.0, scale)?;
        let key = RunKey {
            model: head.name.clone(),
            model_source: head.source.clone(),
            weights: opts.weights.clone(),
            scale: scale.as_str().to_owned(),
            segment_seconds: segments.map(|w| w.to_string()).unwrap_or_default(),
        };
        let (csv, previous) = match &opts.output {
            Some(p) => {
                let (c, prev) = ScoresCsv::open(p, opts.force, &key)?;
                (Some(Mutex::new(Some(c))), prev)
            }
            None => (None, Default::default()),
        };
        let kept = items
            .iter()
            .map(|it| match previous.get(&it.name) {
                Some(r) if row_matches(r, &identity(it, &key.weights)) => r.score.parse().ok(),
                _ => None,
            })
            .collect();
        Ok(Self { items, head, head_spec: opts.head, scale, segments, raw: opts.raw, key, csv, kept })
    }

    /// The inputs, in order.
    pub fn items(&self) -> &[ScoreItem] {
        &self.items
    }

    /// The head.
    pub fn head(&self) -> &LoadedHead {
        &self.head
    }

    /// The head as given (what a worker loads).
    pub fn head_spec(&self) -> &str {
        &self.head_spec
    }

    /// The backbone weights.
    pub fn weights(&self) -> &str {
        &self.key.weights
    }

    /// The scale of every score.
    pub fn scale(&self) -> OutputScale {
        self.scale
    }

    /// The timeline window, seconds.
    pub fn segments(&self) -> Option<f64> {
        self.segments
    }

    /// The score kept from an earlier run for input `index`.
    pub fn kept(&self, index: usize) -> Option<f64> {
        self.kept.get(index).copied().flatten()
    }

    /// Indices of the inputs to score (those without a kept row).
    pub fn todo(&self) -> Vec<usize> {
        (0..self.items.len()).filter(|&i| self.kept[i].is_none()).collect()
    }

    /// True when some input to score is a video (the backbones are needed).
    pub fn needs_backbones(&self) -> bool {
        self.todo().iter().any(|&i| !self.items[i].is_features())
    }

    fn item(&self, index: usize) -> Result<&ScoreItem> {
        self.items.get(index).ok_or_else(|| Error::invalid(format!("input {index}: the run has {}", self.items.len())))
    }

    /// The inputs as a front end lists them: index, name, path and the
    /// score kept from an earlier run (or none).
    pub fn item_docs(&self) -> Vec<ItemDoc<'_>> {
        self.items
            .iter()
            .enumerate()
            .map(|(index, it)| ItemDoc { index, name: &it.name, path: &it.path, score: self.kept(index) })
            .collect()
    }

    /// Input `index` (a video) as a unit of work for a worker.
    pub fn task(&self, index: usize) -> Result<ScoreTask> {
        let it = self.item(index)?;
        if it.is_features() {
            return Err(Error::invalid(format!("{}: a feature row is scored by the driver, not a worker", it.name)));
        }
        Ok(ScoreTask {
            index,
            name: it.name.clone(),
            path: it.path.clone(),
            scale: self.scale.as_str().to_owned(),
            segments: self.segments,
            raw: self.raw.clone(),
        })
    }

    /// Scores input `index` here: a feature row with the head, a video with
    /// `model`'s backbones and this batch's head. Never fails: a failure, a
    /// panic included, is the outcome.
    pub fn score_one(&self, model: Option<&Model>, index: usize, opts: &ExtractOptions) -> ScoreOutcome {
        let Some(it) = self.items.get(index) else {
            return ScoreOutcome::Failed { error: format!("input {index}: out of range") };
        };
        outcome_of(&it.path, || match &it.row {
            Some(row) => {
                let values = row.as_ref().map_err(|e| Error::Invalid(e.clone()))?;
                let what = it.path.display().to_string();
                let score = self.head.score(values, self.scale, &what)?;
                Ok(self.document(score, what))
            }
            None => {
                let model = model.ok_or_else(|| Error::invalid("the backbones are not loaded"))?;
                let input = self.raw.apply(Input::path(&it.path))?;
                let mut extract = opts.clone();
                extract.per_sample |= self.segments.is_some();
                let features = model.extract(input, &extract)?;
                let sopts = ScoreOptions { segments: self.segments, scale: Some(self.scale), extract };
                score_features(&self.head, &features, &sopts)
            }
        })
    }

    /// The score document of a feature row (no frames: the file holds only
    /// the vector).
    fn document(&self, score: f64, input: String) -> Score {
        Score {
            score,
            scale: self.scale,
            segments: None,
            warnings: Vec::new(),
            model: self.head.name.clone(),
            model_source: self.head.source.clone(),
            provenance: Provenance {
                input,
                weights: String::new(),
                version: VERSION.into(),
                frames: 0,
                sampled_frames: 0,
                pairs: 0,
                frame_interval: 0,
            },
        }
    }

    /// Appends input `index`'s row to the CSV (flushed), when the run has
    /// one; a kept row is not written again. Takes the CSV's lock itself:
    /// call it from any thread, never while holding a lock another
    /// recording thread needs.
    pub fn record(&self, index: usize, outcome: &ScoreOutcome) -> Result<()> {
        let it = self.item(index)?;
        let Some(csv) = &self.csv else { return Ok(()) };
        let (score, segments, error) = match outcome {
            ScoreOutcome::Scored { score } => (
                format!("{}", score.score),
                segments_column(score.segments.iter().flatten().map(|s| (s.start, s.end, s.score))),
                String::new(),
            ),
            ScoreOutcome::Skipped { .. } => return Ok(()),
            ScoreOutcome::Failed { error } => (String::new(), String::new(), error.clone()),
        };
        let row = ScoreRow {
            name: it.name.clone(),
            path: it.path.display().to_string(),
            score,
            scale: self.key.scale.clone(),
            model: self.key.model.clone(),
            segments,
            error,
            model_source: self.key.model_source.clone(),
            segment_seconds: self.key.segment_seconds.clone(),
            ..Default::default()
        }
        .with_identity(&identity(it, &self.key.weights));
        let mut guard = csv.lock().unwrap_or_else(PoisonError::into_inner);
        guard.as_mut().ok_or_else(|| Error::invalid("the scores CSV is closed"))?.append(&row)
    }

    /// Closes the CSV; later [`ScoreBatch::record`] calls fail.
    pub fn close(&self) {
        if let Some(csv) = &self.csv {
            csv.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }

    /// The outcome of every input, in order: `scored` for those in
    /// `done` (by index), `skipped` for kept rows, else failed ("not run").
    pub fn outcomes(&self, mut done: Vec<(usize, ScoreOutcome)>) -> Vec<ScoreOutcome> {
        let mut out: Vec<Option<ScoreOutcome>> = self
            .kept
            .iter()
            .map(|k| k.map(|score| ScoreOutcome::Skipped { score, scale: self.key.scale.clone() }))
            .collect();
        for (i, o) in done.drain(..) {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(o);
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| ScoreOutcome::Failed { error: "not run".into() })).collect()
    }

    /// Scores every input to score, one after another, recording each row
    /// as it comes; `event` hears each input as it starts (`None`) and
    /// ends. Returns every input's outcome, in order; the first CSV error,
    /// or [`Error::Cancelled`] when `opts.cancel` stops the run.
    pub fn run(
        &self,
        model: Option<&Model>,
        opts: &ExtractOptions,
        mut event: impl FnMut(&ScoreItem, Option<&ScoreOutcome>),
    ) -> Result<Vec<ScoreOutcome>> {
        let mut done = Vec::new();
        let mut csv_error = None;
        for i in self.todo() {
            if opts.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            event(&self.items[i], None);
            let o = self.score_one(model, i, opts);
            if let Err(e) = self.record(i, &o) {
                csv_error.get_or_insert(e);
            }
            event(&self.items[i], Some(&o));
            done.push((i, o));
        }
        match csv_error {
            Some(e) => Err(e),
            None => Ok(self.outcomes(done)),
        }
    }

    /// The JSON items of `outcomes` (one per input, in order).
    pub fn results<'a>(&'a self, outcomes: &'a [ScoreOutcome]) -> Vec<ScoreResult<'a>> {
        self.items
            .iter()
            .zip(outcomes)
            .map(|(it, outcome)| ScoreResult {
                name: &it.name,
                path: &it.path,
                input: if it.is_features() { "features" } else { "video" },
                outcome,
            })
            .collect()
    }
}

/// The identity a row of `item` records (feature inputs record no weights).
fn identity(item: &ScoreItem, weights: &str) -> Identity {
    Identity::of_file(&item.path, if item.is_features() { "" } else { weights })
}

/// The inputs: videos (files, folders, a list; a path listed twice is
/// scored twice) and feature rows, named uniquely (`.features` dropped from
/// a feature file's stem).
fn items(opts: &ScoreBatchOptions) -> Result<Vec<ScoreItem>> {
    type Row = Option<std::result::Result<Vec<f64>, String>>;
    let (rows, _) = opts.videos.rows()?;
    let mut inputs: Vec<(PathBuf, Option<String>, Row)> = rows.into_iter().map(|(p, _)| (p, None, None)).collect();
    for p in &opts.features {
        match crate::files::read_feature_rows(p) {
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
    Ok(unique_names(stems)
        .into_iter()
        .zip(inputs)
        .map(|(name, (path, _, row))| ScoreItem { name, path, row })
        .collect())
}
