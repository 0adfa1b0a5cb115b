//! Datasets split across processes or machines (`relaxvqa.ray`): the
//! library's batch parts, exposed so that a scheduler in Python only hands
//! out work and collects outcomes, and adds no pipeline logic of its own.
//!
//! - [`ExtractPlan`] (driver): what `relaxvqa extract --list` would run —
//!   the list read, named and de-duplicated ([`batch::read_list`],
//!   [`batch::videos_in`], [`batch::entries`]), the output folder prepared,
//!   which entries need work ([`ExtractBatch::todo`], the same identity
//!   check as the command line, so either can resume the other), and
//!   [`batch::write_reports`] at the end;
//! - [`ScorePlan`] (driver): what `relaxvqa score --list --output CSV`
//!   would run, with the same rows appended to the same [`ScoresCsv`];
//! - [`BatchWorker`] (worker): the backbones (and a head) loaded once, one
//!   video per call through [`ExtractBatch::extract_one`] (the per-video
//!   file written by [`relaxvqa::files::write_features`], atomically) or
//!   [`relaxvqa::Model::score`], with the GIL released.
//!
//! Tasks and outcomes cross process boundaries as plain dicts of `str`,
//! `int`, `float`, `bool`, lists and None (picklable by any scheduler).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use relaxvqa::batch::{self, Entry, ExtractBatch, ListOptions, ListRow, Outcome};
use relaxvqa::files::Identity;
use relaxvqa::head::{convert, parse_scale, LoadedHead};
use relaxvqa::scores::{row_matches, RunKey, ScoreRow, ScoresCsv};
use relaxvqa::{ExtractOptions, Input, ModelOptions, OutputScale, RawVideo, ScoreOptions};

use crate::errors::{input_error, to_py};

/// Registers this module's classes and functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExtractPlan>()?;
    m.add_class::<ScorePlan>()?;
    m.add_class::<BatchWorker>()?;
    m.add_function(wrap_pyfunction!(extract_plan, m)?)?;
    m.add_function(wrap_pyfunction!(score_plan, m)?)?;
    Ok(())
}

/// The library's error for a bad argument.
fn invalid(msg: impl Into<String>) -> relaxvqa::Error {
    relaxvqa::Error::Invalid(msg.into())
}

/// Raw-video parameters (`size`, `pix_fmt`, `fps`), with the command
/// line's defaults (yuv420p, 25 frames a second).
#[derive(Clone, Debug, Default)]
struct RawSpec {
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<String>,
}

impl RawSpec {
    fn parse(&self) -> relaxvqa::Result<Option<RawVideo>> {
        let Some(size) = &self.size else {
            if self.pix_fmt.is_some() || self.fps.is_some() {
                return Err(invalid("pix_fmt and fps describe raw video: give size=\"WxH\" too"));
            }
            return Ok(None);
        };
        let (width, height) =
            relaxvqa::parse_size(size).ok_or_else(|| invalid(format!("size {size}: expected WxH, e.g. 1920x1080")))?;
        let fps = self.fps.as_deref().unwrap_or("25");
        let frame_rate = relaxvqa::parse_rate(fps)
            .ok_or_else(|| invalid(format!("fps {fps}: expected N or N/D, e.g. 30000/1001")))?;
        Ok(Some(RawVideo {
            width,
            height,
            pixel_format: self.pix_fmt.clone().unwrap_or_else(|| "yuv420p".into()),
            frame_rate,
        }))
    }

    fn put(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
        d.set_item("size", &self.size)?;
        d.set_item("pix_fmt", &self.pix_fmt)?;
        d.set_item("fps", &self.fps)
    }

    fn take(d: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(Self { size: opt_str(d, "size")?, pix_fmt: opt_str(d, "pix_fmt")?, fps: opt_str(d, "fps")? })
    }
}

/// A string item of a task dict (missing or None: `None`).
fn opt_str(d: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<String>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
        _ => Ok(None),
    }
}

