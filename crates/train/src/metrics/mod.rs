//! SRCC, KRCC (tau-b), PLCC and RMSE after the 4-parameter logistic fit, as
//! the authors compute them with SciPy (spec section 7), so that numbers from
//! this crate can be set beside the published ones.
//!
//! [`evaluate`] is the entry point; the pieces (correlations, the logistic,
//! the MINPACK port, the CSV reader) are public for reuse and testing.

pub mod correlation;
pub mod csv;
pub mod logistic;
pub mod minpack;

use serde::Serialize;

pub use self::csv::{parse_predictions_csv, read_predictions_csv, CsvError, Predictions};
pub use correlation::{kendall_tau_b, pearson, rank_average, spearman};
pub use logistic::{fit_logistic, logistic4, logistic_start, LogisticFit, AUTHORS_MAXFEV};

/// Why metrics could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// MOS and predictions differ in length.
    #[error("{mos} MOS values but {pred} predictions")]
    LengthMismatch {
        /// Number of MOS values.
        mos: usize,
        /// Number of predictions.
        pred: usize,
    },
    /// Too few values: the logistic has 4 parameters, and MINPACK (like
    /// `curve_fit`) refuses fewer residuals than parameters.
    #[error("{n} values, at least {min} are needed")]
    TooFew {
        /// Number of values given.
        n: usize,
        /// Least number accepted.
        min: usize,
    },
    /// A NaN or infinite value (SciPy would return NaN or refuse to fit).
    #[error("{which}[{index}] is {value}, not a finite number")]
    NonFinite {
        /// `"mos"` or `"pred"`.
        which: &'static str,
        /// Position of the first offending value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// All values equal: every correlation is undefined.
    #[error("all {which} values are equal ({value}): correlations are undefined")]
    Constant {
        /// `"mos"` or `"pred"`.
        which: &'static str,
        /// The common value.
        value: f64,
    },
    /// MINPACK did not converge (SciPy raises "Optimal parameters not found").
    #[error("logistic fit failed after {nfev} evaluations (MINPACK info {info}): {message}")]
    FitFailed {
        /// MINPACK's termination code.
        info: i32,
        /// Function evaluations used.
        nfev: usize,
        /// SciPy's explanation of the code.
        message: &'static str,
    },
}

/// Everything the authors report for one set of predictions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Number of videos.
    pub n: usize,
    /// Spearman's rho between MOS and raw predictions.
    pub srcc: f64,
    /// Kendall's tau-b between MOS and raw predictions.
    pub krcc: f64,
    /// Pearson's r between MOS and the logistic-mapped predictions.
    pub plcc: f64,
    /// Root mean squared error of the logistic-mapped predictions.
    pub rmse: f64,
    /// Pearson's r between MOS and raw predictions.
    pub plcc_raw: f64,
    /// The logistic's start point `[max(mos), min(mos), mean(pred), 0.5]`.
    pub logistic_p0: [f64; 4],
    /// The fitted logistic `[b1, b2, b3, b4]`.
    pub logistic_params: [f64; 4],
    /// Residual evaluations the fit took.
    pub logistic_nfev: usize,
}

/// Checks lengths, count and finiteness of both inputs, and that neither is
/// constant.
fn validate(mos: &[f64], pred: &[f64], min: usize) -> Result<(), MetricsError> {
    if mos.len() != pred.len() {
        return Err(MetricsError::LengthMismatch { mos: mos.len(), pred: pred.len() });
    }
    if mos.len() < min {
        return Err(MetricsError::TooFew { n: mos.len(), min });
    }
    for (which, v) in [("mos", mos), ("pred", pred)] {
        if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(MetricsError::NonFinite { which, index, value });
        }
    }
    for (which, v) in [("mos", mos), ("pred", pred)] {
        if correlation::is_constant(v) {
            return Err(MetricsError::Constant { which, value: v[0] });
        }
    }
    Ok(())
}

/// Root mean squared error as scikit-learn's `mean_squared_error` then sqrt.
pub fn rmse(a: &[f64], b: &[f64]) -> f64 {
    let sq: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).collect();
    correlation::mean(&sq).sqrt()
}

/// SRCC, KRCC and PLCC of raw predictions, then PLCC and RMSE after the
/// authors' logistic fit (with their `maxfev`). Needs at least 4 finite,
/// non-constant values of each, in matching order.
pub fn evaluate(mos: &[f64], pred: &[f64]) -> Result<Metrics, MetricsError> {
    validate(mos, pred, 4)?;
    let fit = fit_logistic(mos, pred, AUTHORS_MAXFEV)?;
    let fitted = fit.apply(pred);
    Ok(Metrics {
        n: mos.len(),
        srcc: spearman(mos, pred),
        krcc: kendall_tau_b(mos, pred),
        plcc: pearson(mos, &fitted),
        rmse: rmse(mos, &fitted),
        plcc_raw: pearson(mos, pred),
        logistic_p0: fit.start,
        logistic_params: fit.params,
        logistic_nfev: fit.nfev,
    })
}
