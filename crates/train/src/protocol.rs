//! The authors' evaluation protocol (spec section 7): model selection by
//! k-fold cross-validation inside the training split, and repeated random
//! 80/20 train/test splits summarised by their medians.
//!
//! Splits are drawn from the crate's own seeded generator, so they are
//! reproducible but not the ones NumPy's `RandomState` would draw.

use candle_core::Device;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::model::TrainHead;
use crate::rng::Rng;
use crate::train::{evaluate_head, train_head, Dataset, TrainConfig};
use crate::TrainError;

/// One split of row indices: (training rows, held-out rows).
pub type Split = (Vec<usize>, Vec<usize>);

/// k folds of `0..n` as (train, validation) index lists, sized as
/// scikit-learn's `KFold(shuffle=True)`: the first `n % k` folds hold one
/// extra row; validation rows in shuffled order, training rows ascending.
pub fn kfold(n: usize, k: usize, rng: &mut Rng) -> Result<Vec<Split>, TrainError> {
    if k < 2 || k > n {
        return Err(TrainError::Config(format!("{k} folds of {n} rows: need 2 <= k <= n")));
    }
    let perm = rng.permutation(n);
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let size = n / k + usize::from(f < n % k);
        let val = perm[start..start + size].to_vec();
        let mut in_val = vec![false; n];
        for &i in &val {
            in_val[i] = true;
        }
        let train = (0..n).filter(|&i| !in_val[i]).collect();
        folds.push((train, val));
        start += size;
    }
    Ok(folds)
}

/// A random train/test split with `ceil(test_fraction * n)` test rows (as
/// scikit-learn's `train_test_split`), both lists in shuffled order.
pub fn train_test_split(n: usize, test_fraction: f64, rng: &mut Rng) -> Result<Split, TrainError> {
    let n_test = (test_fraction * n as f64).ceil() as usize;
    if !(0.0..1.0).contains(&test_fraction) || n_test == 0 || n_test >= n {
        return Err(TrainError::Config(format!("test fraction {test_fraction} of {n} rows leaves an empty side")));
    }
    let perm = rng.permutation(n);
    Ok((perm[n_test..].to_vec(), perm[..n_test].to_vec()))
}

/// Which validation number picks the fold model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Selection {
    /// Lowest RMSE after the logistic fit (the authors' `byrmse`).
    ByRmse,
    /// Highest KRCC (the authors' `bykrcc`).
    ByKrcc,
}

/// `rmse` or `krcc` (also the authors' `byrmse`, `bykrcc`), as the command
/// line's `--select` takes them.
impl std::str::FromStr for Selection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rmse" | "byrmse" => Ok(Self::ByRmse),
            "krcc" | "bykrcc" => Ok(Self::ByKrcc),
            _ => Err(format!("{s}: expected rmse or krcc")),
        }
    }
}

/// The model chosen by cross-validation and every fold's validation metrics.
pub struct CvOutcome {
    /// The chosen fold's head.
    pub head: TrainHead,
    /// Index of the chosen fold.
    pub fold: usize,
    /// Validation metrics of each fold's final model.
    pub folds: Vec<Metrics>,
    /// Epochs each fold ran (fewer than configured when it stopped early).
    pub epochs_run: Vec<usize>,
}

/// Trains one head per fold (validated on its fold, with early stopping if
/// configured) and keeps the best by `selection`. The authors also compare
/// models epoch by epoch within a fold; this keeps each fold's final model.
pub fn select_by_cv(
    data: &Dataset,
    k: usize,
    selection: Selection,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<CvOutcome, TrainError> {
    let mut rng = Rng::new(cfg.seed);
    let mut best: Option<(f64, usize, TrainHead)> = None;
    let mut folds = Vec::with_capacity(k);
    let mut epochs_run = Vec::with_capacity(k);
    for (f, (tr, va)) in kfold(data.len(), k, &mut rng)?.into_iter().enumerate() {
        let fold_cfg = TrainConfig { seed: rng.fork(f as u64 + 1).next_u64(), ..cfg.clone() };
        let (train, val) = (data.subset(&tr), data.subset(&va));
        let trained = train_head(&train, Some(&val), &fold_cfg, device)?;
        let m = evaluate_head(&trained.head, &val)?;
        epochs_run.push(trained.history.len());
        let score = match selection {
            Selection::ByRmse => m.rmse,
            Selection::ByKrcc => -m.krcc,
        };
        if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
            best = Some((score, f, trained.head));
        }
        folds.push(m);
    }
    let (_, fold, head) = best.ok_or_else(|| TrainError::Config("no folds".into()))?;
    Ok(CvOutcome { head, fold, folds, epochs_run })
}

/// Medians of the four reported numbers over the splits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MedianMetrics {
    /// Median SRCC.
    pub srcc: f64,
    /// Median KRCC.
    pub krcc: f64,
    /// Median PLCC after the logistic fit.
    pub plcc: f64,
    /// Median RMSE after the logistic fit.
    pub rmse: f64,
}

/// NumPy's median: the middle value, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Test metrics of every split and their medians.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitsReport {
    /// Test-set metrics, one per split.
    pub test: Vec<Metrics>,
    /// Chosen fold of each split.
    pub chosen_folds: Vec<usize>,
    /// Medians over the splits (what the authors report).
    pub median: MedianMetrics,
}

/// The authors' protocol: `repeats` (21) random splits with `test_fraction`
/// (0.2) held out; on each, `k`-fold (10) model selection on the training
/// part, then the chosen model scored on the test part.
pub fn repeated_splits(
    data: &Dataset,
    repeats: usize,
    test_fraction: f64,
    k: usize,
    selection: Selection,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<SplitsReport, TrainError> {
    let root = Rng::new(cfg.seed);
    let (mut test, mut chosen_folds) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for r in 0..repeats {
        let mut rng = root.fork(1000 + r as u64);
        let (tr, te) = train_test_split(data.len(), test_fraction, &mut rng)?;
        let split_cfg = TrainConfig { seed: rng.next_u64(), ..cfg.clone() };
        let cv = select_by_cv(&data.subset(&tr), k, selection, &split_cfg, device)?;
        test.push(evaluate_head(&cv.head, &data.subset(&te))?);
        chosen_folds.push(cv.fold);
    }
    let col = |f: fn(&Metrics) -> f64| median(&test.iter().map(f).collect::<Vec<_>>());
    let median =
        MedianMetrics { srcc: col(|m| m.srcc), krcc: col(|m| m.krcc), plcc: col(|m| m.plcc), rmse: col(|m| m.rmse) };
    Ok(SplitsReport { test, chosen_folds, median })
}
