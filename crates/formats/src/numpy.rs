//! NumPy arrays as they appear in pickles: a dtype, a shape, an order and raw bytes.
//!
//! scikit-learn keeps its fitted statistics in NumPy arrays; joblib writes
//! their bytes raw into the pickle stream and a plain pickle embeds them via
//! `numpy.core.multiarray._reconstruct`. Either way the reader ends up with
//! an [`NdArray`] and converts it to `f64` here.

use crate::pickle::{ObjRef, Object, Pickle};
use crate::FormatError;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    /// IEEE float (`f`).
    Float,
    /// Signed integer (`i`).
    Int,
    /// Unsigned integer (`u`).
    UInt,
    /// Boolean (`b`).
    Bool,
}

/// A NumPy dtype reduced to what conversion needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpDtype {
    /// Element kind.
    pub kind: ScalarKind,
    /// Bytes per element.
    pub itemsize: usize,
    /// True for big-endian storage.
    pub big_endian: bool,
}

impl NpDtype {
    /// NumPy's `descr` string, e.g. `<f8`.
    pub fn descr(&self) -> String {
        let order = if self.itemsize == 1 {
            '|'
        } else if self.big_endian {
            '>'
        } else {
            '<'
        };
        let kind = match self.kind {
            ScalarKind::Float => 'f',
            ScalarKind::Int => 'i',
            ScalarKind::UInt => 'u',
            ScalarKind::Bool => 'b',
        };
        format!("{order}{kind}{}", self.itemsize)
    }

