//! Training a head on features and MOS with the authors' protocol, and
//! evaluating it: the imputer and min-max scaler fitted on the training
//! rows, the MLP trained with the authors' settings and chosen by k-fold
//! cross-validation, saved as one head file; or N random train/test splits
//! with median metrics. Fine-tuning starts from an existing head.

use std::path::{Path, PathBuf};

use candle_core::Device;
use relaxvqa_model::head::{read_head_weights, HeadFile, OutputScale, FEATURE_LEN};
use relaxvqa_train::preprocess::{evaluate_splits, head_file, Preprocessing};
use relaxvqa_train::protocol::select_by_cv;
pub use relaxvqa_train::protocol::{CvOutcome, Selection, SplitsReport};
use relaxvqa_train::train::{InitWeights, TrainConfig};

use crate::mos::Labelled;
use crate::{Error, Result};

/// How to train: the authors' settings by default. With the `clap` feature
/// these are the command line's `train` flags, and these comments its help.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TrainOptions {
    /// Epochs (the authors use 120 for small sets, 20 for large; default:
    /// 120 below 5,000 videos, else 20).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub epochs: Option<usize>,
    /// Seed of every random draw (same seed, same head, bit for bit).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 0, value_name = "S"))]
    pub seed: u64,
    /// Initial learning rate of SGD's cosine schedule (the authors' 0.1;
    /// a smaller one, e.g. 0.01, suits fine-tuning).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 0.1, value_name = "RATE"))]
    pub lr: f64,
    /// Mini-batch size (the authors' 256). With fewer training videos than
    /// that, every epoch is one SGD step; a small dataset learns in far
    /// fewer epochs with a smaller batch (e.g. 16).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 256, value_name = "N"))]
    pub batch_size: usize,
    /// Anneal the rate to this constant during weight averaging (PyTorch's
    /// SWALR, as the authors' scripts pair it with SWA; they use the initial
    /// rate). Default: the cosine schedule runs to the end.
    #[cfg_attr(feature = "clap", arg(long, value_name = "RATE"))]
    pub swa_lr: Option<f64>,
    /// Early stopping: epochs without a better validation loss before a
    /// fold stops (the authors' 5); 0 turns it off, so every fold runs all
    /// its epochs.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 5, value_name = "N"))]
    pub patience: usize,
    /// How cross-validation picks the fold model: rmse (lowest RMSE after
    /// the logistic fit) or krcc (highest KRCC).
    #[cfg_attr(feature = "clap", arg(long, default_value = "rmse", value_name = "rmse|krcc"))]
    pub select: Selection,
    /// Cross-validation folds inside the training data.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 10, value_name = "K"))]
    pub folds: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: None,
            seed: 0,
            lr: 0.1,
            batch_size: 256,
            swa_lr: None,
            patience: 5,
            select: Selection::ByRmse,
            folds: 10,
        }
    }
}

impl TrainOptions {
    /// Refuses settings that would do nothing or nonsense (0 epochs without
    /// a head to start from, a negative rate), before any data is read.
    /// With `fine_tuning`, 0 epochs is meaningful: the initial head with
    /// its imputer and scaler refitted on the new data.
    pub fn check(&self, fine_tuning: bool) -> Result<()> {
        if self.epochs == Some(0) && !fine_tuning {
            return Err(Error::invalid(
                "--epochs 0 would write an untrained head: give at least 1 (0 is for --init, to refit only the imputer and scaler)",
            ));
        }
        if self.folds < 2 {
            return Err(Error::invalid(format!("--folds {}: cross-validation needs at least 2 folds", self.folds)));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("--batch-size 0: give at least 1"));
        }
        for (name, rate) in [("--lr", Some(self.lr)), ("--swa-lr", self.swa_lr)] {
            if let Some(r) = rate.filter(|r| !(r.is_finite() && *r >= 0.0)) {
                return Err(Error::invalid(format!("{name} {r}: a learning rate must be a finite number >= 0")));
            }
        }
        Ok(())
    }

    /// The epochs for `n` videos.
    pub fn epochs_for(&self, n: usize) -> usize {
        self.epochs.unwrap_or(if n < 5000 { 120 } else { 20 })
    }

    /// The training configuration for `n` videos, from `init` when fine-tuning.
    pub fn config(&self, n: usize, init: Option<&InitHead>) -> TrainConfig {
        let mut cfg = TrainConfig::authors(self.epochs_for(n), self.seed);
        cfg.sgd.lr = self.lr;
        cfg.batch_size = self.batch_size;
        cfg.swa_lr = self.swa_lr;
        cfg.patience = (self.patience > 0).then_some(self.patience);
        cfg.init = init.map(|i| i.weights.clone());
        cfg
    }

    /// Checks the folds fit `n` training rows: each fold validates on at
    /// least 2 videos (a correlation needs two).
    pub fn check_folds(&self, n: usize) -> Result<()> {
        if n < 2 * self.folds {
            return Err(Error::invalid(format!(
                "--folds {}: {n} training videos give fewer than 2 per fold to validate on; use --folds {} or fewer, or more videos",
                self.folds,
                (n / 2).max(2)
            )));
        }
        Ok(())
    }
}

