//! Datasets split across processes or machines (`relaxvqa.ray`): thin
//! wrappers of the library's batches, so a scheduler in Python only hands
//! out work and collects outcomes.
//!
//! - [`ExtractPlan`] (driver): the library's [`ExtractBatch`] (the list
//!   read and named, what needs work, the reports at the end);
//! - [`ScorePlan`] (driver): the library's [`ScoreBatch`] (rows appended to
//!   the scores CSV as outcomes arrive);
//! - [`BatchWorker`] (worker): a model loaded once, one [`ExtractTask`] or
//!   [`ScoreTask`] per call, with the GIL released.
//!
//! Tasks and outcomes are the library's serde types, crossing process
//! boundaries as plain dicts (picklable by any scheduler).

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use relaxvqa::batch::{
    ExtractBatch, ExtractTask, ListOptions, Outcome, ScoreBatch, ScoreBatchOptions, ScoreOutcome, ScoreTask, Videos,
};
use relaxvqa::{ExtractOptions, ModelOptions, RawOptions};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::errors::{input_error, to_py};
use crate::results::to_python;

/// Registers this module's classes and functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ExtractPlan>()?;
    m.add_class::<ScorePlan>()?;
    m.add_class::<BatchWorker>()?;
    m.add_function(wrap_pyfunction!(extract_plan, m)?)?;
    m.add_function(wrap_pyfunction!(score_plan, m)?)?;
    Ok(())
}

/// A plain Python value (a task or outcome dict) as a library type, through
/// JSON; a malformed one is an `InputError` naming what was wrong.
fn from_python<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let py = obj.py();
    let text: String = py.import("json")?.call_method1("dumps", (obj,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| input_error(py, format!("{what}: {e}")))
}

/// The plan of a dataset extraction: `relaxvqa extract --list` up to the
/// point where videos are extracted, and its reports afterwards. Made by
/// `extract_plan`.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct ExtractPlan {
    batch: ExtractBatch,
    /// The output folder.
    #[pyo3(get)]
    out_dir: PathBuf,
    /// The backbone weights outputs are made (and resumed) with.
    #[pyo3(get)]
    weights: String,
    /// The list's other columns (carried into index.csv).
    #[pyo3(get)]
    extra_columns: Vec<String>,
    /// Paths listed again after their first row (extracted once).
    #[pyo3(get)]
    duplicates: Vec<PathBuf>,
}

/// The keyword arguments of `extract_plan` and `score_plan`, named as the
/// command line's flags; an unknown one is an InputError.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PlanArgs {
    list: Option<PathBuf>,
    inputs: Vec<PathBuf>,
    weights: Option<String>,
    head: Option<String>,
    scale: Option<String>,
    segments: Option<f64>,
    path_column: Option<String>,
    video_dir: Option<PathBuf>,
    ext: Option<String>,
    force: bool,
    f32: bool,
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<String>,
}

impl PlanArgs {
    fn read(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        options.map(|o| from_python(o.as_any(), "options")).transpose().map(Option::unwrap_or_default)
    }

    fn videos(&mut self) -> Videos {
        let list_options = ListOptions {
            path_column: self.path_column.take(),
            video_dir: self.video_dir.take(),
            ext: self.ext.take(),
        };
        Videos { list: self.list.take(), inputs: std::mem::take(&mut self.inputs), list_options }
    }

    fn raw(&mut self) -> RawOptions {
        RawOptions { size: self.size.take(), pix_fmt: self.pix_fmt.take(), fps: self.fps.take() }
    }
}

