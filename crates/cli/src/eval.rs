//! `relaxvqa eval`: Evaluate predictions or a head: SRCC, KRCC, PLCC, RMSE.
//!
//! Exists so users compare any model's predictions with subjective scores
//! the way the authors report them (spec section 7), either from a CSV of
//! predictions or by scoring saved features with a head file.

use std::process::ExitCode;

use crate::args::EvalArgs;
use anyhow::Context;
use relaxvqa::training;
use serde_json::json;

/// Runs `relaxvqa eval`.
pub fn run(a: EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &a.predictions {
        let p = training::read_predictions(path)?;
        let m = training::metrics(&p.mos, &p.pred).with_context(|| format!("{}", path.display()))?;
        crate::output::print_json(&json!({
            "schema": "relaxvqa.eval/1",
            "predictions": path,
            "metrics": m,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let model = a.model.as_deref().context("give --predictions CSV, or --model FILE with --features and --mos")?;
    if let Some(out) = &a.write_predictions {
        relaxvqa::files::check_writable(out)?;
    }
    let d = a.data.load(None)?;
    let (pred, scale) = training::predict(model, &d)?;
    if let Some(out) = &a.write_predictions {
        training::write_predictions(out, &d, &pred)?;
    }
    let m = training::metrics(&d.y, &pred).context("computing the metrics")?;
    crate::output::print_json(&json!({
        "schema": "relaxvqa.eval/1",
        "model": model,
        "output_scale": scale.as_str(),
        "features": a.data.features,
        "mos": a.data.mos,
        "metrics": m,
    }))?;
    Ok(ExitCode::SUCCESS)
}
