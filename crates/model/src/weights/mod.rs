//! Where network weights come from: safetensors files, PyTorch `.pth`
//! checkpoints, the Hugging Face Hub cache, or the synthetic generator; all end
//! up as one [`StateDict`](state_dict::StateDict) of named f32 host tensors.
//!
//! The command line parses `--weights` into [`WeightSources`] and calls
//! [`load_state_dict`] per [`Network`]. For `hub` (the default) the order is:
//! the Hugging Face cache (verified against the recorded or advertised
//! SHA-256), the PyTorch hub cache (`resnet50-0676ba61.pth`,
//! `dino_vitbase16_pretrain.pth`), and only then a download from the Hub
//! (`timm/resnet50.tv_in1k`, `timm/vit_base_patch16_224.dino`), unless
//! `HF_HUB_OFFLINE` is set. Whatever the source, the result holds exactly the
//! tensors the network expects, each checked for presence and shape.

mod cache;
pub mod config;
mod digest;
pub mod error;
pub mod hub;
mod local;
pub mod network;
pub mod pth;
pub mod safetensors_file;
pub mod source;
pub mod state_dict;
mod validate;

use std::fmt::Write as _;

pub use config::WeightsConfig;
pub use error::{ShapeMismatch, WeightsError};
pub use hub::VerifiedFile;
pub use local::read_weights_file;
pub use network::{HubFile, Network, NetworkWeights, TorchCheckpoint};
pub use source::{WeightSource, WeightSources};
pub use validate::{conform, validate};

use crate::StateDict;

/// A network's weights from `source`, with the caches and Hub settings of
/// the environment ([`WeightsConfig::from_env`]).
pub fn load_state_dict(network: Network, source: &WeightSource) -> Result<StateDict, WeightsError> {
    load_state_dict_with(&network.weights(), source, &WeightsConfig::from_env())
}

/// The weights `weights` describes, from `source`, with explicit cache and
/// Hub settings: checked against `weights.expected` (every problem listed in
/// one [`WeightsError::Mismatch`]) and reduced to exactly those tensors.
pub fn load_state_dict_with(
    weights: &NetworkWeights,
    source: &WeightSource,
    cfg: &WeightsConfig,
) -> Result<StateDict, WeightsError> {
    let (sd, origin) = match source {
        WeightSource::Synthetic => {
            return Ok(crate::synthetic::synthetic_state_dict(&weights.expected));
        }
        WeightSource::Path(path) => {
            let file = if path.is_dir() { local::find_in_dir(path, weights)? } else { path.clone() };
            (read_weights_file(&file)?, file)
        }
        WeightSource::Hub => {
            let file = fetch_weights(weights, cfg)?;
            (local::parse_weights_bytes(&file.bytes, &file.path)?, file.path)
        }
    };
    let what = format!("{} weights from {}", weights.label, origin.display());
    let sd = validate::strip_module_prefix(sd, &weights.expected);
    validate::validate_named(&sd, &weights.expected, &what)?;
    tracing::info!("{what}: {} tensors", weights.expected.len());
    Ok(conform(sd, &weights.expected))
}

/// The real pretrained weights file of a network, read and verified: from
/// the Hugging Face cache, else the PyTorch hub cache, else downloaded from
/// the Hub (unless `cfg.offline`). Also what a "fetch the weights now"
/// command would call.
pub fn fetch_weights(weights: &NetworkWeights, cfg: &WeightsConfig) -> Result<VerifiedFile, WeightsError> {
    if let Some(file) = hub::cached_hub_file(&weights.hub, cfg)? {
        return Ok(file);
    }
    if let Some(file) = torch_cached(weights, cfg)? {
        return Ok(file);
    }
    let hint = placement_hint(weights, cfg);
    if cfg.offline {
        return Err(WeightsError::NotCached { network: weights.label.clone(), hint });
    }
    hub::download_hub_file(&weights.hub, cfg, &hint)
}

/// The checkpoint from the PyTorch hub cache, checked against the hash
/// prefix in its name where it has one.
fn torch_cached(weights: &NetworkWeights, cfg: &WeightsConfig) -> Result<Option<VerifiedFile>, WeightsError> {
    let Some(ckpt) = &weights.torch else {
        return Ok(None);
    };
    let Some(path) = pth::find_torch_checkpoint(&cfg.torch_checkpoints, ckpt) else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).map_err(|source| WeightsError::Io { path: path.clone(), source })?;
    let sha256 = digest::sha256_hex(&bytes);
    let expected = ckpt.sha256_prefix.as_ref().map(|p| digest::Expected::Sha256Prefix(p.to_ascii_lowercase()));
    if let Some(expected) = &expected {
        if let Err(actual) = expected.check(&bytes, &sha256) {
            // Not ours to delete: PyTorch's cache, maybe shared with Python.
            return Err(WeightsError::BadHash {
                path,
                algorithm: expected.algorithm(),
                expected: expected.shown(),
                actual,
                removed: false,
            });
        }
    }
    Ok(Some(VerifiedFile { path, bytes, sha256, verified: expected.is_some() }))
}

/// Which files a user can place by hand, and where, for `weights`.
pub fn placement_hint(weights: &NetworkWeights, cfg: &WeightsConfig) -> String {
    let hub = &weights.hub;
    let mut s = format!(
        "Place one of these by hand: {} (from {}) as {}/{}/snapshots/<any folder name>/{}",
        hub.file,
        hub::resolve_url(&cfg.endpoint, hub),
        cfg.hf_cache.display(),
        cache::repo_folder(&hub.repo),
        hub.file
    );
    if let Some(ckpt) = &weights.torch {
        let _ = write!(
            s,
            "; or {} (from {}) into the PyTorch hub cache {}",
            ckpt.file_name,
            ckpt.url,
            cfg.torch_checkpoints.display()
        );
    }
    let _ = write!(
        s,
        "; or pass a .safetensors or .pth file, or a folder holding one of {}, with --weights",
        weights.dir_names.join(", ")
    );
    s
}
