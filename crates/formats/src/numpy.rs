//! NumPy arrays as they appear in pickles: a dtype, a shape, an order and raw bytes.
//!
//! scikit-learn keeps its fitted statistics in NumPy arrays; joblib writes
//! their bytes raw into the pickle stream and a plain pickle embeds them via
//! `numpy.core.multiarray._reconstruct`. Either way the reader ends up with
//! an [`NdArray`] and converts it to `f64` here.

pub(crate) use crate::ndarray::byte_len;
pub use crate::ndarray::{NdArray, NpDtype, ScalarKind};
use crate::pickle::{ObjRef, Object, Pickle};
use crate::FormatError;

impl NpDtype {
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
