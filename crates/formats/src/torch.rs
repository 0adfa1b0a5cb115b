//! PyTorch checkpoints (`torch.save`, zip format of PyTorch >= 1.6) read natively.
//!
//! The authors publish their heads as `.pth` state dicts, and the backbones
//! (torchvision ResNet-50, DINO ViT-B/16) come as `.pth` too. A checkpoint is
//! a zip archive `<name>/data.pkl` + `<name>/data/<key>`: the pickle holds an
//! (ordered) dict of name -> `torch._utils._rebuild_tensor_v2(storage,
//! offset, size, stride, ...)`, each storage a persistent id
//! `('storage', torch.FloatStorage, key, location, numel)` naming the zip
//! entry with its raw little-endian elements.
//!
//! The archive is read entry by entry from a seekable reader: only the small
//! pickle and one storage at a time are held in memory besides the output,
//! so ~350 MB backbones load without doubling their size in memory.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::Path;

use crate::numpy::byte_len;
use crate::pickle::{self, ObjRef, Object, Pickle};
use crate::FormatError;

/// The element type a tensor was saved with (before conversion to `f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TorchDtype {
    /// `torch.float64`.
    F64,
    /// `torch.float32`.
    F32,
    /// `torch.float16`.
    F16,
    /// `torch.bfloat16`.
    BF16,
    /// `torch.int64` (e.g. `num_batches_tracked`, SWA's `n_averaged`).
    I64,
    /// `torch.int32`.
    I32,
    /// `torch.int16`.
    I16,
    /// `torch.int8`.
    I8,
    /// `torch.uint8`.
    U8,
    /// `torch.bool`.
    Bool,
}

impl TorchDtype {
    /// The dtype of a legacy typed storage class (`FloatStorage`, ...).
    pub fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Decodes one element (`bytes.len() == itemsize`) to `f32`: floats
    /// rounded to nearest, integers converted by value (exact below 2^24).
    fn decode(self, b: &[u8], big_endian: bool) -> f32 {
        let mut le = [0u8; 8];
        let n = b.len().min(8);
        if big_endian {
            for (dst, src) in le[..n].iter_mut().zip(b[..n].iter().rev()) {
                *dst = *src;
            }
        } else {
            le[..n].copy_from_slice(&b[..n]);
        }
        match self {
            Self::F64 => f64::from_le_bytes(le) as f32,
            Self::F32 => f32::from_le_bytes([le[0], le[1], le[2], le[3]]),
            Self::F16 => half::f16::from_le_bytes([le[0], le[1]]).to_f32(),
            Self::BF16 => half::bf16::from_le_bytes([le[0], le[1]]).to_f32(),
            Self::I64 => i64::from_le_bytes(le) as f32,
            Self::I32 => i32::from_le_bytes([le[0], le[1], le[2], le[3]]) as f32,
            Self::I16 => f32::from(i16::from_le_bytes([le[0], le[1]])),
            Self::I8 => f32::from(le[0] as i8),
            Self::U8 => f32::from(le[0]),
            Self::Bool => f32::from(u8::from(le[0] != 0)),
        }
    }
}

/// One tensor of a checkpoint, densely in row-major order, converted to `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchTensor {
    /// The dtype it was saved with.
    pub dtype: TorchDtype,
    /// Dimensions, outermost first (empty for a scalar).
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

/// Where one tensor's elements are, as the pickle describes it.
struct TensorSpec {
    name: String,
    dtype: TorchDtype,
    storage_key: String,
    storage_numel: u64,
    offset: u64,
    shape: Vec<usize>,
    stride: Vec<u64>,
}

/// Reads a `torch.save`d state dict: every `name -> tensor` entry of the
/// top-level (ordered) dict, in file order. `module.` prefixes and entries
/// like SWA's `n_averaged` are returned as they are.
pub fn read_state_dict(path: &Path) -> Result<Vec<(String, TorchTensor)>, FormatError> {
    read_state_dict_entry(path, None)
}

/// Like [`read_state_dict`], for a checkpoint that nests its state dict
/// under a key of the top-level dict (e.g. `"state_dict"`, `"model"`,
/// `"teacher"`); `None` reads the top level.
pub fn read_state_dict_entry(path: &Path, entry: Option<&str>) -> Result<Vec<(String, TorchTensor)>, FormatError> {
    let file = std::fs::File::open(path).map_err(|source| FormatError::Io { path: path.to_path_buf(), source })?;
    read_state_dict_from(std::io::BufReader::new(file), entry).map_err(|e| e.in_file(path))
}

