//! The training loop of one head (spec section 7): shuffled mini-batches,
//! the authors' loss, SGD with cosine annealing, optional stochastic weight
//! averaging from 70% of the epochs with BatchNorm statistics recomputed, and
//! early stopping on the validation loss. Training starts from the seeded
//! initialisation, or from a given head's weights (fine-tuning, as the
//! authors fine-tune their LSVQ head on each dataset).
//!
//! Every random draw (initialisation, shuffling, dropout) comes from one
//! seeded [`Rng`], so a run is reproducible bit for bit on a given device.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use relaxvqa_model::StateDict;

use crate::loss::{mae_rank_loss, mae_rank_loss_f64, scalar, LossWeights};
use crate::metrics;
use crate::model::{HeadConfig, TrainHead};
use crate::optim::{cosine_annealing_lr, cosine_annealing_step, swalr_step, Sgd, SgdConfig};
use crate::rng::Rng;
use crate::TrainError;

/// Feature rows and their MOS, row-major, as training reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Vec<f32>,
    y: Vec<f32>,
    dim: usize,
}

impl Dataset {
    /// Rows of `dim` features (`x.len() == y.len() * dim`), all finite.
    pub fn new(x: Vec<f32>, y: Vec<f32>, dim: usize) -> Result<Self, TrainError> {
        if dim == 0 || x.len() != y.len() * dim {
            return Err(TrainError::Config(format!(
                "{} feature values do not make {} rows of {dim}",
                x.len(),
                y.len()
            )));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Config(format!(
                "feature {} of row {} is not finite (impute first)",
                i % dim,
                i / dim
            )));
        }
        if let Some(i) = y.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Config(format!("MOS of row {i} is not finite")));
        }
        Ok(Self { x, y, dim })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Features per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The MOS of every row.
    pub fn targets(&self) -> &[f32] {
        &self.y
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        }
        Self { x, y: idx.iter().map(|&i| self.y[i]).collect(), dim: self.dim }
    }

    /// Features and targets of the rows at `idx` as `[b, dim]` and `[b, 1]`.
    fn batch(&self, idx: &[usize], device: &Device) -> Result<(Tensor, Tensor), TrainError> {
        let sub = self.subset(idx);
        Ok((Tensor::from_vec(sub.x, (idx.len(), self.dim), device)?, Tensor::from_vec(sub.y, (idx.len(), 1), device)?))
    }

    /// All features as one `[n, dim]` tensor.
    pub fn features(&self, device: &Device) -> Result<Tensor, TrainError> {
        Ok(Tensor::from_slice(&self.x, (self.len(), self.dim), device)?)
    }
}

/// Weights a training run starts from instead of the seeded initialisation
/// (fine-tuning): a state dict under the authors' names, shared cheaply
/// between the runs of a protocol (every fold and split starts from it).
#[derive(Clone, PartialEq)]
pub struct InitWeights(Arc<StateDict>);

impl InitWeights {
    /// Wraps a state dict (`module.` prefixes already removed).
    pub fn new(weights: StateDict) -> Self {
        Self(Arc::new(weights))
    }

    /// The weights.
    pub fn state_dict(&self) -> &StateDict {
        &self.0
    }
}

impl std::fmt::Debug for InitWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shapes: Vec<(&str, &[usize])> = self.0.iter().map(|(n, t)| (n, t.shape.as_slice())).collect();
        f.debug_tuple("InitWeights").field(&shapes).finish()
    }
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// Width of `fc1`.
    pub hidden_features: usize,
    /// Dropout probability.
    pub drop_rate: f64,
    /// Epochs (also the cosine schedule's `T_max`).
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Optimiser settings (`lr` is the initial rate).
    pub sgd: SgdConfig,
    /// Final learning rate of the cosine schedule.
    pub eta_min: f64,
    /// Loss weights.
    pub loss: LossWeights,
    /// Average the weights from 70% of the epochs on (then recompute the
    /// BatchNorm statistics on the training set).
    pub swa: bool,
    /// `SWALR`'s target rate: when set (and `swa` on), each epoch of the
    /// averaging phase ends with PyTorch's `SWALR(swa_lr, anneal_strategy=
    /// "cos", anneal_epochs)` step after the cosine step, as the authors'
    /// scripts do, so the rate anneals to this constant. `None` (the spec's
    /// protocol, the default): the cosine schedule runs to the end.
    pub swa_lr: Option<f64>,
    /// `SWALR`'s `anneal_epochs` (PyTorch's default 10).
    pub swa_anneal_epochs: usize,
    /// Stop when the validation loss has not improved for this many epochs
    /// (counted, as the authors do, only once weight averaging has begun;
    /// from the first epoch when `swa` is off). Needs a validation set.
    pub patience: Option<usize>,
    /// Seed of every random draw.
    pub seed: u64,
    /// Starting weights (fine-tuning); `None` draws PyTorch's default
    /// initialisation from the seed. Their sizes must match the data's width
    /// and `hidden_features`.
    #[serde(skip)]
    pub init: Option<InitWeights>,
}

