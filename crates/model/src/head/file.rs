//! This program's own head format: one safetensors file with everything a
//! head needs.
//!
//! The authors publish a head as three files in two Python formats; after
//! `relaxvqa models convert` a head is one safetensors file holding
//!
//! - the MLP weights under their PyTorch names ([`HEAD_TENSORS`], f32);
//! - `imputer.statistics` (f64, optional), `scaler.min` and `scaler.scale`
//!   (f64, optional, together);
//! - metadata: `format` = [`HEAD_FILE_FORMAT`], `format_version` =
//!   [`HEAD_FILE_VERSION`], `input_width`, `output_scale`
//!   ([`OutputScale::as_str`]) and `source` (free text: where it came from).
//!
//! Files are written to a temporary name beside the target and renamed, so
//! an interrupted conversion never leaves a half-written head behind.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Device;
use safetensors::{Dtype, SafeTensors};

use super::{head_tensor_shapes, normalize_head_state_dict, Head, HeadError, Imputer, Mlp, OutputScale, Scaler};
use super::{state_dict_from_torch, HEAD_TENSORS};
use crate::{HostTensor, StateDict};

/// The `format` metadata value that marks a head file.
pub const HEAD_FILE_FORMAT: &str = "relaxvqa-head";
/// The format version written, and the newest one read.
pub const HEAD_FILE_VERSION: u32 = 1;

/// Everything stored in a head file.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadFile {
    /// The MLP weights, with the authors' names (no `module.` prefix).
    pub weights: StateDict,
    /// The imputer, if the head has one.
    pub imputer: Option<Imputer>,
    /// The scaler, if the head has one.
    pub scaler: Option<Scaler>,
    /// Number of input features.
    pub input_width: usize,
    /// The scale of the head's raw output.
    pub output_scale: OutputScale,
    /// Where the head came from (e.g. the authors' file and its blob id).
    pub source: String,
}

impl HeadFile {
    /// Gathers the authors' published files into a head file, validating
    /// that the weights, imputer and scaler agree on the input width.
    pub fn from_published(
        pth: &Path,
        imputer: Option<&Path>,
        scaler: Option<&Path>,
        output_scale: OutputScale,
        source: impl Into<String>,
    ) -> Result<Self, HeadError> {
        let weights = state_dict_from_torch(relaxvqa_formats::torch::read_state_dict(pth)?);
        let imputer = imputer.map(relaxvqa_formats::joblib::read_simple_imputer).transpose()?.map(Imputer::from);
        let scaler = scaler.map(relaxvqa_formats::joblib::read_min_max_scaler).transpose()?.map(Scaler::from);
        Self::new(weights, imputer, scaler, output_scale, source)
    }

    /// Builds a head file from parts, keeping only the MLP's tensors and
    /// checking every shape (by building the MLP once on the CPU).
    pub fn new(
        weights: StateDict,
        imputer: Option<Imputer>,
        scaler: Option<Scaler>,
        output_scale: OutputScale,
        source: impl Into<String>,
    ) -> Result<Self, HeadError> {
        let mut weights = normalize_head_state_dict(weights);
        let mlp = Mlp::from_state_dict(weights.clone(), &Device::Cpu)?;
        let input_width = mlp.input_width();
        // Validates imputer and scaler widths.
        Head::new(mlp, imputer.clone(), scaler.clone(), output_scale)?;
        let mut kept = StateDict::new();
        for name in HEAD_TENSORS {
            if let Some(t) = weights.remove(name) {
                kept.insert(name, t);
            }
        }
        Ok(Self { weights: kept, imputer, scaler, input_width, output_scale, source: source.into() })
    }

