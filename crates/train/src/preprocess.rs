//! Fitting the head's preprocessing on training data (spec section 6): the
//! scikit-learn `SimpleImputer(strategy="mean")` and `MinMaxScaler()` the
//! authors fit before training, so a head trained here carries the same two
//! steps as a published one and `relaxvqa score --model FILE` applies them.
//!
//! Also the evaluation protocol with preprocessing refitted on every
//! training split (so no statistic of a test row leaks into the model), with
//! splits either by row or by group (e.g. source content).

use candle_core::Device;
use relaxvqa_model::head::{HeadFile, Imputer, OutputScale, Scaler};

use crate::metrics::Metrics;
use crate::model::TrainHead;
use crate::protocol::{median, select_by_cv, train_test_split, MedianMetrics, Selection, Split, SplitsReport};
use crate::rng::Rng;
use crate::train::{evaluate_head, Dataset, TrainConfig};
use crate::TrainError;

/// Checks that `x` holds whole rows of `dim` values and at least one row.
fn check_matrix(x: &[f64], dim: usize) -> Result<usize, TrainError> {
    if dim == 0 || x.is_empty() || !x.len().is_multiple_of(dim) {
        return Err(TrainError::Config(format!("{} values do not make whole rows of {dim}", x.len())));
    }
    Ok(x.len() / dim)
}

/// Fits `SimpleImputer(strategy="mean")` on the rows of `x` (row-major,
/// `dim` columns): each column's mean over its non-NaN values, summed row by
/// row as NumPy reduces axis 0. A column with no value at all gets 0 (as
/// scikit-learn's `keep_empty_features=True`; dropping it, the default,
/// would change the head's input width).
pub fn fit_imputer(x: &[f64], dim: usize) -> Result<Imputer, TrainError> {
    let n = check_matrix(x, dim)?;
    let mut sum = vec![0.0f64; dim];
    let mut count = vec![0usize; dim];
    for r in 0..n {
        for (c, &v) in x[r * dim..(r + 1) * dim].iter().enumerate() {
            if !v.is_nan() {
                sum[c] += v;
                count[c] += 1;
            }
        }
    }
    let statistics = sum.iter().zip(&count).map(|(&s, &k)| if k == 0 { 0.0 } else { s / k as f64 }).collect();
    Ok(Imputer { statistics })
}

/// Fits `MinMaxScaler()` (feature range 0-1) on the rows of `x`, ignoring
/// NaN as scikit-learn does: `scale_ = 1 / (max - min)`, with a range below
/// `10 * f64::EPSILON` (a constant column) treated as 1, and
/// `min_ = -data_min * scale_`. A column with no finite value gets scale 1,
/// min 0 (the identity).
pub fn fit_scaler(x: &[f64], dim: usize) -> Result<Scaler, TrainError> {
    let n = check_matrix(x, dim)?;
    let mut lo = vec![f64::INFINITY; dim];
    let mut hi = vec![f64::NEG_INFINITY; dim];
    for r in 0..n {
        for (c, &v) in x[r * dim..(r + 1) * dim].iter().enumerate() {
            if !v.is_nan() {
                lo[c] = lo[c].min(v);
                hi[c] = hi[c].max(v);
            }
        }
    }
    let mut min = Vec::with_capacity(dim);
    let mut scale = Vec::with_capacity(dim);
    for (&l, &h) in lo.iter().zip(&hi) {
        if l > h {
            min.push(0.0);
            scale.push(1.0);
            continue;
        }
        let range = h - l;
        let s = if range < 10.0 * f64::EPSILON { 1.0 } else { 1.0 / range };
        scale.push(s);
        min.push(-l * s);
    }
    Ok(Scaler { min, scale })
}

/// The fitted imputer and scaler of one training set, applied in that order.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessing {
    /// Mean imputation.
    pub imputer: Imputer,
    /// Min-max scaling, fitted on the imputed rows.
    pub scaler: Scaler,
}

impl Preprocessing {
    /// Fits the imputer on `x`, then the scaler on the imputed rows (the
    /// authors' order).
    pub fn fit(x: &[f64], dim: usize) -> Result<Self, TrainError> {
        let imputer = fit_imputer(x, dim)?;
        let mut imputed = x.to_vec();
        for row in imputed.chunks_exact_mut(dim) {
            imputer.apply(row);
        }
        let scaler = fit_scaler(&imputed, dim)?;
        Ok(Self { imputer, scaler })
    }

    /// Imputes and scales the rows of `x` in f64 and returns them as f32,
    /// exactly as the scoring head does before its MLP.
    pub fn transform(&self, x: &[f64], dim: usize) -> Result<Vec<f32>, TrainError> {
        check_matrix(x, dim)?;
        if self.scaler.width() != dim || self.imputer.statistics.len() != dim {
            return Err(TrainError::Config(format!(
                "preprocessing fitted on {} columns, data has {dim}",
                self.scaler.width()
            )));
        }
        let mut out = Vec::with_capacity(x.len());
        let mut row = vec![0.0f64; dim];
        for r in x.chunks_exact(dim) {
            row.copy_from_slice(r);
            self.imputer.apply(&mut row);
            self.scaler.apply(&mut row);
            out.extend(row.iter().map(|&v| v as f32));
        }
        Ok(out)
    }

