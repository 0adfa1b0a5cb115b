//! What `--weights` says: where each network's weights come from.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::error::WeightsError;
use super::network::Network;

/// Where one network's weights come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightSource {
    /// The deterministic synthetic weights (`docs/spec/synthetic-weights.md`):
    /// for tests, parity checks and benchmarks, never for real scores.
    Synthetic,
    /// The real pretrained weights: the Hugging Face cache, then the PyTorch
    /// hub cache, then a download from the Hugging Face Hub.
    #[default]
    Hub,
    /// A local `.safetensors` or `.pth` file, or a folder holding the
    /// network's file under one of its known names.
    Path(PathBuf),
}

impl FromStr for WeightSource {
    type Err = WeightsError;

    /// `synthetic`, `hub`, or a path (write `./hub` for a file named `hub`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "" => Err(WeightsError::InvalidSource {
                input: s.to_owned(),
                reason: "empty; use synthetic, hub, or a path".to_owned(),
            }),
            "synthetic" => Ok(WeightSource::Synthetic),
            "hub" => Ok(WeightSource::Hub),
            _ => Ok(WeightSource::Path(PathBuf::from(t))),
        }
    }
}

impl fmt::Display for WeightSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightSource::Synthetic => f.write_str("synthetic"),
            WeightSource::Hub => f.write_str("hub"),
            WeightSource::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The sources of both networks: the parsed value of the command line's
/// `--weights`.
///
/// Accepted forms:
/// - `hub` (the default), `synthetic`, or a folder: the same for both
///   networks (a folder is searched for each network's known file names);
/// - `resnet50=SOURCE,vit=SOURCE`: per network, each SOURCE as above or a
///   single file; a network left out gets `hub`. Paths in this form cannot
///   contain a comma.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeightSources {
    /// ResNet-50's source.
    pub resnet50: WeightSource,
    /// ViT-B/16's source.
    pub vit: WeightSource,
}

impl WeightSources {
    /// The same source for both networks.
    pub fn all(source: WeightSource) -> Self {
        Self { resnet50: source.clone(), vit: source }
    }

    /// One network's source.
    pub fn get(&self, network: Network) -> &WeightSource {
        match network {
            Network::ResNet50 => &self.resnet50,
            Network::VitB16Dino => &self.vit,
        }
    }

    fn get_mut(&mut self, network: Network) -> &mut WeightSource {
        match network {
            Network::ResNet50 => &mut self.resnet50,
            Network::VitB16Dino => &mut self.vit,
        }
    }
}

/// The network a `key=value` item starts with, if it starts with one.
fn keyed(item: &str) -> Option<(Network, &str)> {
    let (key, value) = item.split_once('=')?;
    Network::from_key(key).map(|n| (n, value))
}

impl FromStr for WeightSources {
    type Err = WeightsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if keyed(s.trim()).is_none() {
            return Ok(Self::all(s.parse()?));
        }
        let mut out = Self::default();
        let mut seen = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((network, value)) = keyed(item) else {
                return Err(WeightsError::InvalidSource {
                    input: s.to_owned(),
                    reason: format!("{item:?} is not NETWORK=SOURCE with NETWORK one of resnet50, vit"),
                });
            };
            if seen.contains(&network) {
                return Err(WeightsError::InvalidSource {
                    input: s.to_owned(),
                    reason: format!("{} is given twice", network.key()),
                });
            }
            seen.push(network);
            *out.get_mut(network) = value.parse().map_err(|_| WeightsError::InvalidSource {
                input: s.to_owned(),
                reason: format!("{} has an empty source", network.key()),
            })?;
        }
        Ok(out)
    }
}

impl fmt::Display for WeightSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resnet50 == self.vit {
            write!(f, "{}", self.resnet50)
        } else {
            write!(f, "resnet50={},vit={}", self.resnet50, self.vit)
        }
    }
}
