//! The one error type of weight loading.
//!
//! Every variant names the file, repository or URL involved and, where a user
//! can do something about it, what to do: weights are the one input of this
//! program that a user typically has to fetch or place by hand.

use std::fmt::Write as _;
use std::path::PathBuf;

/// A tensor whose shape differs from what the network expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// State-dict name of the tensor.
    pub name: String,
    /// The shape the network needs.
    pub expected: Vec<usize>,
    /// The shape the weights have.
    pub found: Vec<usize>,
}

/// Everything that can go wrong finding, fetching, reading or checking
/// network weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// A `--weights` value that names no weight source.
    #[error("invalid weights source {input:?}: {reason}")]
    InvalidSource {
        /// The text as given.
        input: String,
        /// Why it was refused, and what is accepted.
        reason: String,
    },

    /// Reading, writing or removing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A file that is neither safetensors nor a PyTorch checkpoint.
    #[error(
        "{path}: not a weights file this program reads (a .safetensors file or a PyTorch \
         zip checkpoint .pth is needed)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// A safetensors file that does not parse.
    #[error("{path}: invalid safetensors file: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The safetensors crate's diagnosis.
        source: safetensors::SafeTensorError,
    },

    /// A PyTorch checkpoint that does not parse.
    #[error("{path}: {source}")]
    Pth {
        /// The file.
        path: PathBuf,
        /// The checkpoint reader's diagnosis.
        source: relaxvqa_formats::FormatError,
    },

    /// A tensor stored with an element type that has no sensible f32 value
    /// (booleans, 8-bit floats, complex numbers, ...).
    #[error("{path}: tensor {name} has dtype {dtype}, which this program does not convert to f32")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// State-dict name of the tensor.
        name: String,
        /// The stored dtype, as the file names it.
        dtype: String,
    },

    /// A tensor whose element count does not fill its shape.
    #[error("{path}: tensor {name} has {len} values, which do not fill its shape {shape:?}")]
    BadTensor {
        /// The file.
        path: PathBuf,
        /// State-dict name of the tensor.
        name: String,
        /// The shape it claims.
        shape: Vec<usize>,
        /// The values it has.
        len: usize,
    },

    /// A weights folder that holds none of the file names looked for.
    #[error(
        "{dir}: no {network} weights in this folder; looked for {}",
        candidates.join(", ")
    )]
    NoWeightsInDir {
        /// The folder.
        dir: PathBuf,
        /// The network whose weights were looked for.
        network: String,
        /// The file names (relative to `dir`) tried, in order.
        candidates: Vec<String>,
    },

    /// Weights that do not fit the network: tensors missing or with the
    /// wrong shape (all problems listed at once).
    #[error("{}", mismatch_message(what, *fitting, missing, wrong_shape, unexpected))]
    Mismatch {
        /// Which weights, from where (e.g. `ResNet-50 weights from x.pth`).
        what: String,
        /// How many expected tensors are present with their shape.
        fitting: usize,
        /// Expected tensors that are absent.
        missing: Vec<String>,
        /// Tensors present with another shape.
        wrong_shape: Vec<ShapeMismatch>,
        /// Tensors present that the network does not use (shown to help
        /// recognise a wrong file; not a problem by themselves).
        unexpected: Vec<String>,
    },

    /// Offline (`HF_HUB_OFFLINE`) and the weights are in no local cache.
    #[error("{network} weights are in no local cache and Hugging Face Hub downloads are off (HF_HUB_OFFLINE is set). {hint}")]
    NotCached {
        /// The network.
        network: String,
        /// Which files to place by hand, and where.
        hint: String,
    },

    /// The Hub has no such file (HTTP 404).
    #[error(
        "the Hugging Face Hub has no file {file} in repository {repo} at revision {revision} ({url}: HTTP 404{})",
        code_suffix(error_code)
    )]
    RemoteFileMissing {
        /// Repository id, e.g. `timm/resnet50.tv_in1k`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// File name in the repository.
        file: String,
        /// The URL asked.
        url: String,
        /// The Hub's `X-Error-Code` (`EntryNotFound`, `RevisionNotFound`, ...).
        error_code: Option<String>,
    },

    /// The Hub refuses the repository: it does not exist, is private or is
    /// gated (HTTP 401 or 403).
    #[error("the Hugging Face Hub refuses repository {repo} ({url}: HTTP {status}{}); it does not exist or needs a token (HF_TOKEN)", code_suffix(error_code))]
    RemoteDenied {
        /// Repository id.
        repo: String,
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The Hub's `X-Error-Code`, if any.
        error_code: Option<String>,
    },

    /// Any other HTTP error status from the Hub.
    #[error("{url}: HTTP {status}")]
    HttpStatus {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
    },

    /// The Hub could not be reached (DNS, connection, TLS, timeout).
    #[error("cannot reach the Hugging Face Hub: {source}. {hint}")]
    Network {
        /// The URL asked.
        url: String,
        /// The HTTP client's error.
        source: Box<ureq::Error>,
        /// Which files to place by hand, and where.
        hint: String,
    },

    /// A Hub response without a header the download needs.
    #[error("{url}: the response has no {header} header; is the endpoint a Hugging Face Hub?")]
    MissingHeader {
        /// The URL asked.
        url: String,
        /// The header.
        header: &'static str,
    },

    /// The download itself failed (hf-hub's error).
    #[error("downloading {file} from {repo}: {source}. {hint}")]
    Download {
        /// Repository id.
        repo: String,
        /// File name in the repository.
        file: String,
        /// hf-hub's error.
        source: Box<hf_hub::api::sync::ApiError>,
        /// Which files to place by hand, and where.
        hint: String,
    },

    /// A file whose bytes do not hash to what the Hub (or its name)
    /// promises: a damaged download or cache.
    #[error(
        "{path}: {algorithm} is {actual}, expected {expected}; {}",
        if *removed { "the damaged file was removed, run again to fetch it anew" } else { "delete or replace this file" }
    )]
    BadHash {
        /// The file checked.
        path: PathBuf,
        /// `SHA-256` or `git blob SHA-1`.
        algorithm: &'static str,
        /// The expected digest (hex), or its expected start.
        expected: String,
        /// The digest of the bytes (hex).
        actual: String,
        /// Whether the file was removed from the cache.
        removed: bool,
    },
}