/// Reads a state dict from any seekable source holding a zip-format
/// checkpoint (see [`read_state_dict_entry`] for `entry`).
pub fn read_state_dict_from<R: Read + Seek>(
    mut reader: R,
    entry: Option<&str>,
) -> Result<Vec<(String, TorchTensor)>, FormatError> {
    let mut magic = [0u8; LEGACY_MAGIC.len()];
    let got = read_up_to(&mut reader, &mut magic)
        .map_err(|e| FormatError::invalid("checkpoint", format!("cannot read the header: {e}")))?;
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(|e| FormatError::invalid("checkpoint", format!("cannot seek: {e}")))?;
    if got < 4 || &magic[..4] != b"PK\x03\x04" {
        let reason = if got == magic.len() && magic == LEGACY_MAGIC {
            "a legacy (pre-1.6, non-zip) torch.save file; re-save it with a recent PyTorch \
             (torch.save(torch.load(f), f))"
        } else if got >= 2 && magic[0] == 0x80 {
            "a plain pickle, not a PyTorch checkpoint"
        } else {
            "not a PyTorch zip checkpoint (no zip signature)"
        };
        return Err(FormatError::invalid("checkpoint", reason));
    }
    let mut archive = zip::ZipArchive::new(reader)?;
    let prefix = find_prefix(&archive)?;
    let big_endian = match read_entry(&mut archive, &format!("{prefix}byteorder"), 16) {
        Ok(bytes) => match bytes.as_slice() {
            b"little" => false,
            b"big" => true,
            other => {
                return Err(FormatError::invalid(
                    "byteorder",
                    format!("unknown byte order {:?}", String::from_utf8_lossy(other)),
                ))
            }
        },
        Err(FormatError::ZipEntry { source: zip::result::ZipError::FileNotFound, .. }) => false,
        Err(e) => return Err(e),
    };
    let pkl_name = format!("{prefix}data.pkl");
    let pkl = read_entry(&mut archive, &pkl_name, 1 << 30)?;
    let pk = pickle::parse(&pkl)?;

    let mut dict = pk.root();
    if let Some(key) = entry {
        dict = pk.lookup(dict, key).ok_or_else(|| {
            FormatError::invalid(
                "checkpoint",
                format!("no entry {key:?}; top-level keys: {}", key_list(&pk, pk.root())),
            )
        })?;
    }
    let specs = collect_specs(&pk, dict)?;

    // Read each storage once, in key order, and cut every tensor viewing it.
    let mut by_storage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        by_storage.entry(s.storage_key.as_str()).or_default().push(i);
    }
    let mut out: Vec<Option<TorchTensor>> = vec![None; specs.len()];
    for (key, users) in by_storage {
        let first = &specs[users[0]];
        let itemsize = first.dtype.itemsize() as u64;
        let needed = first
            .storage_numel
            .checked_mul(itemsize)
            .ok_or_else(|| FormatError::invalid(format!("storage {key}"), "element count overflows".to_string()))?;
        let entry_name = format!("{prefix}data/{key}");
        let bytes = read_entry(&mut archive, &entry_name, needed)?;
        if (bytes.len() as u64) < needed {
            return Err(FormatError::invalid(
                format!("storage {key} (tensor {})", first.name),
                format!("holds {} bytes, the tensor's storage needs {needed}", bytes.len()),
            ));
        }
        for &i in &users {
            let spec = &specs[i];
            if spec.dtype != first.dtype || spec.storage_numel != first.storage_numel {
                return Err(FormatError::invalid(
                    format!("tensor {}", spec.name),
                    format!("storage {key} is viewed with two different types or sizes"),
                ));
            }
            out[i] = Some(cut_tensor(spec, &bytes, big_endian)?);
        }
    }
    Ok(specs.iter().zip(out).filter_map(|(s, t)| t.map(|t| (s.name.clone(), t))).collect())
}

/// How a legacy `torch.save` file starts: protocol 2, then the pickled magic
/// number 0x1950a86a20f9469cfc6c as a `LONG1`.
const LEGACY_MAGIC: [u8; 14] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Reads into `buf` until it is full or the input ends; returns the count.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The folder prefix of the checkpoint's entries (`archive/`, `head_plain_64/`, ...).
fn find_prefix<R: Read + Seek>(archive: &zip::ZipArchive<R>) -> Result<String, FormatError> {
    archive
        .file_names()
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .filter(|p| p.is_empty() || (p.ends_with('/') && p[..p.len() - 1].find('/').is_none()))
        .min_by_key(|p| p.len())
        .map(str::to_owned)
        .ok_or_else(|| {
            let torchscript = archive.file_names().any(|n| n.ends_with("constants.pkl"));
            FormatError::invalid(
                "checkpoint",
                if torchscript {
                    "a TorchScript archive (torch.jit.save), not a torch.save state dict"
                } else {
                    "zip archive without a data.pkl entry: not a torch.save checkpoint"
                },
            )
        })
}

