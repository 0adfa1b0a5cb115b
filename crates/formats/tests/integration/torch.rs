//! PyTorch zip checkpoints: the head fixtures, and hand-built checkpoints
//! covering dtypes, strided views, nesting and damage.

use std::io::{Cursor, Read, Write};

use relaxvqa_fixtures::fixture;
use relaxvqa_formats::torch::{read_state_dict, read_state_dict_entry, read_state_dict_from};
use relaxvqa_formats::{FormatError, TorchDtype, TorchTensor};

const HEAD_NAMES: [(&str, &[usize]); 11] = [
    ("fc1.weight", &[256, 64]),
    ("fc1.bias", &[256]),
    ("bn1.weight", &[256]),
    ("bn1.bias", &[256]),
    ("bn1.running_mean", &[256]),
    ("bn1.running_var", &[256]),
    ("bn1.num_batches_tracked", &[]),
    ("fc2.weight", &[128, 256]),
    ("fc2.bias", &[128]),
    ("fc3.weight", &[1, 128]),
    ("fc3.bias", &[1]),
];

#[test]
fn head_fixtures_read_alike() {
    let plain = read_state_dict(&fixture("head/head_plain_64.pth")).unwrap();
    let names: Vec<&str> = plain.iter().map(|(n, _)| n.as_str()).collect();
    println!("plain: {names:?}");
    assert_eq!(names, HEAD_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    for ((name, t), (_, shape)) in plain.iter().zip(HEAD_NAMES) {
        assert_eq!(t.shape, shape, "{name}");
        assert_eq!(t.data.len(), shape.iter().product::<usize>(), "{name}");
        let want = if name.ends_with("num_batches_tracked") { TorchDtype::I64 } else { TorchDtype::F32 };
        assert_eq!(t.dtype, want, "{name}");
    }

    // The weights equal the raw little-endian bytes of their storages.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(fixture("head/head_plain_64.pth")).unwrap()).unwrap();
    let mut raw = Vec::new();
    zip.by_name("head_plain_64/data/0").unwrap().read_to_end(&mut raw).unwrap();
    let raw: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(raw, plain[0].1.data);

    let dp = read_state_dict(&fixture("head/head_dataparallel_64.pth")).unwrap();
    let swa = read_state_dict(&fixture("head/head_swa_64.pth")).unwrap();
    println!("dataparallel: {:?}", dp.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
    println!("swa: {:?}", swa.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>());
    assert_eq!(dp.len(), plain.len());
    for ((n, t), (pn, pt)) in dp.iter().zip(&plain) {
        assert_eq!(n, &format!("module.{pn}"));
        assert_eq!(t, pt, "{n}");
    }
    assert_eq!(swa[0].0, "n_averaged");
    assert_eq!(swa[0].1.dtype, TorchDtype::I64);
    assert!(swa[0].1.shape.is_empty());
    println!("n_averaged = {}", swa[0].1.data[0]);
    for ((n, t), (pn, pt)) in swa[1..].iter().zip(&plain) {
        assert_eq!(n, &format!("module.{pn}"));
        assert_eq!(t.shape, pt.shape, "{n}");
    }
}

#[test]
fn truncated_and_garbage_checkpoints_are_errors() {
    let bytes = std::fs::read(fixture("head/head_plain_64.pth")).unwrap();
    let mut cases = 0;
    for cut in (0..bytes.len()).step_by(997).chain([bytes.len() - 1, bytes.len() - 22, 3, 4]) {
        let e = read_state_dict_from(Cursor::new(&bytes[..cut]), None).unwrap_err();
        if cut == bytes.len() - 1 || cut == 5000 {
            println!("cut at {cut}: {e}");
        }
        cases += 1;
    }
    println!("{cases} truncations, all errors");
    let legacy = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.'];
    let e = read_state_dict_from(Cursor::new(legacy.to_vec()), None).unwrap_err();
    println!("legacy: {e}");
    assert!(e.to_string().contains("legacy"), "{e}");
    let e = read_state_dict_from(Cursor::new(vec![7u8; 1000]), None).unwrap_err();
    println!("garbage: {e}");
    let e = read_state_dict(std::path::Path::new("/nonexistent.pth")).unwrap_err();
    assert!(matches!(e, FormatError::Io { .. }));
    // A joblib pickle is not a checkpoint.
    let e = read_state_dict(&fixture("head/konvid_1k_imputer.pkl")).unwrap_err();
    println!("joblib file: {e}");
    assert!(e.to_string().contains("konvid_1k_imputer.pkl") && e.to_string().contains("plain pickle"), "{e}");
}

/// Writes protocol-2 pickles by hand, as `torch.save` does.
#[derive(Default)]
struct Pk(Vec<u8>);

impl Pk {
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend((s.len() as u32).to_le_bytes());
        self.raw(s.as_bytes())
    }
    fn i(&mut self, v: i32) -> &mut Self {
        self.0.push(b'J');
        self.raw(&v.to_le_bytes())
    }
    fn global(&mut self, m: &str, n: &str) -> &mut Self {
        self.raw(format!("c{m}\n{n}\n").as_bytes())
    }
    fn tuple(&mut self, v: &[i32]) -> &mut Self {
        self.raw(b"(");
        for &x in v {
            self.i(x);
        }
        self.raw(b"t")
    }
    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
    fn tensor(&mut self, class: &str, key: &str, numel: i32, offset: i32, size: &[i32], stride: &[i32]) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2").raw(b"((").s("storage").global("torch", class);
        self.s(key).s("cpu").i(numel).raw(b"tQ").i(offset).tuple(size).tuple(stride);
        self.raw(b"\x89").global("collections", "OrderedDict").raw(b")Rt").raw(b"R")
    }
}

fn checkpoint(pickle: &[u8], storages: &[(&str, Vec<u8>)], deflate_key: Option<&str>) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("archive/data.pkl", stored).unwrap();
    w.write_all(pickle).unwrap();
    w.start_file("archive/byteorder", stored).unwrap();
    w.write_all(b"little").unwrap();
    for (key, bytes) in storages {
        w.start_file(format!("archive/data/{key}"), if deflate_key == Some(key) { deflated } else { stored }).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|x| f(*x)).collect()
}

fn find<'a>(sd: &'a [(String, TorchTensor)], name: &str) -> &'a TorchTensor {
    &sd.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} missing")).1
}

