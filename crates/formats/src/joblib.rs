//! joblib pickles, and the two scikit-learn objects the authors publish in them.
//!
//! `joblib.dump` writes an ordinary pickle in which every NumPy array is
//! replaced by a `joblib.numpy_pickle.NumpyArrayWrapper` object (fields
//! `subclass`, `shape`, `order`, `dtype`, `allow_mmap` and, since joblib 1.2,
//! `numpy_array_alignment_bytes`). Right after that object's `BUILD` opcode
//! the array's raw bytes follow in the stream: with an alignment field, one
//! byte giving a padding length, that many padding bytes, then the data;
//! without it, the data at once. [`read_pickle`] parses such a stream,
//! turning each wrapper into an [`Object::Array`], and the typed readers
//! ([`read_simple_imputer`], [`read_min_max_scaler`]) pick the fitted fields.

use std::path::Path;

use crate::numpy::{array_from_pickle, byte_len, shape_from_pickle, NdArray, NpDtype};
use crate::pickle::{self, BuildHook, ObjRef, Object, Pickle, RawInput};
use crate::FormatError;

/// The hook that reads the raw array bytes after each `NumpyArrayWrapper`.
struct ArrayHook;

impl BuildHook for ArrayHook {
    fn after_build(
        &mut self,
        pk: &Pickle,
        built: ObjRef,
        input: &mut RawInput<'_, '_>,
    ) -> Result<Option<Object>, FormatError> {
        match pk.class_of(built) {
            Some(("joblib.numpy_pickle", "NumpyArrayWrapper")) => {}
            _ => return Ok(None),
        }
        let at = input.offset();
        let ctx = format!("joblib array at offset {at}");
        let inst = pk.as_instance(built).ok_or_else(|| FormatError::invalid(&ctx, "not an object"))?;
        let state = inst
            .state
            .filter(|s| pk.mapping(*s).is_some())
            .ok_or_else(|| FormatError::invalid(&ctx, "wrapper state is not a dict"))?;
        let field = |name: &str| {
            pk.lookup(state, name).ok_or_else(|| FormatError::invalid(&ctx, format!("wrapper has no {name:?}")))
        };
        let shape = shape_from_pickle(pk, field("shape")?, &ctx)?;
        let fortran_order = match pk.as_str(field("order")?) {
            Some("C") => false,
            Some("F") => true,
            _ => return Err(FormatError::invalid(&ctx, "order is neither 'C' nor 'F'")),
        };
        let dtype_ref = field("dtype")?;
        let dtype = match NpDtype::from_pickle(pk, dtype_ref) {
            Ok(d) => d,
            Err(e) => {
                // Object arrays are pickled as a nested pickle: not supported.
                let is_object = pk
                    .as_instance(dtype_ref)
                    .and_then(|i| pk.as_seq(i.args))
                    .and_then(|a| a.first())
                    .and_then(|t| pk.as_str(*t))
                    == Some("O");
                if is_object {
                    return Err(FormatError::invalid(&ctx, "arrays of Python objects are not supported"));
                }
                return Err(e);
            }
        };
        if pk.lookup(state, "numpy_array_alignment_bytes").is_some_and(|a| !matches!(pk.get(a), Object::None)) {
            let pad = input.take(1, "joblib padding length")?[0];
            input.take(u64::from(pad), "joblib padding")?;
        }
        let n = byte_len(&shape, dtype.itemsize).ok_or_else(|| FormatError::invalid(&ctx, "shape overflows"))?;
        let data = input.take(n, "joblib array data")?.to_vec();
        Ok(Some(Object::Array(NdArray { dtype, shape, fortran_order, data })))
    }
}

/// Recognises the compressed containers joblib can write, for a clear error.
fn compression_of(data: &[u8]) -> Option<&'static str> {
    match data {
        [0x78, b, ..] if (u16::from(0x78u8) << 8 | u16::from(*b)).is_multiple_of(31) => Some("zlib"),
        [0x1f, 0x8b, ..] => Some("gzip"),
        [b'B', b'Z', b'h', ..] => Some("bz2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some("xz"),
        [0x5d, 0x00, 0x00, ..] => Some("lzma"),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some("lz4"),
        [b'Z', b'F', ..] => Some("joblib's old zfile"),
        _ => None,
    }
}

