//! Weights a user names by path: one file (format told by its first bytes)
//! or a folder holding the network's file under a known name.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::error::WeightsError;
use super::network::NetworkWeights;
use super::pth::{parse_pth, read_pth};
use super::safetensors_file::{parse_safetensors, read_safetensors};
use crate::StateDict;

/// The file formats weights come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Safetensors,
    Pth,
}

/// The format the first bytes (at least 9 where available) or, failing
/// that, the name say.
fn sniff(head: &[u8], path: &Path) -> Option<Format> {
    if head.starts_with(b"PK\x03\x04") || head.first() == Some(&0x80) {
        // A zip checkpoint, or a legacy pickle one (which the reader
        // explains it cannot read).
        return Some(Format::Pth);
    }
    if head.len() >= 9 && head[8] == b'{' {
        // safetensors: an 8-byte header length, then the JSON header.
        return Some(Format::Safetensors);
    }
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "safetensors" => Some(Format::Safetensors),
        "pth" | "pt" => Some(Format::Pth),
        _ => None,
    }
}

/// Reads a `.safetensors` file or a zip-format `.pth` checkpoint, whichever
/// it is, into a state dict (every tensor as f32).
pub fn read_weights_file(path: &Path) -> Result<StateDict, WeightsError> {
    let io = |source| WeightsError::Io { path: path.to_path_buf(), source };
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path).map_err(io)?.take(16).read_to_end(&mut head).map_err(io)?;
    match sniff(&head, path) {
        Some(Format::Safetensors) => read_safetensors(path),
        Some(Format::Pth) => read_pth(path),
        None => Err(WeightsError::UnknownFormat { path: path.to_path_buf() }),
    }
}

/// [`read_weights_file`] for bytes already read from `path`.
pub(crate) fn parse_weights_bytes(bytes: &[u8], path: &Path) -> Result<StateDict, WeightsError> {
    match sniff(&bytes[..bytes.len().min(16)], path) {
        Some(Format::Safetensors) => parse_safetensors(bytes, path),
        Some(Format::Pth) => parse_pth(bytes, path),
        None => Err(WeightsError::UnknownFormat { path: path.to_path_buf() }),
    }
}

/// The first of the network's known file names present in `dir`.
pub(crate) fn find_in_dir(dir: &Path, weights: &NetworkWeights) -> Result<PathBuf, WeightsError> {
    weights.dir_names.iter().map(|n| dir.join(n)).find(|p| p.is_file()).ok_or_else(|| WeightsError::NoWeightsInDir {
        dir: dir.to_path_buf(),
        network: weights.label.clone(),
        candidates: weights.dir_names.clone(),
    })
}