/// A required item of a task dict.
fn req<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<T> {
    match d.get_item(key)? {
        Some(v) => v.extract().map_err(Into::into),
        None => Err(input_error(d.py(), format!("task: no {key:?} item"))),
    }
}

/// An outcome as a dict: `{"status": "done", "seconds", "frames",
/// "warnings"}`, `{"status": "skipped"}` or `{"status": "failed", "error"}`.
fn outcome_dict<'py>(py: Python<'py>, o: &Outcome) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match o {
        Outcome::Done { seconds, frames, warnings } => {
            d.set_item("status", "done")?;
            d.set_item("seconds", seconds)?;
            d.set_item("frames", frames)?;
            d.set_item("warnings", warnings)?;
        }
        Outcome::Skipped => d.set_item("status", "skipped")?,
        Outcome::Failed { error } => {
            d.set_item("status", "failed")?;
            d.set_item("error", error)?;
        }
    }
    Ok(d)
}

/// The outcome a dict from [`outcome_dict`] (or None: not run) stands for.
fn outcome_of(v: &Bound<'_, PyAny>) -> PyResult<Outcome> {
    if v.is_none() {
        return Ok(Outcome::Skipped);
    }
    let d = v.cast::<PyDict>()?;
    let status: String = req(d, "status")?;
    Ok(match status.as_str() {
        "done" => Outcome::Done {
            seconds: d.get_item("seconds")?.map(|s| s.extract()).transpose()?.unwrap_or(0.0),
            frames: d.get_item("frames")?.map(|s| s.extract()).transpose()?.unwrap_or(0),
            warnings: d.get_item("warnings")?.map(|s| s.extract()).transpose()?.unwrap_or_default(),
        },
        "skipped" => Outcome::Skipped,
        "failed" => Outcome::Failed { error: req(d, "error")? },
        other => {
            return Err(input_error(d.py(), format!("outcome status {other:?}: expected done, skipped or failed")))
        }
    })
}

/// The plan of a dataset extraction: `relaxvqa extract --list` up to the
/// point where videos are extracted, and its reports afterwards. Made by
/// `extract_plan`.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct ExtractPlan {
    batch: ExtractBatch,
    weights: String,
    raw: RawSpec,
    duplicates: Vec<PathBuf>,
}

/// Reads the videos of a dataset as `relaxvqa extract --list LIST INPUTS...
/// --out-dir OUT_DIR` does (a CSV list and its options, files, folders),
/// names them, drops repeated paths (``duplicates``), creates the output
/// folder and checks it is writable. Raises InputError when there is no
/// video.
#[pyfunction]
#[pyo3(signature = (out_dir, *, list = None, inputs = Vec::new(), weights = "hub".to_owned(), path_column = None, video_dir = None, ext = None, force = false, f32 = false, size = None, pix_fmt = None, fps = None))]
#[allow(clippy::too_many_arguments)]
fn extract_plan(
    py: Python<'_>,
    out_dir: PathBuf,
    list: Option<PathBuf>,
    inputs: Vec<PathBuf>,
    weights: String,
    path_column: Option<String>,
    video_dir: Option<PathBuf>,
    ext: Option<String>,
    force: bool,
    f32: bool,
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<String>,
) -> PyResult<ExtractPlan> {
    let raw = RawSpec { size, pix_fmt, fps };
    let make = move || -> relaxvqa::Result<ExtractPlan> {
        let parsed = raw.parse()?;
        let opts = ListOptions { path_column, video_dir, ext };
        let (rows, extra_columns) = batch::collect_rows(list.as_deref(), &inputs, &opts)?;
        let (entries, duplicates) = batch::entries(rows);
        if entries.is_empty() {
            return Err(invalid("no videos to process"));
        }
        let batch = ExtractBatch { out_dir, entries, extra_columns, force, jobs: 1, as_f32: f32, raw: parsed };
        batch.prepare()?;
        Ok(ExtractPlan { batch, weights, raw, duplicates })
    };
    py.detach(make).map_err(|e| to_py(py, e))
}