    /// Parses a type string such as `f8`, `<f4`, `i8`, `u1`, `b1`, `?`.
    pub fn from_typestr(s: &str) -> Option<Self> {
        let (big_endian, rest) = match s.as_bytes().first()? {
            b'>' | b'!' => (true, &s[1..]),
            b'<' | b'=' | b'|' => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "?" {
            return Some(Self { kind: ScalarKind::Bool, itemsize: 1, big_endian: false });
        }
        let mut chars = rest.chars();
        let kind = match chars.next()? {
            'f' => ScalarKind::Float,
            'i' => ScalarKind::Int,
            'u' => ScalarKind::UInt,
            'b' => ScalarKind::Bool,
            _ => return None,
        };
        let itemsize: usize = chars.as_str().parse().ok()?;
        let dtype = Self { kind, itemsize, big_endian };
        dtype.is_supported().then_some(dtype)
    }

    /// True when the kind and item size make a dtype this crate decodes:
    /// floats of 2, 4 or 8 bytes, integers of 1, 2, 4 or 8, booleans of 1.
    pub fn is_supported(&self) -> bool {
        match self.kind {
            ScalarKind::Float => matches!(self.itemsize, 2 | 4 | 8),
            ScalarKind::Int | ScalarKind::UInt => matches!(self.itemsize, 1 | 2 | 4 | 8),
            ScalarKind::Bool => self.itemsize == 1,
        }
    }

    /// Reads a `numpy.dtype(typestr, align, copy)` object with its `BUILD`
    /// state `(version, byteorder, ...)`, as pickled by NumPy.
    pub fn from_pickle(pk: &Pickle, r: ObjRef) -> Result<Self, FormatError> {
        let bad = |why: &str| FormatError::invalid("numpy dtype", format!("{why} (found {})", pk.describe(r)));
        let inst = pk.as_instance(r).ok_or_else(|| bad("not a numpy.dtype object"))?;
        match pk.as_global(inst.callable) {
            Some((m, "dtype")) if m.starts_with("numpy") => {}
            _ => return Err(bad("not a numpy.dtype object")),
        }
        let args = pk.as_seq(inst.args).ok_or_else(|| bad("arguments are not a tuple"))?;
        let typestr = args.first().and_then(|a| pk.as_str(*a)).ok_or_else(|| bad("no type string"))?;
        let mut dtype = Self::from_typestr(typestr)
            .ok_or_else(|| FormatError::invalid("numpy dtype", format!("unsupported dtype {typestr:?}")))?;
        if let Some(state) = inst.state.and_then(|s| pk.as_seq(s)) {
            match state.get(1).and_then(|b| pk.as_str(*b)) {
                Some(">") => dtype.big_endian = true,
                Some("<") | Some("|") | Some("=") | None => dtype.big_endian = false,
                Some(other) => {
                    return Err(FormatError::invalid("numpy dtype", format!("unknown byte order {other:?}")));
                }
            }
            // Fields (structured dtypes) are the 4th state item; plain arrays have None.
            if state.get(3).is_some_and(|f| !matches!(pk.get(*f), Object::None)) {
                return Err(FormatError::invalid("numpy dtype", "structured dtypes are not supported"));
            }
        }
        Ok(dtype)
    }
}

/// A NumPy array read from a pickle.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// Element type.
    pub dtype: NpDtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// True when `data` is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Raw element bytes, `shape.product() * dtype.itemsize` of them.
    pub data: Vec<u8>,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `f64`, in C (row-major) order.
    ///
    /// Errors when the dtype is not one [`NpDtype::is_supported`] accepts or
    /// `data` does not hold exactly `len() * itemsize` bytes (possible only
    /// for an array built by hand: the pickle reader checks both).
    pub fn to_f64(&self) -> Result<Vec<f64>, FormatError> {
        let size = self.dtype.itemsize;
        if !self.dtype.is_supported() {
            return Err(FormatError::invalid("NumPy array", format!("unsupported dtype {}", self.dtype.descr())));
        }
        if byte_len(&self.shape, size) != Some(self.data.len() as u64) {
            return Err(FormatError::invalid(
                "NumPy array",
                format!("{} data bytes for shape {:?} of {size}-byte elements", self.data.len(), self.shape),
            ));
        }
        let be = self.dtype.big_endian;
        let values: Vec<f64> = self
            .data
            .chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                if be {
                    for (dst, src) in b.iter_mut().zip(c.iter().rev()) {
                        *dst = *src;
                    }
                } else {
                    b[..size].copy_from_slice(c);
                }
                let le = &b[..size];
                match (self.dtype.kind, size) {
                    (ScalarKind::Float, 8) => f64::from_le_bytes(b),
                    (ScalarKind::Float, 4) => f64::from(f32::from_le_bytes([le[0], le[1], le[2], le[3]])),
                    (ScalarKind::Float, _) => f64::from(half::f16::from_le_bytes([le[0], le[1]]).to_f32()),
                    (ScalarKind::Int, _) => {
                        let shift = 64 - 8 * size as u32;
                        ((i64::from_le_bytes(b) << shift) >> shift) as f64
                    }
                    (ScalarKind::UInt, _) => u64::from_le_bytes(b) as f64,
                    (ScalarKind::Bool, _) => f64::from(u8::from(le[0] != 0)),
                }
            })
            .collect();
        Ok(if self.fortran_order && self.shape.len() > 1 { fortran_to_c(&values, &self.shape) } else { values })
    }
}