/// Parses a joblib pickle held in memory, with its embedded arrays.
pub fn parse(data: &[u8]) -> Result<Pickle, FormatError> {
    if let Some(kind) = compression_of(data) {
        return Err(FormatError::invalid(
            "joblib file",
            format!("{kind}-compressed; re-save it uncompressed (joblib.dump(obj, f, compress=0))"),
        ));
    }
    let mut hook = ArrayHook;
    pickle::parse_from(data, 0, Some(&mut hook))
}

/// Parses a joblib pickle file (see [`parse`]).
pub fn read_pickle(path: &Path) -> Result<Pickle, FormatError> {
    let data = crate::error::read_file(path)?;
    parse(&data).map_err(|e| e.in_file(path))
}

/// A fitted `sklearn.impute.SimpleImputer`: what replaces a missing value.
///
/// The authors' features can contain NaN (a failed statistic on a flat
/// frame); the imputer fitted on the training set says what each column's
/// NaN becomes before scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct SimpleImputer {
    /// `strategy` (`mean`, `median`, `most_frequent`, `constant`).
    pub strategy: String,
    /// `statistics_`: the fill value of each column.
    pub statistics: Vec<f64>,
}

impl SimpleImputer {
    /// Replaces every NaN of `row` by its column's statistic.
    ///
    /// `row.len()` must equal `self.statistics.len()`; extra values are left as they are.
    pub fn transform_in_place(&self, row: &mut [f64]) {
        for (x, s) in row.iter_mut().zip(&self.statistics) {
            if x.is_nan() {
                *x = *s;
            }
        }
    }
}

/// A fitted `sklearn.preprocessing.MinMaxScaler`.
///
/// The head was trained on features scaled per column by
/// `x * scale_ + min_`; the same map must be applied before scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxScaler {
    /// `min_`: the additive term of each column.
    pub min: Vec<f64>,
    /// `scale_`: the multiplicative term of each column.
    pub scale: Vec<f64>,
    /// `data_min_`: the training minimum of each column.
    pub data_min: Vec<f64>,
    /// `data_max_`: the training maximum of each column.
    pub data_max: Vec<f64>,
    /// `data_range_`: `data_max - data_min`.
    pub data_range: Vec<f64>,
    /// `feature_range`: the target interval, usually `(0, 1)`.
    pub feature_range: (f64, f64),
}

impl MinMaxScaler {
    /// Applies `x * scale_ + min_` to each column of `row` (as scikit-learn:
    /// multiply, then add, in f64).
    pub fn transform_in_place(&self, row: &mut [f64]) {
        for ((x, s), m) in row.iter_mut().zip(&self.scale).zip(&self.min) {
            *x = *x * *s + *m;
        }
    }
}

/// The class of the pickle's root object, or a description of the value.
fn root_class(pk: &Pickle) -> String {
    pk.class_of(pk.root()).map_or_else(|| pk.describe(pk.root()), |(m, n)| format!("{m}.{n}"))
}

/// Checks that the root is an instance of `name` from an sklearn module starting with `module`.
fn expect_class(pk: &Pickle, module: &str, name: &str, expected: &'static str) -> Result<ObjRef, FormatError> {
    match pk.class_of(pk.root()) {
        Some((m, n)) if m.starts_with(module) && n == name => {}
        _ => return Err(FormatError::UnexpectedClass { expected, found: root_class(pk) }),
    }
    pk.as_instance(pk.root())
        .and_then(|i| i.state)
        .filter(|s| pk.mapping(*s).is_some())
        .ok_or_else(|| FormatError::invalid(expected, "object has no attribute dict (not fitted?)"))
}

fn field(pk: &Pickle, state: ObjRef, name: &str, class: &str) -> Result<ObjRef, FormatError> {
    pk.lookup(state, name)
        .ok_or_else(|| FormatError::invalid(class, format!("no attribute {name} (is the object fitted?)")))
}

/// A fitted 1-D float array attribute, as f64.
fn vector(pk: &Pickle, state: ObjRef, name: &str, class: &str) -> Result<Vec<f64>, FormatError> {
    let ctx = format!("{class}.{name}");
    let arr = array_from_pickle(pk, field(pk, state, name, class)?, &ctx)?;
    if arr.shape.len() != 1 {
        return Err(FormatError::invalid(ctx, format!("shape {:?}, a vector expected", arr.shape)));
    }
    arr.to_f64()
}

fn all_finite(values: &[f64], ctx: &str) -> Result<(), FormatError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(FormatError::invalid(ctx, format!("column {i} is {} (all-NaN training column?)", values[i]))),
    }
}

