//! The scoring head: imputer, min-max scaler and MLP (spec section 6).
//!
//! A feature vector (35,203 values for ReLaX-VQA) becomes a quality score in
//! three steps, exactly as the authors' demo does it:
//!
//! 1. [`Imputer`]: each NaN becomes its column's training mean (f64);
//! 2. [`Scaler`]: `x * scale_ + min_` per column (f64), then cast to f32;
//! 3. [`Mlp`]: Linear(in -> 256) -> BatchNorm1d(256, eps 1e-5, running
//!    statistics) -> GELU (erf) -> Dropout -> Linear(256 -> 128) -> GELU ->
//!    Dropout -> Linear(128 -> 1), in f32 with candle; dropout is the
//!    identity at inference.
//!
//! The raw output is on the scale the head was trained on ([`OutputScale`]);
//! [`OutputScale::convert`] maps between scales (`1 + 4 * y / 100` from
//! 0-100 to 1-5, as the authors' demo does for KoNViD-1k and YouTube-UGC).
//!
//! Heads load from the authors' published files (a `.pth` state dict, plain,
//! DataParallel or SWA, plus joblib pickles of the imputer and scaler) or
//! from this program's own single-file format ([`file`]).

#![warn(missing_docs)]

mod error;
pub mod file;

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::{HostTensor, StateDict};

pub use error::HeadError;
pub use file::{
    load_head_file, read_head_weights, save_head_file, HeadFile, HeadWeights, HEAD_FILE_FORMAT, HEAD_FILE_VERSION,
    RESERVED_METADATA,
};

/// Width of the first hidden layer (`fc1` outputs, `bn1` features).
pub const HIDDEN1: usize = 256;
/// Width of the second hidden layer (`fc2` outputs).
pub const HIDDEN2: usize = 128;
/// BatchNorm1d epsilon of the authors' model (PyTorch's default).
pub const BN_EPS: f64 = 1e-5;
/// The length of ReLaX-VQA's feature vector, the head's input width
/// (spec section 5; `relaxvqa_features::layout` lays its blocks out).
pub const FEATURE_LEN: usize = 35_203;

/// The state-dict names of the head's weights, in the authors' module order.
///
/// `bn1.num_batches_tracked` also appears in their checkpoints; it plays no
/// part at inference and is accepted but not required.
pub const HEAD_TENSORS: [&str; 10] = [
    "fc1.weight",
    "fc1.bias",
    "bn1.weight",
    "bn1.bias",
    "bn1.running_mean",
    "bn1.running_var",
    "fc2.weight",
    "fc2.bias",
    "fc3.weight",
    "fc3.bias",
];

/// State-dict names the head accepts and ignores.
const IGNORED_TENSORS: [&str; 1] = ["bn1.num_batches_tracked"];

/// The shape of each head weight for a given input width, in
/// [`HEAD_TENSORS`] order: what a checkpoint must hold, and what the
/// synthetic generator is asked for.
pub fn head_tensor_shapes(input_width: usize) -> Vec<(String, Vec<usize>)> {
    let shapes: [Vec<usize>; 10] = [
        vec![HIDDEN1, input_width],
        vec![HIDDEN1],
        vec![HIDDEN1],
        vec![HIDDEN1],
        vec![HIDDEN1],
        vec![HIDDEN1],
        vec![HIDDEN2, HIDDEN1],
        vec![HIDDEN2],
        vec![1, HIDDEN2],
        vec![1],
    ];
    HEAD_TENSORS.iter().zip(shapes).map(|(n, s)| ((*n).to_owned(), s)).collect()
}

/// What scale a head's raw output is on.
///
/// Heads trained on LSVQ or LIVE-VQC predict MOS on 0-100; heads fine-tuned
/// on KoNViD-1k or YouTube-UGC predict MOS on 1-5. Reports must say which,
/// and comparisons across datasets need [`OutputScale::convert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputScale {
    /// Mean opinion score on 1 (bad) to 5 (excellent).
    Mos1To5,
    /// Mean opinion score on 0 to 100.
    Mos0To100,
    /// Unknown or meaningless (synthetic weights, test heads): no conversion.
    Raw,
}

