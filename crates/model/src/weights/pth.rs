//! PyTorch `.pth` checkpoints (torchvision's `resnet50-0676ba61.pth`, DINO's
//! `dino_vitbase16_pretrain.pth`) into a [`StateDict`], through the formats
//! crate's native reader, and the PyTorch hub cache they usually sit in.

use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use relaxvqa_formats::torch::read_state_dict_from;

use super::error::WeightsError;
use super::network::TorchCheckpoint;
use crate::{HostTensor, StateDict};

/// Reads a zip-format PyTorch checkpoint holding a plain state dict.
pub fn read_pth(path: &Path) -> Result<StateDict, WeightsError> {
    let file = std::fs::File::open(path).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })?;
    from_reader(std::io::BufReader::new(file), path)
}

/// Parses the bytes of a zip-format PyTorch checkpoint; `path` names them in
/// errors.
pub fn parse_pth(bytes: &[u8], path: &Path) -> Result<StateDict, WeightsError> {
    from_reader(Cursor::new(bytes), path)
}

fn from_reader<R: Read + Seek>(reader: R, path: &Path) -> Result<StateDict, WeightsError> {
    let entries =
        read_state_dict_from(reader, None).map_err(|source| WeightsError::Pth { path: path.to_path_buf(), source })?;
    let mut sd = StateDict::new();
    for (name, t) in entries {
        let len = t.data.len();
        let shape = t.shape.clone();
        let tensor = HostTensor::new(t.shape, t.data).ok_or_else(|| WeightsError::BadTensor {
            path: path.to_path_buf(),
            name: name.clone(),
            shape,
            len,
        })?;
        sd.insert(name, tensor);
    }
    Ok(sd)
}

/// The checkpoint's path in the PyTorch hub checkpoints folder, when it is
/// there.
pub(crate) fn find_torch_checkpoint(dir: &Path, ckpt: &TorchCheckpoint) -> Option<PathBuf> {
    let path = dir.join(&ckpt.file_name);
    path.is_file().then_some(path)
}
