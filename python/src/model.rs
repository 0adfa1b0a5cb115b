//! `Model` (the library's [`relaxvqa::Model`], shared between Python threads
//! through an `Arc`) and `CancelToken`.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::PyBool;
use relaxvqa::head::parse_scale;
use relaxvqa::score::parse_duration;
use relaxvqa::{ExtractOptions, ModelOptions, ScoreOptions};

use crate::errors::{input_error, to_py};
use crate::input::{to_input, Converted, RawArgs};
use crate::results::{Features, Score};
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

/// ReLaX-VQA: both backbones and, optionally, a quality head, loaded once.
///
/// ``head``: a published head (``relaxvqa.heads()``, e.g. ``"konvid-1k"``)
/// or a head file (``.safetensors``); None for a model that only extracts.
/// ``weights``: ``"hub"`` (the real pretrained weights, cached, downloaded
/// when missing), a folder or file, ``"resnet50=SRC,vit=SRC"``, or
/// ``"synthetic"`` (deterministic, for tests only). ``threads``: compute
/// threads (default: all cores). ``batch_size``: images per network batch.
/// ``max_pixels``: refuse larger frames (None: no limit).
///
/// A model can be used from several Python threads at once; the work runs
/// without the GIL, and Ctrl-C stops it.
#[pyclass(frozen, subclass, module = "relaxvqa._native")]
pub(crate) struct Model {
    inner: Arc<relaxvqa::Model>,
    batch_size: usize,
    max_pixels: Option<u64>,
}

/// The per-call options every extraction takes.
struct Call<'py> {
    input: Bound<'py, PyAny>,
    name: Option<String>,
    raw: RawArgs<'py>,
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
        let Converted { input, file } = to_input(&c.input, c.name, &c.raw)?;
        let (bar, callback) = progress_callback(py, c.progress.as_ref(), &input.name())?;
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

/// The progress callback of `progress=`: None or False for none, True for
/// the package's bar (returned too, to close it), or a callable taking
/// `(done, total)`.
#[allow(clippy::type_complexity)]
fn progress_callback<'py>(
    py: Python<'py>,
    progress: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<(Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>)> {
    let Some(p) = progress.filter(|p| !p.is_none()) else { return Ok((None, None)) };
    if let Ok(b) = p.cast::<PyBool>() {
        if !b.is_true() {
            return Ok((None, None));
        }
        let bar = py.import("relaxvqa._progress")?.getattr("Bar")?.call1((name, "samples"))?;
        return Ok((Some(bar.clone()), Some(bar)));
    }
    if !p.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "progress: expected True, False or a callable taking (done, total)",
        ));
    }
    Ok((None, Some(p.clone())))
}