/// Reads the videos of a dataset as `relaxvqa extract --list LIST INPUTS...
/// --out-dir OUT_DIR` does (keywords: ``list``, ``inputs``, ``weights``,
/// ``path_column``, ``video_dir``, ``ext``, ``force``, ``f32``, ``size``,
/// ``pix_fmt``, ``fps``), names them, drops repeated paths
/// (``duplicates``), creates the output folder and checks it is writable.
/// Raises InputError when there is no video.
#[pyfunction]
#[pyo3(signature = (out_dir, **options))]
fn extract_plan(py: Python<'_>, out_dir: PathBuf, options: Option<&Bound<'_, PyDict>>) -> PyResult<ExtractPlan> {
    let mut a = PlanArgs::read(options)?;
    if a.head.is_some() || a.scale.is_some() || a.segments.is_some() {
        return Err(input_error(py, "extract_plan takes no head, scale or segments (score_plan does)"));
    }
    let videos = a.videos();
    let make = move || -> relaxvqa::Result<ExtractPlan> {
        let (batch, duplicates) = ExtractBatch::plan(&videos, out_dir)?;
        let batch = batch.with_force(a.force).with_f32(a.f32).with_raw(a.raw());
        batch.prepare()?;
        let (out_dir, extra_columns) = (batch.out_dir().to_path_buf(), batch.extra_columns().to_vec());
        Ok(ExtractPlan {
            batch,
            out_dir,
            weights: a.weights.unwrap_or_else(|| "hub".into()),
            extra_columns,
            duplicates,
        })
    };
    py.detach(make).map_err(|e| to_py(py, e))
}

#[pymethods]
impl ExtractPlan {
    fn __len__(&self) -> usize {
        self.batch.entries().len()
    }

    /// The videos in list order, as dicts: ``index``, ``name``, ``path``,
    /// ``output`` (the per-video feature file).
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.batch.entry_docs().iter().map(|d| to_python(py, d)).collect()
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
        py.detach(|| self.batch.is_complete(index, &self.weights)).map_err(|e| to_py(py, e))
    }

    /// The work item of entry ``index`` for ``BatchWorker.extract``.
    fn task<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.batch.task(index).map_err(|e| to_py(py, e))?)
    }

    /// Writes failures.csv, index.csv and the combined matrix
    /// (features.safetensors, features.npy, features.names.txt: every
    /// complete output, in list order) from one outcome per entry (a dict
    /// as ``BatchWorker.extract`` returns, or None for an entry not run).
    /// Returns ``{"path", "npy", "rows"}`` of the combined matrix.
    fn write_reports<'py>(&self, py: Python<'py>, outcomes: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        let outcomes: Vec<Outcome> = outcomes
            .iter()
            .map(|o| if o.is_none() { Ok(Outcome::Skipped) } else { from_python(o, "outcome") })
            .collect::<PyResult<_>>()?;
        let combined = py.detach(|| self.batch.write_reports(&outcomes, &self.weights)).map_err(|e| to_py(py, e))?;
        to_python(py, &combined)
    }

    fn __repr__(&self) -> String {
        format!(
            "ExtractPlan({} videos, out_dir={:?}, weights={:?})",
            self.batch.entries().len(),
            self.out_dir,
            self.weights
        )
    }
}

/// The plan of a dataset scoring: `relaxvqa score --list ... --output CSV`.
/// Rows are appended to the CSV as outcomes arrive, in the command line's
/// format, and resume the same way. Made by `score_plan`.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct ScorePlan {
    batch: ScoreBatch,
    /// The scores CSV.
    #[pyo3(get)]
    output: PathBuf,
    /// The head's name, as the rows record it.
    #[pyo3(get)]
    model: String,
    /// The scale of the scores (``"mos_1_5"``, ``"mos_0_100"``, ``"raw"``).
    #[pyo3(get)]
    scale: &'static str,
    /// What a user should know about the head, or None.
    #[pyo3(get)]
    warning: Option<String>,
    /// The head as given (what workers load).
    #[pyo3(get)]
    head: String,
}

/// Reads the videos as `relaxvqa score --list LIST INPUTS... --output
/// OUTPUT` does (keywords as ``extract_plan``'s, and ``head``, ``scale``,
/// ``segments`` in seconds; no ``f32``), loads the head (to name it in the
/// rows; a zoo name is fetched when not cached) and opens the scores CSV:
/// rows of earlier runs with the same head, weights, scale and segments
/// are kept and their videos skipped (unless ``force``), other rows are
/// dropped.
#[pyfunction]
#[pyo3(signature = (output, **options))]
fn score_plan(py: Python<'_>, output: PathBuf, options: Option<&Bound<'_, PyDict>>) -> PyResult<ScorePlan> {
    let mut a = PlanArgs::read(options)?;
    let opts = ScoreBatchOptions {
        videos: a.videos(),
        raw: a.raw(),
        head: a.head.unwrap_or_else(|| relaxvqa::head::DEFAULT_HEAD.into()),
        weights: a.weights.unwrap_or_else(|| "hub".into()),
        scale: a.scale,
        segments: a.segments,
        output: Some(output.clone()),
        force: a.force,
        features: Vec::new(),
    };
    let batch = py.detach(|| ScoreBatch::plan(opts)).map_err(|e| to_py(py, e))?;
    let (model, warning) = (batch.head().name.clone(), batch.head().warning.clone());
    Ok(ScorePlan { output, model, scale: batch.scale().as_str(), warning, head: batch.head_spec().to_owned(), batch })
}