impl OutputScale {
    /// The name used in head files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mos1To5 => "mos_1_5",
            Self::Mos0To100 => "mos_0_100",
            Self::Raw => "raw",
        }
    }

    /// Parses [`OutputScale::as_str`]'s names.
    pub fn parse(s: &str) -> Result<Self, HeadError> {
        match s {
            "mos_1_5" => Ok(Self::Mos1To5),
            "mos_0_100" => Ok(Self::Mos0To100),
            "raw" => Ok(Self::Raw),
            other => Err(HeadError::UnknownOutputScale(other.to_owned())),
        }
    }

    /// Converts a score `y` on this scale to scale `to`: 0-100 to 1-5 by
    /// `1 + 4 * y / 100` (the authors' demo), 1-5 to 0-100 by its inverse.
    /// `None` when either side is [`OutputScale::Raw`] and they differ.
    pub fn convert(self, y: f64, to: OutputScale) -> Option<f64> {
        match (self, to) {
            (a, b) if a == b => Some(y),
            (Self::Mos0To100, Self::Mos1To5) => Some(mos_0_100_to_1_5(y)),
            (Self::Mos1To5, Self::Mos0To100) => Some((y - 1.0) * 100.0 / 4.0),
            _ => None,
        }
    }
}

impl std::fmt::Display for OutputScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authors' map from a 0-100 prediction to the 1-5 MOS scale: `1 + 4 * y / 100`.
pub fn mos_0_100_to_1_5(y: f64) -> f64 {
    1.0 + 4.0 * y / 100.0
}

/// Missing-value replacement: NaN in column `i` becomes `statistics[i]`
/// (a fitted scikit-learn `SimpleImputer`'s `statistics_`).
#[derive(Clone, Debug, PartialEq)]
pub struct Imputer {
    /// Fill value of each column.
    pub statistics: Vec<f64>,
}

impl Imputer {
    /// Replaces the NaNs of `row` in place.
    pub fn apply(&self, row: &mut [f64]) {
        for (x, s) in row.iter_mut().zip(&self.statistics) {
            if x.is_nan() {
                *x = *s;
            }
        }
    }
}

impl From<relaxvqa_formats::SimpleImputer> for Imputer {
    fn from(i: relaxvqa_formats::SimpleImputer) -> Self {
        Self { statistics: i.statistics }
    }
}

/// Min-max scaling `x * scale + min` per column (a fitted scikit-learn
/// `MinMaxScaler`'s `scale_` and `min_`).
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    /// Additive term of each column (`min_`).
    pub min: Vec<f64>,
    /// Multiplicative term of each column (`scale_`).
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Scales `row` in place, in f64 as scikit-learn does (multiply, then add).
    pub fn apply(&self, row: &mut [f64]) {
        for ((x, s), m) in row.iter_mut().zip(&self.scale).zip(&self.min) {
            *x = *x * *s + *m;
        }
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.min.len()
    }
}

impl From<relaxvqa_formats::MinMaxScaler> for Scaler {
    fn from(s: relaxvqa_formats::MinMaxScaler) -> Self {
        Self { min: s.min, scale: s.scale }
    }
}

/// Drops DataParallel's `module.` prefix and SWA's `n_averaged` counter, so
/// plain, DataParallel and `AveragedModel` checkpoints load alike.
pub fn normalize_head_state_dict(sd: StateDict) -> StateDict {
    sd.strip_prefix("module.", &["n_averaged"])
}

/// Converts the formats crate's tensors into a [`StateDict`].
pub fn state_dict_from_torch(entries: Vec<(String, relaxvqa_formats::TorchTensor)>) -> StateDict {
    let mut sd = StateDict::new();
    for (name, t) in entries {
        // TorchTensor guarantees data.len() == product(shape).
        sd.insert(name, HostTensor { shape: t.shape, data: t.data });
    }
    sd
}

/// A short list of names for error messages.
fn name_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let mut s = names.iter().take(12).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 12 {
        s.push_str(&format!(", ... ({} in all)", names.len()));
    }
    if s.is_empty() {
        s.push_str("nothing");
    }
    s
}

/// The authors' MLP in candle, in inference mode.
///
/// BatchNorm's running statistics are folded into one per-feature scale and
/// shift when the weights are loaded: `(x - mean) / sqrt(var + eps) * w + b`
/// = `x * a + c` with `a = w / sqrt(var + eps)`, `c = b - mean * a`.
#[derive(Clone, Debug)]
pub struct Mlp {
    fc1_w: Tensor,
    fc1_b: Tensor,
    bn_scale: Tensor,
    bn_shift: Tensor,
    fc2_w: Tensor,
    fc2_b: Tensor,
    fc3_w: Tensor,
    fc3_b: Tensor,
    input_width: usize,
    device: Device,
}

