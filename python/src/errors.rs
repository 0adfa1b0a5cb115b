//! The library's errors as Python exceptions. The classes are defined in
//! Python (`relaxvqa/_errors.py`, so they can also derive from `ValueError`
//! and `OSError`); each one is chosen by [`relaxvqa::Error::kind`] and carries
//! the library's one-line message unchanged.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use relaxvqa::ErrorKind;

/// The module the exception classes live in.
const ERRORS_MODULE: &str = "relaxvqa._errors";

/// The exception class of an error kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Decode => "DecodeError",
        ErrorKind::Refused => "RefusedError",
        ErrorKind::Limit => "LimitError",
        ErrorKind::Weights => "WeightsError",
        ErrorKind::Model => "ModelError",
        ErrorKind::Input => "InputError",
        ErrorKind::Io => "FileError",
        ErrorKind::Cancelled => "CancelledError",
        // Internal, and kinds added later: the base class.
        _ => "Error",
    }
}

/// An exception of the package's class `name` with `message`.
pub(crate) fn raise(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import(ERRORS_MODULE)
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, (message,)),
        // Only when the native module is imported without its package.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// The library's error as the package's exception.
pub(crate) fn to_py(py: Python<'_>, e: relaxvqa::Error) -> PyErr {
    raise(py, class_name(e.kind()), e.to_string())
}

/// An `InputError` (a bad argument) with `message`.
pub(crate) fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InputError", message.into())
}
