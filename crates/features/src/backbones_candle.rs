//! The candle backbones of `relaxvqa-model` behind the pipeline's
//! [`Backbones`] interface.

use candle_core::{Device, Tensor};
use relaxvqa_image::RgbImage;
use relaxvqa_model::backbone::{images_to_tensor, Normalisation, ResNet50, VitB16};
use relaxvqa_model::weights::{load_state_dict, Network, WeightSources};

use crate::{Backbones, FeatureError, ResNetOutput};

/// ResNet-50 and ViT-B/16 on one candle device, loaded once and shared by
/// every video of a run.
pub struct CandleBackbones {
    resnet: ResNet50,
    vit: VitB16,
    device: Device,
}

impl CandleBackbones {
    /// Loads both networks' weights from `sources` onto `device`.
    pub fn load(sources: &WeightSources, device: &Device) -> Result<Self, FeatureError> {
        let t0 = std::time::Instant::now();
        let load = |network: Network, source| load_state_dict(network, source).map_err(FeatureError::from);
        // The two networks are built at the same time: building is mostly
        // single-threaded work (reading, transposing, transforming filters).
        let (resnet, vit) = rayon::join(
            || {
                let sd = load(Network::ResNet50, &sources.resnet50)?;
                ResNet50::from_state_dict(&sd, device).map_err(|e| net_err("resnet50", e))
            },
            || {
                let sd = load(Network::VitB16Dino, &sources.vit)?;
                VitB16::from_state_dict(&sd, device).map_err(|e| net_err("vit", e))
            },
        );
        let (resnet, vit) = (resnet?, vit?);
        tracing::debug!("backbones built in {:.2} s", t0.elapsed().as_secs_f64());
        Ok(Self { resnet, vit, device: device.clone() })
    }
}

fn net_err<E: std::error::Error + Send + Sync + 'static>(network: &'static str, e: E) -> FeatureError {
    FeatureError::network(network, e)
}

fn rows(t: &Tensor, network: &'static str) -> Result<Vec<Vec<f32>>, FeatureError> {
    t.to_vec2::<f32>().map_err(|e| net_err(network, e))
}

fn batch(
    images: &[&RgbImage],
    norm: Normalisation,
    device: &Device,
    network: &'static str,
) -> Result<Tensor, FeatureError> {
    let owned: Vec<RgbImage> = images.iter().map(|&i| i.clone()).collect();
    images_to_tensor(&owned, norm, device).map_err(|e| net_err(network, e))
}

impl Backbones for CandleBackbones {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let x = batch(images, Normalisation::ImageNet, &self.device, "resnet50")?;
        let out = self.resnet.forward(&x).map_err(|e| net_err("resnet50", e))?;
        let stacks = rows(&out.layer_stack, "resnet50")?;
        let pools = rows(&out.pool, "resnet50")?;
        Ok(stacks.into_iter().zip(pools).map(|(layer_stack, pool)| ResNetOutput { layer_stack, pool }).collect())
    }

    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let x = batch(images, Normalisation::UnitRange, &self.device, "vit")?;
        let out = self.vit.forward_pool(&x).map_err(|e| net_err("vit", e))?;
        rows(&out, "vit")
    }
}
