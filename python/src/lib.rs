//! `relaxvqa._native`: the Python bindings of the `relaxvqa` library.
//!
//! The public package is `relaxvqa` (`python/relaxvqa/__init__.py`), which
//! re-exports these classes, adds the batch helpers (`extract_many`,
//! `score_many`) and defines the exception classes this module raises.
//!
//! - [`model`]: `Model` (backbones and a head, loaded once), `CancelToken`;
//! - [`input`]: what a Python object becomes as a video input;
//! - [`run`]: running the library's work off the interpreter, with Ctrl-C;
//! - [`results`]: `Features`, and result documents as Python values;
//! - [`errors`]: the library's errors as the package's exception classes.

// The closures handed to the worker thread return the library's
// `relaxvqa::Result` unchanged; its error type (128 bytes) is the library's
// to shrink, not this crate's.
#![allow(clippy::result_large_err)]

mod batch;
mod errors;
mod input;
mod model;
mod results;
mod run;

use pyo3::prelude::*;

/// The native half of the `relaxvqa` package; import `relaxvqa` instead.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // FFmpeg's own log lines would repeat the one-line errors this module
    // raises, in its words, on the user's stderr.
    relaxvqa::quiet_ffmpeg_log();
    m.add("__version__", relaxvqa::VERSION)?;
    m.add("FEATURE_LEN", relaxvqa::FEATURE_LEN)?;
    m.add("DEFAULT_HEAD", relaxvqa::head::DEFAULT_HEAD)?;
    m.add("DEFAULT_MAX_PIXELS", relaxvqa::DEFAULT_MAX_PIXELS)?;
    m.add("DEFAULT_BATCH_SIZE", relaxvqa::DEFAULT_BATCH_SIZE)?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::CancelToken>()?;
    m.add_class::<results::Features>()?;
    m.add_function(wrap_pyfunction!(heads, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    batch::register(m)?;
    Ok(())
}

/// The names of the published quality heads (``Model(head=NAME)``).
#[pyfunction]
fn heads() -> Vec<&'static str> {
    relaxvqa::published::list().0.into_iter().map(|h| h.name).collect()
}

/// Opens a path or bytes and checks them against the decoder's limits
/// (``max_pixels``; the untrusted-input limits for bytes) without loading
/// a model; raises the error extraction would raise. For the module-level
/// functions, which call it before they load a model.
#[pyfunction]
#[pyo3(signature = (input, max_pixels, size = None, pix_fmt = None, fps = None, name = None))]
fn probe(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    max_pixels: Option<u64>,
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<Bound<'_, PyAny>>,
    name: Option<String>,
) -> PyResult<()> {
    let raw = input::raw_options(size, pix_fmt, fps)?;
    let converted = input::to_input(input, name, raw)?;
    let limits = relaxvqa::Limits { max_pixels, ..Default::default() };
    py.detach(move || relaxvqa::probe(converted.input, &limits).map(drop)).map_err(|e| errors::to_py(py, e))
}

/// Seconds in a window length such as ``"2s"``, ``"500ms"``, ``"1m"`` or
/// ``"1.5"``; raises InputError for anything else.
#[pyfunction]
fn parse_duration(py: Python<'_>, text: &str) -> PyResult<f64> {
    relaxvqa::score::parse_duration(text).map_err(|e| errors::to_py(py, e))
}