/// `segments=`: a duration string, or seconds as a number.
fn segments_arg(py: Python<'_>, segments: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    let Some(s) = segments.filter(|s| !s.is_none()) else { return Ok(None) };
    let text = match s.extract::<String>() {
        Ok(t) => t,
        Err(_) => match s.extract::<f64>() {
            // The library's parser, so that bad numbers get its message.
            Ok(v) => format!("{v}"),
            Err(_) => return Err(input_error(py, "segments: expected a duration such as \"2s\" or seconds")),
        },
    };
    parse_duration(&text).map(Some).map_err(|e| to_py(py, e))
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
        Ok(Self { inner: Arc::new(inner), batch_size, max_pixels })
    }

    /// The 35,203 ReLaX-VQA features of a video, as a float64 NumPy array.
    ///
    /// ``input``: a path (str or os.PathLike), ``bytes`` / ``bytearray`` /
    /// ``memoryview`` holding a video file, or a binary file object
    /// (``open(p, "rb")``, ``io.BytesIO``). With ``size="WxH"`` (and
    /// ``pix_fmt=``, default yuv420p; ``fps=``, default 25) the input is
    /// headerless raw video. ``name`` names a bytes or file-object input in
    /// results and messages. ``decode_threads``: FFmpeg's (0: its choice).
    /// ``cancel``: a CancelToken. ``progress``: True for a progress bar, or a
    /// callable taking ``(done, total)`` samples.
    #[pyo3(signature = (input, *, name = None, size = None, pix_fmt = None, fps = None, decode_threads = 0, cancel = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn extract<'py>(
        &self,
        py: Python<'py>,
        input: Bound<'py, PyAny>,
        name: Option<String>,
        size: Option<String>,
        pix_fmt: Option<String>,
        fps: Option<Bound<'py, PyAny>>,
        decode_threads: usize,
        cancel: Option<CancelToken>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let c = Call { input, name, raw: RawArgs { size, pix_fmt, fps }, decode_threads, cancel, progress };
        let (values, _) =
            self.call(py, c, ExtractOptions::default(), |m, input, opts| m.extract(input, opts).map(|f| f.values))?;
        Ok(values.into_pyarray(py))
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
        let c = Call { input, name, raw: RawArgs { size, pix_fmt, fps }, decode_threads, cancel, progress };
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
        let c = Call { input, name, raw: RawArgs { size, pix_fmt, fps }, decode_threads, cancel, progress };
        let base = ExtractOptions { dump, ..Default::default() };
        let (f, file) = self.call(py, c, base, move |m, input, opts| m.extract_to_file(input, &output, opts, f32))?;
        Ok(Features::new(f, file))
    }

    /// A video's quality score with the model's head (a ``Score``).
    ///
    /// ``segments``: also score windows of this length (``"2s"``,
    /// ``"500ms"``, or seconds as a number). ``scale``: report on ``"1-5"``,
    /// ``"0-100"`` or ``"raw"`` instead of the head's own. Other arguments as
    /// ``extract``.
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
    ) -> PyResult<Score> {
        let segments = segments_arg(py, segments.as_ref())?;
        let scale = scale.as_deref().map(parse_scale).transpose().map_err(|e| to_py(py, e))?;
        // Refused before the video is decoded.
        self.inner.require_head().map_err(|e| to_py(py, e))?;
        let c = Call { input, name, raw: RawArgs { size, pix_fmt, fps }, decode_threads, cancel, progress };
        let (s, _) = self.call(py, c, ExtractOptions::default(), move |m, input, opts| {
            m.score(input, &ScoreOptions { segments, scale, extract: opts.clone() })
        })?;
        Ok(Score { inner: s })
    }

    /// Scores features already extracted (a ``Features`` from
    /// ``extract_features``; ``segments`` needs it made with
    /// ``per_sample=True``), without decoding the video again.
    #[pyo3(signature = (features, *, segments = None, scale = None))]
    fn score_features(
        &self,
        py: Python<'_>,
        features: Bound<'_, Features>,
        segments: Option<Bound<'_, PyAny>>,
        scale: Option<String>,
    ) -> PyResult<Score> {
        let segments = segments_arg(py, segments.as_ref())?;
        let scale = scale.as_deref().map(parse_scale).transpose().map_err(|e| to_py(py, e))?;
        let head = self.inner.require_head().map_err(|e| to_py(py, e))?;
        let opts = ScoreOptions { segments, scale, extract: ExtractOptions::default() };
        let features = &features.get().inner;
        let s = py.detach(|| relaxvqa::score::score_features(head, features, &opts)).map_err(|e| to_py(py, e))?;
        Ok(Score { inner: s })
    }

    /// The backbone weights, as given.
    #[getter]
    fn weights(&self) -> &str {
        self.inner.weights()
    }

    /// The head's name (a zoo name or the head file's stem), or None.
    #[getter]
    fn head(&self) -> Option<&str> {
        self.inner.head().map(|h| h.name.as_str())
    }

    /// Where the head came from, or None.
    #[getter]
    fn head_source(&self) -> Option<&str> {
        self.inner.head().map(|h| h.source.as_str())
    }

    /// The scale of the head's scores (``"mos_1_5"``, ``"mos_0_100"``,
    /// ``"raw"``), or None.
    #[getter]
    fn scale(&self) -> Option<&'static str> {
        self.inner.head().map(|h| h.output_scale().as_str())
    }

    /// Compute threads.
    #[getter]
    fn threads(&self) -> usize {
        self.inner.threads()
    }

    /// Images per network batch.
    #[getter]
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The largest frame accepted, in pixels (None: no limit).
    #[getter]
    fn max_pixels(&self) -> Option<u64> {
        self.max_pixels
    }

    fn __repr__(&self) -> String {
        let head = self.inner.head().map(|h| format!("{:?}", h.name)).unwrap_or_else(|| "None".into());
        format!(
            "Model(head={head}, weights={:?}, threads={}, batch_size={})",
            self.inner.weights(),
            self.inner.threads(),
            self.batch_size
        )
    }
}
