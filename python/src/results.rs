//! What extraction and scoring return to Python: `Features` (the values with
//! everything the library knows about how they were made), `Score` and its
//! `Segment`s.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use relaxvqa::extract::TensorData;
use relaxvqa::files::Identity;
use serde::Serialize;

use crate::errors::{raise, to_py};

/// A serialisable value as plain Python objects (through `json.loads`, so
/// dictionaries read exactly as the command line's `--json`).
pub(crate) fn to_python<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| raise(py, "Error", format!("cannot convert a result: {e}")))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// A video's features and how they were made (``Model.extract_features``).
///
/// ``values`` is the 35,203-value vector (float64); ``numpy.asarray(f)`` is
/// the same array. ``per_sample`` and ``dump`` are filled when asked for.
#[pyclass(frozen, module = "relaxvqa")]
pub(crate) struct Features {
    pub inner: relaxvqa::Features,
    pub identity: Identity,
}

impl Features {
    pub fn new(inner: relaxvqa::Features, file: Option<PathBuf>) -> Self {
        let identity = match &file {
            Some(f) => Identity::of_file(f, &inner.provenance.weights),
            None => Identity::of_name(&inner.provenance.input, &inner.provenance.weights),
        };
        Self { inner, identity }
    }

    /// Writes the feature file (see `save`).
    pub fn write(&self, py: Python<'_>, path: PathBuf, f32: bool) -> PyResult<()> {
        py.detach(|| relaxvqa::files::write_features(&path, &self.inner, &self.identity, f32)).map_err(|e| to_py(py, e))
    }
}

#[pymethods]
impl Features {
    /// The 35,203 features (float64; the four fragment blocks are NaN when
    /// the video has no frame pair). A new array on each access.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.values.clone().into_pyarray(py)
    }

    /// Each sample's own row (float32, shape ``(samples, 35203)``) when
    /// extracted with ``per_sample=True``, else None.
    #[getter]
    fn per_sample<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(rows) = &self.inner.per_sample else { return Ok(None) };
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.values.iter().copied()).collect();
        let array = flat.into_pyarray(py).reshape([rows.len(), relaxvqa::FEATURE_LEN])?;
        Ok(Some(array.into_any()))
    }

    /// The frame number of each ``per_sample`` row, else None.
    #[getter]
    fn frame_numbers(&self) -> Option<Vec<u64>> {
        self.inner.per_sample.as_ref().map(|rows| rows.iter().map(|r| r.frame_number).collect())
    }

    /// Every intermediate tensor under the reference fixtures' names (a dict
    /// of NumPy arrays) when extracted with ``dump=True``, else None.
    #[getter]
    fn dump<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(dump) = &self.inner.dump else { return Ok(None) };
        let out = PyDict::new(py);
        for (name, t) in dump {
            let array = match &t.data {
                TensorData::U8(v) => v.clone().into_pyarray(py).reshape(t.shape.clone())?.into_any(),
                TensorData::F32(v) => v.clone().into_pyarray(py).reshape(t.shape.clone())?.into_any(),
                TensorData::F64(v) => v.clone().into_pyarray(py).reshape(t.shape.clone())?.into_any(),
                TensorData::I64(v) => v.clone().into_pyarray(py).reshape(t.shape.clone())?.into_any(),
            };
            out.set_item(name, array)?;
        }
        Ok(Some(out))
    }

    /// The input's name (path, or the name given for bytes and file objects).
    #[getter]
    fn input(&self) -> &str {
        &self.inner.provenance.input
    }

    /// Frames decoded (N).
    #[getter]
    fn frames(&self) -> u64 {
        self.inner.frames_decoded
    }

    /// Sampled frames (|S|).
    #[getter]
    fn sampled_frames(&self) -> usize {
        self.inner.sampled_frames
    }

    /// Frame pairs (|P|).
    #[getter]
    fn pairs(&self) -> usize {
        self.inner.pairs
    }

    /// The sampling interval k.
    #[getter]
    fn frame_interval(&self) -> u64 {
        self.inner.frame_interval
    }

    /// The frame rate (0.0 when the video reports none).
    #[getter]
    fn fps(&self) -> f64 {
        self.inner.fps()
    }

    /// What a user should know about the result.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// What the decoder reported: path, width, height, r_frame_rate,
    /// frame_count, pixel_format, codec, rotation, duration_seconds.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &relaxvqa::VideoSummary::from(&self.inner.info))
    }

    /// Seconds spent in each stage (stages overlap).
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.timings)
    }

    /// What was computed from what: input, weights, version and counts.
    #[getter]
    fn provenance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.provenance)
    }

    /// Writes the feature file the command line writes (``relaxvqa extract
    /// -o PATH``): ``video.features`` (float64, or float32 with
    /// ``f32=True``), the counts, and every intermediate when dumped.
    #[pyo3(signature = (path, *, f32 = false))]
    fn save(&self, py: Python<'_>, path: PathBuf, f32: bool) -> PyResult<()> {
        self.write(py, path, f32)
    }

    /// The values as an array (``numpy.asarray(features)``).
    #[pyo3(signature = (dtype = None, copy = None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = copy; // always a new array
        let values = self.values(py).into_any();
        match dtype {
            Some(d) => values.call_method1("astype", (d,)),
            None => Ok(values),
        }
    }

    fn __len__(&self) -> usize {
        self.inner.values.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Features(input={:?}, frames={}, sampled_frames={}, pairs={}, values=<{} float64>)",
            self.inner.provenance.input,
            self.inner.frames_decoded,
            self.inner.sampled_frames,
            self.inner.pairs,
            self.inner.values.len()
        )
    }
}

