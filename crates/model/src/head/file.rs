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
//!   ([`OutputScale::as_str`]) and `source` (free text: where it came from),
//!   plus any further keys of [`HeadFile::metadata`] (e.g.
//!   `fine_tuned_from`, `fine_tuned_from_sha256`).
//!
//! The header is written deterministically (metadata keys sorted, tensors in
//! the safetensors crate's order), so the same head gives the same file bit
//! for bit. Files are written atomically ([`relaxvqa_formats::atomic`]), so
//! an interrupted conversion never leaves a half-written head behind.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Device;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use super::{head_tensor_shapes, normalize_head_state_dict, Head, HeadError, Imputer, Mlp, OutputScale, Scaler};
use super::{state_dict_from_torch, HEAD_TENSORS};
use crate::sorted_safetensors::serialize_sorted;
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
    /// Further metadata, written and read back as is (e.g. the file a head
    /// was fine-tuned from); must not reuse the keys of [`RESERVED_METADATA`].
    pub metadata: BTreeMap<String, String>,
}

/// The metadata keys [`save_head_file`] writes itself.
pub const RESERVED_METADATA: [&str; 5] = ["format", "format_version", "input_width", "output_scale", "source"];

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
        Ok(Self {
            weights: kept,
            imputer,
            scaler,
            input_width,
            output_scale,
            source: source.into(),
            metadata: BTreeMap::new(),
        })
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

/// Writes `head` to `path` (safetensors), atomically: a temporary file in
/// the same folder, synced and renamed into place.
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
    let mut metadata = BTreeMap::from([
        ("format".to_owned(), HEAD_FILE_FORMAT.to_owned()),
        ("format_version".to_owned(), HEAD_FILE_VERSION.to_string()),
        ("input_width".to_owned(), w.to_string()),
        ("output_scale".to_owned(), head.output_scale.as_str().to_owned()),
        ("source".to_owned(), head.source.clone()),
    ]);
    for (k, v) in &head.metadata {
        if metadata.insert(k.clone(), v.clone()).is_some() {
            return Err(bad(format!("metadata key {k:?} is reserved for the head file's own fields")));
        }
    }
    let bytes = serialize_sorted(entries, &metadata).map_err(|e| bad(format!("cannot encode the header: {e}")))?;
    relaxvqa_formats::atomic::write_atomic(path, &bytes).map_err(HeadError::Write)
}

/// Reads a head file written by [`save_head_file`], checking its format
/// marker, version, declared width and every tensor's dtype and shape.
pub fn load_head_file(path: &Path) -> Result<HeadFile, HeadError> {
    let bytes = std::fs::read(path).map_err(|source| HeadError::Io { path: path.to_path_buf(), source })?;
    parse_head_file(path, &bytes)
}

/// [`load_head_file`] on bytes already read from `path`.
fn parse_head_file(path: &Path, bytes: &[u8]) -> Result<HeadFile, HeadError> {
    let bad = |reason: String| HeadError::BadHeadFile { path: path.to_path_buf(), reason };
    let st_err = |source| HeadError::Safetensors { path: path.to_path_buf(), source };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_err)?;
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
    let st = SafeTensors::deserialize(bytes).map_err(st_err)?;
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
    let metadata = meta
        .iter()
        .filter(|(k, _)| !RESERVED_METADATA.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(HeadFile { weights, imputer, scaler, input_width, output_scale, source, metadata })
}