impl Mlp {
    /// Builds the MLP from a state dict with the authors' names
    /// ([`HEAD_TENSORS`]); `module.` prefixes and `n_averaged` are removed
    /// first. The input width is `fc1.weight`'s column count; every other
    /// shape is checked against it, and unknown tensors are refused.
    pub fn from_state_dict(sd: StateDict, device: &Device) -> Result<Self, HeadError> {
        let sd = normalize_head_state_dict(sd);
        let unexpected: Vec<&str> =
            sd.iter().map(|(n, _)| n).filter(|n| !HEAD_TENSORS.contains(n) && !IGNORED_TENSORS.contains(n)).collect();
        if !unexpected.is_empty() {
            return Err(HeadError::UnexpectedTensors { names: name_list(unexpected.into_iter()) });
        }
        let get = |name: &str| -> Result<&HostTensor, HeadError> {
            sd.get(name).ok_or_else(|| HeadError::MissingTensor {
                name: name.to_owned(),
                found: name_list(sd.iter().map(|(n, _)| n)),
            })
        };
        let fc1 = get("fc1.weight")?;
        let input_width = match fc1.shape.as_slice() {
            [HIDDEN1, w] if *w > 0 => *w,
            _ => {
                return Err(HeadError::ShapeMismatch {
                    name: "fc1.weight".into(),
                    expected: vec![HIDDEN1, 0],
                    found: fc1.shape.clone(),
                })
            }
        };
        for (name, shape) in head_tensor_shapes(input_width) {
            let t = get(&name)?;
            if t.shape != shape {
                return Err(HeadError::ShapeMismatch { name, expected: shape, found: t.shape.clone() });
            }
        }
        let tensor = |name: &str| -> Result<Tensor, HeadError> {
            let t = get(name)?;
            Ok(Tensor::from_slice(&t.data, t.shape.as_slice(), device)?)
        };
        // Fold BatchNorm in f64 on the host, then round once to f32.
        let (w, b, mean, var) =
            (get("bn1.weight")?, get("bn1.bias")?, get("bn1.running_mean")?, get("bn1.running_var")?);
        let mut scale = Vec::with_capacity(HIDDEN1);
        let mut shift = Vec::with_capacity(HIDDEN1);
        for i in 0..HIDDEN1 {
            let a = f64::from(w.data[i]) / (f64::from(var.data[i]) + BN_EPS).sqrt();
            scale.push(a as f32);
            shift.push((f64::from(b.data[i]) - f64::from(mean.data[i]) * a) as f32);
        }
        Ok(Self {
            // Weights are stored transposed ([in, out]) so forward is a plain matmul.
            fc1_w: tensor("fc1.weight")?.t()?.contiguous()?,
            fc1_b: tensor("fc1.bias")?,
            bn_scale: Tensor::from_vec(scale, HIDDEN1, device)?,
            bn_shift: Tensor::from_vec(shift, HIDDEN1, device)?,
            fc2_w: tensor("fc2.weight")?.t()?.contiguous()?,
            fc2_b: tensor("fc2.bias")?,
            fc3_w: tensor("fc3.weight")?.t()?.contiguous()?,
            fc3_b: tensor("fc3.bias")?,
            input_width,
            device: device.clone(),
        })
    }

