//! What a Python object becomes as a video input:
//!
//! - `str` or `os.PathLike`: a local file;
//! - `bytes`: the object itself, held (not copied) while the work runs;
//! - `bytearray`, `memoryview`: copied once into a `bytes` object (their
//!   contents could change while the work runs);
//! - a binary file object (`read`, and `seek` for most containers): read
//!   through [`PyReader`], which takes the GIL for each read;
//! - with `size=` (and `pix_fmt=`, `fps=`): any of these read as headerless
//!   raw video.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};
use relaxvqa::{Input, RawOptions};

use crate::errors::to_py;

/// An input and the file it is, when it is one (for a feature file's
/// identity).
pub(crate) struct Converted {
    pub input: Input,
    pub file: Option<PathBuf>,
}

/// Turns `obj` into an [`Input`]; `name` overrides the name results and
/// messages use for bytes and file objects.
pub(crate) fn to_input(obj: &Bound<'_, PyAny>, name: Option<String>, raw: RawOptions) -> PyResult<Converted> {
    let py = obj.py();
    let raw = raw.parse().map_err(|e| to_py(py, e))?;
    let (input, file) = if obj.is_instance_of::<PyBytes>() {
        let data: PyBackedBytes = obj.extract()?;
        (Input::bytes(name.unwrap_or_else(|| "<bytes>".into()), data), None)
    } else if obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>() {
        // One copy into an immutable `bytes`, then held like one.
        let copy = py.get_type::<PyBytes>().call1((obj,))?;
        let data: PyBackedBytes = copy.extract()?;
        (Input::bytes(name.unwrap_or_else(|| "<bytes>".into()), data), None)
    } else if !obj.is_instance_of::<PyString>() && obj.hasattr("read")? {
        let io = py.import("io")?;
        if obj.is_instance(&io.getattr("TextIOBase")?)? {
            return Err(PyTypeError::new_err("a text file object: open the video in binary mode ('rb')"));
        }
        let name = name.or_else(|| obj.getattr("name").ok().and_then(|n| n.extract::<String>().ok()));
        let reader = PyReader { file: obj.clone().unbind() };
        (Input::reader(name.unwrap_or_else(|| "<file object>".into()), reader), None)
    } else if let Ok(path) = obj.extract::<PathBuf>() {
        (Input::path(path.clone()), Some(path))
    } else {
        let ty = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "expected a path (str or os.PathLike), bytes, bytearray, memoryview or a binary file object, not {ty}"
        )));
    };
    Ok(Converted {
        input: match raw {
            Some(r) => input.raw(r),
            None => input,
        },
        file,
    })
}

/// The raw-video options of `size=`, `pix_fmt=` and `fps=`: `fps` as given
/// (`"30000/1001"`, `25`, `29.97`, a `fractions.Fraction`) becomes its
/// string, which the library validates.
pub(crate) fn raw_options(
    size: Option<String>,
    pix_fmt: Option<String>,
    fps: Option<Bound<'_, PyAny>>,
) -> PyResult<RawOptions> {
    let fps = fps.map(|f| f.str().map(|s| s.to_string())).transpose()?;
    Ok(RawOptions { size, pix_fmt, fps })
}

/// A Python binary file object as `Read + Seek`: each call takes the GIL,
/// calls the object's `read` or `seek`, and lets the GIL go again. It runs on
/// the library's decoder thread while the calling thread waits without the
/// GIL, so the two never block each other.
pub(crate) struct PyReader {
    file: Py<PyAny>,
}

/// A Python exception raised by a file object's method, as an I/O error.
fn io_error(py: Python<'_>, method: &str, e: PyErr) -> io::Error {
    let shown = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    let ty = e.get_type(py).name().map(|n| n.to_string()).unwrap_or_default();
    io::Error::other(format!("the file object's {method}() raised {ty}: {shown}"))
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let got = self.file.bind(py).call_method1("read", (buf.len(),)).map_err(|e| io_error(py, "read", e))?;
            let data: PyBackedBytes = got.extract().map_err(|_| {
                let ty = got.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                io::Error::other(format!("the file object's read() returned {ty}, not bytes: open it in binary mode"))
            })?;
            if data.len() > buf.len() {
                return Err(io::Error::other(format!(
                    "the file object's read({}) returned {} bytes",
                    buf.len(),
                    data.len()
                )));
            }
            buf[..data.len()].copy_from_slice(&data);
            Ok(data.len())
        })
    }
}

impl Seek for PyReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (offset, whence) = match pos {
            SeekFrom::Start(n) => {
                (i64::try_from(n).map_err(|_| io::Error::other(format!("seek to {n}: out of range")))?, 0)
            }
            SeekFrom::Current(n) => (n, 1),
            SeekFrom::End(n) => (n, 2),
        };
        Python::attach(|py| {
            let got = self.file.bind(py).call_method1("seek", (offset, whence)).map_err(|e| io_error(py, "seek", e))?;
            // `seek` returns the new position; some file-likes return None.
            match got.extract::<Option<u64>>() {
                Ok(Some(p)) => Ok(p),
                _ => self
                    .file
                    .bind(py)
                    .call_method0("tell")
                    .and_then(|t| t.extract::<u64>())
                    .map_err(|e| io_error(py, "tell", e)),
            }
        })
    }
}
