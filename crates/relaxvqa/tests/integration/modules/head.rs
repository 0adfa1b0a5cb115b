use super::*;
use relaxvqa::head::{check_features, convert, parse_scale, scale_label, LoadedHead, DEFAULT_HEAD};
use relaxvqa_features::layout::{BLOCKS, FEATURE_LEN};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// Equal to f32 precision (a batch through the MLP may round otherwise).
fn close_f32(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
}

/// `1-5`, `0-100` and `raw` parse, with the `mos_1_5` and `1_5` forms,
/// ignoring case and surrounding spaces; anything else is refused.
#[test]
fn parse_scale_accepts_the_documented_names() {
    for s in ["1-5", "mos_1_5", "1_5", " MOS_1_5 "] {
        assert_eq!(parse_scale(s).unwrap(), OutputScale::Mos1To5, "{s}");
    }
    for s in ["0-100", "mos_0_100", "0_100", "Mos_0_100"] {
        assert_eq!(parse_scale(s).unwrap(), OutputScale::Mos0To100, "{s}");
    }
    assert_eq!(parse_scale("RAW").unwrap(), OutputScale::Raw);
    for s in ["1-10", "", "mos"] {
        let (msg, kind) = err(parse_scale(s));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains(&format!("scale {s}:")) && msg.contains("expected 1-5, 0-100 or raw"), "{msg}");
    }
    for s in [OutputScale::Mos1To5, OutputScale::Mos0To100, OutputScale::Raw] {
        assert_eq!(parse_scale(s.as_str()).unwrap(), s, "the head files' names parse");
    }
}

/// Each scale has its human label.
#[test]
fn scale_labels() {
    assert_eq!(scale_label(OutputScale::Mos1To5), "MOS 1-5");
    assert_eq!(scale_label(OutputScale::Mos0To100), "MOS 0-100");
    assert_eq!(scale_label(OutputScale::Raw), "raw");
}

/// 0-100 to 1-5 is `1 + 4 * y / 100`, 1-5 to 0-100 its inverse, a scale
/// to itself the identity.
#[test]
fn convert_follows_the_documented_formulas() {
    let to15 = |y| convert(OutputScale::Mos0To100, y, OutputScale::Mos1To5).unwrap();
    let to100 = |y| convert(OutputScale::Mos1To5, y, OutputScale::Mos0To100).unwrap();
    for (y100, y5) in [(0.0, 1.0), (25.0, 2.0), (50.0, 3.0), (75.0, 4.0), (100.0, 5.0), (80.0, 4.2)] {
        assert!(close(to15(y100), y5), "{y100} -> {}", to15(y100));
        assert!(close(to100(y5), y100), "{y5} -> {}", to100(y5));
    }
    assert!(close(to100(to15(37.5)), 37.5));
    for s in [OutputScale::Mos1To5, OutputScale::Mos0To100, OutputScale::Raw] {
        assert_eq!(convert(s, 7.25, s).unwrap(), 7.25);
    }
}

/// A raw head's scores cannot be put on a MOS scale, nor MOS on raw.
#[test]
fn convert_refuses_raw_to_mos() {
    let (msg, kind) = err(convert(OutputScale::Raw, 1.0, OutputScale::Mos1To5));
    assert_eq!(kind, ErrorKind::Input);
    assert_eq!(msg, "cannot convert a raw head's scores to MOS 1-5");
    let (msg, _) = err(convert(OutputScale::Mos0To100, 1.0, OutputScale::Raw));
    assert_eq!(msg, "cannot convert a MOS 0-100 head's scores to raw");
}

fn block(name: &str) -> (usize, usize) {
    let b = BLOCKS.iter().find(|b| b.name == name).expect("a documented block");
    (b.offset, b.len)
}

/// Finite features pass; a vector of another width is left to the head.
#[test]
fn check_features_passes_finite_vectors_and_other_widths() {
    assert!(check_features(&vec![0.5; FEATURE_LEN], "v").is_ok());
    assert!(check_features(&[f64::NAN, f64::INFINITY], "short").is_ok(), "the head reports width itself");
}