    /// Number of input features (`fc1.weight` columns).
    pub fn input_width(&self) -> usize {
        self.input_width
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the MLP on `x` of shape `[batch, input_width]` (f32), giving `[batch, 1]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, HeadError> {
        let h = x.matmul(&self.fc1_w)?.broadcast_add(&self.fc1_b)?;
        let h = h.broadcast_mul(&self.bn_scale)?.broadcast_add(&self.bn_shift)?.gelu_erf()?;
        let h = h.matmul(&self.fc2_w)?.broadcast_add(&self.fc2_b)?.gelu_erf()?;
        Ok(h.matmul(&self.fc3_w)?.broadcast_add(&self.fc3_b)?)
    }

    /// Runs the MLP on row-major f32 rows (`rows.len()` a multiple of the
    /// input width), one output per row.
    pub fn forward_rows(&self, rows: &[f32]) -> Result<Vec<f32>, HeadError> {
        // `checked_rem`: a head built from a file with zero input columns
        // refuses every input instead of dividing by zero.
        if rows.len().checked_rem(self.input_width) != Some(0) {
            return Err(HeadError::WidthMismatch { what: "input rows", head: self.input_width, found: rows.len() });
        }
        let n = rows.len() / self.input_width;
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::from_slice(rows, (n, self.input_width), &self.device)?;
        let y = self.forward(&x)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(y)
    }
}

/// A complete head: optional imputer and scaler, the MLP and its output scale.
#[derive(Clone, Debug)]
pub struct Head {
    imputer: Option<Imputer>,
    scaler: Option<Scaler>,
    mlp: Mlp,
    output_scale: OutputScale,
}

impl Head {
    /// Assembles a head, checking that the imputer and scaler have the MLP's
    /// input width. A head without an imputer refuses NaN features; one
    /// without a scaler takes features as they are (only right for heads
    /// trained on unscaled features).
    pub fn new(
        mlp: Mlp,
        imputer: Option<Imputer>,
        scaler: Option<Scaler>,
        output_scale: OutputScale,
    ) -> Result<Self, HeadError> {
        let head = mlp.input_width();
        if let Some(i) = &imputer {
            if i.statistics.len() != head {
                return Err(HeadError::WidthMismatch { what: "imputer", head, found: i.statistics.len() });
            }
        }
        if let Some(s) = &scaler {
            if s.min.len() != head || s.scale.len() != head {
                return Err(HeadError::WidthMismatch { what: "scaler", head, found: s.min.len().max(s.scale.len()) });
            }
        }
        Ok(Self { imputer, scaler, mlp, output_scale })
    }

    /// Loads the authors' published files: a `.pth` state dict (plain,
    /// DataParallel or SWA) and joblib pickles of the imputer and scaler.
    pub fn from_published(
        pth: &Path,
        imputer: Option<&Path>,
        scaler: Option<&Path>,
        output_scale: OutputScale,
        device: &Device,
    ) -> Result<Self, HeadError> {
        let sd = state_dict_from_torch(relaxvqa_formats::torch::read_state_dict(pth)?);
        let mlp = Mlp::from_state_dict(sd, device)?;
        let imputer = imputer.map(relaxvqa_formats::joblib::read_simple_imputer).transpose()?.map(Imputer::from);
        let scaler = scaler.map(relaxvqa_formats::joblib::read_min_max_scaler).transpose()?.map(Scaler::from);
        Self::new(mlp, imputer, scaler, output_scale)
    }

    /// The MLP.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The imputer, if any.
    pub fn imputer(&self) -> Option<&Imputer> {
        self.imputer.as_ref()
    }

    /// The scaler, if any.
    pub fn scaler(&self) -> Option<&Scaler> {
        self.scaler.as_ref()
    }

    /// The scale of [`Head::score`]'s output.
    pub fn output_scale(&self) -> OutputScale {
        self.output_scale
    }

    /// Number of features the head takes.
    pub fn input_width(&self) -> usize {
        self.mlp.input_width()
    }

    /// Imputes and scales one feature vector (f64), checking its width and
    /// that every result is finite.
    pub fn preprocess(&self, features: &[f64]) -> Result<Vec<f64>, HeadError> {
        let head = self.input_width();
        if features.len() != head {
            return Err(HeadError::WidthMismatch { what: "feature vector", head, found: features.len() });
        }
        let mut x = features.to_vec();
        if let Some(i) = &self.imputer {
            i.apply(&mut x);
        }
        if let Some(s) = &self.scaler {
            s.apply(&mut x);
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            let hint = if x[index].is_nan() && self.imputer.is_none() { " (the head has no imputer)" } else { "" };
            return Err(HeadError::NonFiniteFeature { index, value: x[index], hint });
        }
        Ok(x)
    }

    /// Scores feature vectors: imputation and scaling in f64, the MLP in
    /// f32. Returns the raw outputs, on [`Head::output_scale`].
    pub fn score_batch(&self, features: &[&[f64]]) -> Result<Vec<f64>, HeadError> {
        let mut rows = Vec::with_capacity(features.len() * self.input_width());
        for f in features {
            rows.extend(self.preprocess(f)?.into_iter().map(|v| v as f32));
        }
        Ok(self.mlp.forward_rows(&rows)?.into_iter().map(f64::from).collect())
    }

    /// Scores one feature vector (see [`Head::score_batch`]).
    pub fn score(&self, features: &[f64]) -> Result<f64, HeadError> {
        let out = self.score_batch(&[features])?;
        out.first().copied().ok_or(HeadError::WidthMismatch { what: "output", head: 1, found: 0 })
    }
}
