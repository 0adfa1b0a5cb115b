//! `relaxvqa train`: Train a quality head on features and MOS (the authors' protocol).
//!
//! Users with their own subjective scores fit a head on their data: the
//! imputer and min-max scaler are fitted on the training rows, the MLP is
//! trained with the authors' settings and chosen by k-fold cross-validation,
//! and everything is saved as one head file that `relaxvqa score --model`
//! reads. With `--splits N` it runs the authors' evaluation protocol instead
//! (N random train/test splits, median metrics). With `--init HEAD` training
//! starts from an existing head's weights (fine-tuning, as the authors did
//! from LSVQ to each dataset); the imputer and scaler are still fitted on the
//! new training data.

use std::process::ExitCode;
use std::time::Instant;

use crate::args::{DataArgs, TrainArgs};
use anyhow::Context;
use relaxvqa::mos::{read_labelled, Labelled};
use relaxvqa::training;
use serde_json::json;

impl DataArgs {
    /// Reads and matches features and MOS, with groups from `group_column`;
    /// warns about feature rows without a MOS.
    pub fn load(&self, group_column: Option<&str>) -> anyhow::Result<Labelled> {
        let features = self.features.as_deref().context("--features PATH is required")?;
        let mos = self.mos.as_deref().context("--mos CSV is required")?;
        let (names, scores) = (self.name_column.as_deref(), self.mos_column.as_deref());
        let d = read_labelled(features, mos, names, scores, group_column)?;
        if let Some(w) = d.unmatched_warning(features, mos) {
            eprintln!("relaxvqa: warning: {w}");
        }
        Ok(d)
    }
}

/// Runs `relaxvqa train`.
pub fn run(a: TrainArgs) -> anyhow::Result<ExitCode> {
    if a.splits.is_none() && a.output.is_none() {
        anyhow::bail!("say where the head goes with -o FILE (or evaluate with --splits N)");
    }
    let opts = &a.options;
    opts.check(a.init.is_some())?;
    if a.splits == Some(0) {
        anyhow::bail!("--splits 0 would evaluate nothing: give at least 1 (the authors use 21)");
    }
    if let Some(out) = &a.output {
        relaxvqa::files::check_writable(out)?;
    }
    let t0 = Instant::now();
    let init = a.init.as_deref().map(training::read_init).transpose()?;
    let d = a.data.load(a.group_column.as_deref())?;
    let load_s = t0.elapsed().as_secs_f64();
    let n = d.y.len();
    let mut doc = json!({
        "videos": n,
        "features": d.dim,
        "epochs": opts.epochs_for(n),
        "seed": opts.seed,
        "lr": opts.lr,
        "batch_size": opts.batch_size,
        "patience": (opts.patience > 0).then_some(opts.patience),
        "swa_lr": opts.swa_lr,
        "init": init.as_ref().map(|i| json!({"file": i.path, "sha256": i.sha256})),
    });
    let t1 = Instant::now();
    let result = if let Some(repeats) = a.splits {
        if a.group_column.is_some() && d.groups.is_none() {
            anyhow::bail!("--group-column given but some rows lack a group");
        }
        let report = training::evaluate(&d, opts, init.as_ref(), repeats, a.test_fraction)?;
        json!({
            "schema": "relaxvqa.train-splits/1",
            "groups": d.groups.as_ref().map(|_| &d.group_names),
            "splits": repeats,
            "test_fraction": a.test_fraction,
            "folds": opts.folds,
            "median": report.median,
            "test": report.test,
            "chosen_folds": report.chosen_folds,
        })
    } else {
        let output = a.output.as_deref().context("-o FILE is required")?;
        let desc = a.data.features.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        let trained = training::train(&d, opts, init.as_ref(), a.scale, &desc)?;
        trained.save(output)?;
        json!({
            "schema": "relaxvqa.train/1",
            "output": output,
            "folds": trained.folds,
            "chosen_fold": trained.cv.fold,
            "validation": trained.cv.folds,
            "epochs_run": trained.cv.epochs_run,
            "output_scale": a.scale.as_str(),
        })
    };
    if let (Some(doc), serde_json::Value::Object(result)) = (doc.as_object_mut(), result) {
        doc.extend(result);
        doc.insert("seconds".into(), json!({"load": load_s, "train": t1.elapsed().as_secs_f64()}));
    }
    crate::output::print_json(&doc)?;
    Ok(ExitCode::SUCCESS)
}
