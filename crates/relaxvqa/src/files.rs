//! The feature-file format, written and read in one place: a per-video
//! `.safetensors` (`video.features` and counts, with metadata saying what
//! produced it), the combined matrix of a batch (`features.safetensors`,
//! `features.npy` and `features.names.txt`), and readers for training,
//! evaluation and scoring that take any of them or a folder of them.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use relaxvqa_features::{write_safetensors, TensorData, FEATURE_LEN};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::extract::{Features, VERSION};
use crate::{Error, Result};
use relaxvqa_formats::atomic::write_atomic_with;

/// The `format` metadata of a per-video feature file.
pub const FEATURE_FILE_FORMAT: &str = "relaxvqa-features";
/// The `format` metadata of a combined feature matrix.
pub const MATRIX_FORMAT: &str = "relaxvqa-feature-matrix";

/// What produced a feature file: the video (path, size, modification
/// time) and the weights. A batch resumes only outputs whose identity
/// matches, so a run with other weights or a changed video recomputes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The video's path as given.
    pub video: String,
    /// Its size in bytes (`None` for inputs that are not files).
    pub size: Option<u64>,
    /// Its modification time in nanoseconds since the epoch.
    pub mtime_ns: Option<i128>,
    /// The backbone weights, as given.
    pub weights: String,
}

impl Identity {
    /// The identity of a video file extracted with `weights` (size and time
    /// unknown when the file cannot be read).
    pub fn of_file(video: &Path, weights: &str) -> Self {
        let meta = std::fs::metadata(video).ok();
        let mtime_ns =
            meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => i128::try_from(d.as_nanos()).ok(),
                Err(e) => i128::try_from(e.duration().as_nanos()).ok().map(|n| -n),
            });
        Self { video: video.display().to_string(), size: meta.map(|m| m.len()), mtime_ns, weights: weights.to_owned() }
    }

    /// The identity of an input: a file's path, size and time, else its name.
    pub fn of_input(input: &crate::Input, weights: &str) -> Self {
        match input.file() {
            Some(p) => Self::of_file(p, weights),
            None => Self::of_name(&input.name(), weights),
        }
    }

    /// The identity of a non-file input.
    pub fn of_name(name: &str, weights: &str) -> Self {
        Self { video: name.to_owned(), size: None, mtime_ns: None, weights: weights.to_owned() }
    }

    fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut m = vec![("video", self.video.clone()), ("weights", self.weights.clone())];
        if let Some(s) = self.size {
            m.push(("video_size", s.to_string()));
        }
        if let Some(t) = self.mtime_ns {
            m.push(("video_mtime_ns", t.to_string()));
        }
        m
    }

    /// True when `meta` (a feature file's metadata) records this identity.
    /// The path may differ (a dataset moved), size, time and weights may not.
    fn matches(&self, meta: &HashMap<String, String>) -> bool {
        let get = |k: &str| meta.get(k).map(String::as_str);
        get("weights") == Some(self.weights.as_str())
            && get("video_size") == self.size.map(|s| s.to_string()).as_deref()
            && get("video_mtime_ns") == self.mtime_ns.map(|t| t.to_string()).as_deref()
    }
}

/// Metadata stored in every per-video feature file.
pub fn feature_metadata(identity: &Identity) -> HashMap<String, String> {
    let mut m = HashMap::from([
        ("format".to_owned(), FEATURE_FILE_FORMAT.to_owned()),
        ("format_version".to_owned(), "1".to_owned()),
        ("relaxvqa_version".to_owned(), VERSION.to_owned()),
    ]);
    m.extend(identity.metadata().into_iter().map(|(k, v)| (k.to_owned(), v)));
    m
}