    /// Fits on `x` and returns the preprocessing with the training
    /// [`Dataset`] it makes with targets `y`.
    pub fn fit_dataset(x: &[f64], y: &[f64], dim: usize) -> Result<(Self, Dataset), TrainError> {
        let p = Self::fit(x, dim)?;
        let data = Dataset::new(p.transform(x, dim)?, y.iter().map(|&v| v as f32).collect(), dim)?;
        Ok((p, data))
    }
}

/// A trained head and its preprocessing as this program's head file, ready
/// for [`relaxvqa_model::head::save_head_file`].
pub fn head_file(
    head: &TrainHead,
    pre: &Preprocessing,
    output_scale: OutputScale,
    source: impl Into<String>,
) -> Result<HeadFile, TrainError> {
    HeadFile::new(head.to_state_dict()?, Some(pre.imputer.clone()), Some(pre.scaler.clone()), output_scale, source)
        .map_err(|e| TrainError::Config(format!("building the head file: {e}")))
}

/// Rows of `x` (row-major, `dim` columns) selected by `idx`.
pub fn select_rows(x: &[f64], dim: usize, idx: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(idx.len() * dim);
    for &i in idx {
        out.extend_from_slice(&x[i * dim..(i + 1) * dim]);
    }
    out
}

/// A random split that keeps groups apart: `ceil(test_fraction * groups)`
/// whole groups held out (at least one, never all), rows in ascending order.
/// `groups[i]` is row `i`'s group label.
pub fn group_split(groups: &[usize], test_fraction: f64, rng: &mut Rng) -> Result<Split, TrainError> {
    let mut labels: Vec<usize> = groups.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let g = labels.len();
    if g < 2 {
        return Err(TrainError::Config(format!("{g} group(s): a grouped split needs at least 2")));
    }
    let n_test = ((test_fraction * g as f64).ceil() as usize).clamp(1, g - 1);
    let perm = rng.permutation(g);
    let held: std::collections::HashSet<usize> = perm[..n_test].iter().map(|&k| labels[k]).collect();
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for (i, gi) in groups.iter().enumerate() {
        if held.contains(gi) {
            te.push(i);
        } else {
            tr.push(i);
        }
    }
    Ok((tr, te))
}

/// The authors' evaluation protocol on raw (unscaled, possibly NaN) feature
/// rows: `repeats` random splits holding out `test_fraction` of the rows (or
/// of the groups, when `groups` is given); on each, preprocessing is fitted
/// on the training rows only, the model chosen by `k`-fold cross-validation,
/// and scored on the held-out rows. Uses the same random streams as
/// [`crate::protocol::repeated_splits`] for row splits.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_splits(
    x: &[f64],
    y: &[f64],
    dim: usize,
    groups: Option<&[usize]>,
    repeats: usize,
    test_fraction: f64,
    k: usize,
    selection: Selection,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<SplitsReport, TrainError> {
    let n = check_matrix(x, dim)?;
    if y.len() != n || groups.is_some_and(|g| g.len() != n) {
        return Err(TrainError::Config(format!("{n} feature rows but {} targets", y.len())));
    }
    let root = Rng::new(cfg.seed);
    let (mut test, mut chosen_folds) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for r in 0..repeats {
        let mut rng = root.fork(1000 + r as u64);
        let (tr, te) = match groups {
            Some(g) => group_split(g, test_fraction, &mut rng)?,
            None => train_test_split(n, test_fraction, &mut rng)?,
        };
        let split_cfg = TrainConfig { seed: rng.next_u64(), ..cfg.clone() };
        let ytr: Vec<f64> = tr.iter().map(|&i| y[i]).collect();
        let (pre, train) = Preprocessing::fit_dataset(&select_rows(x, dim, &tr), &ytr, dim)?;
        let xte = pre.transform(&select_rows(x, dim, &te), dim)?;
        let test_set = Dataset::new(xte, te.iter().map(|&i| y[i] as f32).collect(), dim)?;
        let cv = select_by_cv(&train, k.min(train.len()), selection, &split_cfg, device)?;
        test.push(evaluate_head(&cv.head, &test_set)?);
        chosen_folds.push(cv.fold);
    }
    let col = |f: fn(&Metrics) -> f64| median(&test.iter().map(f).collect::<Vec<_>>());
    let median =
        MedianMetrics { srcc: col(|m| m.srcc), krcc: col(|m| m.krcc), plcc: col(|m| m.plcc), rmse: col(|m| m.rmse) };
    Ok(SplitsReport { test, chosen_folds, median })
}