impl TrainConfig {
    /// The authors' defaults for `epochs` epochs (20 for large sets, 120 for
    /// small): batch 256, hidden 256, dropout 0.1, SGD lr 0.1 momentum 0.9
    /// weight decay 0.005, cosine to 1e-5, loss 0.6 MAE + 1.0 rank, SWA on,
    /// patience 5.
    pub fn authors(epochs: usize, seed: u64) -> Self {
        Self {
            hidden_features: 256,
            drop_rate: 0.1,
            epochs,
            batch_size: 256,
            sgd: SgdConfig::AUTHORS,
            eta_min: 1e-5,
            loss: LossWeights::AUTHORS,
            swa: true,
            swa_lr: None,
            swa_anneal_epochs: 10,
            patience: Some(5),
            seed,
            init: None,
        }
    }

    /// The learning rate of every epoch: the closed-form cosine schedule, or,
    /// with [`TrainConfig::swa_lr`] and SWA on, the authors' pairing of
    /// `CosineAnnealingLR` (stepped recursively, as PyTorch does) and
    /// `SWALR` (stepped after it at the end of each averaging epoch).
    pub fn lr_schedule(&self) -> Vec<f64> {
        let base = self.sgd.lr;
        let (Some(swa_lr), true) = (self.swa_lr, self.swa) else {
            return (0..self.epochs).map(|e| cosine_annealing_lr(base, self.eta_min, self.epochs, e)).collect();
        };
        let mut lrs = Vec::with_capacity(self.epochs);
        let (mut lr, mut swa_steps) = (base, 0usize);
        for epoch in 0..self.epochs {
            lrs.push(lr);
            lr = cosine_annealing_step(lr, base, self.eta_min, self.epochs, epoch + 1);
            if epoch >= self.swa_start() {
                swa_steps += 1;
                lr = swalr_step(lr, swa_lr, self.swa_anneal_epochs, swa_steps);
            }
        }
        lrs
    }

    /// First epoch (from 0) of weight averaging: `int(0.7 * epochs)`.
    pub fn swa_start(&self) -> usize {
        if self.swa {
            self.epochs * 7 / 10
        } else {
            self.epochs
        }
    }

    fn head(&self, dim: usize) -> HeadConfig {
        HeadConfig { hidden_features: self.hidden_features, drop_rate: self.drop_rate, ..HeadConfig::authors(dim) }
    }
}

/// What happened in one epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EpochRecord {
    /// Epoch number from 0.
    pub epoch: usize,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// Loss of the current model (the average, once averaging) on the
    /// validation set.
    pub val_loss: Option<f64>,
}

/// A trained head and how training went.
pub struct Trained {
    /// The final head (averaged weights and recomputed BatchNorm statistics
    /// when SWA was on).
    pub head: TrainHead,
    /// One record per epoch run.
    pub history: Vec<EpochRecord>,
    /// True when early stopping ended training.
    pub stopped_early: bool,
}

/// Running average of parameters (`torch.optim.swa_utils.AveragedModel`).
struct WeightAverage {
    sums: Vec<Tensor>,
    n: usize,
}

impl WeightAverage {
    /// Adds the current weights: `avg += (p - avg) / (n + 1)`.
    fn update(&mut self, head: &TrainHead) -> Result<(), TrainError> {
        let params = head.parameters();
        if self.n == 0 {
            self.sums = params.iter().map(|v| v.as_tensor().detach().copy()).collect::<Result<_, _>>()?;
        } else {
            for (avg, v) in self.sums.iter_mut().zip(&params) {
                let p = v.as_tensor().detach();
                *avg = (&*avg + ((p - &*avg)? / (self.n + 1) as f64)?)?;
            }
        }
        self.n += 1;
        Ok(())
    }

    /// A copy of `head` carrying the averaged weights.
    fn apply(&self, head: &TrainHead) -> Result<TrainHead, TrainError> {
        let sd = head.to_state_dict()?;
        let avg = TrainHead::from_state_dict(*head.config(), &sd, head.device())?;
        for (v, a) in avg.parameters().iter().zip(&self.sums) {
            v.set(a)?;
        }
        Ok(avg)
    }
}

