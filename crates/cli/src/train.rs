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

use crate::args::{DataArgs, Scale, Select, TrainArgs};
use anyhow::Context;
use relaxvqa::mos::{label, read_mos, Labelled};
use relaxvqa::training::{self, Selection, TrainOptions};
use relaxvqa::OutputScale;
use serde_json::json;

impl From<Select> for Selection {
    fn from(s: Select) -> Self {
        match s {
            Select::Rmse => Selection::ByRmse,
            Select::Krcc => Selection::ByKrcc,
        }
    }
}

impl From<Scale> for OutputScale {
    fn from(s: Scale) -> Self {
        match s {
            Scale::Raw => OutputScale::Raw,
            Scale::Mos1To5 => OutputScale::Mos1To5,
            Scale::Mos0To100 => OutputScale::Mos0To100,
        }
    }
}

impl DataArgs {
    /// Reads and matches features and MOS, with groups from `group_column`;
    /// warns about feature rows without a MOS.
    pub fn load(&self, group_column: Option<&str>) -> anyhow::Result<Labelled> {
        let features = self.features.as_deref().context("--features PATH is required")?;
        let mos = self.mos.as_deref().context("--mos CSV is required")?;
        let f = relaxvqa::files::read_feature_rows(features)?;
        let table = read_mos(mos, self.name_column.as_deref(), self.mos_column.as_deref(), group_column)?;
        let d = label(f, &table, features, mos)?;
        if !d.unmatched.is_empty() {
            let shown: Vec<&str> = d.unmatched.iter().take(5).map(String::as_str).collect();
            eprintln!(
                "relaxvqa: warning: {} feature row(s) of {} have no MOS in {} and are left out ({}{})",
                d.unmatched.len(),
                features.display(),
                mos.display(),
                shown.join(", "),
                if d.unmatched.len() > 5 { ", ..." } else { "" }
            );
        }
        Ok(d)
    }
}

/// Runs `relaxvqa train`.
pub fn run(a: TrainArgs) -> anyhow::Result<ExitCode> {
    if a.splits.is_none() && a.output.is_none() {
        anyhow::bail!("say where the head goes with -o FILE (or evaluate with --splits N)");
    }
    let opts = TrainOptions {
        epochs: a.epochs,
        seed: a.seed,
        lr: a.lr,
        batch_size: a.batch_size as usize,
        swa_lr: a.swa_lr,
        patience: a.patience,
        select: a.select.into(),
        folds: a.folds,
    };
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
    let epochs = opts.epochs_for(n);
    let patience = (a.patience > 0).then_some(a.patience);
    let init_json = init.as_ref().map(|i| json!({"file": i.path, "sha256": i.sha256}));
    let t1 = Instant::now();
    if let Some(repeats) = a.splits {
        if a.group_column.is_some() && d.groups.is_none() {
            anyhow::bail!("--group-column given but some rows lack a group");
        }
        let report = training::evaluate(&d, &opts, init.as_ref(), repeats, a.test_fraction)?;
        crate::output::print_json(&json!({
            "schema": "relaxvqa.train-splits/1",
            "videos": n,
            "features": d.dim,
            "groups": d.groups.as_ref().map(|_| &d.group_names),
            "splits": repeats,
            "test_fraction": a.test_fraction,
            "folds": a.folds,
            "epochs": epochs,
            "seed": a.seed,
            "lr": a.lr,
            "batch_size": a.batch_size,
            "patience": patience,
            "swa_lr": a.swa_lr,
            "init": init_json,
            "median": report.median,
            "test": report.test,
            "chosen_folds": report.chosen_folds,
            "seconds": {"load": load_s, "train": t1.elapsed().as_secs_f64()},
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let output = a.output.as_deref().context("-o FILE is required")?;
    let desc = a.data.features.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
    let trained = training::train(&d, &opts, init.as_ref(), a.scale.into(), &desc)?;
    trained.save(output)?;
    crate::output::print_json(&json!({
        "schema": "relaxvqa.train/1",
        "output": output,
        "videos": n,
        "features": d.dim,
        "epochs": epochs,
        "seed": a.seed,
        "lr": a.lr,
        "batch_size": a.batch_size,
        "patience": patience,
        "swa_lr": a.swa_lr,
        "init": init_json,
        "folds": trained.folds,
        "chosen_fold": trained.cv.fold,
        "validation": trained.cv.folds,
        "epochs_run": trained.cv.epochs_run,
        "output_scale": OutputScale::from(a.scale).as_str(),
        "seconds": {"load": load_s, "train": t1.elapsed().as_secs_f64()},
    }))?;
    Ok(ExitCode::SUCCESS)
}
