//! Imputer and scaler fitting against hand computations of scikit-learn's
//! `SimpleImputer(strategy="mean")` and `MinMaxScaler()` semantics. One
//! deliberate difference from scikit-learn's defaults: a column with no
//! value at all is kept and imputed with 0, as with
//! `SimpleImputer(keep_empty_features=True)` (the default drops it, which
//! would change the head's input width).

use relaxvqa_train::preprocess::{fit_imputer, fit_scaler, group_split, Preprocessing};
use relaxvqa_train::rng::Rng;

#[test]
fn imputer_means_ignore_nan() {
    // 3 rows x 3 columns; column 2 has no value at all.
    let nan = f64::NAN;
    let x = [1.0, nan, nan, 2.0, 4.0, nan, 6.0, 10.0, nan];
    let imp = fit_imputer(&x, 3).unwrap();
    assert_eq!(imp.statistics, vec![3.0, 7.0, 0.0], "means over the values present; 0 for the empty column");
}

#[test]
fn an_empty_column_is_kept_and_filled_with_zero() {
    let nan = f64::NAN;
    let x = [1.0, nan, 3.0, nan];
    let imp = fit_imputer(&x, 2).unwrap();
    assert_eq!(imp.statistics.len(), 2, "the width stays: the column is not dropped");
    let mut row = [nan, nan];
    imp.apply(&mut row);
    assert_eq!(row, [2.0, 0.0]);
}

#[test]
fn scaler_matches_sklearn_by_hand() {
    // Columns: range 4 (min -1), constant 5, tiny range 1e-17 (treated as 1), NaN ignored.
    let nan = f64::NAN;
    let x = [-1.0, 5.0, 1.0, 3.0, 5.0, 1.0 + 1e-17, 1.0, 5.0, nan];
    let s = fit_scaler(&x, 3).unwrap();
    assert_eq!(s.scale, vec![0.25, 1.0, 1.0]);
    assert_eq!(s.min, vec![0.25, -5.0, -1.0]);
    let mut row = [3.0, 5.0, 1.0];
    s.apply(&mut row);
    assert_eq!(row, [1.0, 0.0, 0.0]);
}

#[test]
fn preprocessing_imputes_before_scaling() {
    let nan = f64::NAN;
    // Column 0: values 0, 2, NaN -> mean 1 -> imputed [0, 2, 1]; range 2.
    let x = [0.0, 1.0, 2.0, 2.0, nan, 3.0];
    let p = Preprocessing::fit(&x, 2).unwrap();
    assert_eq!(p.imputer.statistics, vec![1.0, 2.0]);
    assert_eq!(p.scaler.scale, vec![0.5, 0.5]);
    assert_eq!(p.scaler.min, vec![0.0, -0.5]);
    let t = p.transform(&x, 2).unwrap();
    assert_eq!(t, vec![0.0, 0.0, 1.0, 0.5, 0.5, 1.0]);
    assert!(p.transform(&x, 3).is_err());
}

#[test]
fn bad_shapes_are_errors() {
    assert!(fit_imputer(&[1.0, 2.0, 3.0], 2).is_err());
    assert!(fit_scaler(&[], 2).is_err());
}

#[test]
fn group_split_keeps_groups_apart() {
    let groups = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4];
    let mut rng = Rng::new(7);
    let (tr, te) = group_split(&groups, 0.2, &mut rng).unwrap();
    assert_eq!(te.len(), 2, "one of five groups held out");
    assert_eq!(tr.len(), 8);
    let held: std::collections::HashSet<usize> = te.iter().map(|&i| groups[i]).collect();
    assert_eq!(held.len(), 1);
    assert!(tr.iter().all(|&i| !held.contains(&groups[i])));
    assert!(group_split(&[1, 1, 1], 0.2, &mut rng).is_err());
}