#[pymethods]
impl ExtractPlan {
    /// The output folder.
    #[getter]
    fn out_dir(&self) -> &Path {
        &self.batch.out_dir
    }

    /// The backbone weights outputs are made (and resumed) with.
    #[getter]
    fn weights(&self) -> &str {
        &self.weights
    }

    /// The list's other columns (carried into index.csv).
    #[getter]
    fn extra_columns(&self) -> Vec<String> {
        self.batch.extra_columns.clone()
    }

    /// Paths listed again after their first row (extracted once).
    #[getter]
    fn duplicates(&self) -> Vec<PathBuf> {
        self.duplicates.clone()
    }

    fn __len__(&self) -> usize {
        self.batch.entries.len()
    }

    /// The videos in list order, as dicts: ``index``, ``name``, ``path``,
    /// ``output`` (the per-video feature file).
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.batch
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let d = PyDict::new(py);
                d.set_item("index", i)?;
                d.set_item("name", &e.name)?;
                d.set_item("path", &e.path)?;
                d.set_item("output", batch::output_of(&self.batch.out_dir, e))?;
                Ok(d)
            })
            .collect()
    }

    /// Indices of the entries that need work: every one with ``force``,
    /// else those without a complete output from the same video (path,
    /// size, modification time) and weights.
    fn todo(&self, py: Python<'_>) -> Vec<usize> {
        py.detach(|| self.batch.todo(&self.weights))
    }

    /// True when entry ``index`` has a complete output from the same video
    /// and weights (checked again after a worker died: its video may have
    /// been written just before).
    fn is_complete(&self, py: Python<'_>, index: usize) -> PyResult<bool> {
        let e = self.entry(py, index)?;
        let id = self.batch.identity(e, &self.weights);
        Ok(py.detach(|| relaxvqa::files::is_complete(&batch::output_of(&self.batch.out_dir, e), &id)))
    }

    /// The work item of entry ``index`` for ``BatchWorker.extract``.
    fn task<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyDict>> {
        let e = self.entry(py, index)?;
        let d = PyDict::new(py);
        d.set_item("index", index)?;
        d.set_item("name", &e.name)?;
        d.set_item("path", &e.path)?;
        d.set_item("out_dir", &self.batch.out_dir)?;
        d.set_item("f32", self.batch.as_f32)?;
        self.raw.put(&d)?;
        Ok(d)
    }

    /// Writes failures.csv, index.csv and the combined matrix
    /// (features.safetensors, features.npy, features.names.txt: every
    /// complete output, in list order) from one outcome per entry (a dict
    /// as ``BatchWorker.extract`` returns, or None for an entry not run).
    /// Returns ``{"path", "npy", "rows"}`` of the combined matrix.
    fn write_reports<'py>(&self, py: Python<'py>, outcomes: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyDict>> {
        if outcomes.len() != self.batch.entries.len() {
            return Err(input_error(
                py,
                format!("{} outcomes for {} entries: give one per entry", outcomes.len(), self.batch.entries.len()),
            ));
        }
        let outcomes: Vec<Outcome> = outcomes.iter().map(outcome_of).collect::<PyResult<_>>()?;
        let b = &self.batch;
        let combined = py
            .detach(|| batch::write_reports(&b.out_dir, &b.entries, &b.extra_columns, &outcomes, &self.weights))
            .map_err(|e| to_py(py, e))?;
        let d = PyDict::new(py);
        d.set_item("path", combined.path)?;
        d.set_item("npy", combined.npy)?;
        d.set_item("rows", combined.rows)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "ExtractPlan({} videos, out_dir={:?}, weights={:?})",
            self.batch.entries.len(),
            self.batch.out_dir,
            self.weights
        )
    }
}

impl ExtractPlan {
    fn entry(&self, py: Python<'_>, index: usize) -> PyResult<&Entry> {
        self.batch
            .entries
            .get(index)
            .ok_or_else(|| input_error(py, format!("entry {index}: the plan has {}", self.batch.entries.len())))
    }
}

/// One input of a scoring run.
struct ScoreItem {
    name: String,
    path: PathBuf,
}

