//! safetensors files (the Hugging Face Hub's format) into a [`StateDict`].
//!
//! The Hub's timm repositories hold f32 weights; f16 and bf16 copies are
//! widened, and integer tensors (`num_batches_tracked`) become f32 too.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::error::WeightsError;
use crate::{HostTensor, StateDict};

/// Reads a safetensors file into a state dict (every tensor, as f32).
pub fn read_safetensors(path: &Path) -> Result<StateDict, WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })?;
    parse_safetensors(&bytes, path)
}

/// Parses safetensors bytes into a state dict; `path` names them in errors.
pub fn parse_safetensors(bytes: &[u8], path: &Path) -> Result<StateDict, WeightsError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|source| WeightsError::Safetensors { path: path.to_path_buf(), source })?;
    let mut sd = StateDict::new();
    for (name, view) in st.iter() {
        let data = to_f32(view.dtype(), view.data()).ok_or_else(|| WeightsError::UnsupportedDtype {
            path: path.to_path_buf(),
            name: name.to_owned(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        let len = data.len();
        let tensor = HostTensor::new(view.shape().to_vec(), data).ok_or_else(|| WeightsError::BadTensor {
            path: path.to_path_buf(),
            name: name.to_owned(),
            shape: view.shape().to_vec(),
            len,
        })?;
        sd.insert(name, tensor);
    }
    Ok(sd)
}

/// Little-endian elements of `dtype` as f32; `None` for dtypes without a
/// meaningful f32 value.
fn to_f32(dtype: Dtype, le: &[u8]) -> Option<Vec<f32>> {
    fn conv<const N: usize>(le: &[u8], f: impl Fn([u8; N]) -> f32) -> Vec<f32> {
        le.chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    Some(match dtype {
        Dtype::F32 => conv(le, f32::from_le_bytes),
        Dtype::F16 => conv(le, |b| half::f16::from_le_bytes(b).to_f32()),
        Dtype::BF16 => conv(le, |b| half::bf16::from_le_bytes(b).to_f32()),
        Dtype::F64 => conv(le, |b| f64::from_le_bytes(b) as f32),
        Dtype::I64 => conv(le, |b| i64::from_le_bytes(b) as f32),
        Dtype::I32 => conv(le, |b| i32::from_le_bytes(b) as f32),
        Dtype::I16 => conv(le, |b| f32::from(i16::from_le_bytes(b))),
        Dtype::U8 => conv(le, |b: [u8; 1]| f32::from(b[0])),
        Dtype::I8 => conv(le, |b: [u8; 1]| f32::from(b[0] as i8)),
        _ => return None,
    })
}