/// Reads one zip entry, refusing more than `limit` bytes. The buffer grows
/// with the bytes actually read, so a lying size field costs nothing.
fn read_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, FormatError> {
    let wrap = |source| FormatError::ZipEntry { entry: name.to_owned(), source };
    let file = archive.by_name(name).map_err(wrap)?;
    let declared = file.size();
    if declared > limit {
        return Err(FormatError::invalid(
            format!("zip entry {name}"),
            format!("is {declared} bytes, at most {limit} expected"),
        ));
    }
    let mut buf = Vec::new();
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| FormatError::ZipEntry { entry: name.to_owned(), source: zip::result::ZipError::Io(e) })?;
    Ok(buf)
}

/// The keys of a mapping, for error messages (at most 20).
fn key_list(pk: &Pickle, mapping: ObjRef) -> String {
    match pk.mapping(mapping) {
        Some(items) => {
            let mut keys: Vec<String> = items
                .iter()
                .take(20)
                .map(|(k, _)| pk.as_str(*k).map_or_else(|| pk.describe(*k), str::to_owned))
                .collect();
            if items.len() > 20 {
                keys.push(format!("... ({} in all)", items.len()));
            }
            keys.join(", ")
        }
        None => format!("(none: the checkpoint holds {})", pk.describe(mapping)),
    }
}

fn collect_specs(pk: &Pickle, dict: ObjRef) -> Result<Vec<TensorSpec>, FormatError> {
    let is_dict =
        matches!(pk.get(dict), Object::Dict(_)) || matches!(pk.class_of(dict), Some(("collections", "OrderedDict")));
    let items = pk
        .mapping(dict)
        .filter(|_| is_dict)
        .ok_or_else(|| FormatError::invalid("checkpoint", format!("holds {}, not a state dict", pk.describe(dict))))?;
    let mut specs = Vec::with_capacity(items.len());
    for (k, v) in items {
        let name = pk
            .as_str(*k)
            .ok_or_else(|| FormatError::invalid("checkpoint", format!("key {} is not a string", pk.describe(*k))))?;
        specs.push(tensor_spec(pk, *v, name, 0)?);
    }
    Ok(specs)
}

fn tensor_spec(pk: &Pickle, r: ObjRef, name: &str, depth: usize) -> Result<TensorSpec, FormatError> {
    let ctx = || format!("entry {name}");
    let bad = |why: String| FormatError::invalid(ctx(), why);
    let class = pk.class_of(r).ok_or_else(|| {
        let hint = if pk.mapping(r).is_some() { " (a nested dict: read it with read_state_dict_entry)" } else { "" };
        bad(format!("is {}, not a tensor{hint}", pk.describe(r)))
    })?;
    let args = pk.as_instance(r).and_then(|i| pk.as_seq(i.args)).unwrap_or(&[]);
    match class {
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {}
        ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") if depth == 0 => {
            let data = args.first().ok_or_else(|| bad("parameter without data".into()))?;
            return tensor_spec(pk, *data, name, depth + 1);
        }
        (m, n) => return Err(bad(format!("is built by {m}.{n}, which this reader does not support"))),
    }
    if args.len() < 4 {
        return Err(bad(format!("tensor rebuilt with {} arguments, at least 4 expected", args.len())));
    }
    let Object::Persistent(pid) = pk.get(args[0]) else {
        return Err(bad(format!("storage is {}, not a persistent reference", pk.describe(args[0]))));
    };
    let pid = pk.as_seq(*pid).ok_or_else(|| bad("storage id is not a tuple".into()))?;
    if pid.len() < 5 || pk.as_str(pid[0]) != Some("storage") {
        return Err(bad("storage id is not ('storage', type, key, location, numel)".into()));
    }
    let dtype = match pk.as_global(pid[1]) {
        Some(("torch", cls)) => TorchDtype::from_storage_class(cls)
            .ok_or_else(|| bad(format!("storage type torch.{cls} is not supported")))?,
        _ => return Err(bad(format!("storage type is {}", pk.describe(pid[1])))),
    };
    let storage_key = pk.as_str(pid[2]).ok_or_else(|| bad("storage key is not a string".into()))?.to_owned();
    if storage_key.is_empty() || storage_key.contains(['/', '\\']) || storage_key.contains("..") {
        return Err(bad(format!("storage key {storage_key:?} is not a plain name")));
    }
    let storage_numel = pk
        .as_int(pid[4])
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| bad(format!("storage size is {}", pk.describe(pid[4]))))?;
    let offset = pk
        .as_int(args[1])
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| bad(format!("storage offset is {}", pk.describe(args[1]))))?;
    let shape = crate::numpy::shape_from_pickle(pk, args[2], &ctx())?;
    let stride: Vec<u64> =
        crate::numpy::shape_from_pickle(pk, args[3], &ctx())?.into_iter().map(|s| s as u64).collect();
    if stride.len() != shape.len() {
        return Err(bad(format!("size {shape:?} and stride {stride:?} differ in length")));
    }
    Ok(TensorSpec { name: name.to_owned(), dtype, storage_key, storage_numel, offset, shape, stride })
}