/// Recomputes the BatchNorm running statistics as `update_bn` does: reset,
/// then a cumulative average of each mini-batch's mean and unbiased variance
/// over one shuffled pass of `data`.
pub fn update_bn(head: &mut TrainHead, data: &Dataset, batch_size: usize, rng: &mut Rng) -> Result<(), TrainError> {
    let device = head.device().clone();
    let h = head.config().hidden_features;
    let mut mean = Tensor::zeros(h, candle_core::DType::F32, &device)?;
    let mut var = Tensor::ones(h, candle_core::DType::F32, &device)?;
    let mut k = 0u64;
    for idx in data_order(data.len(), batch_size, rng) {
        let (x, _) = data.batch(&idx, &device)?;
        let a = head.fc1_output(&x)?;
        let b = idx.len();
        let bm = a.mean(0)?;
        let bv = a.broadcast_sub(&bm.unsqueeze(0)?)?.sqr()?.sum(0)?.affine(1.0 / (b - 1) as f64, 0.0)?;
        k += 1;
        let f = 1.0 / k as f64;
        mean = (mean.affine(1.0 - f, 0.0)? + bm.affine(f, 0.0)?)?;
        var = (var.affine(1.0 - f, 0.0)? + bv.affine(f, 0.0)?)?;
    }
    head.set_bn_stats(mean, var, k);
    Ok(())
}

/// A shuffled epoch's mini-batches; a last batch of one row is dropped
/// (BatchNorm cannot train on it; PyTorch would raise an error).
fn data_order(n: usize, batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let perm = rng.permutation(n);
    perm.chunks(batch_size.max(1)).filter(|c| c.len() >= 2).map(<[usize]>::to_vec).collect()
}

/// The loss of `head` (inference mode) on `data`.
pub fn eval_loss(head: &TrainHead, data: &Dataset, w: LossWeights) -> Result<f64, TrainError> {
    let pred: Vec<f64> = head.predict(&data.features(head.device())?)?.into_iter().map(f64::from).collect();
    let y: Vec<f64> = data.targets().iter().map(|&v| f64::from(v)).collect();
    Ok(mae_rank_loss_f64(&pred, &y, w))
}

/// Scores `data` with `head` and computes the authors' metrics.
pub fn evaluate_head(head: &TrainHead, data: &Dataset) -> Result<metrics::Metrics, TrainError> {
    let pred: Vec<f64> = head.predict(&data.features(head.device())?)?.into_iter().map(f64::from).collect();
    let y: Vec<f64> = data.targets().iter().map(|&v| f64::from(v)).collect();
    Ok(metrics::evaluate(&y, &pred)?)
}

/// Trains one head on `train`, validating on `val` when given.
pub fn train_head(
    train: &Dataset,
    val: Option<&Dataset>,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<Trained, TrainError> {
    if train.len() < 2 {
        return Err(TrainError::Config(format!("{} training rows: at least 2 are needed", train.len())));
    }
    if cfg.patience.is_some() && val.is_none() {
        return Err(TrainError::Config("early stopping needs a validation set".into()));
    }
    let mut rng = Rng::new(cfg.seed);
    let mut head = match &cfg.init {
        Some(init) => TrainHead::from_state_dict(cfg.head(train.dim()), init.state_dict(), device)?,
        None => TrainHead::new(cfg.head(train.dim()), &mut rng, device)?,
    };
    let mut sgd = Sgd::new(head.parameters(), cfg.sgd)?;
    let mut avg = WeightAverage { sums: Vec::new(), n: 0 };
    let mut history = Vec::with_capacity(cfg.epochs);
    let (mut best_val, mut bad_epochs, mut stopped_early) = (f64::INFINITY, 0usize, false);
    let swa_start = cfg.swa_start();
    let schedule = cfg.lr_schedule();
    for (epoch, &lr) in schedule.iter().enumerate() {
        sgd.set_lr(lr);
        let (mut total, mut seen) = (0.0, 0usize);
        for idx in data_order(train.len(), cfg.batch_size, &mut rng) {
            let (x, y) = train.batch(&idx, device)?;
            let pred = head.forward_train(&x, &mut rng)?;
            let loss = mae_rank_loss(&pred, &y, cfg.loss)?;
            sgd.step(&loss.backward()?)?;
            total += scalar(&loss)? * idx.len() as f64;
            seen += idx.len();
        }
        let averaging = cfg.swa && epoch >= swa_start;
        if averaging {
            avg.update(&head)?;
        }
        let val_loss = match val {
            Some(v) if averaging => {
                let mut current = avg.apply(&head)?;
                update_bn(&mut current, train, cfg.batch_size, &mut rng.fork(epoch as u64))?;
                Some(eval_loss(&current, v, cfg.loss)?)
            }
            Some(v) => Some(eval_loss(&head, v, cfg.loss)?),
            None => None,
        };
        history.push(EpochRecord { epoch, lr, train_loss: total / seen.max(1) as f64, val_loss });
        if let (Some(patience), Some(vl)) = (cfg.patience, val_loss) {
            if averaging || !cfg.swa {
                if vl < best_val {
                    best_val = vl;
                    bad_epochs = 0;
                } else {
                    bad_epochs += 1;
                    if bad_epochs >= patience {
                        stopped_early = true;
                        break;
                    }
                }
            }
        }
    }
    if avg.n > 0 {
        head = avg.apply(&head)?;
        update_bn(&mut head, train, cfg.batch_size, &mut rng)?;
    }
    Ok(Trained { head, history, stopped_early })
}