/// Writes one video's feature file (a temporary file renamed into place):
/// `video.features` (f64, or f32 with `as_f32`), the counts, and with a
/// dump every intermediate.
pub fn write_features(path: &Path, features: &Features, identity: &Identity, as_f32: bool) -> Result<()> {
    if path.is_dir() {
        return Err(Error::invalid(format!(
            "{}: is a folder; give a file name ending in .safetensors",
            path.display()
        )));
    }
    let mut tensors = features.tensors();
    if as_f32 {
        if let Some(t) = tensors.get_mut("video.features") {
            if let TensorData::F64(v) = &t.data {
                t.data = TensorData::F32(v.iter().map(|&x| x as f32).collect());
            }
        }
    }
    let mut meta = feature_metadata(identity);
    let d = &features.decode;
    meta.insert("decode_concealed_errors".to_owned(), d.concealed_errors.to_string());
    meta.insert("decode_ended_early".to_owned(), d.ended_early.to_string());
    if d.partial_frame_dropped {
        meta.insert("decode_partial_frame_dropped".to_owned(), "true".to_owned());
    }
    if let Some(c) = d.size_change {
        meta.insert(
            "decode_size_change".to_owned(),
            format!("{}x{} -> {}x{} at frame {}", c.first.0, c.first.1, c.other.0, c.other.1, c.at_frame),
        );
    }
    if !features.warnings.is_empty() {
        meta.insert("warnings".to_owned(), serde_json::to_string(&features.warnings).unwrap_or_default());
    }
    write_safetensors(path, &tensors, Some(meta))?;
    Ok(())
}

/// Checks, before any work, that `path` can be written: its folder exists
/// and accepts files. A missing folder after minutes of decoding is the
/// failure this prevents.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::invalid(format!("{}: is a folder; give a file name", path.display())));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    check_dir_writable(dir).map_err(|e| match e {
        Error::Io { source, .. } => Error::Io { path: path.to_owned(), source },
        other => other,
    })
}

/// Checks that files can be created in `dir` (which must exist).
pub(crate) fn check_dir_writable(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        let why = if dir.exists() { "is not a folder" } else { "no such folder" };
        return Err(Error::invalid(format!("{}: {why}", dir.display())));
    }
    tempfile::Builder::new().prefix(".relaxvqa-check-").tempfile_in(dir).map(drop).map_err(Error::io(dir))
}

/// The shape and metadata of a safetensors file, read from its header
/// only; also checks that the file is as long as the header says (a
/// complete file).
/// A safetensors header: the metadata, and each tensor's dtype and shape.
type Header = (HashMap<String, String>, BTreeMap<String, (Dtype, Vec<usize>)>);

fn read_header(path: &Path) -> Result<Header> {
    use std::io::Read;
    let bad = |why: &str| Error::invalid(format!("{}: not a complete safetensors file ({why})", path.display()));
    let mut f = std::fs::File::open(path).map_err(Error::io(path))?;
    let total = f.metadata().map_err(Error::io(path))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| bad("shorter than its header"))?;
    let n = u64::from_le_bytes(n);
    if n > 100_000_000 || 8 + n > total {
        return Err(bad("header size out of range"));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|_| bad("header cut short"))?;
    let json: serde_json::Value = serde_json::from_slice(&header).map_err(|_| bad("header is not JSON"))?;
    let obj = json.as_object().ok_or_else(|| bad("header is not a JSON object"))?;
    let mut meta = HashMap::new();
    let mut tensors = BTreeMap::new();
    let mut end = 0u64;
    for (k, v) in obj {
        if k == "__metadata__" {
            if let Some(m) = v.as_object() {
                meta = m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect();
            }
            continue;
        }
        let info: safetensors::tensor::TensorInfo =
            serde_json::from_value(v.clone()).map_err(|_| bad("a tensor entry is malformed"))?;
        end = end.max(info.data_offsets.1 as u64);
        tensors.insert(k.clone(), (info.dtype, info.shape));
    }
    if 8 + n + end != total {
        return Err(bad("its length does not match its header"));
    }
    Ok((meta, tensors))
}

/// True when `path` is a complete feature file made from the video and
/// weights of `identity` (read from the header only).
pub fn is_complete(path: &Path, identity: &Identity) -> bool {
    match read_header(path) {
        Ok((meta, tensors)) => {
            identity.matches(&meta)
                && tensors
                    .get("video.features")
                    .is_some_and(|(d, s)| matches!(d, Dtype::F64 | Dtype::F32) && s.as_slice() == [FEATURE_LEN])
        }
        Err(_) => false,
    }
}

