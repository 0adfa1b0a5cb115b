//! Named tensors for `--dump all` and the output files, written as
//! safetensors under the names of `shared/fixtures/README.md`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::FeatureError;

/// The values of a dumped tensor, in its own dtype.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// Bytes (images).
    U8(Vec<u8>),
    /// 32-bit floats (network outputs, flow).
    F32(Vec<f32>),
    /// 64-bit floats (features, patch sums).
    F64(Vec<f64>),
    /// 64-bit integers (counts, positions).
    I64(Vec<i64>),
}

/// One named tensor of an output file.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: TensorData,
}

impl DumpTensor {
    /// A tensor of shape `shape` over `data`.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Self {
        Self { shape, data }
    }

    /// A one-value i64 tensor (`video.pair_count`, ...).
    pub fn scalar_i64(v: i64) -> Self {
        Self::new(vec![1], TensorData::I64(vec![v]))
    }

    fn dtype_and_bytes(&self) -> (Dtype, Vec<u8>) {
        match &self.data {
            TensorData::U8(v) => (Dtype::U8, v.clone()),
            TensorData::F32(v) => (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::F64(v) => (Dtype::F64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            TensorData::I64(v) => (Dtype::I64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        }
    }
}

/// Writes `tensors` (and string `metadata`) to `path` as safetensors, through
/// a temporary file in the same folder renamed into place, so a reader never
/// sees a partial file.
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, DumpTensor>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<(), FeatureError> {
    let werr = |message: String| FeatureError::Write { path: path.to_owned(), message };
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, t)| {
            let (d, b) = t.dtype_and_bytes();
            (k.clone(), d, t.shape.clone(), b)
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(k, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| werr(e.to_string()))?;
    let bytes = safetensors::serialize(views, metadata).map_err(|e| werr(e.to_string()))?;
    write_atomic(path, &bytes).map_err(|e| werr(e.to_string()))
}

/// Writes `bytes` to `path` via a temporary sibling file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