/// At most this many names of each kind in a mismatch message.
const LIST_LIMIT: usize = 12;

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
}

fn list<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    let mut s = items.iter().take(LIST_LIMIT).map(show).collect::<Vec<_>>().join(", ");
    if items.len() > LIST_LIMIT {
        let _ = write!(s, " and {} more", items.len() - LIST_LIMIT);
    }
    s
}

fn mismatch_message(
    what: &str,
    fitting: usize,
    missing: &[String],
    wrong_shape: &[ShapeMismatch],
    unexpected: &[String],
) -> String {
    let mut s = format!("{what} do not fit the network:");
    if !missing.is_empty() {
        let _ = write!(s, " {} tensor(s) missing: {};", missing.len(), list(missing, String::clone));
    }
    if !wrong_shape.is_empty() {
        let _ = write!(
            s,
            " {} tensor(s) with the wrong shape: {};",
            wrong_shape.len(),
            list(wrong_shape, |m| format!("{} is {:?}, expected {:?}", m.name, m.found, m.expected))
        );
    }
    if !missing.is_empty() && !unexpected.is_empty() {
        let _ = write!(
            s,
            " the file also has {} tensor(s) the network does not use: {}{}",
            unexpected.len(),
            list(unexpected, String::clone),
            if fitting == 0 { " (weights of another network?)" } else { "" }
        );
    }
    s.trim_end_matches(';').to_owned()
}
