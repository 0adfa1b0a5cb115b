//! The one place where images become network input: u8 RGB to [0, 1] f32,
//! then (for ResNet-50 only) ImageNet mean/std normalisation, stacked into
//! one channels-first batch (spec section 2).

use relaxvqa_image::RgbImage;

use super::BackboneError;

/// ImageNet channel means (torchvision's `Normalize`).
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How pixel values are prepared for a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Normalisation {
    /// `x / 255`, then `(x - mean) / std` per channel with ImageNet's
    /// statistics: ResNet-50's input.
    ImageNet,
    /// `x / 255` only: the DINO ViT's input.
    UnitRange,
}

/// Same-sized RGB images as a network reads them: f32, `[B, 3, H, W]`
/// row-major (channels first, as PyTorch's batches), scaled and normalised.
/// Built once per batch on the host; a backbone reads it without copying.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageBatch {
    images: usize,
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl ImageBatch {
    /// Stacks `images` (all of one size) as `norm` says.
    ///
    /// The arithmetic follows torchvision (`ToTensor` divides by 255 in f32,
    /// `Normalize` subtracts the mean and divides by the std in f32), so the
    /// values equal PyTorch's bit for bit.
    pub fn from_images(images: &[&RgbImage], norm: Normalisation) -> Result<Self, BackboneError> {
        let (width, height) = images.first().map_or((0, 0), |i| (i.width(), i.height()));
        if let Some((index, img)) = images.iter().enumerate().find(|(_, i)| i.width() != width || i.height() != height)
        {
            return Err(BackboneError::MixedSizes {
                index,
                width,
                height,
                found_w: img.width(),
                found_h: img.height(),
            });
        }
        let plane = width * height;
        let mut data = vec![0f32; images.len() * 3 * plane];
        for (img, out) in images.iter().zip(data.chunks_exact_mut(3 * plane.max(1))) {
            for (p, px) in img.as_bytes().chunks_exact(3).enumerate() {
                for ch in 0..3 {
                    let v = f32::from(px[ch]) / 255.0;
                    out[ch * plane + p] = match norm {
                        Normalisation::ImageNet => (v - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch],
                        Normalisation::UnitRange => v,
                    };
                }
            }
        }
        Ok(Self { images: images.len(), width, height, data })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.images
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.images == 0
    }

    /// The images' width and height.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The values, `[B, 3, H, W]` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
}
