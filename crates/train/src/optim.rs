//! The authors' optimiser and learning-rate schedule, with PyTorch's exact
//! update rules: `torch.optim.SGD(momentum=0.9, lr=0.1, weight_decay=0.005)`
//! and `CosineAnnealingLR(T_max=epochs, eta_min=1e-5)`.
//!
//! candle's own `SGD` has neither momentum nor weight decay, hence this.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::TrainError;

/// SGD hyper-parameters, named as in `torch.optim.SGD`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 disables the buffer).
    pub momentum: f64,
    /// Dampening of the momentum's gradient term.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`d_p = g + weight_decay * p`).
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl SgdConfig {
    /// The authors' settings: lr 0.1, momentum 0.9, weight decay 0.005.
    pub const AUTHORS: Self = Self { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 0.005, nesterov: false };
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self::AUTHORS
    }
}

/// Stochastic gradient descent with PyTorch's semantics, per parameter:
/// `d_p = g + wd * p`; `buf = d_p` on the first step, else
/// `buf = momentum * buf + (1 - dampening) * d_p`; `d_p = buf` (or
/// `d_p + momentum * buf` with Nesterov); `p -= lr * d_p`. Parameters without
/// a gradient are skipped, as PyTorch skips `grad is None`.
pub struct Sgd {
    vars: Vec<Var>,
    buffers: Vec<Option<Tensor>>,
    cfg: SgdConfig,
}

impl Sgd {
    /// An optimiser over `vars` (in the order their buffers are kept).
    pub fn new(vars: Vec<Var>, cfg: SgdConfig) -> Result<Self, TrainError> {
        if cfg.nesterov && (cfg.momentum <= 0.0 || cfg.dampening != 0.0) {
            return Err(TrainError::Config("Nesterov momentum requires a momentum and zero dampening".into()));
        }
        let buffers = vec![None; vars.len()];
        Ok(Self { vars, buffers, cfg })
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Sets the learning rate (the scheduler's job).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// The settings.
    pub fn config(&self) -> &SgdConfig {
        &self.cfg
    }

    /// The momentum buffer of parameter `i`, once a step has created it.
    pub fn momentum_buffer(&self, i: usize) -> Option<&Tensor> {
        self.buffers.get(i).and_then(Option::as_ref)
    }

    /// One update from the gradients of a backward pass.
    pub fn step(&mut self, grads: &GradStore) -> Result<(), TrainError> {
        let c = self.cfg;
        for (var, buf) in self.vars.iter().zip(self.buffers.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let p = var.as_tensor().detach();
            let mut d_p = g.detach();
            if c.weight_decay != 0.0 {
                d_p = (d_p + p.affine(c.weight_decay, 0.0)?)?;
            }
            if c.momentum != 0.0 {
                let b = match buf.take() {
                    None => d_p.clone(),
                    Some(b) => (b.affine(c.momentum, 0.0)? + d_p.affine(1.0 - c.dampening, 0.0)?)?,
                };
                d_p = if c.nesterov { (&d_p + b.affine(c.momentum, 0.0)?)? } else { b.clone() };
                *buf = Some(b);
            }
            var.set(&(p - d_p.affine(c.lr, 0.0)?)?)?;
        }
        Ok(())
    }
}

/// `CosineAnnealingLR`'s closed form: the learning rate during epoch `epoch`
/// (from 0) is `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2`.
/// (PyTorch steps it recursively; without other schedulers touching the
/// rate the two agree to rounding.)
pub fn cosine_annealing_lr(base_lr: f64, eta_min: f64, t_max: usize, epoch: usize) -> f64 {
    if t_max == 0 {
        return base_lr;
    }
    eta_min + (base_lr - eta_min) * (1.0 + (std::f64::consts::PI * epoch as f64 / t_max as f64).cos()) / 2.0
}

/// One step of PyTorch's `CosineAnnealingLR` in its recursive form: the rate
/// for epoch `t` (from 1) given the rate `lr` in force during epoch `t - 1`.
/// Equals [`cosine_annealing_lr`] up to rounding while nothing else changes
/// the rate; differs once another scheduler (`SWALR`) has changed it.
pub fn cosine_annealing_step(lr: f64, base_lr: f64, eta_min: f64, t_max: usize, t: usize) -> f64 {
    if t_max == 0 || t == 0 {
        return lr;
    }
    let pi = std::f64::consts::PI;
    let (t_f, t_max_f) = (t as f64, t_max as f64);
    if (t as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
        return lr + (base_lr - eta_min) * (1.0 - (pi / t_max_f).cos()) / 2.0;
    }
    (1.0 + (pi * t_f / t_max_f).cos()) / (1.0 + (pi * (t_f - 1.0) / t_max_f).cos()) * (lr - eta_min) + eta_min
}

/// `SWALR(swa_lr, anneal_epochs, anneal_strategy="cos")`'s `step()` number
/// `step` (from 1; the constructor's own step changes nothing): the current
/// rate `lr` moves along a cosine from where the annealing began to
/// `swa_lr`, which it reaches, exactly, at step `anneal_epochs` and keeps.
pub fn swalr_step(lr: f64, swa_lr: f64, anneal_epochs: usize, step: usize) -> f64 {
    let anneal = |t: f64| (1.0 - (std::f64::consts::PI * t).cos()) / 2.0;
    let step = if anneal_epochs == 0 { step.max(1) } else { step } as f64;
    let span = anneal_epochs.max(1) as f64;
    let prev_alpha = anneal(((step - 1.0) / span).clamp(0.0, 1.0));
    let prev_lr = if prev_alpha == 1.0 { swa_lr } else { (lr - prev_alpha * swa_lr) / (1.0 - prev_alpha) };
    let alpha = anneal((step / span).clamp(0.0, 1.0));
    swa_lr * alpha + prev_lr * (1.0 - alpha)
}
