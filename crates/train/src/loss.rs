//! The authors' training loss (`MAEAndRankLoss`, spec section 7):
//! `l1_w * MAE + rank_w * rank loss`, with the rank loss the mean over
//! ordered pairs i != j of `relu((y_i - y_j) - sign(y_i - y_j) * (p_i - p_j))`
//! (the sum over all n^2 pairs divided by n(n-1); the diagonal adds zero).
//!
//! The candle version is differentiable with PyTorch's sub-gradients: the
//! derivative of |x| and of relu(x) at x = 0 is 0 (candle's own `abs` and
//! `relu` backward passes use 1 there), so |x| is written `x * sign(x)` and
//! relu(x) `x * [x > 0]` with the sign and mask held constant.

use candle_core::{DType, Tensor};

use crate::TrainError;

/// The two weights of the loss; [`LossWeights::AUTHORS`] are the defaults of
/// the authors' configuration.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LossWeights {
    /// Weight of the mean absolute error.
    pub l1: f64,
    /// Weight of the rank loss.
    pub rank: f64,
}

impl LossWeights {
    /// `l1_w = 0.6`, `rank_w = 1.0`.
    pub const AUTHORS: Self = Self { l1: 0.6, rank: 1.0 };
}

impl Default for LossWeights {
    fn default() -> Self {
        Self::AUTHORS
    }
}

/// Flattens a `[n]` or `[n, 1]` tensor to `[n]`.
fn column(t: &Tensor, what: &'static str) -> Result<Tensor, TrainError> {
    match t.dims() {
        [_] => Ok(t.clone()),
        [n, 1] => Ok(t.reshape(*n)?),
        d => Err(TrainError::Shape { what, expected: "[n] or [n, 1]".into(), got: d.to_vec() }),
    }
}

/// The loss on one batch as a scalar tensor, differentiable in `pred`.
/// `pred` and `target` are `[n]` or `[n, 1]` float tensors. For n < 2 the
/// rank term is 0 (PyTorch would divide 0 by 0).
pub fn mae_rank_loss(pred: &Tensor, target: &Tensor, w: LossWeights) -> Result<Tensor, TrainError> {
    let p = column(pred, "pred")?;
    let y = column(target, "target")?.to_dtype(p.dtype())?.detach();
    let n = p.dims1()?;
    if y.dims1()? != n {
        return Err(TrainError::Shape { what: "target", expected: format!("[{n}]"), got: y.dims().to_vec() });
    }
    if n == 0 {
        return Err(TrainError::EmptyBatch);
    }
    let diff = (&p - &y)?;
    let mae = (&diff * diff.sign()?.detach())?.mean_all()?;
    let mut loss = mae.affine(w.l1, 0.0)?;
    if n >= 2 {
        let pred_diff = p.unsqueeze(1)?.broadcast_sub(&p.unsqueeze(0)?)?;
        let true_diff = y.unsqueeze(1)?.broadcast_sub(&y.unsqueeze(0)?)?;
        let arg = (&true_diff - (true_diff.sign()? * pred_diff)?)?;
        let positive = arg.gt(0.0)?.to_dtype(arg.dtype())?.detach();
        let rank = ((arg * positive)?.sum_all()? / (n * (n - 1)) as f64)?;
        loss = (loss + rank.affine(w.rank, 0.0)?)?;
    }
    Ok(loss)
}

/// The same loss in plain f64, for validation losses and for checking the
/// tensor version.
pub fn mae_rank_loss_f64(pred: &[f64], target: &[f64], w: LossWeights) -> f64 {
    let n = pred.len().min(target.len());
    if n == 0 {
        return f64::NAN;
    }
    let mae = pred.iter().zip(target).map(|(p, y)| (p - y).abs()).sum::<f64>() / n as f64;
    let mut rank = 0.0;
    if n >= 2 {
        for i in 0..n {
            for j in 0..n {
                let td = target[i] - target[j];
                let sign = if td > 0.0 {
                    1.0
                } else if td < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                rank += (td - sign * (pred[i] - pred[j])).max(0.0);
            }
        }
        rank /= (n * (n - 1)) as f64;
    }
    w.l1 * mae + w.rank * rank
}

/// Reads a scalar loss tensor as f64.
pub fn scalar(t: &Tensor) -> Result<f64, TrainError> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