/// A pair block may be all NaN (no frame pair; the imputer fills it), but
/// not partly NaN; a frame block may hold no NaN; infinity is refused
/// anywhere; the message names the input and the block.
#[test]
fn check_features_rules_per_block() {
    let base = vec![0.25; FEATURE_LEN];
    let mut all_pairs_nan = base.clone();
    for b in BLOCKS.iter().filter(|b| b.over == relaxvqa_features::layout::Over::Pairs) {
        all_pairs_nan[b.offset..b.offset + b.len].fill(f64::NAN);
    }
    assert!(check_features(&all_pairs_nan, "v").is_ok(), "pair blocks all NaN");
    let cases: [(&str, usize, f64); 5] = [
        ("frame_resnet_layerstack", 5, f64::NAN),
        ("frame_vit_pool", 0, f64::NEG_INFINITY),
        ("frag_resnet_layerstack", 3, f64::NAN),
        ("merged_resnet_pool", 1, f64::INFINITY),
        ("merged_vit_pool", 2, f64::NAN),
    ];
    for (name, at, value) in cases {
        let (offset, len) = block(name);
        assert!(at < len);
        let mut v = base.clone();
        v[offset + at] = value;
        let (msg, kind) = err(check_features(&v, "clip.mp4"));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.starts_with("clip.mp4:") && msg.contains(name), "{name}: {msg}");
    }
    // Infinity inside an otherwise all-NaN pair block is still refused.
    let (offset, _) = block("frag_vit_pool");
    let mut v = all_pairs_nan;
    v[offset] = f64::INFINITY;
    let (msg, _) = err(check_features(&v, "x"));
    assert!(msg.contains("frag_vit_pool"), "{msg}");
}

/// A `.safetensors` name that does not exist, or a file that is not a
/// head, is a model error naming what was given.
#[test]
fn load_refuses_missing_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors").display().to_string();
    let (msg, kind) = err(LoadedHead::load(&missing));
    assert_eq!(kind, ErrorKind::Model);
    assert!(msg.starts_with(&missing), "{msg}");
    let garbage = dir.path().join("junk.bin");
    std::fs::write(&garbage, b"this is not a head file at all, just some bytes").unwrap();
    let spec = garbage.display().to_string();
    let (msg, kind) = err(LoadedHead::load(&spec));
    assert_eq!(kind, ErrorKind::Model);
    assert!(msg.starts_with(&spec), "{msg}");
}

/// A name that is neither a file nor a published head is refused
/// (nothing fetched), listing the known heads.
#[test]
fn load_refuses_unknown_names() {
    let (msg, kind) = err(LoadedHead::load("no-such-head-xyz"));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("no-such-head-xyz") && msg.contains("neither a head file nor a published head"), "{msg}");
    assert!(msg.contains(DEFAULT_HEAD), "{msg}");
}

/// A head file loads under its stem with its recorded source, and scores
/// as the model crate's head does, converted to the scale asked for.
#[test]
fn a_head_file_loads_and_scores_on_the_asked_scale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let hf = save_tiny_head(&path, 4, OutputScale::Mos1To5, "unit test source");
    let h = LoadedHead::load(&path.display().to_string()).unwrap();
    assert_eq!((h.name.as_str(), h.source.as_str()), ("tiny", "unit test source"));
    assert_eq!(h.identity(), "tiny (unit test source)");
    assert!(h.warning.is_none());
    assert_eq!(h.output_scale(), OutputScale::Mos1To5);
    let direct = hf.into_head(&candle_core::Device::Cpu).unwrap();
    let x = [0.1, f64::NAN, -0.3, 2.0];
    let y = [1.0, 0.0, 0.5, -1.0];
    let raw = direct.score(&x).unwrap();
    let raw_y = direct.score(&y).unwrap();
    assert!(raw.is_finite());
    assert_eq!(h.score(&x, OutputScale::Mos1To5, "x").unwrap(), raw);
    assert!(close(h.score(&x, OutputScale::Mos0To100, "x").unwrap(), (raw - 1.0) * 100.0 / 4.0));
    let rows = h.score_rows(&[&x, &y], OutputScale::Mos0To100, "rows").unwrap();
    assert_eq!(rows.len(), 2);
    assert!(close_f32(rows[0], (raw - 1.0) * 25.0) && close_f32(rows[1], (raw_y - 1.0) * 25.0), "{rows:?}");
    let (msg, _) = err(h.score(&x, OutputScale::Raw, "x"));
    assert!(msg.contains("cannot convert"), "{msg}");
}

/// A head file without a recorded source reports its path as the source.
#[test]
fn a_head_file_without_source_reports_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anon.safetensors");
    save_tiny_head(&path, 3, OutputScale::Raw, "");
    let h = LoadedHead::load(&path.display().to_string()).unwrap();
    assert_eq!(h.source, path.display().to_string());
    assert_eq!(h.name, "anon");
}

/// A vector of the wrong width is a model error naming the input.
#[test]
fn scoring_the_wrong_width_names_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    save_tiny_head(&path, 4, OutputScale::Raw, "s");
    let h = LoadedHead::load(&path.display().to_string()).unwrap();
    let (msg, kind) = err(h.score(&[1.0, 2.0, 3.0], OutputScale::Raw, "short.mp4"));
    assert_eq!(kind, ErrorKind::Model);
    assert!(msg.starts_with("short.mp4:"), "{msg}");
    let (msg, _) = err(h.score_rows(&[&[0.0; 4], &[0.0; 5]], OutputScale::Raw, "batch"));
    assert!(msg.starts_with("batch:"), "{msg}");
}
