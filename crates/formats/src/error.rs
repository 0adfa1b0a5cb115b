//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading a published file.
///
/// Every variant says where (byte offset, zip entry or dictionary key) and
/// what was found, so that a user handed a wrong or damaged file learns what
/// is wrong with it without a debugger. Reading never panics on bad input:
/// all malformed input ends up here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Opening or reading a file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// Any other error, with the file it happened in.
    #[error("{path}: {source}")]
    InFile {
        /// The file being read.
        path: PathBuf,
        /// What went wrong in it.
        source: Box<FormatError>,
    },

    /// The input ended before a value it announces.
    #[error("truncated input at offset {offset}: {what} needs {needed} bytes, only {available} left")]
    Truncated {
        /// Byte offset where the value starts.
        offset: usize,
        /// What was being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: u64,
        /// Bytes left in the input.
        available: u64,
    },

    /// A pickle opcode this reader does not implement (or no opcode at all).
    #[error("unsupported pickle opcode {name} (0x{code:02x}) at offset {offset}")]
    UnsupportedOpcode {
        /// The opcode byte.
        code: u8,
        /// Its name in Python's `pickletools`, or `unknown`.
        name: &'static str,
        /// Byte offset of the opcode.
        offset: usize,
    },

    /// A pickle whose opcodes do not make sense together (stack underflow,
    /// missing memo entry, wrong operand type, ...).
    #[error("malformed pickle at offset {offset}: {reason}")]
    MalformedPickle {
        /// Byte offset of the offending opcode.
        offset: usize,
        /// What is wrong.
        reason: String,
    },

    /// The zip container of a PyTorch checkpoint could not be read.
    #[error("zip container: {0}")]
    Zip(#[from] zip::result::ZipError),

    /// One entry of a PyTorch checkpoint's zip container could not be read.
    #[error("zip entry {entry}: {source}")]
    ZipEntry {
        /// The entry's name in the archive.
        entry: String,
        /// The zip reader's error.
        source: zip::result::ZipError,
    },

    /// A file whose pickle holds a different class than the caller asked for
    /// (e.g. a `StandardScaler` where a `MinMaxScaler` is expected).
    #[error("expected a {expected}, found {found}")]
    UnexpectedClass {
        /// The class the caller asked for.
        expected: &'static str,
        /// What the file holds (a qualified class name or a value description).
        found: String,
    },

    /// A well-formed file whose content cannot be used: a missing or
    /// mistyped field, an inconsistent shape, a NaN where numbers are needed,
    /// an unsupported data type.
    #[error("{context}: {reason}")]
    InvalidContent {
        /// Where (a field, tensor or entry name).
        context: String,
        /// What is wrong.
        reason: String,
    },
}

impl FormatError {
    /// Attaches the path of the file being read.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            e @ (FormatError::Io { .. } | FormatError::InFile { .. }) => e,
            e => FormatError::InFile { path: path.to_path_buf(), source: Box::new(e) },
        }
    }

    /// Shorthand for [`FormatError::InvalidContent`].
    pub(crate) fn invalid(context: impl Into<String>, reason: impl Into<String>) -> Self {
        FormatError::InvalidContent { context: context.into(), reason: reason.into() }
    }
}

/// Reads a whole file, attaching its path to the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, FormatError> {
    std::fs::read(path).map_err(|source| FormatError::Io { path: path.to_path_buf(), source })
}
