//! The backbones: ResNet-50 (layer stack, pool) and DINO ViT-B/16 (pool).
//!
//! Both networks are built from a [`StateDict`] with PyTorch names, check
//! every tensor they need up front ([`BackboneError::Weights`] lists what is
//! missing or misshapen), take an [`ImageBatch`] (the one place where images
//! become network input) and return plain rows, one per image.
//!
//! The forward passes compute on the host with channels-last matrix products
//! (the `gemm` crate, see `matmul`), several times faster than a direct
//! convolution: BatchNorm folded at load time, im2col or Winograd for
//! spatial kernels, bias/ReLU/residual/tap sums in one pass per convolution.
//! A GPU forward pass would be a second implementation of the pipeline's
//! backbone interface (`relaxvqa_features::Backbones`), not a change here.

mod input;
mod kernels;
pub mod matmul;
pub mod resnet;
mod transpose;
pub mod vit;
mod winograd;

pub use input::{ImageBatch, Normalisation};
pub use resnet::{resnet50_expected_tensors, ResNet50, LAYER_STACK_LEN, RESNET_POOL_LEN};
pub use vit::{vit_b16_expected_tensors, VitB16, VIT_POOL_LEN};

use crate::StateDict;

/// Side of the square images both backbones take.
pub const INPUT_SIZE: usize = 224;

/// One thing wrong with a state dict, as a network's loader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightProblem {
    /// A tensor the network needs is absent.
    Missing {
        /// Its state-dict name.
        name: String,
        /// The shape the network expects.
        expected: Vec<usize>,
    },
    /// A tensor is present with another shape than the network's.
    Shape {
        /// Its state-dict name.
        name: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
}

impl std::fmt::Display for WeightProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightProblem::Missing { name, expected } => write!(f, "`{name}` {expected:?} is missing"),
            WeightProblem::Shape { name, expected, found } => {
                write!(f, "`{name}` has shape {found:?}, expected {expected:?}")
            }
        }
    }
}

/// Lists problems one per line, at most ten, then a count of the rest.
fn list_problems(problems: &[WeightProblem]) -> String {
    let mut s: String = problems.iter().take(10).map(|p| format!("\n  {p}")).collect();
    if problems.len() > 10 {
        s.push_str(&format!("\n  ... and {} more", problems.len() - 10));
    }
    s
}

/// Why a backbone could not be built or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackboneError {
    /// The state dict does not hold the tensors the network needs.
    #[error("{network} weights: {} problem(s){}", problems.len(), list_problems(problems))]
    Weights {
        /// Which network was being built.
        network: &'static str,
        /// Every missing or misshapen tensor.
        problems: Vec<WeightProblem>,
    },
    /// The input images are not 224x224.
    #[error("{network} takes 224x224 images, got {width}x{height}")]
    InputSize {
        /// Which network was run.
        network: &'static str,
        /// The images' width.
        width: usize,
        /// The images' height.
        height: usize,
    },
    /// Images of one batch differ in size.
    #[error("image {index} is {found_w}x{found_h}, the batch's first is {width}x{height}")]
    MixedSizes {
        /// Index of the offending image.
        index: usize,
        /// Size of the first image.
        width: usize,
        /// Size of the first image.
        height: usize,
        /// Size of the offending image.
        found_w: usize,
        /// Size of the offending image.
        found_h: usize,
    },
}

/// Checks that `sd` has every `(name, shape)` of `expected`, naming all that
/// are missing or misshapen.
pub(crate) fn check_tensors(
    network: &'static str,
    sd: &StateDict,
    expected: &[(String, Vec<usize>)],
) -> Result<(), BackboneError> {
    let problems: Vec<WeightProblem> = expected
        .iter()
        .filter_map(|(name, shape)| match sd.get(name) {
            None => Some(WeightProblem::Missing { name: name.clone(), expected: shape.clone() }),
            Some(t) if &t.shape != shape || t.data.len() != shape.iter().product::<usize>() => {
                Some(WeightProblem::Shape { name: name.clone(), expected: shape.clone(), found: t.shape.clone() })
            }
            Some(_) => None,
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(BackboneError::Weights { network, problems })
    }
}

/// A tensor's values, fetched after [`check_tensors`] has vouched for it.
pub(crate) fn weight<'a>(sd: &'a StateDict, name: &str) -> &'a [f32] {
    sd.get(name).map_or(&[], |t| t.data.as_slice())
}

/// What one ResNet-50 pass gives for one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetOutput {
    /// The 13,120-value layer stack: spatial means of `conv1` (before
    /// `bn1`), `layer1[0..=2]`, `layer2[0..=3]`, `layer3[0..=3]` and
    /// `layer4[0..=2]`, in that order.
    pub layer_stack: Vec<f32>,
    /// The 2,051-value pool: the 2048 global-average-pool outputs, then
    /// their mean, max and population standard deviation.
    pub pool: Vec<f32>,
}

/// A batch's values, checked to be 224x224 images: `(images, values)`.
pub(crate) fn host_batch<'a>(
    network: &'static str,
    batch: &'a ImageBatch,
) -> Result<(usize, &'a [f32]), BackboneError> {
    let (width, height) = batch.size();
    if !batch.is_empty() && (width, height) != (INPUT_SIZE, INPUT_SIZE) {
        return Err(BackboneError::InputSize { network, width, height });
    }
    Ok((batch.len(), batch.as_slice()))
}