/// Reorders column-major values into row-major order.
fn fortran_to_c(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let n = values.len();
    let mut out = vec![0.0; n];
    // Fortran strides: dimension 0 varies fastest.
    let mut f_strides = vec![1usize; shape.len()];
    for d in 1..shape.len() {
        f_strides[d] = f_strides[d - 1] * shape[d - 1];
    }
    let mut index = vec![0usize; shape.len()];
    for slot in out.iter_mut() {
        let src: usize = index.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        *slot = values.get(src).copied().unwrap_or(f64::NAN);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// Reads a shape tuple of non-negative ints.
pub(crate) fn shape_from_pickle(pk: &Pickle, r: ObjRef, context: &str) -> Result<Vec<usize>, FormatError> {
    let items = pk
        .as_seq(r)
        .ok_or_else(|| FormatError::invalid(context, format!("shape is {}, not a tuple", pk.describe(r))))?;
    items
        .iter()
        .map(|d| {
            pk.as_int(*d)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| FormatError::invalid(context, format!("shape entry is {}", pk.describe(*d))))
        })
        .collect()
}

/// Number of bytes an array of `shape` and `itemsize` takes, or `None` on overflow.
pub(crate) fn byte_len(shape: &[usize], itemsize: usize) -> Option<u64> {
    shape.iter().try_fold(itemsize as u64, |acc, &d| acc.checked_mul(d as u64))
}

/// Interprets an array embedded in a plain pickle:
/// `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` with the `BUILD`
/// state `(version, shape, dtype, is_fortran, raw_bytes)`. Also accepts an
/// [`Object::Array`] produced by a joblib hook.
pub fn array_from_pickle(pk: &Pickle, r: ObjRef, context: &str) -> Result<NdArray, FormatError> {
    if let Object::Array(a) = pk.get(r) {
        return Ok(a.clone());
    }
    let not_array = || FormatError::invalid(context, format!("expected a NumPy array, found {}", pk.describe(r)));
    match pk.class_of(r) {
        Some((m, "_reconstruct")) if m.starts_with("numpy") => {}
        _ => return Err(not_array()),
    }
    let state = pk.as_instance(r).and_then(|i| i.state).and_then(|s| pk.as_seq(s)).ok_or_else(not_array)?;
    if state.len() != 5 {
        return Err(FormatError::invalid(context, "array state is not (version, shape, dtype, fortran, data)"));
    }
    let shape = shape_from_pickle(pk, state[1], context)?;
    let dtype = NpDtype::from_pickle(pk, state[2])?;
    let fortran_order = pk.as_int(state[3]).unwrap_or(0) != 0;
    let data = match pk.get(state[4]) {
        Object::Bytes(b) => b.clone(),
        // Python 2 era pickles store the buffer as a latin-1 str.
        Object::Str(s) => s.chars().map(|c| c as u32).map(|c| u8::try_from(c).unwrap_or(0)).collect(),
        _ => return Err(FormatError::invalid(context, "array data is not bytes (object arrays are not supported)")),
    };
    let expected = byte_len(&shape, dtype.itemsize).ok_or_else(|| FormatError::invalid(context, "shape overflows"))?;
    if data.len() as u64 != expected {
        return Err(FormatError::invalid(
            context,
            format!("array of shape {shape:?} {} needs {expected} bytes, found {}", dtype.descr(), data.len()),
        ));
    }
    Ok(NdArray { dtype, shape, fortran_order, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typestr() {
        let d = NpDtype::from_typestr("f8").unwrap();
        assert_eq!(d, NpDtype { kind: ScalarKind::Float, itemsize: 8, big_endian: false });
        assert!(NpDtype::from_typestr(">i4").unwrap().big_endian);
        assert!(NpDtype::from_typestr("O").is_none());
        assert!(NpDtype::from_typestr("f3").is_none());
        assert!(NpDtype::from_typestr("").is_none());
    }

    #[test]
    fn conversions() {
        let a = NdArray {
            dtype: NpDtype::from_typestr(">i2").unwrap(),
            shape: vec![2],
            fortran_order: false,
            data: vec![0xff, 0xfe, 0x00, 0x05],
        };
        assert_eq!(a.to_f64().expect("decode"), vec![-2.0, 5.0]);
        let f = NdArray {
            dtype: NpDtype::from_typestr("<f8").unwrap(),
            shape: vec![2, 2],
            fortran_order: true,
            data: [1.0f64, 3.0, 2.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        assert_eq!(f.to_f64().expect("decode"), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn hand_built_arrays_with_bad_dtype_or_length_are_errors() {
        let array = |kind, itemsize, data: Vec<u8>| NdArray {
            dtype: NpDtype { kind, itemsize, big_endian: false },
            shape: vec![2],
            fortran_order: false,
            data,
        };
        for (kind, itemsize) in [(ScalarKind::Float, 0), (ScalarKind::Float, 1), (ScalarKind::Int, 16)] {
            let err = array(kind, itemsize, vec![0; 2 * itemsize]).to_f64().expect_err("bad dtype");
            assert!(err.to_string().contains("unsupported dtype"), "{err}");
        }
        let err = array(ScalarKind::Float, 4, vec![0; 7]).to_f64().expect_err("short data");
        assert!(err.to_string().contains("7 data bytes"), "{err}");
        let half = array(ScalarKind::Float, 2, vec![0x00, 0x3c, 0x00, 0xc0]);
        assert_eq!(half.to_f64().expect("f16"), vec![1.0, -2.0]);
    }
}