/// The score of one time window of a video (``Score.segments``).
#[pyclass(frozen, module = "relaxvqa", get_all)]
#[derive(Clone)]
pub(crate) struct Segment {
    /// Start, seconds.
    start: f64,
    /// End, seconds (the window's nominal end, or the video's end).
    end: f64,
    /// Sampled frames in the window.
    frames: usize,
    /// Of which have a pair.
    pairs: usize,
    /// The window's score, on the result's scale.
    score: f64,
}

#[pymethods]
impl Segment {
    /// ``{"start", "end", "frames", "pairs", "score"}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("start", self.start)?;
        d.set_item("end", self.end)?;
        d.set_item("frames", self.frames)?;
        d.set_item("pairs", self.pairs)?;
        d.set_item("score", self.score)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Segment(start={}, end={}, frames={}, pairs={}, score={})",
            self.start, self.end, self.frames, self.pairs, self.score
        )
    }
}

/// A video's quality score (``Model.score``): the whole video's, per-window
/// scores when asked for, and how it was made.
#[pyclass(frozen, module = "relaxvqa")]
pub(crate) struct Score {
    pub inner: relaxvqa::Score,
}

#[pymethods]
impl Score {
    /// The whole video's score.
    #[getter]
    fn score(&self) -> f64 {
        self.inner.score
    }

    /// The scale of every score here: ``"mos_1_5"``, ``"mos_0_100"`` or
    /// ``"raw"``.
    #[getter]
    fn scale(&self) -> &'static str {
        self.inner.scale.as_str()
    }

    /// Per-window scores (``segments=`` given), else None.
    #[getter]
    fn segments<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Some(segments) = &self.inner.segments else { return Ok(None) };
        let items = segments.iter().map(|s| Segment {
            start: s.start,
            end: s.end,
            frames: s.frames,
            pairs: s.pairs,
            score: s.score,
        });
        Ok(Some(PyList::new(py, items)?))
    }

    /// What a user should know about the result.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings.clone()
    }

    /// The head that scored.
    #[getter]
    fn model(&self) -> &str {
        &self.inner.model
    }

    /// Where the head came from.
    #[getter]
    fn model_source(&self) -> &str {
        &self.inner.model_source
    }

    /// The input's name.
    #[getter]
    fn input(&self) -> &str {
        &self.inner.provenance.input
    }

    /// What was scored, with which weights, by which version.
    #[getter]
    fn provenance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.provenance)
    }

    /// Everything as plain Python objects: score, scale, segments (a list of
    /// dicts or None), warnings, model, model_source, provenance.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }

    /// ``to_dict()`` as a JSON string.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.inner).map_err(|e| raise(py, "Error", format!("cannot convert a result: {e}")))
    }

    fn __float__(&self) -> f64 {
        self.inner.score
    }

    fn __repr__(&self) -> String {
        let segments = self.inner.segments.as_ref().map(|s| s.len().to_string()).unwrap_or_else(|| "None".into());
        format!(
            "Score(score={}, scale={:?}, model={:?}, input={:?}, segments={segments})",
            self.inner.score,
            self.inner.scale.as_str(),
            self.inner.model,
            self.inner.provenance.input
        )
    }
}
