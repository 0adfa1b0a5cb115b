//! Named tensors for `--dump all` and the output files, written as
//! safetensors under the names of `tests/data/README.md`.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use relaxvqa_model::sorted_safetensors::serialize_sorted;

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

/// Writes `tensors` (and string `metadata`) to `path` as safetensors,
/// atomically (a temporary file in the same folder, synced and renamed into
/// place), so a reader never sees a partial file.
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
    // Checked as safetensors checks a view (shape against bytes), then
    // written with the metadata keys sorted: the same features, the same bytes.
    for (_, d, s, b) in &encoded {
        TensorView::new(*d, s.clone(), b).map_err(|e| werr(e.to_string()))?;
    }
    let metadata: BTreeMap<String, String> = metadata.unwrap_or_default().into_iter().collect();
    let bytes = serialize_sorted(encoded, &metadata).map_err(|e| werr(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` atomically ([`relaxvqa_model::atomic`]), as the
/// message of a [`FeatureError::Write`].
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FeatureError> {
    relaxvqa_model::atomic::write_atomic(path, bytes).map_err(|e| write_error(path, &e))
}

/// [`FeatureError::Write`] for `e`, an error of [`relaxvqa_model::atomic`]:
/// its message already starts with the path, which the variant names too.
fn write_error(path: &Path, e: &std::io::Error) -> FeatureError {
    let message = e.to_string();
    let prefix = format!("{}: ", path.display());
    let message = message.strip_prefix(&prefix).map_or(message.clone(), str::to_owned);
    FeatureError::Write { path: path.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_names_the_file_once_and_leaves_nothing() {
        let dir = tempfile::Builder::new().prefix("dump-test-").tempdir().expect("tmp dir");
        let path = dir.path().join("missing").join("out.safetensors");
        let tensors = BTreeMap::from([("x".to_owned(), DumpTensor::scalar_i64(3))]);
        let err = write_safetensors(&path, &tensors, None).expect_err("missing folder");
        let msg = err.to_string();
        println!("example message: {msg}");
        assert!(matches!(err, FeatureError::Write { .. }), "{msg}");
        assert_eq!(msg.matches(&*path.display().to_string()).count(), 1, "{msg}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);

        let path = dir.path().join("out.safetensors");
        write_safetensors(&path, &tensors, None).expect("write");
        write_safetensors(&path, &tensors, None).expect("overwrite");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["out.safetensors"]);
    }
}
