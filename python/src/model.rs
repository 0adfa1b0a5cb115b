//! `Model` (the library's [`relaxvqa::Model`], shared between Python threads
//! through an `Arc`) and `CancelToken`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use relaxvqa::head::parse_scale;
use relaxvqa::score::parse_duration;
use relaxvqa::{ExtractOptions, ModelOptions, OutputScale, ScoreOptions};

use crate::errors::to_py;
use crate::input::{raw_options, to_input, Converted};
use crate::results::{to_python, Features};
use crate::run::{run, ProgressSlot, Watch};

/// A flag that stops running work: pass it as ``cancel=`` to any number of
/// calls (from any threads) and call ``cancel()`` from another thread; each
/// call then raises ``CancelledError`` within about a network batch's time.
#[pyclass(frozen, from_py_object, module = "relaxvqa")]
#[derive(Clone, Default)]
pub(crate) struct CancelToken {
    inner: relaxvqa::CancelToken,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Asks every call holding this token to stop.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// True once ``cancel()`` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn __repr__(&self) -> String {
        format!("CancelToken(cancelled={})", if self.inner.is_cancelled() { "True" } else { "False" })
    }
}

/// ReLaX-VQA's backbones and, optionally, a quality head, loaded once and
/// shared between threads (``relaxvqa.Model`` documents and extends it).
#[pyclass(frozen, subclass, module = "relaxvqa._native")]
pub(crate) struct Model {
    inner: Arc<relaxvqa::Model>,
    /// The backbone weights, as given.
    #[pyo3(get)]
    weights: String,
    /// The head's name (a zoo name or the head file's stem), or None.
    #[pyo3(get)]
    head: Option<String>,
    /// Where the head came from, or None.
    #[pyo3(get)]
    head_source: Option<String>,
    /// The scale of the head's scores (``"mos_1_5"``, ``"mos_0_100"``,
    /// ``"raw"``), or None.
    #[pyo3(get)]
    scale: Option<String>,
    /// Compute threads.
    #[pyo3(get)]
    threads: usize,
    /// Images per network batch.
    #[pyo3(get)]
    batch_size: usize,
    /// The largest frame accepted, in pixels (None: no limit).
    #[pyo3(get)]
    max_pixels: Option<u64>,
}

/// The per-call options every extraction takes.
struct Call<'py> {
    input: Bound<'py, PyAny>,
    name: Option<String>,
    raw: relaxvqa::RawOptions,
    decode_threads: usize,
    cancel: Option<CancelToken>,
    progress: Option<Bound<'py, PyAny>>,
}

impl Model {
    /// Runs `work` on the converted input with a watcher for Ctrl-C, the
    /// caller's token and progress.
    fn call<T: Send + 'static>(
        &self,
        py: Python<'_>,
        c: Call<'_>,
        base: ExtractOptions,
        work: impl FnOnce(&relaxvqa::Model, relaxvqa::Input, &ExtractOptions) -> relaxvqa::Result<T> + Send + 'static,
    ) -> PyResult<(T, Option<PathBuf>)> {
        let Converted { input, file } = to_input(&c.input, c.name, c.raw)?;
        // `(bar to close, callback)`, from the package's reading of `progress=`.
        let progress = py.import("relaxvqa._progress")?.getattr("callback")?.call1((c.progress, input.name()))?;
        let (bar, callback): (Option<Bound<'_, PyAny>>, Option<Bound<'_, PyAny>>) = progress.extract()?;
        let slot = ProgressSlot::default();
        let opts = ExtractOptions {
            decode_threads: c.decode_threads,
            progress: callback.is_some().then(|| slot.callback()),
            ..base
        };
        let watch = Watch {
            cancel: opts.cancel.clone(),
            caller: c.cancel.map(|t| t.inner),
            progress: callback.map(|cb| (slot, cb)),
            wait_on_interrupt: true,
        };
        let model = Arc::clone(&self.inner);
        let result = run(py, watch, move || work(&model, input, &opts));
        if let Some(bar) = bar {
            bar.call_method0("close")?;
        }
        Ok((result?, file))
    }
}

