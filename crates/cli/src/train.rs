//! `relaxvqa train`: Train a quality head on features and MOS (the authors' protocol).
//!
//! Users with their own subjective scores fit a head on their data: the
//! imputer and min-max scaler are fitted on the training rows, the MLP is
//! trained with the authors' settings and chosen by k-fold cross-validation,
//! and everything is saved as one head file that `relaxvqa score --model`
//! reads. With `--splits N` it runs the authors' evaluation protocol instead
//! (N random train/test splits, median metrics).

pub mod data;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use clap::{Args, ValueEnum};
use relaxvqa_model::head::{save_head_file, OutputScale};
use relaxvqa_train::preprocess::{evaluate_splits, head_file, Preprocessing};
use relaxvqa_train::protocol::{select_by_cv, Selection};
use relaxvqa_train::train::TrainConfig;
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
    let t0 = Instant::now();
    let d = a.data.load(a.group_column.as_deref())?;
    let load_s = t0.elapsed().as_secs_f64();
    let n = d.y.len();
    let epochs = a.epochs.unwrap_or(if n < 5000 { 120 } else { 20 });
    let cfg = TrainConfig::authors(epochs, a.seed);
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
    let source = format!(
        "relaxvqa train: {} videos from {}, epochs {epochs}, seed {}, {folds}-fold by {:?}",
        n,
        a.data.features.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
        a.seed,
        a.select
    );
    let file = head_file(&cv.head, &pre, a.scale.into(), source)?;
    save_head_file(output, &file).with_context(|| format!("writing {}", output.display()))?;
    canonicalize_header(output)?;
    crate::output::print_json(&json!({
        "schema": "relaxvqa.train/1",
        "output": output,
        "videos": n,
        "features": d.dim,
        "epochs": epochs,
        "seed": a.seed,
        "folds": folds,
        "chosen_fold": cv.fold,
        "validation": cv.folds,
        "output_scale": OutputScale::from(a.scale).as_str(),
        "seconds": {"load": load_s, "train": t1.elapsed().as_secs_f64()},
    }))?;
    Ok(ExitCode::SUCCESS)
}

/// Rewrites a safetensors file's header with its metadata keys sorted, so
/// the same seed gives the same file bit for bit (the safetensors crate
/// serializes metadata from a `HashMap`, whose order changes between runs).
fn canonicalize_header(path: &std::path::Path) -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = || anyhow::anyhow!("{}: not a safetensors file", path.display());
    let len_bytes: [u8; 8] = bytes.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| bad())?;
    let header = bytes.get(8..8 + n).ok_or_else(bad)?;
    let mut map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header).map_err(|_| bad())?;
    if let Some(meta) = map.remove("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> = serde_json::from_value(meta).map_err(|_| bad())?;
        map.insert("__metadata__".to_owned(), serde_json::to_value(sorted)?);
    }
    let mut out = serde_json::to_vec(&map)?;
    while out.len() % 8 != 0 {
        out.push(b' ');
    }
    let mut file = (out.len() as u64).to_le_bytes().to_vec();
    file.extend(out);
    file.extend_from_slice(&bytes[8 + n..]);
    data::write_atomically(path, &file)
}