/// Decodes a safetensors tensor's values as f64 (f64 or f32 stored).
pub(crate) fn tensor_f64(t: &TensorView<'_>, path: &Path, name: &str) -> Result<Vec<f64>> {
    Ok(match t.dtype() {
        Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        Dtype::F32 => t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        d => return Err(Error::invalid(format!("{}: {name} has dtype {d:?}, expected F64 or F32", path.display()))),
    })
}

/// The feature vector of one per-video feature file.
pub(crate) fn read_feature_vector(path: &Path) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| not_safetensors(path, &bytes, e))?;
    let t = st
        .tensor("video.features")
        .map_err(|_| Error::invalid(format!("{}: no video.features: not a relaxvqa feature file", path.display())))?;
    let v = tensor_f64(&t, path, "video.features")?;
    if v.len() != FEATURE_LEN {
        return Err(Error::invalid(format!(
            "{}: video.features has {} values, not {FEATURE_LEN}",
            path.display(),
            v.len()
        )));
    }
    Ok(v)
}

/// Why `bytes` is not a feature file, in words a user can act on (the
/// safetensors parser's own "header too large" says nothing about a NumPy
/// file given by mistake).
fn not_safetensors(path: &Path, bytes: &[u8], e: safetensors::SafeTensorError) -> Error {
    let what = if bytes.starts_with(b"\x93NUMPY") {
        "a NumPy .npy file, not a relaxvqa feature file: give the features.safetensors beside it, or its folder"
            .to_owned()
    } else if bytes.is_empty() {
        "the file is empty, not a relaxvqa feature file".to_owned()
    } else {
        format!("not a relaxvqa feature file (.safetensors): {e}")
    };
    Error::invalid(format!("{}: {what}", path.display()))
}

/// Feature rows with their names, row-major.
#[derive(Clone, Debug, Default)]
pub struct FeatureRows {
    /// One name per row (the video's output name or file stem).
    pub names: Vec<String>,
    /// `names.len() * dim` values.
    pub x: Vec<f64>,
    /// Values per row.
    pub dim: usize,
}

/// The stem of a path as a row name.
pub(crate) fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads one safetensors file: a combined matrix (`features` plus `names`
/// metadata) or a per-video file (`video.features`, named by its stem).
fn read_rows_file(path: &Path) -> Result<FeatureRows> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| not_safetensors(path, &bytes, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| not_safetensors(path, &bytes, e))?;
    if let Ok(t) = st.tensor("features") {
        let shape = t.shape().to_vec();
        if shape.len() != 2 {
            return Err(Error::invalid(format!(
                "{}: features has shape {shape:?}, expected [rows, columns]",
                path.display()
            )));
        }
        let names_json =
            header.metadata().as_ref().and_then(|m| m.get("names")).ok_or_else(|| {
                Error::invalid(format!("{}: no `names` metadata for the feature rows", path.display()))
            })?;
        let names: Vec<String> = serde_json::from_str(names_json).map_err(|_| {
            Error::invalid(format!("{}: `names` metadata is not a JSON list of strings", path.display()))
        })?;
        if names.len() != shape[0] {
            return Err(Error::invalid(format!(
                "{}: {} names for {} feature rows",
                path.display(),
                names.len(),
                shape[0]
            )));
        }
        let x = tensor_f64(&t, path, "features")?;
        return Ok(FeatureRows { names, x, dim: shape[1] });
    }
    let t = st.tensor("video.features").map_err(|_| {
        Error::invalid(format!(
            "{}: neither a feature matrix (`features`) nor a feature file (`video.features`)",
            path.display()
        ))
    })?;
    let x = tensor_f64(&t, path, "video.features")?;
    Ok(FeatureRows { names: vec![stem(path)], dim: x.len(), x })
}