/// The plan of a dataset scoring: `relaxvqa score --list ... --output CSV`
/// (videos, not saved features). Rows are appended to the CSV as outcomes
/// arrive, in the command line's format, and resume the same way. Made by
/// `score_plan`.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct ScorePlan {
    items: Vec<ScoreItem>,
    key: RunKey,
    head: String,
    scale: OutputScale,
    segments: Option<f64>,
    raw: RawSpec,
    csv: Mutex<Option<ScoresCsv>>,
    output: PathBuf,
    previous: Vec<Option<String>>,
    warning: Option<String>,
}

/// Reads the videos as `relaxvqa score --list LIST INPUTS... --output
/// OUTPUT` does (named by file stem, ``-2``, ``-3`` on clashes), loads the
/// head (to name it in the rows; a zoo name is fetched when not cached)
/// and opens the scores CSV: rows of earlier runs with the same head,
/// weights and scale are kept and their videos skipped (unless ``force``),
/// other rows are dropped.
#[pyfunction]
#[pyo3(signature = (output, *, list = None, inputs = Vec::new(), head = relaxvqa::head::DEFAULT_HEAD.to_owned(), weights = "hub".to_owned(), scale = None, segments = None, path_column = None, video_dir = None, ext = None, force = false, size = None, pix_fmt = None, fps = None))]
#[allow(clippy::too_many_arguments)]
fn score_plan(
    py: Python<'_>,
    output: PathBuf,
    list: Option<PathBuf>,
    inputs: Vec<PathBuf>,
    head: String,
    weights: String,
    scale: Option<String>,
    segments: Option<f64>,
    path_column: Option<String>,
    video_dir: Option<PathBuf>,
    ext: Option<String>,
    force: bool,
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<String>,
) -> PyResult<ScorePlan> {
    let raw = RawSpec { size, pix_fmt, fps };
    let make = move || -> relaxvqa::Result<ScorePlan> {
        raw.parse()?;
        let opts = ListOptions { path_column, video_dir, ext };
        let (rows, _) = batch::collect_rows(list.as_deref(), &inputs, &opts)?;
        let items = score_items(rows);
        if items.is_empty() {
            return Err(invalid("nothing to score: give videos or a list"));
        }
        let loaded = LoadedHead::load(&head)?;
        let scale = scale.as_deref().map(parse_scale).transpose()?.unwrap_or(loaded.output_scale());
        convert(loaded.output_scale(), 0.0, scale)?;
        let key = RunKey {
            model: loaded.name.clone(),
            model_source: loaded.source.clone(),
            weights: weights.clone(),
            scale: scale.as_str().to_owned(),
        };
        let (csv, kept) = ScoresCsv::open(&output, force, &key)?;
        let previous = items
            .iter()
            .map(|it| match kept.get(&it.name) {
                Some(r) if row_matches(r, &Identity::of_file(&it.path, &weights)) => Some(r.score.clone()),
                _ => None,
            })
            .collect();
        Ok(ScorePlan {
            items,
            key,
            head,
            scale,
            segments,
            raw,
            csv: Mutex::new(Some(csv)),
            output,
            previous,
            warning: loaded.warning,
        })
    };
    py.detach(make).map_err(|e| to_py(py, e))
}

/// Names inputs as `relaxvqa score` does (the library's
/// [`relaxvqa::scores::unique_names`]; a path listed twice is scored twice).
fn score_items(rows: Vec<ListRow>) -> Vec<ScoreItem> {
    let stems = rows
        .iter()
        .map(|(p, _)| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into()));
    relaxvqa::scores::unique_names(stems.collect::<Vec<_>>())
        .into_iter()
        .zip(rows)
        .map(|(name, (path, _))| ScoreItem { name, path })
        .collect()
}

#[pymethods]
impl ScorePlan {
    /// The scores CSV.
    #[getter]
    fn output(&self) -> &Path {
        &self.output
    }

    /// The head's name, as the rows record it.
    #[getter]
    fn model(&self) -> &str {
        &self.key.model
    }

