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

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use relaxvqa::lower::model::head::save_head_file;
use relaxvqa::mos::{label, read_mos, Labelled};
use relaxvqa::training::{self, Selection, TrainOptions};
use relaxvqa::OutputScale;
use serde_json::json;

/// Which validation number picks the fold model (`--select`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Select {
    /// Lowest RMSE after the logistic fit.
    Rmse,
    /// Highest KRCC.
    Krcc,
}

impl From<Select> for Selection {
    fn from(s: Select) -> Self {
        match s {
            Select::Rmse => Selection::ByRmse,
            Select::Krcc => Selection::ByKrcc,
        }
    }
}

/// The scale recorded for the trained head's output (`--scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    /// No stated scale (the MOS list's own units).
    Raw,
    /// MOS on 1-5.
    #[value(name = "mos_1_5")]
    Mos1To5,
    /// MOS on 0-100.
    #[value(name = "mos_0_100")]
    Mos0To100,
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

/// Where the labelled data comes from; shared by `train` and `eval`.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Features: a combined matrix (features.safetensors), an extract
    /// output folder, or a per-video feature file.
    #[arg(long, value_name = "PATH")]
    pub features: Option<PathBuf>,
    /// CSV mapping video names to MOS (the authors' metadata, our index.csv,
    /// or any CSV with a name/vid column and a mos column).
    #[arg(long, value_name = "CSV")]
    pub mos: Option<PathBuf>,
    /// The MOS CSV's name column (default: the first of name, vid, video,
    /// path, file, filename, flickr_id).
    #[arg(long, value_name = "NAME")]
    pub name_column: Option<String>,
    /// The MOS CSV's score column (default: mos, dmos or score).
    #[arg(long, value_name = "NAME")]
    pub mos_column: Option<String>,
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

/// `relaxvqa train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The head file to write (.safetensors).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Epochs (the authors use 120 for small sets, 20 for large; default:
    /// 120 below 5,000 videos, else 20).
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Seed of every random draw (same seed, same head, bit for bit).
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub seed: u64,
    /// Fine-tune: start from this head's weights instead of a random
    /// initialisation (a head file from `train` or `models convert`, or the
    /// authors' .pth). The imputer and scaler are refitted on the new data.
    #[arg(long, value_name = "HEAD")]
    pub init: Option<PathBuf>,
    /// Initial learning rate of SGD's cosine schedule (the authors' 0.1;
    /// a smaller one, e.g. 0.01, suits fine-tuning).
    #[arg(long, default_value_t = 0.1, value_name = "RATE")]
    pub lr: f64,
    /// Mini-batch size (the authors' 256). With fewer training videos than
    /// that, every epoch is one SGD step; a small dataset learns in far
    /// fewer epochs with a smaller batch (e.g. 16).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Anneal the rate to this constant during weight averaging (PyTorch's
    /// SWALR, as the authors' scripts pair it with SWA; they use the initial
    /// rate). Default: the cosine schedule runs to the end.
    #[arg(long, value_name = "RATE")]
    pub swa_lr: Option<f64>,
    /// Early stopping: epochs without a better validation loss before a
    /// fold stops (the authors' 5); 0 turns it off, so every fold runs all
    /// its epochs.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub patience: usize,
    /// How cross-validation picks the fold model.
    #[arg(long, value_enum, default_value_t = Select::Rmse)]
    pub select: Select,
    /// Cross-validation folds inside the training data.
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub folds: usize,
    /// Scale recorded for the head's output.
    #[arg(long, value_enum, default_value_t = Scale::Raw)]
    pub scale: Scale,
    /// Evaluation mode: N random train/test splits (the authors use 21);
    /// prints every split's test metrics and their medians, writes no head.
    #[arg(long, value_name = "N")]
    pub splits: Option<usize>,
    /// Fraction held out by each split (of videos, or of groups).
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub test_fraction: f64,
    /// A MOS CSV column (e.g. content) whose values are kept on one side of
    /// every split, so test contents are never seen in training.
    #[arg(long, value_name = "NAME")]
    pub group_column: Option<String>,
    /// Print a JSON summary (the output is JSON in any case).
    #[arg(long)]
    pub json: bool,
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
    save_head_file(output, &trained.file).with_context(|| format!("writing {}", output.display()))?;
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