/// `segments=` (a duration string, or seconds as a number, read by the
/// library's parser so that bad values get its message) and `scale=`.
fn score_args(
    py: Python<'_>,
    segments: Option<&Bound<'_, PyAny>>,
    scale: Option<String>,
) -> PyResult<(Option<f64>, Option<OutputScale>)> {
    let segments = match segments.filter(|s| !s.is_none()) {
        Some(s) => Some(
            parse_duration(&s.str()?.to_string())
                .map_err(|e| to_py(py, relaxvqa::Error::Invalid(format!("segments {e}"))))?,
        ),
        None => None,
    };
    Ok((segments, scale.as_deref().map(parse_scale).transpose().map_err(|e| to_py(py, e))?))
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (head = None, weights = "hub".to_owned(), threads = None, batch_size = relaxvqa::DEFAULT_BATCH_SIZE, max_pixels = Some(relaxvqa::DEFAULT_MAX_PIXELS)))]
    #[pyo3(text_signature = "(head=None, weights='hub', threads=None, batch_size=8, max_pixels=33177600)")]
    fn new(
        py: Python<'_>,
        head: Option<PathBuf>,
        weights: String,
        threads: Option<usize>,
        batch_size: usize,
        max_pixels: Option<u64>,
    ) -> PyResult<Self> {
        let head = head.map(|h| h.to_string_lossy().into_owned());
        let opts = ModelOptions { weights, head, threads, batch_size, max_pixels };
        let watch = Watch { cancel: Default::default(), caller: None, progress: None, wait_on_interrupt: false };
        let inner = run(py, watch, move || relaxvqa::Model::load(opts))?;
        let head = inner.head();
        Ok(Self {
            weights: inner.weights().to_owned(),
            head: head.map(|h| h.name.clone()),
            head_source: head.map(|h| h.source.clone()),
            scale: head.map(|h| h.output_scale().as_str().to_owned()),
            threads: inner.threads(),
            batch_size,
            max_pixels,
            inner: Arc::new(inner),
        })
    }

    /// A video's features with everything known about them (a ``Features``:
    /// values, counts, decoder info, warnings, timings); ``per_sample=True``
    /// keeps each sample's row, ``dump=True`` every intermediate tensor
    /// (short clips only). Other arguments as ``extract``.
    #[pyo3(signature = (input, *, per_sample = false, dump = false, name = None, size = None, pix_fmt = None, fps = None, decode_threads = 0, cancel = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn extract_features<'py>(
        &self,
        py: Python<'py>,
        input: Bound<'py, PyAny>,
        per_sample: bool,
        dump: bool,
        name: Option<String>,
        size: Option<String>,
        pix_fmt: Option<String>,
        fps: Option<Bound<'py, PyAny>>,
        decode_threads: usize,
        cancel: Option<CancelToken>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Features> {
        let c = Call { input, name, raw: raw_options(size, pix_fmt, fps)?, decode_threads, cancel, progress };
        let base = ExtractOptions { per_sample, dump, ..Default::default() };
        let (f, file) = self.call(py, c, base, |m, input, opts| m.extract(input, opts))?;
        Ok(Features::new(f, file))
    }

    /// Extracts a video and writes the feature file the command line writes
    /// (``relaxvqa extract VIDEO -o OUT``; ``dump=True`` as ``--dump all``,
    /// ``f32=True`` as ``--f32``). Returns the ``Features``. Other arguments
    /// as ``extract``.
    #[pyo3(signature = (input, output, *, dump = false, f32 = false, name = None, size = None, pix_fmt = None, fps = None, decode_threads = 0, cancel = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn extract_to_file<'py>(
        &self,
        py: Python<'py>,
        input: Bound<'py, PyAny>,
        output: PathBuf,
        dump: bool,
        f32: bool,
        name: Option<String>,
        size: Option<String>,
        pix_fmt: Option<String>,
        fps: Option<Bound<'py, PyAny>>,
        decode_threads: usize,
        cancel: Option<CancelToken>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Features> {
        let c = Call { input, name, raw: raw_options(size, pix_fmt, fps)?, decode_threads, cancel, progress };
        let base = ExtractOptions { dump, ..Default::default() };
        let written = output.clone();
        let (f, file) = self.call(py, c, base, move |m, input, opts| m.extract_to_file(input, &written, opts, f32))?;
        Ok(Features::new(f, file).written_to(output))
    }

    /// The score document of a video (a dict; ``relaxvqa.Model.score``
    /// wraps it in a ``Score``).
    #[pyo3(signature = (input, *, segments = None, scale = None, name = None, size = None, pix_fmt = None, fps = None, decode_threads = 0, cancel = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn score<'py>(
        &self,
        py: Python<'py>,
        input: Bound<'py, PyAny>,
        segments: Option<Bound<'py, PyAny>>,
        scale: Option<String>,
        name: Option<String>,
        size: Option<String>,
        pix_fmt: Option<String>,
        fps: Option<Bound<'py, PyAny>>,
        decode_threads: usize,
        cancel: Option<CancelToken>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (segments, scale) = score_args(py, segments.as_ref(), scale)?;
        // Refused before the video is decoded.
        self.inner.require_head().map_err(|e| to_py(py, e))?;
        let c = Call { input, name, raw: raw_options(size, pix_fmt, fps)?, decode_threads, cancel, progress };
        let (s, _) = self.call(py, c, ExtractOptions::default(), move |m, input, opts| {
            m.score(input, &ScoreOptions { segments, scale, extract: opts.clone() })
        })?;
        to_python(py, &s)
    }

    /// The score document of features already extracted (a dict; see
    /// ``relaxvqa.Model.score_features``).
    #[pyo3(signature = (features, *, segments = None, scale = None))]
    fn score_features<'py>(
        &self,
        py: Python<'py>,
        features: Bound<'py, Features>,
        segments: Option<Bound<'py, PyAny>>,
        scale: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (segments, scale) = score_args(py, segments.as_ref(), scale)?;
        let head = self.inner.require_head().map_err(|e| to_py(py, e))?;
        let opts = ScoreOptions { segments, scale, extract: ExtractOptions::default() };
        let features = &features.get().inner;
        let s = py.detach(|| relaxvqa::score::score_features(head, features, &opts)).map_err(|e| to_py(py, e))?;
        to_python(py, &s)
    }

    fn __repr__(&self) -> String {
        let head = self.head.as_ref().map(|h| format!("{h:?}")).unwrap_or_else(|| "None".into());
        format!(
            "Model(head={head}, weights={:?}, threads={}, batch_size={})",
            self.weights, self.threads, self.batch_size
        )
    }
}