#[pymethods]
impl ScorePlan {
    fn __len__(&self) -> usize {
        self.batch.items().len()
    }

    /// The videos in list order, as dicts: ``index``, ``name``, ``path``,
    /// ``score`` (the score kept from an earlier run, or None).
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.batch.item_docs().iter().map(|d| to_python(py, d)).collect()
    }

    /// Indices of the videos to score (those without a kept row).
    fn todo(&self) -> Vec<usize> {
        self.batch.todo()
    }

    /// The work item of video ``index`` for ``BatchWorker.score``.
    fn task<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.batch.task(index).map_err(|e| to_py(py, e))?)
    }

    /// Appends video ``index``'s row to the CSV (flushed), from an outcome
    /// dict as ``BatchWorker.score`` returns. The outcome is read with the
    /// GIL held; the CSV's lock is taken only after the GIL is released, so
    /// threads appending at once never wait on each other for both.
    fn append(&self, py: Python<'_>, index: usize, outcome: &Bound<'_, PyAny>) -> PyResult<()> {
        let outcome: ScoreOutcome = from_python(outcome, "outcome")?;
        py.detach(|| self.batch.record(index, &outcome)).map_err(|e| to_py(py, e))
    }

    /// Closes the CSV (further ``append`` calls raise).
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.batch.close());
    }

    fn __repr__(&self) -> String {
        format!("ScorePlan({} videos, output={:?}, model={:?})", self.batch.items().len(), self.output, self.model)
    }
}

/// A worker's model: the backbones (and a head) loaded once, then one
/// video per call, without the GIL. ``decode_threads``: FFmpeg's per video
/// (0: its choice, which is every core: give the worker's share when
/// several workers share a node). Every failure of a video, a panic
/// included, is returned as its outcome, never raised.
#[pyclass(frozen, module = "relaxvqa._native")]
pub(crate) struct BatchWorker {
    model: relaxvqa::Model,
    decode_threads: usize,
    /// The backbone weights, as given.
    #[pyo3(get)]
    weights: String,
    /// Compute threads.
    #[pyo3(get)]
    threads: usize,
}

#[pymethods]
impl BatchWorker {
    #[new]
    #[pyo3(signature = (weights = "hub".to_owned(), head = None, threads = None, batch_size = relaxvqa::DEFAULT_BATCH_SIZE, max_pixels = Some(relaxvqa::DEFAULT_MAX_PIXELS), decode_threads = 0))]
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
        Ok(Self { weights: model.weights().to_owned(), threads: model.threads(), model, decode_threads })
    }

    /// Extracts one video of an ``ExtractPlan.task`` into its per-video
    /// feature file (``relaxvqa extract --list``'s, byte for byte: written
    /// whole or not at all); returns the outcome dict.
    fn extract<'py>(&self, py: Python<'py>, task: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let task: ExtractTask = from_python(task, "task")?;
        let opts = ExtractOptions { decode_threads: self.decode_threads, ..Default::default() };
        to_python(py, &py.detach(|| task.run(&self.model, &opts)))
    }

    /// Scores one video of a ``ScorePlan.task``; returns ``{"status":
    /// "scored", "score", ...}`` (the fields of ``Score.to_dict()``) or
    /// ``{"status": "failed", "error"}``.
    fn score<'py>(&self, py: Python<'py>, task: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let task: ScoreTask = from_python(task, "task")?;
        let opts = ExtractOptions { decode_threads: self.decode_threads, ..Default::default() };
        to_python(py, &py.detach(|| task.run(&self.model, &opts)))
    }

    fn __repr__(&self) -> String {
        format!("BatchWorker(weights={:?}, threads={})", self.weights, self.threads)
    }
}
