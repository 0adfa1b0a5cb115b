//! The one small interface between the pipeline and the networks: batches of
//! 224x224 RGB images in, plain feature vectors out. The pipeline can thus be
//! tested with stand-in networks, and another implementation of the networks
//! (a GPU one, later) plugs in behind it; [`CpuBackbones`] is the one we ship.

use relaxvqa_image::RgbImage;
pub use relaxvqa_model::backbone::ResNetOutput;
use relaxvqa_model::backbone::{ImageBatch, Normalisation, ResNet50, VitB16};
use relaxvqa_model::weights::{load_state_dict, Network, WeightSources};

use crate::FeatureError;

/// The two backbones as the pipeline uses them (spec section 2).
pub trait Backbones: Sync {
    /// ResNet-50 on 224x224 RGB images (already resized; ImageNet
    /// normalisation is the implementation's job): one output per image.
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError>;
    /// DINO ViT-B/16 on 224x224 RGB images: the 2,304-value pool per image.
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError>;
}

/// ResNet-50 and ViT-B/16 on the CPU, loaded once and shared by every video
/// of a run.
pub struct CpuBackbones {
    resnet: ResNet50,
    vit: VitB16,
}

impl CpuBackbones {
    /// Loads both networks' weights from `sources`.
    pub fn load(sources: &WeightSources) -> Result<Self, FeatureError> {
        let t0 = std::time::Instant::now();
        let load = |network: Network, source| load_state_dict(network, source).map_err(FeatureError::from);
        // The two networks are built at the same time: building is mostly
        // single-threaded work (reading, transposing, transforming filters).
        let (resnet, vit) = rayon::join(
            || {
                let sd = load(Network::ResNet50, &sources.resnet50)?;
                ResNet50::from_state_dict(&sd).map_err(|e| FeatureError::network("resnet50", e))
            },
            || {
                let sd = load(Network::VitB16Dino, &sources.vit)?;
                VitB16::from_state_dict(&sd).map_err(|e| FeatureError::network("vit", e))
            },
        );
        let (resnet, vit) = (resnet?, vit?);
        tracing::debug!("backbones built in {:.2} s", t0.elapsed().as_secs_f64());
        Ok(Self { resnet, vit })
    }
}

impl Backbones for CpuBackbones {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        let run = || self.resnet.forward(&ImageBatch::from_images(images, Normalisation::ImageNet)?);
        run().map_err(|e| FeatureError::network("resnet50", e))
    }

    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        let run = || self.vit.forward(&ImageBatch::from_images(images, Normalisation::UnitRange)?);
        run().map_err(|e| FeatureError::network("vit", e))
    }
}
