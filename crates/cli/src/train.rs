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

pub mod data;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use clap::{Args, ValueEnum};
use relaxvqa_model::head::{read_head_weights, save_head_file, OutputScale, RELAXVQA_FEATURES};
use relaxvqa_train::preprocess::{evaluate_splits, head_file, Preprocessing};
use relaxvqa_train::protocol::{select_by_cv, Selection};
use relaxvqa_train::train::{InitWeights, TrainConfig};
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
    /// Reads and matches features and MOS, with groups from `group_column`.
    pub fn load(&self, group_column: Option<&str>) -> anyhow::Result<data::Labelled> {
        let features = self.features.as_deref().context("--features PATH is required")?;
        let mos = self.mos.as_deref().context("--mos CSV is required")?;
        let f = data::read_features(features)?;
        let table = data::read_mos(mos, self.name_column.as_deref(), self.mos_column.as_deref(), group_column)?;
        data::label(f, &table, features, mos)
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
    for (name, rate) in [("--lr", Some(a.lr)), ("--swa-lr", a.swa_lr)] {
        if let Some(r) = rate.filter(|r| !(r.is_finite() && *r >= 0.0)) {
            anyhow::bail!("{name} {r}: a learning rate must be a finite number >= 0");
        }
    }
    let t0 = Instant::now();
    let init = a.init.as_deref().map(read_init).transpose()?;
    let d = a.data.load(a.group_column.as_deref())?;
    let load_s = t0.elapsed().as_secs_f64();
    if let Some(i) = &init {
        if i.width != d.dim {
            anyhow::bail!(
                "--init {}: the head takes {} features but the training features have {}",
                i.path.display(),
                i.width,
                d.dim
            );
        }
    }
    let n = d.y.len();
    let epochs = a.epochs.unwrap_or(if n < 5000 { 120 } else { 20 });
    let mut cfg = TrainConfig::authors(epochs, a.seed);
    cfg.sgd.lr = a.lr;
    cfg.batch_size = a.batch_size as usize;
    cfg.swa_lr = a.swa_lr;
    cfg.patience = (a.patience > 0).then_some(a.patience);
    cfg.init = init.as_ref().map(|i| i.weights.clone());
    let init_json = init.as_ref().map(|i| json!({"file": i.path, "sha256": i.sha256}));
    let device = Device::Cpu;
    let t1 = Instant::now();
    if let Some(repeats) = a.splits {
        if a.group_column.is_some() && d.groups.is_none() {
            anyhow::bail!("--group-column given but some rows lack a group");
        }
        let report = evaluate_splits(
            &d.x,
            &d.y,
            d.dim,
            d.groups.as_deref(),
            repeats,
            a.test_fraction,
            a.folds,
            a.select.into(),
            &cfg,
            &device,
        )
        .context("evaluating splits")?;
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
            "patience": cfg.patience,
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
    let (pre, train) = Preprocessing::fit_dataset(&d.x, &d.y, d.dim).context("preprocessing the features")?;
    let folds = a.folds.min(n);
    let cv = select_by_cv(&train, folds, a.select.into(), &cfg, &device).context("training")?;
    let mut source = format!(
        "relaxvqa train: {} videos from {}, epochs {epochs}, seed {}, {folds}-fold by {:?}",
        n,
        a.data.features.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
        a.seed,
        a.select
    );
    if a.lr != TrainConfig::authors(0, 0).sgd.lr {
        source.push_str(&format!(", lr {}", a.lr));
    }
    if let Some(r) = a.swa_lr {
        source.push_str(&format!(", swa_lr {r}"));
    }
    if cfg.patience != TrainConfig::authors(0, 0).patience {
        source.push_str(&format!(", patience {}", a.patience));
    }
    if cfg.batch_size != TrainConfig::authors(0, 0).batch_size {
        source.push_str(&format!(", batch {}", cfg.batch_size));
    }
    if let Some(i) = &init {
        source.push_str(&format!(", fine-tuned from {} (sha256 {})", i.name, i.sha256));
    }
    let mut file = head_file(&cv.head, &pre, a.scale.into(), source)?;
    if let Some(i) = &init {
        file.metadata.insert("fine_tuned_from".to_owned(), i.name.clone());
        file.metadata.insert("fine_tuned_from_sha256".to_owned(), i.sha256.clone());
    }
    save_head_file(output, &file).with_context(|| format!("writing {}", output.display()))?;
    crate::output::print_json(&json!({
        "schema": "relaxvqa.train/1",
        "output": output,
        "videos": n,
        "features": d.dim,
        "epochs": epochs,
        "seed": a.seed,
        "lr": a.lr,
        "batch_size": a.batch_size,
        "patience": cfg.patience,
        "swa_lr": a.swa_lr,
        "init": init_json,
        "folds": folds,
        "chosen_fold": cv.fold,
        "validation": cv.folds,
        "epochs_run": cv.epochs_run,
        "output_scale": OutputScale::from(a.scale).as_str(),
        "seconds": {"load": load_s, "train": t1.elapsed().as_secs_f64()},
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// A head to fine-tune from, read and checked.
struct InitHead {
    path: PathBuf,
    /// The file name, as recorded in the output head's metadata.
    name: String,
    sha256: String,
    width: usize,
    weights: InitWeights,
}

/// Reads `--init`: our head file or the authors' `.pth`, which must take the
/// 35,203 ReLaX-VQA features.
fn read_init(path: &std::path::Path) -> anyhow::Result<InitHead> {
    let w = read_head_weights(path).context("--init")?;
    if w.input_width != RELAXVQA_FEATURES {
        anyhow::bail!(
            "--init {}: the head takes {} features, not the {RELAXVQA_FEATURES} of ReLaX-VQA",
            path.display(),
            w.input_width
        );
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    Ok(InitHead {
        path: path.to_path_buf(),
        name,
        sha256: w.sha256,
        width: w.input_width,
        weights: InitWeights::new(w.weights),
    })
}
