//! The one place where image buffers become tensors: u8 RGB to [0, 1] f32,
//! then (for ResNet-50 only) ImageNet mean/std normalisation, stacked into a
//! `[B, 3, H, W]` batch (spec section 2).

use candle_core::{Device, Tensor};
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

/// Stacks same-sized RGB images into one f32 `[B, 3, H, W]` tensor on
/// `device`, scaled and normalised as `norm` says.
///
/// The arithmetic follows torchvision (`ToTensor` divides by 255 in f32,
/// `Normalize` subtracts the mean and divides by the std in f32), so the
/// values equal PyTorch's bit for bit.
pub fn images_to_tensor(images: &[RgbImage], norm: Normalisation, device: &Device) -> Result<Tensor, BackboneError> {
    let (w, h) = images.first().map_or((0, 0), |i| (i.width(), i.height()));
    if let Some((index, img)) = images.iter().enumerate().find(|(_, i)| i.width() != w || i.height() != h) {
        return Err(BackboneError::MixedSizes {
            index,
            width: w,
            height: h,
            found_w: img.width(),
            found_h: img.height(),
        });
    }
    let plane = w * h;
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
    Ok(Tensor::from_vec(data, (images.len(), 3, h, w), device)?)
}
