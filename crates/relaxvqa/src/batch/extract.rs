//! A batch extraction: one feature file per video, then the combined
//! matrix, the index and the failures file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{run_each, Entry, Videos};
use crate::extract::ExtractOptions;
use crate::files::{is_complete, write_features, write_matrix, Identity};
use crate::{Error, Input, Model, RawOptions, Result};

/// What became of one video of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Extracted now.
    Done {
        /// Seconds it took.
        seconds: f64,
        /// Frames decoded.
        frames: u64,
        /// What a user should know.
        warnings: Vec<String>,
    },
    /// An earlier output from the same video and weights was kept.
    Skipped,
    /// It failed; the message says why.
    Failed {
        /// One line.
        error: String,
    },
}

/// One entry's outcome with its name: the items of a batch's JSON document.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractResult<'a> {
    /// The entry's output name.
    pub name: &'a str,
    /// The video.
    pub path: &'a Path,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: &'a Outcome,
}

/// An entry as a front end lists it.
#[derive(Clone, Debug, Serialize)]
pub struct EntryDoc<'a> {
    /// Its index in the batch.
    pub index: usize,
    /// Its output name.
    pub name: &'a str,
    /// The video.
    pub path: &'a Path,
    /// Its per-video feature file.
    pub output: PathBuf,
}

/// The per-video output file of an entry.
pub fn output_of(out_dir: &Path, e: &Entry) -> PathBuf {
    out_dir.join(format!("{}.safetensors", e.name))
}

/// A batch extraction: entries and where their outputs go. Made by
/// [`ExtractBatch::plan`] (videos as front ends name them) or
/// [`ExtractBatch::new`] (entries already named), then set with the
/// `with_` methods.
#[derive(Clone, Debug)]
pub struct ExtractBatch {
    out_dir: PathBuf,
    entries: Vec<Entry>,
    extra_columns: Vec<String>,
    force: bool,
    jobs: usize,
    as_f32: bool,
    raw: RawOptions,
}

/// One video of an [`ExtractBatch`] as a unit of work for another thread,
/// process or machine ([`ExtractBatch::task`]): serde, so a scheduler
/// carries it as a plain dict or JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractTask {
    /// The entry's index in the batch.
    pub index: usize,
    /// Its output name.
    pub name: String,
    /// The video.
    pub path: PathBuf,
    /// The batch's output folder.
    pub out_dir: PathBuf,
    /// Store the features as f32.
    #[serde(default)]
    pub f32: bool,
    /// Raw-video parameters.
    #[serde(default)]
    pub raw: RawOptions,
}

impl ExtractTask {
    /// Extracts the video into its per-video file (written whole or not at
    /// all). Never fails: a failure, a panic included, is the outcome.
    pub fn run(&self, model: &Model, opts: &ExtractOptions) -> Outcome {
        let entry = Entry { name: self.name.clone(), path: self.path.clone(), extra: Vec::new() };
        let work = || extract_entry(model, &self.out_dir, &entry, &self.raw, self.f32, opts);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(Error::Panicked(self.path.display().to_string())))
            .unwrap_or_else(|e| Outcome::Failed { error: e.to_string() })
    }
}

/// Extracts one entry into its output file in `out_dir`.
fn extract_entry(
    model: &Model,
    out_dir: &Path,
    e: &Entry,
    raw: &RawOptions,
    as_f32: bool,
    opts: &ExtractOptions,
) -> Result<Outcome> {
    let input = raw.apply(Input::path(&e.path))?;
    let identity = Identity::of_file(&e.path, model.weights());
    let f = model.extract(input, opts)?;
    write_features(&output_of(out_dir, e), &f, &identity, as_f32)?;
    Ok(Outcome::Done { seconds: f.timings.total, frames: f.frames_decoded, warnings: f.warnings })
}

/// What a batch did.
#[derive(Clone, Debug, Serialize)]
pub struct BatchSummary {
    /// One outcome per entry, in list order.
    pub outcomes: Vec<Outcome>,
    /// The combined matrix and its rows.
    pub combined: Combined,
}

impl BatchSummary {
    /// Videos extracted now.
    pub fn done(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Done { .. })).count()
    }
    /// Videos kept from an earlier run.
    pub fn skipped(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Skipped)).count()
    }
    /// Videos that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Failed { .. })).count()
    }
}

/// The combined matrix of a batch.
#[derive(Clone, Debug, Serialize)]
pub struct Combined {
    /// `features.safetensors`.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: usize,
    /// `features.npy`.
    pub npy: PathBuf,
}

impl ExtractBatch {
    /// The identity an entry's output must have to be kept.
    pub fn identity(&self, e: &Entry, weights: &str) -> Identity {
        Identity::of_file(&e.path, weights)
    }