/// Copies one (possibly strided) tensor out of its storage bytes.
fn cut_tensor(spec: &TensorSpec, storage: &[u8], big_endian: bool) -> Result<TorchTensor, FormatError> {
    let bad = |why: String| FormatError::invalid(format!("tensor {}", spec.name), why);
    let numel = byte_len(&spec.shape, 1).ok_or_else(|| bad("size overflows".into()))?;
    if numel > spec.storage_numel {
        return Err(bad(format!(
            "has {numel} elements but its storage only {} (expanded or overlapping views are not supported)",
            spec.storage_numel
        )));
    }
    if numel > 0 {
        // Highest element index the view touches, with overflow checks.
        let mut last = spec.offset;
        for (&d, &s) in spec.shape.iter().zip(&spec.stride) {
            let step = (d as u64 - 1).checked_mul(s).ok_or_else(|| bad("stride overflows".into()))?;
            last = last.checked_add(step).ok_or_else(|| bad("stride overflows".into()))?;
        }
        if last >= spec.storage_numel {
            return Err(bad(format!(
                "view (offset {}, size {:?}, stride {:?}) reaches element {last} of a storage of {}",
                spec.offset, spec.shape, spec.stride, spec.storage_numel
            )));
        }
    }
    let size = spec.dtype.itemsize();
    // Bounds proven above: every index below is < storage_numel, and the
    // storage holds storage_numel * size bytes; `numel` fits in memory
    // because it is at most storage_numel, which we have read.
    let elem = |i: u64| spec.dtype.decode(&storage[i as usize * size..(i as usize + 1) * size], big_endian);
    let mut data = Vec::with_capacity(numel as usize);
    let contiguous = {
        let mut expect = 1u64;
        let mut ok = true;
        for (&d, &s) in spec.shape.iter().zip(&spec.stride).rev() {
            if d != 1 && s != expect {
                ok = false;
            }
            expect = expect.saturating_mul(d as u64);
        }
        ok
    };
    if contiguous {
        data.extend((spec.offset..spec.offset + numel).map(elem));
    } else if numel > 0 {
        let mut index = vec![0usize; spec.shape.len()];
        for _ in 0..numel {
            let at: u64 = spec.offset + index.iter().zip(&spec.stride).map(|(&i, &s)| i as u64 * s).sum::<u64>();
            data.push(elem(at));
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < spec.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
    }
    Ok(TorchTensor { dtype: spec.dtype, shape: spec.shape.clone(), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f16 and bf16 elements decode exactly (through the `half` crate).
    #[test]
    fn half_precision_values() {
        let f16 = |bits: u16| TorchDtype::F16.decode(&bits.to_le_bytes(), false);
        assert_eq!(f16(0x3c00), 1.0);
        assert_eq!(f16(0xc000), -2.0);
        assert_eq!(f16(0x7bff), 65504.0);
        assert_eq!(f16(0x0001), 2f32.powi(-24));
        assert_eq!(f16(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16(0x0200), 2f32.powi(-15));
        assert_eq!(f16(0x7c00), f32::INFINITY);
        assert!(f16(0x7e00).is_nan());
        assert_eq!(f16(0x8000).to_bits(), 0x8000_0000);
        assert_eq!(TorchDtype::F16.decode(&[0x3c, 0x00], true), 1.0);
        assert_eq!(TorchDtype::BF16.decode(&0x3f80u16.to_le_bytes(), false), 1.0);
    }
}