    /// The scale of the scores (``"mos_1_5"``, ``"mos_0_100"``, ``"raw"``).
    #[getter]
    fn scale(&self) -> &'static str {
        self.scale.as_str()
    }

    /// What a user should know about the head, or None.
    #[getter]
    fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    fn __len__(&self) -> usize {
        self.items.len()
    }

    /// The videos in list order, as dicts: ``index``, ``name``, ``path``,
    /// ``score`` (the score kept from an earlier run, as written, or None).
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.items
            .iter()
            .zip(&self.previous)
            .enumerate()
            .map(|(i, (it, prev))| {
                let d = PyDict::new(py);
                d.set_item("index", i)?;
                d.set_item("name", &it.name)?;
                d.set_item("path", &it.path)?;
                d.set_item("score", prev)?;
                Ok(d)
            })
            .collect()
    }

    /// Indices of the videos to score (those without a kept row).
    fn todo(&self) -> Vec<usize> {
        (0..self.items.len()).filter(|&i| self.previous[i].is_none()).collect()
    }

    /// The work item of video ``index`` for ``BatchWorker.score``.
    fn task<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyDict>> {
        let it = self.items.get(index).ok_or_else(|| input_error(py, format!("entry {index}: out of range")))?;
        let d = PyDict::new(py);
        d.set_item("index", index)?;
        d.set_item("name", &it.name)?;
        d.set_item("path", &it.path)?;
        d.set_item("scale", self.scale.as_str())?;
        d.set_item("segments", self.segments)?;
        self.raw.put(&d)?;
        Ok(d)
    }

    /// Appends video ``index``'s row to the CSV (flushed), from a dict as
    /// ``BatchWorker.score`` returns: ``{"status": "scored", "score",
    /// "segments": [(start, end, score), ...] or None}`` or ``{"status":
    /// "failed", "error"}``.
    fn append(&self, py: Python<'_>, index: usize, outcome: &Bound<'_, PyDict>) -> PyResult<()> {
        let it = self.items.get(index).ok_or_else(|| input_error(py, format!("entry {index}: out of range")))?;
        let status: String = req(outcome, "status")?;
        let (score, segments, error) = match status.as_str() {
            "scored" => {
                let score: f64 = req(outcome, "score")?;
                let segs: Option<Vec<(f64, f64, f64)>> =
                    outcome.get_item("segments")?.filter(|s| !s.is_none()).map(|s| s.extract()).transpose()?;
                let segs = relaxvqa::scores::segments_column(segs.unwrap_or_default());
                (format!("{score}"), segs, String::new())
            }
            "failed" => (String::new(), String::new(), req(outcome, "error")?),
            other => return Err(input_error(py, format!("outcome status {other:?}: expected scored or failed"))),
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
            ..Default::default()
        }
        .with_identity(&Identity::of_file(&it.path, &self.key.weights));
        let mut csv = self.csv.lock().unwrap_or_else(PoisonError::into_inner);
        let csv = csv.as_mut().ok_or_else(|| input_error(py, "the scores CSV is closed"))?;
        py.detach(|| csv.append(&row)).map_err(|e| to_py(py, e))
    }

    /// Closes the CSV (further ``append`` calls raise).
    fn close(&self) {
        self.csv.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// The head as given (what workers load).
    #[getter]
    fn head(&self) -> &str {
        &self.head
    }

    fn __repr__(&self) -> String {
        format!("ScorePlan({} videos, output={:?}, model={:?})", self.items.len(), self.output, self.key.model)
    }
}

/// A worker's model: the backbones (and a head) loaded once, then one
/// video per call, without the GIL. ``decode_threads``: FFmpeg's per video
/// (0: its choice, which is every core: give the worker's share when
/// several workers share a node). Every failure of a video, a panic
/// included, is returned as its outcome, never raised.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct BatchWorker {
    model: Arc<relaxvqa::Model>,
    decode_threads: usize,
}