/// Reads a fitted `SimpleImputer` out of a parsed joblib pickle.
///
/// A different class is an [`FormatError::UnexpectedClass`] naming it; a
/// non-finite statistic is an error (scikit-learn would drop that column,
/// changing the feature width the head expects).
pub fn simple_imputer_from(pk: &Pickle) -> Result<SimpleImputer, FormatError> {
    const CLASS: &str = "sklearn.impute.SimpleImputer";
    let state = expect_class(pk, "sklearn.impute", "SimpleImputer", CLASS)?;
    let strategy = pk
        .as_str(field(pk, state, "strategy", CLASS)?)
        .ok_or_else(|| FormatError::invalid(CLASS, "strategy is not a string"))?
        .to_owned();
    if let Some(mv) = pk.lookup(state, "missing_values") {
        if !pk.as_f64(mv).is_some_and(f64::is_nan) {
            return Err(FormatError::invalid(
                CLASS,
                format!("missing_values is {}, only NaN is supported", pk.describe(mv)),
            ));
        }
    }
    if pk.lookup(state, "add_indicator").and_then(|a| pk.as_int(a)).unwrap_or(0) != 0 {
        return Err(FormatError::invalid(CLASS, "add_indicator=True is not supported"));
    }
    let statistics = vector(pk, state, "statistics_", CLASS)?;
    all_finite(&statistics, "SimpleImputer.statistics_")?;
    if let Some(n) = pk.lookup(state, "n_features_in_").and_then(|n| pk.as_int(n)) {
        if n != statistics.len() as i64 {
            return Err(FormatError::invalid(
                CLASS,
                format!("n_features_in_ is {n} but statistics_ has {} columns", statistics.len()),
            ));
        }
    }
    Ok(SimpleImputer { strategy, statistics })
}

/// Reads a fitted `MinMaxScaler` out of a parsed joblib pickle.
///
/// A different class (e.g. `StandardScaler`) is an
/// [`FormatError::UnexpectedClass`] naming it; NaN or infinity in `min_` or
/// `scale_`, or vectors of different lengths, are errors.
pub fn min_max_scaler_from(pk: &Pickle) -> Result<MinMaxScaler, FormatError> {
    const CLASS: &str = "sklearn.preprocessing.MinMaxScaler";
    let state = expect_class(pk, "sklearn.preprocessing", "MinMaxScaler", CLASS)?;
    let min = vector(pk, state, "min_", CLASS)?;
    let scale = vector(pk, state, "scale_", CLASS)?;
    let data_min = vector(pk, state, "data_min_", CLASS)?;
    let data_max = vector(pk, state, "data_max_", CLASS)?;
    let data_range = vector(pk, state, "data_range_", CLASS)?;
    let n = min.len();
    for (name, v) in
        [("scale_", &scale), ("data_min_", &data_min), ("data_max_", &data_max), ("data_range_", &data_range)]
    {
        if v.len() != n {
            return Err(FormatError::invalid(CLASS, format!("{name} has {} columns, min_ has {n}", v.len())));
        }
    }
    all_finite(&min, "MinMaxScaler.min_")?;
    all_finite(&scale, "MinMaxScaler.scale_")?;
    let fr = field(pk, state, "feature_range", CLASS)?;
    let feature_range = match pk.as_seq(fr) {
        Some([a, b]) => match (pk.as_f64(*a), pk.as_f64(*b)) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(FormatError::invalid(CLASS, "feature_range is not two numbers")),
        },
        _ => return Err(FormatError::invalid(CLASS, format!("feature_range is {}", pk.describe(fr)))),
    };
    if pk.lookup(state, "clip").and_then(|c| pk.as_int(c)).unwrap_or(0) != 0 {
        return Err(FormatError::invalid(CLASS, "clip=True is not supported"));
    }
    Ok(MinMaxScaler { min, scale, data_min, data_max, data_range, feature_range })
}

/// Reads a joblib pickle of a fitted `SimpleImputer` (e.g. `konvid_1k_imputer.pkl`).
pub fn read_simple_imputer(path: &Path) -> Result<SimpleImputer, FormatError> {
    let pk = read_pickle(path)?;
    simple_imputer_from(&pk).map_err(|e| e.in_file(path))
}

/// Reads a joblib pickle of a fitted `MinMaxScaler` (e.g. `konvid_1k_scaler.pkl`).
pub fn read_min_max_scaler(path: &Path) -> Result<MinMaxScaler, FormatError> {
    let pk = read_pickle(path)?;
    min_max_scaler_from(&pk).map_err(|e| e.in_file(path))
}
