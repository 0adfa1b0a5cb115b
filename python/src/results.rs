//! What extraction returns to Python: `Features` (the values with everything
//! the library knows about how they were made), and the bridge that gives
//! Python the library's result documents (a score is one: the package's
//! `Score` class wraps the dict).

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use relaxvqa::files::Identity;
use relaxvqa::TensorData;
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
    /// The feature file written by ``extract_to_file``.
    pub output: Option<PathBuf>,
    /// The input's name (path, or the name given for bytes and file objects).
    #[pyo3(get)]
    input: String,
    /// Frames decoded (N).
    #[pyo3(get)]
    frames: u64,
    /// Sampled frames (|S|).
    #[pyo3(get)]
    sampled_frames: usize,
    /// Frame pairs (|P|).
    #[pyo3(get)]
    pairs: usize,
    /// The sampling interval k.
    #[pyo3(get)]
    frame_interval: u64,
    /// The frame rate (0.0 when the video reports none).
    #[pyo3(get)]
    fps: f64,
    /// What a user should know about the result.
    #[pyo3(get)]
    warnings: Vec<String>,
}

impl Features {
    pub fn new(inner: relaxvqa::Features, file: Option<PathBuf>) -> Self {
        let identity = match &file {
            Some(f) => Identity::of_file(f, &inner.provenance.weights),
            None => Identity::of_name(&inner.provenance.input, &inner.provenance.weights),
        };
        Self {
            input: inner.provenance.input.clone(),
            frames: inner.frames_decoded,
            sampled_frames: inner.sampled_frames,
            pairs: inner.pairs,
            frame_interval: inner.frame_interval,
            fps: inner.fps(),
            warnings: inner.warnings.clone(),
            inner,
            identity,
            output: None,
        }
    }

    /// The same features, saved at `output` (``to_dict()`` names it).
    pub fn written_to(self, output: PathBuf) -> Self {
        Self { output: Some(output), ..self }
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

    /// What ``relaxvqa extract --json`` prints about this extraction (a dict:
    /// schema, video, output, weights, width, height, r_frame_rate, frames,
    /// frame_interval, sampled_frames, pairs, seconds, timings, warnings,
    /// decode, relaxvqa_version).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.summary(self.output.as_deref()))
    }

    /// Writes the feature file the command line writes (``relaxvqa extract
    /// -o PATH``): ``video.features`` (float64, or float32 with
    /// ``f32=True``), the counts, and every intermediate when dumped.
    #[pyo3(signature = (path, *, f32 = false))]
    fn save(&self, py: Python<'_>, path: PathBuf, f32: bool) -> PyResult<()> {
        py.detach(|| relaxvqa::files::write_features(&path, &self.inner, &self.identity, f32)).map_err(|e| to_py(py, e))
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