    /// Indices of the entries that need work (not complete from the same
    /// video and weights, or all with `force`).
    pub fn todo(&self, weights: &str) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                self.force || !is_complete(&output_of(&self.out_dir, e), &self.identity(e, weights))
            })
            .collect()
    }

    /// The batch of the videos `videos` names (named with
    /// [`super::entries`]; rows repeating a video are returned apart) with
    /// outputs in `out_dir`; one job, f32 off, no raw video, no force: set
    /// the fields to change them. An error when no video is named.
    pub fn plan(videos: &Videos, out_dir: impl Into<PathBuf>) -> Result<(Self, Vec<PathBuf>)> {
        let (rows, extra_columns) = videos.rows()?;
        let (entries, duplicates) = super::entries(rows);
        if entries.is_empty() {
            return Err(Error::invalid("no videos to process: give videos, a folder or a list"));
        }
        Ok((Self::new(out_dir, entries, extra_columns), duplicates))
    }

    /// A batch of `entries` (their names unique: see [`super::entries`])
    /// with outputs in `out_dir` and the list's other column names; one
    /// job, f32 off, no raw video, no force.
    pub fn new(out_dir: impl Into<PathBuf>, entries: Vec<Entry>, extra_columns: Vec<String>) -> Self {
        let (force, jobs, as_f32, raw) = (false, 1, false, RawOptions::default());
        Self { out_dir: out_dir.into(), entries, extra_columns, force, jobs, as_f32, raw }
    }

    /// Recompute outputs that already exist.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Videos at once (at least 1; each then decodes on one thread).
    pub fn with_jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Store the features as f32 instead of f64.
    pub fn with_f32(mut self, as_f32: bool) -> Self {
        self.as_f32 = as_f32;
        self
    }

    /// Read every video as raw video with these options.
    pub fn with_raw(mut self, raw: RawOptions) -> Self {
        self.raw = raw;
        self
    }

    /// Where per-video outputs, the matrix, the index and failures go.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// The videos, in list order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The list's other column names (carried into the index).
    pub fn extra_columns(&self) -> &[String] {
        &self.extra_columns
    }

    /// The summary of a run with nothing to do (every output complete):
    /// the reports rewritten, no model needed.
    pub fn finish_unchanged(&self, weights: &str) -> Result<BatchSummary> {
        self.prepare()?;
        let outcomes = vec![Outcome::Skipped; self.entries.len()];
        let combined = self.write_reports(&outcomes, weights)?;
        Ok(BatchSummary { outcomes, combined })
    }

    /// Checks the raw-video options and that the output folder can be made
    /// and written, before any work.
    pub fn prepare(&self) -> Result<()> {
        self.raw.parse()?;
        std::fs::create_dir_all(&self.out_dir).map_err(Error::io(&self.out_dir))?;
        crate::files::check_dir_writable(&self.out_dir)
    }

    /// The JSON items of `outcomes` (one per entry, in order).
    pub fn results<'a>(&'a self, outcomes: &'a [Outcome]) -> Vec<ExtractResult<'a>> {
        self.entries
            .iter()
            .zip(outcomes)
            .map(|(e, outcome)| ExtractResult { name: &e.name, path: &e.path, outcome })
            .collect()
    }

    fn entry(&self, index: usize) -> Result<&Entry> {
        self.entries
            .get(index)
            .ok_or_else(|| Error::invalid(format!("entry {index}: the batch has {} entries", self.entries.len())))
    }

    /// The entries as a front end lists them: index, name, path and output.
    pub fn entry_docs(&self) -> Vec<EntryDoc<'_>> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, e)| EntryDoc { index, name: &e.name, path: &e.path, output: output_of(&self.out_dir, e) })
            .collect()
    }

    /// True when entry `index` has a complete output from the same video
    /// and `weights` (asked again after a worker died: it may have written
    /// the file just before).
    pub fn is_complete(&self, index: usize, weights: &str) -> Result<bool> {
        let e = self.entry(index)?;
        Ok(is_complete(&output_of(&self.out_dir, e), &self.identity(e, weights)))
    }

    /// Entry `index` as a unit of work for a worker.
    pub fn task(&self, index: usize) -> Result<ExtractTask> {
        let e = self.entry(index)?;
        Ok(ExtractTask {
            index,
            name: e.name.clone(),
            path: e.path.clone(),
            out_dir: self.out_dir.clone(),
            f32: self.as_f32,
            raw: self.raw.clone(),
        })
    }

    /// Extracts one entry into its output file.
    pub fn extract_one(&self, model: &Model, e: &Entry, opts: &ExtractOptions) -> Result<Outcome> {
        extract_entry(model, &self.out_dir, e, &self.raw, self.as_f32, opts)
    }

    /// Writes the reports of `outcomes` (one per entry) made with `weights`:
    /// [`write_reports`] for this batch.
    pub fn write_reports(&self, outcomes: &[Outcome], weights: &str) -> Result<Combined> {
        if outcomes.len() != self.entries.len() {
            return Err(Error::invalid(format!(
                "{} outcomes for {} entries: give one per entry",
                outcomes.len(),
                self.entries.len()
            )));
        }
        write_reports(&self.out_dir, &self.entries, &self.extra_columns, outcomes, weights)
    }

    /// Runs the batch with `model`: extracts what needs it (`jobs` videos
    /// at once), then writes the reports. `event` hears each video as it
    /// starts (`None`) and ends (`Some(outcome)`). With `model` `None`
    /// nothing may need work (everything is complete), else an error.
    pub fn run(
        &self,
        model: &Model,
        opts: &ExtractOptions,
        mut event: impl FnMut(&Entry, Option<&Outcome>) + Send,
    ) -> Result<BatchSummary> {
        self.prepare()?;
        let todo = self.todo(model.weights());
        let mut outcomes: Vec<Outcome> = vec![Outcome::Skipped; self.entries.len()];
        let mut opts = opts.clone();
        if self.jobs > 1 {
            opts.decode_threads = 1;
        }
        let slots: Vec<usize> = todo.clone();
        let results = Mutex::new(Vec::new());
        let events = Mutex::new(&mut event);
        run_each(
            &slots,
            self.jobs,
            |&i| self.entries[i].path.display().to_string(),
            |&i| {
                let e = &self.entries[i];
                if let Ok(mut ev) = events.lock() {
                    (*ev)(e, None);
                }
                self.extract_one(model, e, &opts)
            },
            || opts.cancel.is_cancelled(),
            |k, r| {
                let i = slots[k];
                let o = match r {
                    Ok(o) => o,
                    Err(err) => Outcome::Failed { error: err.to_string() },
                };
                if let Ok(mut ev) = events.lock() {
                    (*ev)(&self.entries[i], Some(&o));
                }
                if let Ok(mut r) = results.lock() {
                    r.push((i, o));
                }
            },
        );
        for (i, o) in results.into_inner().map_err(|_| Error::Panicked("batch".into()))? {
            outcomes[i] = o;
        }
        if opts.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let combined = write_reports(&self.out_dir, &self.entries, &self.extra_columns, &outcomes, model.weights())?;
        Ok(BatchSummary { outcomes, combined })
    }
}