#[pymethods]
impl BatchWorker {
    #[new]
    #[pyo3(signature = (weights = "hub".to_owned(), head = None, threads = None, batch_size = 8, max_pixels = Some(relaxvqa::lower::features::DEFAULT_MAX_PIXELS), decode_threads = 0))]
    fn new(
        py: Python<'_>,
        weights: String,
        head: Option<String>,
        threads: Option<usize>,
        batch_size: usize,
        max_pixels: Option<u64>,
        decode_threads: usize,
    ) -> PyResult<Self> {
        let opts = ModelOptions { weights, head, threads, batch_size, max_pixels };
        let model = py.detach(|| relaxvqa::Model::load(opts)).map_err(|e| to_py(py, e))?;
        Ok(Self { model: Arc::new(model), decode_threads })
    }

    /// Extracts one video of an ``ExtractPlan.task`` into its per-video
    /// feature file (``relaxvqa extract --list``'s, byte for byte: written
    /// whole or not at all); returns the outcome dict.
    fn extract<'py>(&self, py: Python<'py>, task: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
        let entry = Entry { name: req(task, "name")?, path: req(task, "path")?, extra: Vec::new() };
        let out_dir: PathBuf = req(task, "out_dir")?;
        let as_f32: bool = task.get_item("f32")?.map(|v| v.extract()).transpose()?.unwrap_or(false);
        let raw = RawSpec::take(task)?;
        let model = &self.model;
        let outcome = py.detach(|| {
            let work = || -> relaxvqa::Result<Outcome> {
                let raw = raw.parse()?;
                let b = ExtractBatch {
                    out_dir,
                    entries: Vec::new(),
                    extra_columns: Vec::new(),
                    force: true,
                    jobs: 1,
                    as_f32,
                    raw,
                };
                let opts = ExtractOptions { decode_threads: self.decode_threads, ..Default::default() };
                b.extract_one(model, &entry, &opts)
            };
            catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(relaxvqa::Error::Panicked(entry.path.display().to_string())))
                .unwrap_or_else(|e| Outcome::Failed { error: e.to_string() })
        });
        outcome_dict(py, &outcome)
    }

    /// Scores one video of a ``ScorePlan.task``; returns ``{"status":
    /// "scored", "score", "segments", "warnings"}`` or ``{"status":
    /// "failed", "error"}``.
    fn score<'py>(&self, py: Python<'py>, task: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyDict>> {
        let path: PathBuf = req(task, "path")?;
        let scale: String = req(task, "scale")?;
        let segments: Option<f64> =
            task.get_item("segments")?.filter(|v| !v.is_none()).map(|v| v.extract()).transpose()?;
        let raw = RawSpec::take(task)?;
        let model = &self.model;
        let result = py.detach(|| {
            let work = || -> relaxvqa::Result<relaxvqa::Score> {
                let mut input = Input::path(&path);
                if let Some(r) = raw.parse()? {
                    input = input.raw(r);
                }
                let opts =
                    ScoreOptions { segments, scale: Some(parse_scale(&scale)?), extract: ExtractOptions::default() };
                model.score(input, &opts)
            };
            catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(relaxvqa::Error::Panicked(path.display().to_string())))
        });
        let d = PyDict::new(py);
        match result {
            Ok(s) => {
                d.set_item("status", "scored")?;
                d.set_item("score", s.score)?;
                let segs: Option<Vec<(f64, f64, f64)>> =
                    s.segments.map(|v| v.iter().map(|g| (g.start, g.end, g.score)).collect());
                d.set_item("segments", segs)?;
                d.set_item("warnings", s.warnings)?;
            }
            Err(e) => {
                d.set_item("status", "failed")?;
                d.set_item("error", e.to_string())?;
            }
        }
        Ok(d)
    }

    /// The backbone weights, as given.
    #[getter]
    fn weights(&self) -> &str {
        self.model.weights()
    }

    /// Compute threads.
    #[getter]
    fn threads(&self) -> usize {
        self.model.threads()
    }

    fn __repr__(&self) -> String {
        format!("BatchWorker(weights={:?}, threads={})", self.model.weights(), self.model.threads())
    }
}