/// Reads features from a combined matrix file, a per-video feature file, or
/// a folder (its `features.safetensors` when present, else every
/// `.safetensors` file in it, sorted by name).
pub fn read_feature_rows(path: &Path) -> Result<FeatureRows> {
    if !path.is_dir() {
        return read_rows_file(path);
    }
    let combined = path.join("features.safetensors");
    if combined.is_file() {
        return read_rows_file(&combined);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(Error::io(path))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::invalid(format!("{}: no .safetensors feature files in the folder", path.display())));
    }
    let mut out = FeatureRows::default();
    for f in files {
        let one = read_rows_file(&f)?;
        if out.dim != 0 && one.dim != out.dim {
            return Err(Error::invalid(format!(
                "{}: {} features per row, the other files have {}",
                f.display(),
                one.dim,
                out.dim
            )));
        }
        out.dim = one.dim;
        out.names.extend(one.names);
        out.x.extend(one.x);
    }
    Ok(out)
}

/// Writes the combined matrix of a batch, streaming one row at a time (a
/// dataset of 39,000 videos is 11 GB of f64; it is never held in memory):
/// `features.safetensors` (tensor `features`, the row names in the
/// metadata), `features.npy` and `features.names.txt`, in the order of
/// `rows`. Each row is read from its per-video file.
pub(crate) fn write_matrix(out_dir: &Path, rows: &[(String, PathBuf)]) -> Result<PathBuf> {
    let n = rows.len();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    let row_bytes = FEATURE_LEN * 8;
    let data_len = n * row_bytes;
    let names_json = serde_json::to_string(&names).map_err(|e| Error::invalid(e.to_string()))?;
    let header = serde_json::json!({
        "__metadata__": {"format": MATRIX_FORMAT, "names": names_json},
        "features": {"dtype": "F64", "shape": [n, FEATURE_LEN], "data_offsets": [0, data_len]},
    });
    let mut header = serde_json::to_vec(&header).map_err(|e| Error::invalid(e.to_string()))?;
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let combined = out_dir.join("features.safetensors");
    let npy = out_dir.join("features.npy");
    // Both matrices are written side by side from one read of each row.
    let mut npy_tmp =
        tempfile::Builder::new().prefix(".relaxvqa-").suffix(".tmp").tempfile_in(out_dir).map_err(Error::io(&npy))?;
    let mut failure: Option<Error> = None;
    {
        let mut npy_w = std::io::BufWriter::new(npy_tmp.as_file_mut());
        npy_w.write_all(&npy_header(n, FEATURE_LEN)).map_err(Error::io(&npy))?;
        write_atomic_with(&combined, |w| {
            w.write_all(&(header.len() as u64).to_le_bytes())?;
            w.write_all(&header)?;
            let mut buf = Vec::with_capacity(row_bytes);
            for (name, path) in rows {
                let v = match read_feature_vector(path) {
                    Ok(v) => v,
                    Err(e) => {
                        failure = Some(Error::invalid(format!("row {name}: {e}")));
                        return Err(std::io::Error::other("a row could not be read"));
                    }
                };
                buf.clear();
                for x in v {
                    buf.extend(x.to_le_bytes());
                }
                w.write_all(&buf)?;
                npy_w.write_all(&buf)?;
            }
            npy_w.flush()
        })
        .map_err(|e| failure.take().unwrap_or_else(|| Error::Io { path: combined.clone(), source: e }))?;
    }
    npy_tmp.as_file().sync_all().map_err(Error::io(&npy))?;
    npy_tmp.persist(&npy).map_err(|e| Error::Io { path: npy.clone(), source: e.error })?;
    let names_txt: String = names.iter().map(|s| format!("{s}\n")).collect();
    relaxvqa_formats::atomic::write_atomic(&out_dir.join("features.names.txt"), names_txt.as_bytes())
        .map_err(Error::io(&out_dir.join("features.names.txt")))?;
    Ok(combined)
}

/// The header of a NumPy `.npy` (version 1.0) C-order f64 matrix.
fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out
}

/// Writes `bytes` to `path` so that a reader never sees part of it (a
/// temporary file in the same folder, renamed over the target); a failure
/// names the real target and leaves nothing behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    relaxvqa_formats::atomic::write_atomic(path, bytes).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned() {
        let b = npy_header(1, 2);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b.len(), 10 + hlen);
    }
}