/// A head to fine-tune from, read and checked.
#[derive(Clone)]
pub struct InitHead {
    /// The file.
    pub path: PathBuf,
    /// The file name, as recorded in the output head's metadata.
    pub name: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its input width.
    pub width: usize,
    /// Its weights.
    pub weights: InitWeights,
}

/// Reads a head to fine-tune from: our head file or the authors' `.pth`,
/// which must take the 35,203 ReLaX-VQA features.
pub fn read_init(path: &Path) -> Result<InitHead> {
    let w = read_head_weights(path).map_err(Error::head("--init"))?;
    if w.input_width != FEATURE_LEN {
        return Err(Error::invalid(format!(
            "--init {}: the head takes {} features, not the {FEATURE_LEN} of ReLaX-VQA",
            path.display(),
            w.input_width
        )));
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

/// A trained head and how it was chosen.
pub struct Trained {
    /// The head file to save.
    pub file: HeadFile,
    /// Cross-validation's outcome.
    pub cv: CvOutcome,
    /// Folds used.
    pub folds: usize,
    /// Epochs configured.
    pub epochs: usize,
}

/// Trains a head on `data` (features and MOS), recording `features_desc`
/// (where the features came from) and the settings in its source.
pub fn train(
    data: &Labelled,
    opts: &TrainOptions,
    init: Option<&InitHead>,
    scale: OutputScale,
    features_desc: &str,
) -> Result<Trained> {
    opts.check(init.is_some())?;
    check_init(data, init)?;
    let n = data.y.len();
    opts.check_folds(n)?;
    let folds = opts.folds;
    let cfg = opts.config(n, init);
    let (pre, train) =
        Preprocessing::fit_dataset(&data.x, &data.y, data.dim).map_err(Error::train("preprocessing the features"))?;
    let cv = select_by_cv(&train, folds, opts.select, &cfg, &Device::Cpu).map_err(Error::train("training"))?;
    let defaults = TrainOptions::default();
    let mut source = format!(
        "relaxvqa train: {n} videos from {features_desc}, epochs {}, seed {}, {folds}-fold by {:?}",
        cfg.epochs, opts.seed, opts.select
    );
    if opts.lr != defaults.lr {
        source.push_str(&format!(", lr {}", opts.lr));
    }
    if let Some(r) = opts.swa_lr {
        source.push_str(&format!(", swa_lr {r}"));
    }
    if opts.patience != defaults.patience {
        source.push_str(&format!(", patience {}", opts.patience));
    }
    if opts.batch_size != defaults.batch_size {
        source.push_str(&format!(", batch {}", opts.batch_size));
    }
    if let Some(i) = init {
        source.push_str(&format!(", fine-tuned from {} (sha256 {})", i.name, i.sha256));
    }
    let mut file = head_file(&cv.head, &pre, scale, source).map_err(Error::train("building the head file"))?;
    if let Some(i) = init {
        file.metadata.insert("fine_tuned_from".to_owned(), i.name.clone());
        file.metadata.insert("fine_tuned_from_sha256".to_owned(), i.sha256.clone());
    }
    Ok(Trained { file, cv, folds, epochs: cfg.epochs })
}

/// The authors' evaluation protocol: `splits` random train/test splits
/// (`test_fraction` held out, of videos or of groups), cross-validation
/// inside each training part, median test metrics.
pub fn evaluate(
    data: &Labelled,
    opts: &TrainOptions,
    init: Option<&InitHead>,
    splits: usize,
    test_fraction: f64,
) -> Result<SplitsReport> {
    opts.check(init.is_some())?;
    if splits == 0 {
        return Err(Error::invalid("--splits 0 would evaluate nothing: give at least 1 (the authors use 21)"));
    }
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::invalid(format!("--test-fraction {test_fraction}: give a fraction between 0 and 1")));
    }
    check_init(data, init)?;
    let n = data.y.len();
    opts.check_folds(n - ((n as f64 * test_fraction).ceil() as usize).min(n))?;
    let cfg = opts.config(n, init);
    evaluate_splits(
        &data.x,
        &data.y,
        data.dim,
        data.groups.as_deref(),
        splits,
        test_fraction,
        opts.folds,
        opts.select,
        &cfg,
        &Device::Cpu,
    )
    .map_err(Error::train("evaluating splits"))
}

