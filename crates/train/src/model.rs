//! The authors' MLP head (`Mlp` in their `model_regression.py`) in a
//! trainable form: Linear -> BatchNorm1d -> GELU -> Dropout -> Linear -> GELU
//! -> Dropout -> Linear, with PyTorch's initialisation, BatchNorm's training
//! behaviour (batch statistics, running statistics updated with momentum 0.1
//! and the unbiased batch variance) and the authors' state-dict names, so that
//! a trained head loads wherever a published one does.
//!
//! Inference-only code lives in `relaxvqa-model`; this copy exists because
//! training needs gradients, dropout and the BatchNorm updates.

use candle_core::{DType, Device, Tensor, Var};
use relaxvqa_model::{HostTensor, StateDict};

use crate::rng::Rng;
use crate::TrainError;

/// Sizes and regularisation of the head.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct HeadConfig {
    /// Length of the feature vector (35,203 for ReLaX-VQA).
    pub input_features: usize,
    /// Width of `fc1` (`fc2` has half of it).
    pub hidden_features: usize,
    /// Dropout probability during training.
    pub drop_rate: f64,
    /// BatchNorm momentum of the running statistics.
    pub bn_momentum: f64,
    /// BatchNorm epsilon.
    pub bn_eps: f64,
}

impl HeadConfig {
    /// The authors' head for `input_features` inputs: 256 hidden, dropout 0.1.
    pub fn authors(input_features: usize) -> Self {
        Self { input_features, hidden_features: 256, drop_rate: 0.1, bn_momentum: 0.1, bn_eps: 1e-5 }
    }
}

/// Names of the trainable parameters, in `model.parameters()` order.
pub const PARAMETER_NAMES: [&str; 8] =
    ["fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"];

/// The trainable head: parameters as candle [`Var`]s in [`PARAMETER_NAMES`]
/// order (their PyTorch names), BatchNorm buffers beside them.
pub struct TrainHead {
    cfg: HeadConfig,
    device: Device,
    params: Vec<Var>,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: u64,
}

/// PyTorch's `nn.Linear` initialisation: weight and bias uniform in
/// `[-1/sqrt(fan_in), 1/sqrt(fan_in)]` (kaiming uniform with a = sqrt(5)).
fn linear_init(rng: &mut Rng, fan_in: usize, len: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    (0..len).map(|_| rng.uniform_range(-bound, bound) as f32).collect()
}

/// Matrix product plus bias: `x w^T + b`.
fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.matmul(&w.t()?)?.broadcast_add(b)
}

/// Exact (erf) GELU written from differentiable parts, so that its gradient
/// is the exact one (candle's fused `gelu_erf` backward rounds 1/sqrt(2 pi)).
fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    let cdf = ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?;
    (x * cdf)? * 0.5
}

impl TrainHead {
    /// A freshly initialised head (PyTorch's default initialisation drawn
    /// from `rng`: fc1, then fc2, then fc3, weight before bias).
    pub fn new(cfg: HeadConfig, rng: &mut Rng, device: &Device) -> Result<Self, TrainError> {
        let (i, h, h2) = (cfg.input_features, cfg.hidden_features, cfg.hidden_features / 2);
        if i == 0 || h2 == 0 {
            return Err(TrainError::Config(format!("head sizes must be positive (input {i}, hidden {h})")));
        }
        let mut sd = StateDict::new();
        let mut put = |name: &str, shape: Vec<usize>, data: Vec<f32>| {
            if let Some(t) = HostTensor::new(shape, data) {
                sd.insert(name, t);
            }
        };
        put("fc1.weight", vec![h, i], linear_init(rng, i, h * i));
        put("fc1.bias", vec![h], linear_init(rng, i, h));
        put("bn1.weight", vec![h], vec![1.0; h]);
        put("bn1.bias", vec![h], vec![0.0; h]);
        put("bn1.running_mean", vec![h], vec![0.0; h]);
        put("bn1.running_var", vec![h], vec![1.0; h]);
        put("fc2.weight", vec![h2, h], linear_init(rng, h, h2 * h));
        put("fc2.bias", vec![h2], linear_init(rng, h, h2));
        put("fc3.weight", vec![1, h2], linear_init(rng, h2, h2));
        put("fc3.bias", vec![1], linear_init(rng, h2, 1));
        Self::from_state_dict(cfg, &sd, device)
    }

