//! The two backbones' weights: where each is published, under which names a
//! user may have it, and which tensors the network needs.

use std::fmt;

/// The Hugging Face Hub repository of ResNet-50 `IMAGENET1K_V1` in timm
/// naming (which equals torchvision's).
pub const RESNET50_HUB_REPO: &str = "timm/resnet50.tv_in1k";
/// The Hugging Face Hub repository of DINO ViT-B/16 in timm naming (which
/// equals DINO's).
pub const VIT_HUB_REPO: &str = "timm/vit_base_patch16_224.dino";
/// The file both Hub repositories hold the weights in.
pub const HUB_FILE: &str = "model.safetensors";
/// The checkpoint torchvision downloads for `ResNet50_Weights.IMAGENET1K_V1`
/// (its name carries the first 8 hex digits of its SHA-256).
pub const RESNET50_TORCH_FILE: &str = "resnet50-0676ba61.pth";
/// The checkpoint `torch.hub.load('facebookresearch/dino:main', 'dino_vitb16')`
/// downloads.
pub const VIT_TORCH_FILE: &str = "dino_vitbase16_pretrain.pth";

/// A backbone whose weights this module loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Network {
    /// torchvision ResNet-50, `IMAGENET1K_V1` weights.
    ResNet50,
    /// ViT-B/16 with DINO's self-supervised weights.
    VitB16Dino,
}

impl Network {
    /// Both networks, in pipeline order.
    pub const ALL: [Network; 2] = [Network::ResNet50, Network::VitB16Dino];

    /// The short key that selects the network in a per-network `--weights`
    /// value (`resnet50=...,vit=...`).
    pub fn key(self) -> &'static str {
        match self {
            Network::ResNet50 => "resnet50",
            Network::VitB16Dino => "vit",
        }
    }

    /// The network for a key of [`Network::key`] (a few aliases accepted).
    pub fn from_key(key: &str) -> Option<Self> {
        match key.trim().to_ascii_lowercase().as_str() {
            "resnet50" | "resnet" | "resnet-50" => Some(Network::ResNet50),
            "vit" | "dino" | "vit-b16" | "vit_b16" => Some(Network::VitB16Dino),
            _ => None,
        }
    }

    /// The tensors (state-dict name, shape) the network is built from: the
    /// backbone module's own lists, so loader and network cannot disagree.
    pub fn expected_tensors(self) -> Vec<(String, Vec<usize>)> {
        match self {
            Network::ResNet50 => crate::backbone::resnet50_expected_tensors(),
            Network::VitB16Dino => crate::backbone::vit_b16_expected_tensors(),
        }
    }

    /// Everything the loader needs to know about this network's weights.
    pub fn weights(self) -> NetworkWeights {
        match self {
            Network::ResNet50 => NetworkWeights {
                label: self.to_string(),
                hub: HubFile::new(RESNET50_HUB_REPO, HUB_FILE),
                torch: Some(TorchCheckpoint {
                    file_name: RESNET50_TORCH_FILE.to_owned(),
                    url: format!("https://download.pytorch.org/models/{RESNET50_TORCH_FILE}"),
                    sha256_prefix: Some("0676ba61".to_owned()),
                }),
                dir_names: vec![
                    "resnet50.tv_in1k.safetensors".to_owned(),
                    "resnet50.tv_in1k/model.safetensors".to_owned(),
                    RESNET50_TORCH_FILE.to_owned(),
                ],
                expected: self.expected_tensors(),
            },
            Network::VitB16Dino => NetworkWeights {
                label: self.to_string(),
                hub: HubFile::new(VIT_HUB_REPO, HUB_FILE),
                torch: Some(TorchCheckpoint {
                    file_name: VIT_TORCH_FILE.to_owned(),
                    url: format!("https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/{VIT_TORCH_FILE}"),
                    sha256_prefix: None,
                }),
                dir_names: vec![
                    "vit_base_patch16_224.dino.safetensors".to_owned(),
                    "vit_base_patch16_224.dino/model.safetensors".to_owned(),
                    VIT_TORCH_FILE.to_owned(),
                ],
                expected: self.expected_tensors(),
            },
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::ResNet50 => "ResNet-50",
            Network::VitB16Dino => "ViT-B/16 (DINO)",
        })
    }
}

/// One file in a Hugging Face Hub model repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFile {
    /// Repository id, `owner/name`.
    pub repo: String,
    /// Branch, tag or commit hash.
    pub revision: String,
    /// File name within the repository.
    pub file: String,
}

impl HubFile {
    /// A file on the `main` branch.
    pub fn new(repo: &str, file: &str) -> Self {
        Self { repo: repo.to_owned(), revision: "main".to_owned(), file: file.to_owned() }
    }
}

/// A checkpoint as PyTorch hub (`torch.hub.load_state_dict_from_url`) keeps
/// it in `$TORCH_HOME/hub/checkpoints`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchCheckpoint {
    /// File name in the checkpoints folder.
    pub file_name: String,
    /// Where PyTorch downloads it from (for messages only: this program
    /// never downloads it).
    pub url: String,
    /// The hex digits its SHA-256 must start with (torchvision's naming
    /// convention), when known.
    pub sha256_prefix: Option<String>,
}

/// Where a network's weights may be found and what they must contain: the
/// data the loader works from, so that tests can describe a small stand-in
/// network the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkWeights {
    /// Name of the network in messages.
    pub label: String,
    /// The file on the Hugging Face Hub.
    pub hub: HubFile,
    /// The PyTorch hub checkpoint, looked for before any download.
    pub torch: Option<TorchCheckpoint>,
    /// File names (relative paths) looked for, in order, when `--weights`
    /// names a folder.
    pub dir_names: Vec<String>,
    /// The tensors (name, shape) the network needs.
    pub expected: Vec<(String, Vec<usize>)>,
}
