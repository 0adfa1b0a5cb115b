//! The backbones: ResNet-50 (layer stack, pool) and DINO ViT-B/16 (pool).
//!
//! Both networks are built from a [`StateDict`] with PyTorch names, check
//! every tensor they need up front ([`BackboneError::Weights`] lists what is
//! missing or misshapen), and take a batch of images as a candle tensor
//! `[B, 3, 224, 224]` made by [`images_to_tensor`], the one place where image
//! buffers become tensors.
//!
//! The forward passes compute on the host with channels-last matrix products
//! (the `gemm` crate that candle's CPU backend uses, see `kernels`), several
//! times faster than candle's CPU convolution: BatchNorm folded at load time,
//! im2col for spatial kernels, bias/ReLU/residual/tap sums in one pass per
//! convolution. Inputs may live on any candle device (they are read back to
//! the host) and outputs are placed on the device the network was built
//! for; a GPU forward pass would be a separate implementation behind a
//! feature flag.

mod input;
mod kernels;
pub mod matmul_kernels;
mod matmul_wisdom;
pub mod resnet;
mod transpose;
pub mod vit;
mod winograd;

use candle_core::{Device, Tensor};

pub use input::{images_to_tensor, Normalisation};
pub use resnet::{resnet50_expected_tensors, ResNet50, ResNetOutput, LAYER_STACK_LEN, RESNET_POOL_LEN};
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
    /// The input batch is not `[B, 3, 224, 224]`.
    #[error("{network} takes a batch of shape [B, 3, 224, 224], got {found:?}")]
    InputShape {
        /// Which network was run.
        network: &'static str,
        /// The shape given.
        found: Vec<usize>,
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
    /// A tensor operation failed (device transfer, dtype conversion, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
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

/// Reads a `[B, 3, 224, 224]` batch into host memory, returning `B`.
pub(crate) fn host_batch(network: &'static str, batch: &Tensor) -> Result<(usize, Vec<f32>), BackboneError> {
    let dims = batch.dims().to_vec();
    if dims.len() != 4 || dims[1] != 3 || dims[2] != INPUT_SIZE || dims[3] != INPUT_SIZE {
        return Err(BackboneError::InputShape { network, found: dims });
    }
    let data = batch.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((dims[0], data))
}

/// What both backbones share, so that drivers, tests and benchmarks can treat
/// them alike: how to build one, what input it takes and what it costs.
pub trait Backbone: Sized + Send + Sync {
    /// Human-readable name, used in errors and reports.
    const NAME: &'static str;
    /// The normalisation its input batch must have.
    const NORMALISATION: Normalisation;
    /// Forward cost per 224x224 image, in GFLOP (2 per multiply-add).
    const GFLOP_PER_IMAGE: f64;
    /// What one forward pass returns.
    type Output;

    /// The `(name, shape)` of every state-dict tensor the network reads.
    fn expected_tensors() -> Vec<(String, Vec<usize>)>;

    /// Builds the network, checking every tensor first.
    fn from_state_dict(sd: &StateDict, device: &Device) -> Result<Self, BackboneError>;

    /// One forward pass over a `[B, 3, 224, 224]` batch.
    fn run(&self, batch: &Tensor) -> Result<Self::Output, BackboneError>;
}