    /// Builds the head on `device`.
    pub fn into_head(self, device: &Device) -> Result<Head, HeadError> {
        let mlp = Mlp::from_state_dict(self.weights, device)?;
        Head::new(mlp, self.imputer, self.scaler, self.output_scale)
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `head` to `path` (safetensors), via a temporary file in the same
/// folder renamed into place.
pub fn save_head_file(path: &Path, head: &HeadFile) -> Result<(), HeadError> {
    let bad = |reason: String| HeadError::BadHeadFile { path: path.to_path_buf(), reason };
    // (name, dtype, shape, bytes), checked against the declared width.
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, shape) in head_tensor_shapes(head.input_width) {
        let t = head.weights.get(&name).ok_or_else(|| bad(format!("weights lack {name}")))?;
        if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
            return Err(bad(format!("{name} has shape {:?}, expected {shape:?}", t.shape)));
        }
        entries.push((name, Dtype::F32, shape, f32_bytes(&t.data)));
    }
    let w = head.input_width;
    if let Some(i) = &head.imputer {
        if i.statistics.len() != w {
            return Err(HeadError::WidthMismatch { what: "imputer", head: w, found: i.statistics.len() });
        }
        entries.push(("imputer.statistics".into(), Dtype::F64, vec![w], f64_bytes(&i.statistics)));
    }
    if let Some(s) = &head.scaler {
        if s.min.len() != w || s.scale.len() != w {
            return Err(HeadError::WidthMismatch { what: "scaler", head: w, found: s.min.len().max(s.scale.len()) });
        }
        entries.push(("scaler.min".into(), Dtype::F64, vec![w], f64_bytes(&s.min)));
        entries.push(("scaler.scale".into(), Dtype::F64, vec![w], f64_bytes(&s.scale)));
    }
    let mut views = Vec::with_capacity(entries.len());
    for (name, dtype, shape, bytes) in &entries {
        let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|source| HeadError::Safetensors { path: path.to_path_buf(), source })?;
        views.push((name.as_str(), view));
    }
    let metadata = HashMap::from([
        ("format".to_owned(), HEAD_FILE_FORMAT.to_owned()),
        ("format_version".to_owned(), HEAD_FILE_VERSION.to_string()),
        ("input_width".to_owned(), w.to_string()),
        ("output_scale".to_owned(), head.output_scale.as_str().to_owned()),
        ("source".to_owned(), head.source.clone()),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|source| HeadError::Safetensors { path: path.to_path_buf(), source })?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary sibling of `path`, syncs it and renames it
/// over `path`; the temporary file is removed on failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HeadError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| HeadError::Io { path: p, source }
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| HeadError::BadHeadFile { path: path.to_path_buf(), reason: "not a file path".into() })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        // Best effort: the error being reported is the original one.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a head file written by [`save_head_file`], checking its format
/// marker, version, declared width and every tensor's dtype and shape.
pub fn load_head_file(path: &Path) -> Result<HeadFile, HeadError> {
    let bytes = std::fs::read(path).map_err(|source| HeadError::Io { path: path.to_path_buf(), source })?;
    let bad = |reason: String| HeadError::BadHeadFile { path: path.to_path_buf(), reason };
    let st_err = |source| HeadError::Safetensors { path: path.to_path_buf(), source };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(st_err)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| meta.get(key).ok_or_else(|| bad(format!("metadata lacks {key:?}")));
    if field("format")? != HEAD_FILE_FORMAT {
        return Err(bad(format!("format is {:?}, not {HEAD_FILE_FORMAT:?}", meta.get("format"))));
    }
    let version: u32 = field("format_version")?.parse().map_err(|_| bad("format_version is not a number".into()))?;
    if version == 0 || version > HEAD_FILE_VERSION {
        return Err(bad(format!(
            "format version {version}; this program reads versions up to {HEAD_FILE_VERSION} (a newer relaxvqa wrote it?)"
        )));
    }
    let input_width: usize = field("input_width")?.parse().map_err(|_| bad("input_width is not a number".into()))?;
    let output_scale = OutputScale::parse(field("output_scale")?)?;
    let source = meta.get("source").cloned().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).map_err(st_err)?;
    let read = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<Option<Vec<u8>>, HeadError> {
        let view = match st.tensor(name) {
            Ok(v) => v,
            Err(safetensors::SafeTensorError::TensorNotFound(_)) => return Ok(None),
            Err(e) => return Err(st_err(e)),
        };
        if view.dtype() != dtype || view.shape() != shape {
            return Err(bad(format!("{name} is {:?} {:?}, expected {dtype:?} {shape:?}", view.dtype(), view.shape())));
        }
        Ok(Some(view.data().to_vec()))
    };
    let mut weights = StateDict::new();
    for (name, shape) in head_tensor_shapes(input_width) {
        let data = read(&name, Dtype::F32, &shape)?.ok_or_else(|| bad(format!("lacks {name}")))?;
        let data = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        weights.insert(name, HostTensor { shape, data });
    }
    let f64s = |b: Vec<u8>| -> Vec<f64> {
        b.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect()
    };
    let imputer = read("imputer.statistics", Dtype::F64, &[input_width])?.map(|b| Imputer { statistics: f64s(b) });
    let scaler =
        match (read("scaler.min", Dtype::F64, &[input_width])?, read("scaler.scale", Dtype::F64, &[input_width])?) {
            (Some(min), Some(scale)) => Some(Scaler { min: f64s(min), scale: f64s(scale) }),
            (None, None) => None,
            _ => return Err(bad("has only one of scaler.min and scaler.scale".into())),
        };
    let known =
        |n: &str| HEAD_TENSORS.contains(&n) || matches!(n, "imputer.statistics" | "scaler.min" | "scaler.scale");
    if let Some(extra) = st.names().into_iter().find(|n| !known(n)) {
        return Err(bad(format!("holds an unknown tensor {extra:?}")));
    }
    Ok(HeadFile { weights, imputer, scaler, input_width, output_scale, source })
}