    /// A head holding the weights of `sd` (PyTorch names, `module.` prefix
    /// already stripped); `num_batches_tracked` is optional.
    pub fn from_state_dict(cfg: HeadConfig, sd: &StateDict, device: &Device) -> Result<Self, TrainError> {
        let (i, h, h2) = (cfg.input_features, cfg.hidden_features, cfg.hidden_features / 2);
        let shape_of = |name: &str| -> Vec<usize> {
            match name {
                "fc1.weight" => vec![h, i],
                "fc2.weight" => vec![h2, h],
                "fc2.bias" => vec![h2],
                "fc3.weight" => vec![1, h2],
                "fc3.bias" => vec![1],
                _ => vec![h],
            }
        };
        let tensor = |name: &'static str| -> Result<Tensor, TrainError> {
            let t = sd.get(name).ok_or(TrainError::MissingTensor(name))?;
            let want = shape_of(name);
            if t.shape != want {
                return Err(TrainError::Shape { what: name, expected: format!("{want:?}"), got: t.shape.clone() });
            }
            Ok(Tensor::from_slice(&t.data, t.shape.as_slice(), device)?)
        };
        let mut params = Vec::with_capacity(PARAMETER_NAMES.len());
        for name in PARAMETER_NAMES {
            params.push(Var::from_tensor(&tensor(name)?)?);
        }
        let num_batches_tracked =
            sd.get("bn1.num_batches_tracked").and_then(|t| t.data.first()).map_or(0, |&v| v as u64);
        Ok(Self {
            cfg,
            device: device.clone(),
            params,
            running_mean: tensor("bn1.running_mean")?,
            running_var: tensor("bn1.running_var")?,
            num_batches_tracked,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HeadConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable parameters in [`PARAMETER_NAMES`] order (what the
    /// optimiser updates; the BatchNorm buffers are not among them).
    pub fn parameters(&self) -> Vec<Var> {
        self.params.clone()
    }

    /// How many training batches have updated the BatchNorm statistics.
    pub fn num_batches_tracked(&self) -> u64 {
        self.num_batches_tracked
    }

    fn p(&self, k: usize) -> &Tensor {
        self.params[k].as_tensor()
    }

    /// Checks that `x` is `[batch, input_features]`.
    fn check_input(&self, x: &Tensor) -> Result<usize, TrainError> {
        match x.dims() {
            [b, f] if *f == self.cfg.input_features => Ok(*b),
            d => Err(TrainError::Shape {
                what: "features",
                expected: format!("[batch, {}]", self.cfg.input_features),
                got: d.to_vec(),
            }),
        }
    }

    /// A dropout mask for `[b, w]` activations: kept units scaled by 1/(1-p).
    fn dropout_mask(&self, b: usize, w: usize, rng: &mut Rng) -> Result<Option<Tensor>, TrainError> {
        let p = self.cfg.drop_rate;
        if p <= 0.0 {
            return Ok(None);
        }
        let keep = (1.0 / (1.0 - p)) as f32;
        let m: Vec<f32> = (0..b * w).map(|_| if rng.uniform() < p { 0.0 } else { keep }).collect();
        Ok(Some(Tensor::from_vec(m, (b, w), &self.device)?))
    }

    /// Training-mode forward pass: batch statistics in BatchNorm (and an
    /// update of its running statistics), dropout masks drawn from `rng`.
    /// Returns `[batch, 1]`. Needs at least 2 rows, as PyTorch does.
    pub fn forward_train(&mut self, x: &Tensor, rng: &mut Rng) -> Result<Tensor, TrainError> {
        let b = self.check_input(x)?;
        if b < 2 {
            return Err(TrainError::BatchTooSmall(b));
        }
        let h = linear(x, self.p(0), self.p(1))?;
        let mean = h.mean_keepdim(0)?;
        let centred = h.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(0)?;
        let xhat = centred.broadcast_div(&(var.clone() + self.cfg.bn_eps)?.sqrt()?)?;
        let h = xhat.broadcast_mul(self.p(2))?.broadcast_add(self.p(3))?;
        // Running statistics: biased mean, unbiased variance, momentum m.
        let m = self.cfg.bn_momentum;
        let unbiased = var.detach().squeeze(0)?.affine(b as f64 / (b - 1) as f64, 0.0)?;
        self.running_mean = (self.running_mean.affine(1.0 - m, 0.0)? + mean.detach().squeeze(0)?.affine(m, 0.0)?)?;
        self.running_var = (self.running_var.affine(1.0 - m, 0.0)? + unbiased.affine(m, 0.0)?)?;
        self.num_batches_tracked += 1;
        let mut h = gelu(&h)?;
        if let Some(mask) = self.dropout_mask(b, self.cfg.hidden_features, rng)? {
            h = (h * mask)?;
        }
        let mut h = gelu(&linear(&h, self.p(4), self.p(5))?)?;
        if let Some(mask) = self.dropout_mask(b, self.cfg.hidden_features / 2, rng)? {
            h = (h * mask)?;
        }
        Ok(linear(&h, self.p(6), self.p(7))?)
    }

    /// Inference-mode forward pass (running statistics, no dropout, no
    /// gradient). Returns `[batch, 1]`.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        self.check_input(x)?;
        let x = x.detach();
        let p = |k: usize| self.p(k).detach();
        let h = linear(&x, &p(0), &p(1))?;
        let scale = p(2).broadcast_div(&(&self.running_var + self.cfg.bn_eps)?.sqrt()?)?;
        let h = h.broadcast_sub(&self.running_mean)?.broadcast_mul(&scale)?.broadcast_add(&p(3))?;
        let h = gelu(&linear(&gelu(&h)?, &p(4), &p(5))?)?;
        Ok(linear(&h, &p(6), &p(7))?)
    }

    /// Scores of `x` (`[n, input_features]`, f32) in inference mode.
    pub fn predict(&self, x: &Tensor) -> Result<Vec<f32>, TrainError> {
        Ok(self.forward_eval(x)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    }

    /// Replaces the BatchNorm running statistics (SWA's `update_bn`).
    pub fn set_bn_stats(&mut self, mean: Tensor, var: Tensor, batches: u64) {
        self.running_mean = mean;
        self.running_var = var;
        self.num_batches_tracked = batches;
    }

    /// The BatchNorm running mean and variance.
    pub fn bn_stats(&self) -> (&Tensor, &Tensor) {
        (&self.running_mean, &self.running_var)
    }

    /// The pre-BatchNorm activations `x w1^T + b1` (for recomputing the
    /// BatchNorm statistics after weight averaging).
    pub fn fc1_output(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        self.check_input(x)?;
        Ok(linear(&x.detach(), &self.p(0).detach(), &self.p(1).detach())?)
    }

    /// The weights as a [`StateDict`] with the authors' names (`fc1.weight`,
    /// ..., `bn1.running_var`, and `bn1.num_batches_tracked` as a 0-d f32).
    pub fn to_state_dict(&self) -> Result<StateDict, TrainError> {
        let mut sd = StateDict::new();
        let host = |t: &Tensor| -> Result<HostTensor, TrainError> {
            let data = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            HostTensor::new(t.dims().to_vec(), data).ok_or(TrainError::Config("tensor size mismatch".into()))
        };
        for (name, var) in PARAMETER_NAMES.iter().zip(&self.params) {
            sd.insert(*name, host(var.as_tensor())?);
        }
        sd.insert("bn1.running_mean", host(&self.running_mean)?);
        sd.insert("bn1.running_var", host(&self.running_var)?);
        sd.insert("bn1.num_batches_tracked", HostTensor { shape: vec![], data: vec![self.num_batches_tracked as f32] });
        Ok(sd)
    }
}
