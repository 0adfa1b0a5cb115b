//! The one small interface between the pipeline and the networks: batches of
//! 224x224 RGB images in, plain feature vectors out. The pipeline can thus be
//! tested with stand-in networks, and any device or implementation of the
//! networks plugs in behind it.

use relaxvqa_image::RgbImage;

use crate::FeatureError;

/// What one ResNet-50 pass gives for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetOutput {
    /// The 13,120-value layer stack.
    pub layer_stack: Vec<f32>,
    /// The 2,051-value pool.
    pub pool: Vec<f32>,
}

/// The two backbones as the pipeline uses them (spec section 2).
pub trait Backbones: Sync {
    /// ResNet-50 on 224x224 RGB images (already resized; ImageNet
    /// normalisation is the implementation's job): one output per image.
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError>;
    /// DINO ViT-B/16 on 224x224 RGB images: the 2,304-value pool per image.
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError>;
}
