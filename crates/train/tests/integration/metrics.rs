//! Parity of the metrics with SciPy on every case of
//! `tests/data/head/metrics.json` (values from SciPy 1.11), plus the
//! error cases of `evaluate` and the predictions CSV reader.

use relaxvqa_train::metrics::{self, evaluate, parse_predictions_csv, CsvError, MetricsError};
use serde_json::Value;

/// SRCC, KRCC and raw PLCC: exact up to summation order.
const TOL_CORR: f64 = 1e-9;
/// PLCC and RMSE after the fit: the fit stops at MINPACK's tolerances.
const TOL_FIT: f64 = 1e-4;
/// Start point: same arithmetic as NumPy.
const TOL_START: f64 = 1e-12;
/// Fitted parameters, relative to the MOS range. MINPACK stops once the
/// relative reduction is below ftol = 1.49e-8, where the logistic is
/// ill-conditioned: in SciPy itself, scaling y by (1 + 2.2e-16) moves the
/// parameters by up to 7e-6 on these cases (0.2e-6 of the range). Our port
/// takes the same number of evaluations as SciPy on every case.
const TOL_PARAMS_REL_RANGE: f64 = 1e-5;

fn floats(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number"))
}

#[test]
fn metrics_match_scipy_on_every_fixture_case() {
    let path = relaxvqa_fixtures::fixture("head/metrics.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    let cases = json["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let (y, p) = (floats(case, "y_true"), floats(case, "y_pred"));
        let m = evaluate(&y, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("case {name} (n = {}, {} evaluations)", m.n, m.logistic_nfev);
        let mut check = |what: &str, got: f64, want: f64, tol: f64| {
            let d = (got - want).abs();
            println!("  {what:<9} ours {got:<22} scipy {want:<22} |diff| {d:.3e} (tol {tol:.0e})");
            if d > tol || d.is_nan() {
                failures.push(format!("{name}.{what}: {got} vs {want} (|diff| {d:.3e} > {tol:.0e})"));
            }
        };
        check("srcc", m.srcc, num(case, "srcc"), TOL_CORR);
        check("krcc", m.krcc, num(case, "krcc"), TOL_CORR);
        check("plcc_raw", m.plcc_raw, num(case, "plcc_raw"), TOL_CORR);
        check("plcc", m.plcc, num(case, "plcc"), TOL_FIT);
        check("rmse", m.rmse, num(case, "rmse"), TOL_FIT);
        let (p0, params) = (floats(case, "logistic_p0"), floats(case, "logistic_params"));
        assert_eq!((p0.len(), params.len()), (4, 4), "{name}: 4 logistic parameters");
        for (i, (&got, &want)) in m.logistic_p0.iter().zip(&p0).enumerate() {
            check(&format!("p0[{i}]"), got, want, TOL_START);
        }
        let range =
            y.iter().copied().fold(f64::NEG_INFINITY, f64::max) - y.iter().copied().fold(f64::INFINITY, f64::min);
        for (i, (&got, &want)) in m.logistic_params.iter().zip(&params).enumerate() {
            check(&format!("b{}", i + 1), got, want, TOL_PARAMS_REL_RANGE * range);
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

#[test]
fn evaluate_rejects_bad_input() {
    let ok = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(evaluate(&ok, &ok[..3]), Err(MetricsError::LengthMismatch { mos: 4, pred: 3 }));
    assert_eq!(evaluate(&ok[..3], &ok[..3]), Err(MetricsError::TooFew { n: 3, min: 4 }));
    let nan = [1.0, f64::NAN, 3.0, 4.0];
    assert!(matches!(evaluate(&ok, &nan), Err(MetricsError::NonFinite { which: "pred", index: 1, .. })));
    let inf = [1.0, 2.0, f64::INFINITY, 4.0];
    assert!(matches!(evaluate(&inf, &ok), Err(MetricsError::NonFinite { which: "mos", index: 2, .. })));
    assert_eq!(evaluate(&[2.0; 4], &ok), Err(MetricsError::Constant { which: "mos", value: 2.0 }));
    assert_eq!(evaluate(&ok, &[0.5; 4]), Err(MetricsError::Constant { which: "pred", value: 0.5 }));
    for e in [evaluate(&ok, &ok[..3]).unwrap_err(), evaluate(&[2.0; 4], &ok).unwrap_err()] {
        println!("error message: {e}");
    }
}

#[test]
fn perfect_monotone_predictions() {
    let mos: Vec<f64> = (0..20).map(|i| 1.0 + 0.2 * f64::from(i)).collect();
    let pred: Vec<f64> = mos.iter().map(|m| m * m).collect();
    let m = evaluate(&mos, &pred).expect("evaluate");
    println!("{}", serde_json::to_string(&m).expect("json"));
    assert_eq!(m.srcc, 1.0);
    assert_eq!(m.krcc, 1.0);
    assert!(m.plcc > 0.99 && m.plcc_raw > 0.98, "{m:?}");
    let rev: Vec<f64> = pred.iter().map(|p| -p).collect();
    assert_eq!(metrics::spearman(&mos, &rev), -1.0);
    assert_eq!(metrics::kendall_tau_b(&mos, &rev), -1.0);
}

#[test]
fn csv_any_column_order_quotes_and_crlf() {
    let text = "\u{feff}pred,\"name\",extra,MOS\r\n0.5,\"a, \"\"quoted\"\"\nname\",x,1.5\r\n\n 2.25 ,b,y, 3\n";
    let p = parse_predictions_csv(text).expect("parse");
    assert_eq!(p.mos, vec![1.5, 3.0]);
    assert_eq!(p.pred, vec![0.5, 2.25]);
    assert_eq!(p.names, Some(vec!["a, \"quoted\"\nname".to_owned(), "b".to_owned()]));
    let p = parse_predictions_csv("mos,pred\n1,2\n3,4").expect("parse without name");
    assert_eq!((p.names, p.mos, p.pred), (None, vec![1.0, 3.0], vec![2.0, 4.0]));
}

#[test]
fn csv_errors_are_specific() {
    let err = |t: &str| parse_predictions_csv(t).expect_err(t);
    assert!(matches!(err(""), CsvError::Empty));
    assert!(matches!(err("name,pred\na,1\n"), CsvError::MissingColumn("mos", _)));
    assert!(matches!(err("mos,pred,mos\n1,2,3\n"), CsvError::DuplicateColumn(_)));
    assert!(matches!(err("mos,pred\n1,2\n3\n"), CsvError::FieldCount { line: 3, expected: 2, found: 1 }));
    assert!(matches!(err("mos,pred\n1,abc\n"), CsvError::BadNumber { line: 2, column: "pred", .. }));
    assert!(matches!(err("mos,pred\n1,\"2\n"), CsvError::UnterminatedQuote { line: 2 }));
    assert!(matches!(err("mos,pred\n1,\"2\"x\n"), CsvError::TextAfterQuote { line: 2, found: 'x' }));
    let dir = std::env::temp_dir().join(format!("relaxvqa-train-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let f = dir.join("p.csv");
    std::fs::write(&f, "name,mos,pred\nv1,1,1.5\nv2,2,2.5\n").expect("write");
    let p = metrics::read_predictions_csv(&f).expect("read");
    assert_eq!(p.names.as_deref(), Some(&["v1".to_owned(), "v2".to_owned()][..]));
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert!(matches!(metrics::read_predictions_csv(dir.join("missing.csv")), Err(CsvError::Io { .. })));
    println!("example message: {}", err("mos,pred\n1,abc\n"));
}

#[test]
fn fit_reports_minpack_failure_like_curve_fit() {
    let mos = [1.0, 2.0, 4.0, 3.0, 5.0, 2.5];
    let pred = [0.1, 0.3, 0.2, 0.6, 0.9, 0.4];
    // Five evaluations cannot finish even the first Jacobian (1 + 4 calls)
    // and one step: MINPACK stops with info 5, which SciPy turns into an error.
    let err = metrics::fit_logistic(&mos, &pred, 5).expect_err("maxfev 5");
    println!("{err}");
    assert!(matches!(err, MetricsError::FitFailed { info: 5, .. }));
    let fit = metrics::fit_logistic(&mos, &pred, metrics::AUTHORS_MAXFEV).expect("fit");
    println!("fit {:?} in {} evaluations (info {})", fit.params, fit.nfev, fit.info);
    assert!((1..=4).contains(&fit.info));
}