#[test]
fn dtypes_views_and_parameters() {
    let mut p = Pk::default();
    p.raw(b"\x80\x02").global("collections", "OrderedDict").raw(b")R(");
    p.s("a").tensor("FloatStorage", "0", 6, 0, &[2, 3], &[3, 1]);
    p.s("a_t").tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]);
    p.s("a_off").tensor("FloatStorage", "0", 6, 2, &[2], &[2]);
    p.s("a_empty").tensor("FloatStorage", "0", 6, 0, &[0, 3], &[3, 1]);
    p.s("d").tensor("DoubleStorage", "1", 2, 0, &[2], &[1]);
    p.s("h").tensor("HalfStorage", "2", 2, 0, &[2], &[1]);
    p.s("b").tensor("BFloat16Storage", "3", 1, 0, &[1], &[1]);
    p.s("n").tensor("LongStorage", "4", 1, 0, &[], &[]);
    p.s("param").global("torch._utils", "_rebuild_parameter").raw(b"(");
    p.tensor("IntStorage", "5", 2, 1, &[1], &[1])
        .raw(b"\x89")
        .global("collections", "OrderedDict")
        .raw(b")Rt")
        .raw(b"R");
    p.raw(b"u.");
    let storages = [
        ("0", le(&[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], f32::to_le_bytes)),
        ("1", le(&[1.5f64, -2.25], f64::to_le_bytes)),
        ("2", le(&[0x3c00u16, 0xc000], u16::to_le_bytes)),
        ("3", le(&[0x3f80u16], u16::to_le_bytes)),
        ("4", le(&[7i64], i64::to_le_bytes)),
        ("5", le(&[-3i32, 9], i32::to_le_bytes)),
    ];
    let file = checkpoint(&p.0, &storages, Some("0"));
    let sd = read_state_dict_from(Cursor::new(file), None).unwrap();
    assert_eq!(find(&sd, "a").data, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(find(&sd, "a_t").data, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert_eq!(find(&sd, "a_t").shape, [3, 2]);
    assert_eq!(find(&sd, "a_off").data, [2.0, 4.0]);
    assert!(find(&sd, "a_empty").data.is_empty());
    assert_eq!(find(&sd, "d").data, [1.5, -2.25]);
    assert_eq!(find(&sd, "d").dtype, TorchDtype::F64);
    assert_eq!(find(&sd, "h").data, [1.0, -2.0]);
    assert_eq!(find(&sd, "b").data, [1.0]);
    assert_eq!(find(&sd, "n").data, [7.0]);
    assert!(find(&sd, "n").shape.is_empty());
    assert_eq!(find(&sd, "param").data, [9.0]);
    assert_eq!(find(&sd, "param").dtype, TorchDtype::I32);
    assert_eq!(sd.len(), 9);
}

#[test]
fn bad_views_and_nesting() {
    let f32s = le(&[0.0f32, 1.0, 2.0, 3.0], f32::to_le_bytes);
    let one = |offset, size: &[i32], stride: &[i32], numel| {
        let mut p = Pk::default();
        p.raw(b"\x80\x02}(").s("w").tensor("FloatStorage", "0", numel, offset, size, stride).raw(b"u.");
        p.0
    };
    for (what, pickle, storage) in [
        ("past the end", one(3, &[2], &[1], 4), f32s.clone()),
        ("stride past the end", one(0, &[2, 2], &[3, 1], 4), f32s.clone()),
        ("more elements than storage", one(0, &[8], &[0], 4), f32s.clone()),
        ("short storage", one(0, &[4], &[1], 4), f32s[..12].to_vec()),
        ("huge numel", one(0, &[4], &[1], i32::MAX), f32s.clone()),
    ] {
        let file = checkpoint(&pickle, &[("0", storage)], None);
        let e = read_state_dict_from(Cursor::new(file), None).unwrap_err();
        println!("{what}: {e}");
    }
    // Missing storage entry.
    let file = checkpoint(&one(0, &[4], &[1], 4), &[], None);
    let e = read_state_dict_from(Cursor::new(file), None).unwrap_err();
    println!("missing storage: {e}");
    assert!(e.to_string().contains("archive/data/0"), "{e}");

    // A checkpoint nesting its state dict.
    let mut p = Pk::default();
    p.raw(b"\x80\x02}(").s("epoch").i(3).s("state_dict").raw(b"}(").s("w");
    p.tensor("FloatStorage", "0", 4, 0, &[4], &[1]).raw(b"uu.");
    let file = checkpoint(&p.0, &[("0", f32s.clone())], None);
    let e = read_state_dict_from(Cursor::new(file.clone()), None).unwrap_err();
    println!("nested: {e}");
    let sd = read_state_dict_from(Cursor::new(file.clone()), Some("state_dict")).unwrap();
    assert_eq!(sd[0].1.data, [0.0, 1.0, 2.0, 3.0]);
    let e = read_state_dict_from(Cursor::new(file), Some("model")).unwrap_err();
    println!("missing entry: {e}");
    assert!(e.to_string().contains("state_dict"), "{e}");

    // Path traversal in a storage key.
    let mut p = Pk::default();
    p.raw(b"\x80\x02}(").s("w").tensor("FloatStorage", "../x", 4, 0, &[4], &[1]).raw(b"u.");
    let e = read_state_dict_from(Cursor::new(checkpoint(&p.0, &[], None)), None).unwrap_err();
    println!("traversal: {e}");

    let e = read_state_dict_entry(&fixture("head/head_plain_64.pth"), Some("fc1.weight")).unwrap_err();
    println!("entry that is a tensor: {e}");
}