/// Writes `failures.csv`, `index.csv` and the combined matrix of every
/// complete output (from `weights`), streaming. Each file is written
/// whole or not at all; a file that cannot be written does not stop the
/// others, and the first error is returned after all were tried.
pub fn write_reports(
    out_dir: &Path,
    entries: &[Entry],
    extra_columns: &[String],
    outcomes: &[Outcome],
    weights: &str,
) -> Result<Combined> {
    let csv_err = |e: csv::Error| Error::invalid(e.to_string());
    let mut index = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["name".to_owned(), "path".to_owned(), "status".to_owned(), "output".to_owned()];
    header.extend(extra_columns.iter().cloned());
    index.write_record(&header).map_err(csv_err)?;
    let mut failures = csv::Writer::from_writer(Vec::new());
    failures.write_record(["name", "path", "error"]).map_err(csv_err)?;
    let mut rows = Vec::new();
    for (e, o) in entries.iter().zip(outcomes) {
        let out = output_of(out_dir, e);
        let status = match o {
            Outcome::Failed { error } => {
                failures
                    .write_record([e.name.as_str(), &e.path.display().to_string(), error.as_str()])
                    .map_err(csv_err)?;
                "failed"
            }
            _ if is_complete(&out, &Identity::of_file(&e.path, weights)) => {
                rows.push((e.name.clone(), out.clone()));
                if matches!(o, Outcome::Skipped) {
                    "skipped"
                } else {
                    "done"
                }
            }
            _ => "missing",
        };
        let mut row = vec![e.name.clone(), e.path.display().to_string(), status.to_owned(), out.display().to_string()];
        row.extend(
            extra_columns
                .iter()
                .map(|c| e.extra.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default()),
        );
        index.write_record(&row).map_err(csv_err)?;
    }
    let mut first_error = None;
    for (name, w) in [("failures.csv", failures), ("index.csv", index)] {
        let path = out_dir.join(name);
        let r = w
            .into_inner()
            .map_err(|e| Error::invalid(e.to_string()))
            .and_then(|bytes| relaxvqa_formats::atomic::write_atomic(&path, &bytes).map_err(Error::io(&path)));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    let combined = write_matrix(out_dir, &rows);
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Combined { path: combined?, rows: rows.len(), npy: out_dir.join("features.npy") })
}
