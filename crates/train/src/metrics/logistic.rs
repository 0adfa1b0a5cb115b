//! The 4-parameter logistic that maps predictions onto the MOS scale before
//! PLCC and RMSE (spec section 7), fitted as the authors fit it:
//! `scipy.optimize.curve_fit(logistic_func, pred, mos, p0=[max(mos),
//! min(mos), mean(pred), 0.5], maxfev=100000000)`, i.e. MINPACK `lmdif`.

use serde::Serialize;

use super::correlation::mean;
use super::minpack::{lmdif, LmOptions};
use super::MetricsError;

/// The authors' `maxfev` (`curve_fit(..., maxfev=100000000)`); SciPy's own
/// default would be `200 * (4 + 1) = 1000`. It only matters for fits that
/// would otherwise stop on the evaluation limit.
pub const AUTHORS_MAXFEV: usize = 100_000_000;

/// `b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))`, evaluated in the same
/// order of operations as the authors' NumPy `logistic_func`.
pub fn logistic4(x: f64, b: &[f64; 4]) -> f64 {
    let logistic_part = 1.0 + (-((x - b[2]) / b[3].abs())).exp();
    b[1] + (b[0] - b[1]) / logistic_part
}

/// The start point the authors give `curve_fit`:
/// `[max(mos), min(mos), mean(pred), 0.5]`.
pub fn logistic_start(mos: &[f64], pred: &[f64]) -> [f64; 4] {
    let max = mos.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = mos.iter().copied().fold(f64::INFINITY, f64::min);
    [max, min, mean(pred), 0.5]
}

/// A fitted logistic: start, result and how MINPACK got there.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogisticFit {
    /// The start point `[max(mos), min(mos), mean(pred), 0.5]`.
    pub start: [f64; 4],
    /// The fitted `[b1, b2, b3, b4]` (b4 may be negative: only |b4| is used).
    pub params: [f64; 4],
    /// Residual function evaluations MINPACK used.
    pub nfev: usize,
    /// MINPACK's termination code (1-4 on success).
    pub info: i32,
}

impl LogisticFit {
    /// The fitted curve at each prediction.
    pub fn apply(&self, pred: &[f64]) -> Vec<f64> {
        pred.iter().map(|&x| logistic4(x, &self.params)).collect()
    }
}

/// Fits the logistic from `pred` to `mos` with MINPACK `lmdif` and SciPy's
/// `leastsq` settings, failing as `curve_fit` does when MINPACK reports
/// anything but convergence (codes 1-4). `maxfev` is the evaluation limit
/// ([`AUTHORS_MAXFEV`] reproduces the authors).
pub fn fit_logistic(mos: &[f64], pred: &[f64], maxfev: usize) -> Result<LogisticFit, MetricsError> {
    if mos.len() != pred.len() {
        return Err(MetricsError::LengthMismatch { mos: mos.len(), pred: pred.len() });
    }
    if mos.len() < 4 {
        return Err(MetricsError::TooFew { n: mos.len(), min: 4 });
    }
    let start = logistic_start(mos, pred);
    let mut params = start;
    let report = lmdif(
        |b, f| {
            let b = [b[0], b[1], b[2], b[3]];
            for ((fi, &x), &y) in f.iter_mut().zip(pred).zip(mos) {
                *fi = logistic4(x, &b) - y;
            }
            true
        },
        &mut params,
        mos.len(),
        &LmOptions::scipy_leastsq(maxfev),
    );
    if !report.converged() {
        return Err(MetricsError::FitFailed { info: report.info, nfev: report.nfev, message: report.message() });
    }
    Ok(LogisticFit { start, params, nfev: report.nfev, info: report.info })
}
