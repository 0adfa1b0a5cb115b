//! NumPy arrays as plain data: a dtype, a shape, an order and raw bytes,
//! converted to `f64`. Reading them out of a pickle is [`crate::numpy`]'s
//! work; the pickle's object graph holds them, so this module depends on
//! neither.

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

/// Number of bytes an array of `shape` and `itemsize` takes, or `None` on overflow.
pub(crate) fn byte_len(shape: &[usize], itemsize: usize) -> Option<u64> {
    shape.iter().try_fold(itemsize as u64, |acc, &d| acc.checked_mul(d as u64))
}