fn check_init(data: &Labelled, init: Option<&InitHead>) -> Result<()> {
    if let Some(i) = init {
        if i.width != data.dim {
            return Err(Error::invalid(format!(
                "--init {}: the head takes {} features but the training features have {}",
                i.path.display(),
                i.width,
                data.dim
            )));
        }
    }
    Ok(())
}

pub use relaxvqa_train::metrics::{Metrics, Predictions};

impl Trained {
    /// Writes the head file (read by `Model::load` and `relaxvqa score --model`).
    pub fn save(&self, path: &Path) -> Result<()> {
        relaxvqa_model::head::save_head_file(path, &self.file).map_err(Error::head(path.display().to_string()))
    }
}

/// SRCC, KRCC, PLCC and RMSE of `pred` against `mos`, as the authors
/// compute them (PLCC and RMSE after their logistic fit; equal to scipy).
pub fn metrics(mos: &[f64], pred: &[f64]) -> Result<Metrics> {
    relaxvqa_train::metrics::evaluate(mos, pred).map_err(|e| Error::invalid(e.to_string()))
}

/// Reads a predictions CSV (`mos` and `pred` columns, a row per video).
pub fn read_predictions(path: &Path) -> Result<Predictions> {
    use relaxvqa_train::metrics::CsvError;
    relaxvqa_train::metrics::read_predictions_csv(path).map_err(|e| match e {
        CsvError::Io { path, source } => Error::Io { path, source },
        e => Error::invalid(e.to_string()),
    })
}

/// Writes predictions as a CSV that [`read_predictions`] reads back: `name`,
/// `mos`, `pred`, a row per video of `data` (written whole or not at all).
pub fn write_predictions(path: &Path, data: &Labelled, pred: &[f64]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::invalid(format!("{}: {e}", path.display()));
    w.write_record(["name", "mos", "pred"]).map_err(fail)?;
    for ((name, y), p) in data.names.iter().zip(&data.y).zip(pred) {
        w.write_record([name.clone(), y.to_string(), p.to_string()]).map_err(fail)?;
    }
    let text = w.into_inner().map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    crate::files::write_file(path, &text)
}

/// The raw predictions of the head file at `path` for every row of `data`
/// (256 rows per pass through the MLP), and the scale they are on.
pub fn predict(path: &Path, data: &Labelled) -> Result<(Vec<f64>, OutputScale)> {
    let shown = path.display().to_string();
    let file = relaxvqa_model::head::load_head_file(path).map_err(Error::head(&shown))?;
    if data.dim != file.input_width {
        return Err(Error::invalid(format!(
            "{shown}: the head takes {} features, the data has {}",
            file.input_width, data.dim
        )));
    }
    // The head's own rule for what it can score: an infinity never; a
    // missing value (NaN) only when the head has an imputer to fill it.
    let fills_nan = file.imputer.is_some();
    let head = file.into_head(&Device::Cpu).map_err(Error::head(&shown))?;
    let rows: Vec<&[f64]> = data.x.chunks_exact(data.dim).collect();
    for (row, name) in rows.iter().zip(&data.names) {
        if let Some(v) = row.iter().find(|v| v.is_infinite() || (v.is_nan() && !fills_nan)) {
            return Err(Error::invalid(format!(
                "{name}: a feature is {v}, which {shown} cannot score{}",
                if v.is_nan() { " (it has no imputer)" } else { "" }
            )));
        }
    }
    let mut pred = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(256) {
        pred.extend(head.score_batch(chunk).map_err(Error::head(format!("scoring with {shown}")))?);
    }
    if let Some((name, p)) = data.names.iter().zip(&pred).find(|(_, p)| !p.is_finite()) {
        return Err(Error::NotFinite(format!("{name}: the prediction of {shown} is {p}")));
    }
    Ok((pred, head.output_scale()))
}

#[cfg(all(test, feature = "clap"))]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        options: super::TrainOptions,
    }

    #[test]
    fn the_flags_default_to_the_authors_settings() {
        assert_eq!(Flags::parse_from(["train"]).options, super::TrainOptions::default());
        let o = Flags::parse_from(["train", "--select", "krcc", "--epochs", "3"]).options;
        assert_eq!((o.select, o.epochs), (super::Selection::ByKrcc, Some(3)));
        assert!(Flags::try_parse_from(["train", "--select", "best"]).is_err());
    }
}