/// The MLP weights of a head file, read to start training from (fine-tuning).
#[derive(Clone, Debug, PartialEq)]
pub struct HeadWeights {
    /// The weights under the authors' names ([`HEAD_TENSORS`], plus
    /// `bn1.num_batches_tracked` when the file has it), shapes checked.
    pub weights: StateDict,
    /// Number of input features (`fc1.weight` columns).
    pub input_width: usize,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// Reads the MLP weights of any head file this program scores with: one of
/// its own head files (safetensors, as `relaxvqa train` and `relaxvqa models
/// convert` write them) or the authors' PyTorch state dict (`.pth`: plain,
/// DataParallel `module.` names, or SWA with `n_averaged`). An imputer and
/// scaler in the file are ignored. A zip signature (or a `.pth`/`.pt` name)
/// means PyTorch; anything else must be a head file.
pub fn read_head_weights(path: &Path) -> Result<HeadWeights, HeadError> {
    let bytes = std::fs::read(path).map_err(|source| HeadError::Io { path: path.to_path_buf(), source })?;
    let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let mut weights = if bytes.starts_with(b"PK\x03\x04") || ext == "pth" || ext == "pt" {
        let sd = normalize_head_state_dict(state_dict_from_torch(relaxvqa_formats::torch::read_state_dict(path)?));
        // Checks names and shapes (and refuses tensors of other networks).
        Mlp::from_state_dict(sd.clone(), &Device::Cpu)?;
        sd
    } else {
        if SafeTensors::read_metadata(&bytes).is_err() {
            return Err(HeadError::BadHeadFile {
                path: path.to_path_buf(),
                reason: "neither a PyTorch checkpoint (.pth) nor a safetensors head file".into(),
            });
        }
        parse_head_file(path, &bytes)?.weights
    };
    let mut kept = StateDict::new();
    for name in HEAD_TENSORS.iter().chain(&["bn1.num_batches_tracked"]) {
        if let Some(t) = weights.remove(name) {
            kept.insert(*name, t);
        }
    }
    let input_width = kept.get("fc1.weight").and_then(|t| t.shape.get(1).copied()).unwrap_or(0);
    Ok(HeadWeights { weights: kept, input_width, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head of `width` inputs with arbitrary but fixed weights, an imputer
    /// and a scaler.
    fn small_head(width: usize) -> HeadFile {
        let mut sd = StateDict::new();
        for (k, (name, shape)) in head_tensor_shapes(width).into_iter().enumerate() {
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|i| if name.ends_with("running_var") { 1.0 } else { ((i * 7 + k) % 13) as f32 * 0.01 })
                .collect();
            sd.insert(name, HostTensor { shape, data });
        }
        let imputer = Imputer { statistics: (0..width).map(|i| i as f64 * 0.5).collect() };
        let scaler = Scaler { min: vec![-0.25; width], scale: vec![2.0; width] };
        HeadFile::new(sd, Some(imputer), Some(scaler), OutputScale::Mos1To5, "unit test").expect("head file")
    }

    #[test]
    fn same_head_same_bytes_and_metadata_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut head = small_head(5);
        head.metadata.insert("fine_tuned_from".into(), "init.pth".into());
        head.metadata.insert("fine_tuned_from_sha256".into(), "ab".repeat(32));
        head.metadata.insert("a_first".into(), "1".into());
        let (p, q) = (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"));
        save_head_file(&p, &head).expect("save a");
        save_head_file(&q, &head).expect("save b");
        let (a, b) = (std::fs::read(&p).expect("read a"), std::fs::read(&q).expect("read b"));
        assert_eq!(a, b, "two saves of one head must give identical bytes");
        // The metadata keys appear in sorted order in the header.
        let n = u64::from_le_bytes(a[..8].try_into().expect("8 bytes")) as usize;
        let header = std::str::from_utf8(&a[8..8 + n]).expect("utf-8 header");
        let keys = ["a_first", "fine_tuned_from", "fine_tuned_from_sha256", "format", "format_version", "input_width"];
        let at: Vec<usize> = keys.iter().map(|k| header.find(&format!("\"{k}\"")).expect("key present")).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "sorted metadata: {header}");
        assert_eq!(load_head_file(&p).expect("load"), head);
    }

    #[test]
    fn reserved_metadata_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut head = small_head(3);
        head.metadata.insert("source".into(), "sneaky".into());
        let path = dir.path().join("h.safetensors");
        let e = save_head_file(&path, &head).expect_err("reserved key");
        assert!(e.to_string().contains("reserved"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn head_weights_from_our_files_and_the_authors_pth() {
        let dir = tempfile::tempdir().expect("tempdir");
        let head = small_head(4);
        let path = dir.path().join("h.safetensors");
        save_head_file(&path, &head).expect("save");
        let w = read_head_weights(&path).expect("read");
        assert_eq!(w.input_width, 4);
        assert_eq!(w.weights, head.weights);
        let bytes = std::fs::read(&path).expect("bytes");
        let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(w.sha256, hex);
        assert_eq!(w.sha256.len(), 64);

        // The authors' three layouts give the same names and width.
        let mut seen = Vec::new();
        for f in ["head_plain_64.pth", "head_dataparallel_64.pth", "head_swa_64.pth"] {
            let w = read_head_weights(&relaxvqa_fixtures::fixture(&format!("head/{f}"))).expect(f);
            assert_eq!(w.input_width, 64, "{f}");
            for name in HEAD_TENSORS {
                assert!(w.weights.get(name).is_some(), "{f} lacks {name}");
            }
            assert!(w.weights.iter().all(|(n, _)| !n.starts_with("module.") && n != "n_averaged"), "{f}");
            seen.push(w.sha256);
        }
        seen.dedup();
        assert_eq!(seen.len(), 3, "three files, three digests");

        // Not a head: text, and a safetensors file without the head marker.
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello").expect("write");
        let e = read_head_weights(&text).expect_err("text");
        assert!(e.to_string().contains("neither a PyTorch checkpoint"), "{e}");
        let other = dir.path().join("other.safetensors");
        let v = safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &[0u8; 4]).expect("view");
        std::fs::write(&other, safetensors::serialize([("x", v)], None).expect("ser")).expect("write");
        let e = read_head_weights(&other).expect_err("not a head");
        assert!(matches!(e, HeadError::BadHeadFile { .. }), "{e}");
    }
}
