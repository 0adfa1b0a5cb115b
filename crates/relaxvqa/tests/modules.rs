//! Direct tests of the library's planning and bookkeeping modules (`batch`,
//! `scores`, `mos`, `head`, `training`): the rules their documentation
//! states, checked without loading a backbone, training a network or
//! touching the network.

use std::path::{Path, PathBuf};

use relaxvqa::{Error, ErrorKind};
use relaxvqa_model::head::{head_tensor_shapes, save_head_file, HeadFile, Imputer, OutputScale, Scaler};
use relaxvqa_model::{HostTensor, StateDict};

/// Writes `text` to `path`.
fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a test file");
}

/// The error of `r`, as a one-line message and its class.
fn err<T>(r: relaxvqa::Result<T>) -> (String, ErrorKind) {
    let e: Error = match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    };
    (e.to_string(), e.kind())
}

/// A small head file (`width` inputs, fixed arbitrary weights, an imputer
/// and a scaler) built with the model crate's own API.
fn tiny_head(width: usize, scale: OutputScale, source: &str) -> HeadFile {
    let mut sd = StateDict::new();
    for (k, (name, shape)) in head_tensor_shapes(width).into_iter().enumerate() {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|i| if name.ends_with("running_var") { 1.0 } else { ((i * 7 + k) % 13) as f32 * 0.01 - 0.05 })
            .collect();
        sd.insert(name, HostTensor { shape, data });
    }
    let imputer = Imputer { statistics: (0..width).map(|i| i as f64 * 0.5).collect() };
    let scaler = Scaler { min: vec![-0.25; width], scale: vec![2.0; width] };
    HeadFile::new(sd, Some(imputer), Some(scaler), scale, source).expect("a tiny head file")
}

/// Saves [`tiny_head`] to `path`.
fn save_tiny_head(path: &Path, width: usize, scale: OutputScale, source: &str) -> HeadFile {
    let hf = tiny_head(width, scale, source);
    save_head_file(path, &hf).expect("save the tiny head");
    hf
}

mod mos {
    use super::*;
    use relaxvqa::files::FeatureRows;
    use relaxvqa::mos::{label, read_mos, MosTable};

    fn table(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mos.csv");
        write(&path, text);
        (dir, path)
    }

    fn mos_of(t: &MosTable, name: &str) -> Option<f64> {
        t.get(name).map(|r| r.mos)
    }

    /// The default columns are `name` and `mos`; a row is found by its name
    /// or by the file stem of the name asked for or listed.
    #[test]
    fn default_columns_and_lookup_by_name_or_stem() {
        let (_d, path) = table("name,mos\nA.mp4,3.2\nb,4\n");
        let t = read_mos(&path, None, None, None).unwrap();
        assert_eq!(mos_of(&t, "A.mp4"), Some(3.2));
        assert_eq!(mos_of(&t, "A"), Some(3.2), "the listed name's stem");
        assert_eq!(mos_of(&t, "b"), Some(4.0));
        assert_eq!(mos_of(&t, "clips/b.mkv"), Some(4.0), "the asked name's stem");
        assert_eq!(mos_of(&t, "c"), None);
        assert!(t.get("b").unwrap().group.is_none(), "no group column named");
    }

    /// Without named columns, the first present of the documented lists is
    /// used, matched case-insensitively (name before video, mos before dmos).
    #[test]
    fn default_columns_follow_the_documented_order() {
        let (_d, path) = table("flickr_id,DMOS\n123,55.5\n");
        let t = read_mos(&path, None, None, None).unwrap();
        assert_eq!(mos_of(&t, "123"), Some(55.5));
        let (_d, path) = table("video,name,score,mos\nv1,n1,1,2\n");
        let t = read_mos(&path, None, None, None).unwrap();
        assert_eq!(mos_of(&t, "n1"), Some(2.0), "name before video, mos before score");
        assert_eq!(mos_of(&t, "v1"), None);
    }

    /// Named columns are used as given, and a group column is read per row.
    #[test]
    fn named_columns_and_groups() {
        let (_d, path) = table("clip,rating,content\nx.mp4, 2.5 ,park\ny.mp4,4,street\n");
        let t = read_mos(&path, Some("CLIP"), Some("rating"), Some("content")).unwrap();
        let x = t.get("x").unwrap();
        assert_eq!((x.mos, x.group.as_deref()), (2.5, Some("park")));
        assert_eq!(t.get("y.mp4").unwrap().group.as_deref(), Some("street"));
    }

    /// A missing column is an input error naming the file, the column and
    /// the columns there are.
    #[test]
    fn missing_columns_are_named() {
        let (_d, path) = table("title,rating\na,3\n");
        let (msg, kind) = err(read_mos(&path, None, None, None));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("mos.csv") && msg.contains("no name column") && msg.contains("title, rating"), "{msg}");
        let (msg, _) = err(read_mos(&path, Some("title"), None, None));
        assert!(msg.contains("no MOS column"), "{msg}");
        let (msg, _) = err(read_mos(&path, Some("title"), Some("rating"), Some("content")));
        assert!(msg.contains("no column named content") && msg.contains("title, rating"), "{msg}");
    }

    /// A MOS that is not a finite number, or an empty name, is an error
    /// naming its row (the header is row 1).
    #[test]
    fn bad_rows_are_named_by_line() {
        for bad in ["x", "NaN", "inf", ""] {
            let (_d, path) = table(&format!("name,mos\na,1\nb,{bad}\n"));
            let (msg, kind) = err(read_mos(&path, None, None, None));
            assert_eq!(kind, ErrorKind::Input);
            assert!(msg.contains("row 3") && msg.contains("is not a number"), "{bad}: {msg}");
        }
        let (_d, path) = table("name,mos\n ,1\n");
        let (msg, _) = err(read_mos(&path, None, None, None));
        assert!(msg.contains("row 2: empty name"), "{msg}");
    }

    /// A table without rows, a folder or a missing file is refused.
    #[test]
    fn empty_tables_folders_and_missing_files_are_refused() {
        let (d, path) = table("name,mos\n");
        let (msg, _) = err(read_mos(&path, None, None, None));
        assert!(msg.contains("no rows"), "{msg}");
        let (msg, kind) = err(read_mos(d.path(), None, None, None));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("found a folder"), "{msg}");
        let (msg, kind) = err(read_mos(&d.path().join("absent.csv"), None, None, None));
        assert_eq!(kind, ErrorKind::Io, "{msg}");
    }

    /// A row listed under exactly the name asked for wins over another row
    /// whose stem is that name, whatever their order.
    #[test]
    fn exact_names_win_over_stems() {
        for text in ["name,mos\na.mp4,1\na,2\n", "name,mos\na,2\na.mp4,1\n"] {
            let (_d, path) = table(text);
            let t = read_mos(&path, None, None, None).unwrap();
            assert_eq!(mos_of(&t, "a"), Some(2.0), "{text:?}");
            assert_eq!(mos_of(&t, "a.mp4"), Some(1.0), "{text:?}");
        }
    }

    /// Feature rows are matched by name or stem, in feature order, with
    /// their own values; rows without a MOS are listed as unmatched.
    #[test]
    fn label_joins_features_with_mos() {
        let (_d, path) = table("name,mos\na.mp4,3\nb,4\n");
        let t = read_mos(&path, None, None, None).unwrap();
        let features = FeatureRows {
            names: vec!["a".into(), "zz".into(), "b.mp4".into()],
            x: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            dim: 2,
        };
        let l = label(features, &t, Path::new("f.safetensors"), &path).unwrap();
        assert_eq!(l.names, ["a", "b.mp4"]);
        assert_eq!(l.x, [1.0, 2.0, 5.0, 6.0]);
        assert_eq!(l.dim, 2);
        assert_eq!(l.y, [3.0, 4.0]);
        assert_eq!(l.unmatched, ["zz"]);
        assert!(l.groups.is_none() && l.group_names.is_empty());
    }

    /// Group labels become indices in order of first appearance among the
    /// matched feature rows.
    #[test]
    fn label_numbers_groups_by_first_appearance() {
        let (_d, path) = table("name,mos,content\na,1,x\nb,2,y\nc,3,x\n");
        let t = read_mos(&path, None, None, Some("content")).unwrap();
        let features = FeatureRows { names: vec!["c".into(), "a".into(), "b".into()], x: vec![0.0, 1.0, 2.0], dim: 1 };
        let l = label(features, &t, Path::new("f"), &path).unwrap();
        assert_eq!(l.y, [3.0, 1.0, 2.0]);
        assert_eq!(l.groups.as_deref(), Some(&[0, 0, 1][..]));
        assert_eq!(l.group_names, ["x", "y"]);
    }

    /// No feature row with a MOS is an error naming both files.
    #[test]
    fn label_without_any_match_is_an_error() {
        let (_d, path) = table("name,mos\na,1\n");
        let t = read_mos(&path, None, None, None).unwrap();
        let features = FeatureRows { names: vec!["q".into()], x: vec![0.5], dim: 1 };
        let (msg, kind) = err(label(features, &t, Path::new("feats.safetensors"), &path));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("feats.safetensors") && msg.contains("mos.csv"), "{msg}");
    }
}

mod head {
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
}

mod training {
    use super::*;
    use relaxvqa::mos::Labelled;
    use relaxvqa::training::{evaluate, read_init, train, TrainOptions};

    fn opts() -> TrainOptions {
        TrainOptions::default()
    }

    /// `predict` scores what the head can score: NaN where the head has an
    /// imputer to fill it, never an infinity; the row is named.
    #[test]
    fn predict_refuses_what_the_head_cannot_score() {
        let dir = tempfile::tempdir().unwrap();
        let head = dir.path().join("tiny.safetensors");
        let mut hf = save_tiny_head(&head, 4, OutputScale::Mos1To5, "tiny");
        let data = |x: Vec<f64>| Labelled {
            names: vec!["a".into(), "b".into()],
            x,
            dim: 4,
            y: vec![1.0, 2.0],
            groups: None,
            group_names: Vec::new(),
            unmatched: Vec::new(),
        };
        let (pred, scale) =
            relaxvqa::training::predict(&head, &data(vec![0.1, f64::NAN, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]))
                .expect("NaN is filled by the imputer");
        assert_eq!((pred.len(), scale), (2, OutputScale::Mos1To5));
        assert!(pred.iter().all(|p| p.is_finite()), "{pred:?}");
        for bad in [f64::INFINITY, f64::NEG_INFINITY] {
            let (msg, kind) =
                err(relaxvqa::training::predict(&head, &data(vec![0.1, 0.2, 0.3, 0.4, 0.5, bad, 0.7, 0.8])));
            println!("{msg}");
            assert!(msg.starts_with("b: ") && msg.contains("inf"), "{msg}");
            assert_eq!(kind, ErrorKind::Input);
        }
        // Without an imputer, a missing value cannot be scored either.
        hf.imputer = None;
        save_head_file(&head, &hf).unwrap();
        let (msg, _) =
            err(relaxvqa::training::predict(&head, &data(vec![f64::NAN, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])));
        assert!(msg.starts_with("a: ") && msg.contains("no imputer"), "{msg}");
    }

    /// The defaults are accepted, with or without a head to start from.
    #[test]
    fn defaults_pass_check() {
        assert!(opts().check(false).is_ok());
        assert!(opts().check(true).is_ok());
    }

    /// 0 epochs is refused when training from scratch, allowed when fine-tuning.
    #[test]
    fn zero_epochs_only_when_fine_tuning() {
        let o = TrainOptions { epochs: Some(0), ..opts() };
        let (msg, kind) = err(o.check(false));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("--epochs 0"), "{msg}");
        assert!(o.check(true).is_ok());
        assert!(TrainOptions { epochs: Some(1), ..opts() }.check(false).is_ok());
    }

    /// Fewer than 2 folds, or a batch of 0, is refused.
    #[test]
    fn folds_and_batch_size_limits() {
        for folds in [0, 1] {
            let (msg, _) = err(TrainOptions { folds, ..opts() }.check(false));
            assert!(msg.contains(&format!("--folds {folds}")), "{msg}");
        }
        assert!(TrainOptions { folds: 2, ..opts() }.check(false).is_ok());
        let (msg, _) = err(TrainOptions { batch_size: 0, ..opts() }.check(true));
        assert!(msg.contains("--batch-size 0"), "{msg}");
        assert!(TrainOptions { batch_size: 1, ..opts() }.check(false).is_ok());
    }

    /// Learning rates must be finite and >= 0 (0 allowed), for `--lr` and `--swa-lr`.
    #[test]
    fn learning_rates_must_be_finite_and_not_negative() {
        for lr in [-0.1, f64::NAN, f64::INFINITY] {
            let (msg, _) = err(TrainOptions { lr, ..opts() }.check(false));
            assert!(msg.starts_with("--lr "), "{lr}: {msg}");
        }
        assert!(TrainOptions { lr: 0.0, ..opts() }.check(false).is_ok());
        for r in [-1.0, f64::NAN, f64::NEG_INFINITY] {
            let (msg, _) = err(TrainOptions { swa_lr: Some(r), ..opts() }.check(false));
            assert!(msg.starts_with("--swa-lr "), "{r}: {msg}");
        }
        assert!(TrainOptions { swa_lr: Some(0.05), ..opts() }.check(false).is_ok());
    }

    /// Default epochs: 120 below 5,000 videos, else 20; a given count always wins.
    #[test]
    fn epochs_for_follows_the_authors() {
        let o = opts();
        assert_eq!([o.epochs_for(0), o.epochs_for(4999), o.epochs_for(5000), o.epochs_for(39_000)], [120, 120, 20, 20]);
        let o = TrainOptions { epochs: Some(7), ..opts() };
        assert_eq!([o.epochs_for(10), o.epochs_for(10_000)], [7, 7]);
    }

    /// Each fold needs at least 2 videos: `n >= 2 * folds`.
    #[test]
    fn check_folds_needs_two_videos_per_fold() {
        let o = opts();
        assert!(o.check_folds(20).is_ok());
        assert!(o.check_folds(1000).is_ok());
        let (msg, kind) = err(o.check_folds(19));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("--folds 10") && msg.contains("19 training videos"), "{msg}");
        assert!(TrainOptions { folds: 2, ..opts() }.check_folds(4).is_ok());
        assert!(TrainOptions { folds: 2, ..opts() }.check_folds(3).is_err());
    }

    /// The folds suggested by the message fit the videos whenever any 2 folds do.
    #[test]
    fn check_folds_suggests_folds_that_fit() {
        for n in 4..80 {
            let o = TrainOptions { folds: n / 2 + 1, ..opts() };
            let (msg, _) = err(o.check_folds(n));
            let k: usize = msg
                .split("use --folds ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no suggestion in {msg}"));
            assert!(k >= 2, "{msg}");
            assert!(TrainOptions { folds: k, ..opts() }.check_folds(n).is_ok(), "n {n}: {msg}");
        }
    }

    /// The training configuration carries the options; patience 0 turns
    /// early stopping off.
    #[test]
    fn config_carries_the_options() {
        let o =
            TrainOptions { epochs: None, seed: 7, lr: 0.05, batch_size: 32, swa_lr: Some(0.01), patience: 0, ..opts() };
        let c = o.config(100, None);
        assert_eq!((c.epochs, c.seed, c.batch_size, c.swa_lr, c.patience), (120, 7, 32, Some(0.01), None));
        assert_eq!(c.sgd.lr, 0.05);
        assert!(c.init.is_none());
        let c = TrainOptions { patience: 3, epochs: Some(9), ..opts() }.config(6000, None);
        assert_eq!((c.epochs, c.patience), (9, Some(3)));
    }

    /// A file that is not a head, or is missing, is an error about `--init`.
    #[test]
    fn read_init_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.safetensors");
        write(&junk, "not a head");
        let (msg, kind) = err(read_init(&junk));
        assert_eq!(kind, ErrorKind::Model);
        assert!(msg.starts_with("--init"), "{msg}");
        let (msg, _) = err(read_init(&dir.path().join("absent.pth")));
        assert!(msg.starts_with("--init"), "{msg}");
    }

    /// A head that does not take the 35,203 ReLaX-VQA features is refused.
    #[test]
    fn read_init_refuses_other_widths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.safetensors");
        save_tiny_head(&path, 4, OutputScale::Mos1To5, "s");
        let (msg, kind) = err(read_init(&path));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("small.safetensors") && msg.contains("takes 4 features, not the 35203"), "{msg}");
    }

    fn data(n: usize) -> Labelled {
        Labelled {
            names: (0..n).map(|i| format!("v{i}")).collect(),
            x: (0..n * 2).map(|i| i as f64).collect(),
            dim: 2,
            y: (0..n).map(|i| 1.0 + i as f64 / n as f64).collect(),
            groups: None,
            group_names: Vec::new(),
            unmatched: Vec::new(),
        }
    }

    /// Training refuses bad options and too few videos before any work.
    #[test]
    fn train_refuses_before_any_work() {
        let (msg, _) = err(train(&data(5), &opts(), None, OutputScale::Mos1To5, "f"));
        assert!(msg.contains("--folds 10") && msg.contains("5 training videos"), "{msg}");
        let o = TrainOptions { epochs: Some(0), ..opts() };
        let (msg, _) = err(train(&data(50), &o, None, OutputScale::Mos1To5, "f"));
        assert!(msg.contains("--epochs 0"), "{msg}");
    }

    /// Evaluation refuses 0 splits and a test fraction outside (0, 1).
    #[test]
    fn evaluate_refuses_bad_splits() {
        let d = data(50);
        let (msg, _) = err(evaluate(&d, &opts(), None, 0, 0.2));
        assert!(msg.contains("--splits 0"), "{msg}");
        for f in [0.0, 1.0, -0.5, f64::NAN] {
            let (msg, _) = err(evaluate(&d, &opts(), None, 3, f));
            assert!(msg.contains("--test-fraction"), "{f}: {msg}");
        }
        // 50 videos with 20% held out leave 40: too few for 21 folds.
        let (msg, _) = err(evaluate(&d, &TrainOptions { folds: 21, ..opts() }, None, 3, 0.2));
        assert!(msg.contains("40 training videos"), "{msg}");
    }
}

mod batch {
    use super::*;
    use relaxvqa::batch::{
        collect_rows, entries, output_of, read_list, run_each, videos_in, write_reports, BatchSummary, Combined, Entry,
        ExtractBatch, ListOptions, Outcome,
    };
    use relaxvqa::files::{feature_metadata, is_complete, read_feature_rows, Identity};
    use relaxvqa::FEATURE_LEN;

    /// Writes a complete per-video feature file of `identity`, every value `v`.
    fn feature_file(path: &Path, identity: &Identity, v: f64) {
        let bytes: Vec<u8> = vec![v; FEATURE_LEN].into_iter().flat_map(f64::to_le_bytes).collect();
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![FEATURE_LEN], &bytes).unwrap();
        safetensors::serialize_to_file([("video.features", view)], Some(feature_metadata(identity)), path).unwrap();
    }

    /// A dummy "video" file (its content is never decoded here).
    fn video(dir: &Path, name: &str, content: &str) -> PathBuf {
        let p = dir.join(name);
        write(&p, content);
        p
    }

    fn entry(name: &str, path: &Path) -> Entry {
        Entry { name: name.into(), path: path.to_owned(), extra: Vec::new() }
    }

    fn batch(out_dir: &Path, entries: Vec<Entry>, force: bool) -> ExtractBatch {
        ExtractBatch::new(out_dir, entries, Vec::new()).with_force(force)
    }

    /// A folder's videos are its files with a video extension (any case),
    /// sorted by name; other files and sub-folders are left out.
    #[test]
    fn videos_in_takes_video_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.mkv", "a.MP4", "z.y4m", "notes.txt", "noext", "c.mp4.part"] {
            video(dir.path(), f, "x");
        }
        std::fs::create_dir(dir.path().join("folder.mp4")).unwrap();
        let got = videos_in(dir.path()).unwrap();
        let names: Vec<_> = got.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["a.MP4", "b.mkv", "z.y4m"]);
        assert!(videos_in(&dir.path().join("absent")).is_err());
    }

    /// A list's relative entries resolve against its folder (or `video_dir`),
    /// entries without an extension get `ext`, and the other columns are kept.
    #[test]
    fn read_list_resolves_paths_and_keeps_other_columns() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.csv");
        write(&list, "video,mos\nclip1,3.1\nsub/clip2.mkv,4\n/abs/x.mp4,2\n");
        let opts = ListOptions { ext: Some(".mp4".into()), ..Default::default() };
        let (rows, cols) = read_list(&list, &opts).unwrap();
        assert_eq!(cols, ["mos"]);
        let paths: Vec<_> = rows.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            paths,
            [dir.path().join("clip1.mp4"), dir.path().join("sub/clip2.mkv"), PathBuf::from("/abs/x.mp4")]
        );
        assert_eq!(rows[0].1, [("mos".to_owned(), "3.1".to_owned())]);
        let opts = ListOptions { video_dir: Some("/data/videos".into()), ..Default::default() };
        let (rows, _) = read_list(&list, &opts).unwrap();
        assert_eq!(rows[0].0, Path::new("/data/videos/clip1"), "no ext given: left as is");
    }

    /// The path column is the first of path, file, filename, video, vid, name
    /// (any case), or the one named.
    #[test]
    fn read_list_picks_the_path_column() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("l.csv");
        write(&list, "name,Path,other\nn1,/v/p1.mp4,o1\n");
        let (rows, cols) = read_list(&list, &ListOptions::default()).unwrap();
        assert_eq!(rows[0].0, Path::new("/v/p1.mp4"));
        assert_eq!(cols, ["name", "other"]);
        let opts = ListOptions { path_column: Some("other".into()), ..Default::default() };
        let (rows, cols) = read_list(&list, &opts).unwrap();
        assert_eq!(rows[0].0, dir.path().join("o1"));
        assert_eq!(cols, ["name", "Path"]);
    }

    /// A folder, a list without a path column, a named column that is
    /// absent, an empty path or a ragged row is refused, naming the row.
    #[test]
    fn read_list_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (msg, _) = err(read_list(dir.path(), &ListOptions::default()));
        assert!(msg.contains("--list takes a CSV file"), "{msg}");
        let list = dir.path().join("l.csv");
        write(&list, "mos,title\n1,a\n");
        let (msg, kind) = err(read_list(&list, &ListOptions::default()));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("no path column") && msg.contains("--path-column"), "{msg}");
        let opts = ListOptions { path_column: Some("clip".into()), ..Default::default() };
        let (msg, _) = err(read_list(&list, &opts));
        assert!(msg.contains("no column named clip") && msg.contains("mos, title"), "{msg}");
        write(&list, "path,mos\na.mp4,1\n ,2\n");
        let (msg, _) = err(read_list(&list, &ListOptions::default()));
        assert!(msg.contains("row 3: empty path"), "{msg}");
        write(&list, "path,mos\na.mp4,1\nb.mp4\n");
        let (msg, _) = err(read_list(&list, &ListOptions::default()));
        assert!(msg.contains("row 3"), "{msg}");
    }

    /// The list's rows come first, then the inputs in the order given (a
    /// folder as its sorted videos); only list rows carry other columns.
    #[test]
    fn collect_rows_takes_the_list_then_each_input_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("videos");
        std::fs::create_dir(&folder).unwrap();
        let b = video(&folder, "b.mp4", "b");
        let a = video(&folder, "a.mp4", "a");
        let list = dir.path().join("l.csv");
        write(&list, "path,mos\n/x/l.mp4,3\n");
        let single = dir.path().join("single.mkv");
        let (rows, cols) =
            collect_rows(Some(&list), &[folder.clone(), single.clone()], &ListOptions::default()).unwrap();
        let paths: Vec<_> = rows.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(paths, [PathBuf::from("/x/l.mp4"), a, b, single]);
        assert_eq!(cols, ["mos"]);
        assert_eq!(rows[0].1.len(), 1);
        assert!(rows[1..].iter().all(|(_, extra)| extra.is_empty()));
        let (rows, cols) = collect_rows(None, &[], &ListOptions::default()).unwrap();
        assert!(rows.is_empty() && cols.is_empty());
    }

    /// Names are file stems made safe (other characters become `_`), with
    /// `-2`, `-3` on clashes; a path listed again (even spelled otherwise)
    /// is dropped and returned apart; other columns are carried.
    #[test]
    fn entries_name_uniquely_and_drop_repeated_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::create_dir_all(dir.path().join("y")).unwrap();
        let xa = video(&dir.path().join("x"), "a.mp4", "1");
        let ya = video(&dir.path().join("y"), "a.mkv", "2");
        let odd = video(dir.path(), "my clip!.mp4", "3");
        let again = dir.path().join("x/./a.mp4");
        let extra = vec![("mos".to_owned(), "4".to_owned())];
        let rows = vec![
            (xa.clone(), extra.clone()),
            (ya.clone(), Vec::new()),
            (again.clone(), Vec::new()),
            (odd.clone(), Vec::new()),
            (PathBuf::from("/missing/a-2.mp4"), Vec::new()),
            (PathBuf::from("/missing/a-2.mp4"), Vec::new()),
        ];
        let (es, dups) = entries(rows);
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "a-2", "my_clip_", "a-2-2"]);
        assert_eq!(es[0], Entry { name: "a".into(), path: xa, extra });
        assert_eq!(es[1].path, ya);
        assert_eq!(dups, [again, PathBuf::from("/missing/a-2.mp4")]);
    }

    /// Each entry's output is `<out>/<name>.safetensors`.
    #[test]
    fn output_of_is_the_name_in_the_output_folder() {
        let e = entry("clip-2", Path::new("/v/clip.mp4"));
        assert_eq!(output_of(Path::new("/out"), &e), Path::new("/out/clip-2.safetensors"));
    }

    /// Work is every entry without a complete output from the same video and
    /// weights (all with `force`); a cut-short file is not complete.
    #[test]
    fn todo_skips_only_complete_outputs_of_the_same_video_and_weights() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let vids: Vec<PathBuf> =
            ["a", "b", "c", "d", "e"].iter().map(|n| video(dir.path(), &format!("{n}.mp4"), n)).collect();
        let es: Vec<Entry> = vids.iter().zip(["a", "b", "c", "d", "e"]).map(|(p, n)| entry(n, p)).collect();
        let b = batch(&out, es.clone(), false);
        feature_file(&output_of(&out, &es[0]), &b.identity(&es[0], "hub"), 1.0); // complete
                                                                                 // b: no output
        feature_file(&output_of(&out, &es[2]), &b.identity(&es[2], "synthetic"), 1.0); // other weights
        feature_file(&output_of(&out, &es[3]), &b.identity(&es[3], "hub"), 1.0);
        write(&vids[3], "the video changed"); // other size
        feature_file(&output_of(&out, &es[4]), &b.identity(&es[4], "hub"), 1.0);
        let cut = std::fs::read(output_of(&out, &es[4])).unwrap();
        std::fs::write(output_of(&out, &es[4]), &cut[..cut.len() - 8]).unwrap(); // cut short
        assert_eq!(b.todo("hub"), [1, 2, 3, 4]);
        assert_eq!(b.todo("synthetic"), [0, 1, 3, 4]);
        assert_eq!(batch(&out, es, true).todo("hub"), [0, 1, 2, 3, 4]);
    }

    /// `prepare` makes the output folder (parents included) and refuses a
    /// path that is a file.
    #[test]
    fn prepare_makes_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/out");
        batch(&out, Vec::new(), false).prepare().unwrap();
        assert!(out.is_dir());
        let file = video(dir.path(), "file", "x");
        assert!(batch(&file, Vec::new(), false).prepare().is_err());
    }

    /// The index lists every entry with its status and other columns,
    /// failures hold the failed ones, and the combined matrix holds the
    /// complete outputs from the same weights, in list order.
    #[test]
    fn write_reports_writes_index_failures_and_matrix() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let mut es: Vec<Entry> =
            ["a", "b", "c", "d", "e"].iter().map(|n| entry(n, &video(dir.path(), &format!("{n}.mp4"), n))).collect();
        es[0].extra = vec![("mos".into(), "3.5".into())];
        let id = |e: &Entry, w: &str| Identity::of_file(&e.path, w);
        feature_file(&output_of(&out, &es[0]), &id(&es[0], "hub"), 0.5);
        feature_file(&output_of(&out, &es[1]), &id(&es[1], "hub"), 1.5);
        feature_file(&output_of(&out, &es[4]), &id(&es[4], "synthetic"), 9.0);
        let outcomes = vec![
            Outcome::Done { seconds: 1.0, frames: 10, warnings: Vec::new() },
            Outcome::Skipped,
            Outcome::Failed { error: "cannot decode, \"bad\"".into() },
            Outcome::Done { seconds: 1.0, frames: 10, warnings: Vec::new() }, // no output after all
            Outcome::Skipped,                                                 // other weights
        ];
        let combined = write_reports(&out, &es, &["mos".into()], &outcomes, "hub").unwrap();
        assert_eq!(combined.rows, 2);
        assert_eq!(combined.npy, out.join("features.npy"));
        assert!(combined.npy.is_file());
        let m = read_feature_rows(&combined.path).unwrap();
        assert_eq!(m.names, ["a", "b"]);
        assert_eq!(m.dim, FEATURE_LEN);
        assert!(m.x[..FEATURE_LEN].iter().all(|&v| v == 0.5) && m.x[FEATURE_LEN..].iter().all(|&v| v == 1.5));
        assert_eq!(std::fs::read_to_string(out.join("features.names.txt")).unwrap(), "a\nb\n");

        let mut index = csv::Reader::from_path(out.join("index.csv")).unwrap();
        assert_eq!(index.headers().unwrap(), vec!["name", "path", "status", "output", "mos"]);
        let rows: Vec<Vec<String>> = index.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        let status: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(status, ["done", "skipped", "failed", "missing", "missing"]);
        assert_eq!(rows[0][3], output_of(&out, &es[0]).display().to_string());
        assert_eq!((rows[0][4].as_str(), rows[1][4].as_str()), ("3.5", ""));
        let mut failures = csv::Reader::from_path(out.join("failures.csv")).unwrap();
        let f: Vec<Vec<String>> = failures.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
        assert_eq!(f, [vec!["c".to_owned(), es[2].path.display().to_string(), "cannot decode, \"bad\"".to_owned()]]);
    }

    /// A report that cannot be written does not stop the others; the error
    /// is returned after all were tried.
    #[test]
    fn write_reports_tries_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("index.csv")).unwrap(); // a folder in the way
        let e = entry("a", &video(dir.path(), "a.mp4", "a"));
        feature_file(&output_of(&out, &e), &Identity::of_file(&e.path, "hub"), 2.0);
        let r = write_reports(&out, &[e], &[], &[Outcome::Skipped], "hub");
        let (msg, _) = err(r);
        assert!(msg.contains("index.csv"), "{msg}");
        assert!(out.join("failures.csv").is_file());
        assert_eq!(read_feature_rows(&out.join("features.safetensors")).unwrap().names, ["a"]);
    }

    /// A video named `features.mp4` must keep its own output: no entry's
    /// output may be the combined matrix, and after the reports its output
    /// is still a complete per-video file.
    #[test]
    fn a_video_named_features_keeps_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let videos = dir.path().join("videos");
        std::fs::create_dir(&videos).unwrap();
        for (name, body) in
            [("features.mp4", "f"), ("Features.mkv", "F"), ("INDEX.avi", "i"), ("a.mp4", "a"), ("A.mov", "A")]
        {
            video(&videos, name, body);
        }
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let (rows, _) = collect_rows(None, std::slice::from_ref(&videos), &ListOptions::default()).unwrap();
        let (es, _) = entries(rows);
        for (k, e) in es.iter().enumerate() {
            feature_file(&output_of(&out, e), &Identity::of_file(&e.path, "hub"), k as f64);
        }
        let outcomes = vec![Outcome::Skipped; es.len()];
        let combined = write_reports(&out, &es, &[], &outcomes, "hub").unwrap();
        for e in &es {
            let o = output_of(&out, e);
            assert_ne!(o, combined.path, "{} shares the combined matrix's file", e.name);
            assert!(is_complete(&o, &Identity::of_file(&e.path, "hub")), "{} lost its output", e.name);
        }
        // Names differ also without case (one file on macOS and Windows) and
        // none is a combined file's.
        let lower: std::collections::HashSet<String> = es.iter().map(|e| e.name.to_lowercase()).collect();
        assert_eq!(lower.len(), es.len(), "{:?}", es.iter().map(|e| &e.name).collect::<Vec<_>>());
        for reserved in ["features", "index", "failures"] {
            assert!(!lower.contains(reserved), "an entry is called {reserved}");
        }
    }

    /// Every item runs once and is handed over with its index; a panic
    /// becomes that item's `Panicked` error and the others go on.
    #[test]
    fn run_each_runs_every_item_and_survives_panics() {
        let items: Vec<u32> = (0..10).collect();
        let mut got: Vec<(usize, Result<u32, String>)> = Vec::new();
        run_each(
            &items,
            3,
            |i| format!("item {i}"),
            |&i| if i == 4 { panic!("worker panic in a test (expected)") } else { Ok(i * 10) },
            || false,
            |k, r| got.push((k, r.map_err(|e| e.to_string()))),
        );
        got.sort_by_key(|(k, _)| *k);
        assert_eq!(got.iter().map(|(k, _)| *k).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        for (k, r) in &got {
            if *k == 4 {
                let e = r.as_ref().unwrap_err();
                assert!(e.starts_with("item 4:") && e.contains("panicked"), "{e}");
            } else {
                assert_eq!(r.as_ref().ok(), Some(&(*k as u32 * 10)));
            }
        }
    }

    /// `jobs` 0 still runs the items (on one thread); nothing runs once
    /// cancelled.
    #[test]
    fn run_each_clamps_jobs_and_honours_cancel() {
        let items = [1, 2, 3];
        let mut n = 0;
        run_each(&items, 0, |i| i.to_string(), |&i| Ok(i), || false, |_, _| n += 1);
        assert_eq!(n, 3);
        let mut ran = 0;
        run_each(&items, 2, |i| i.to_string(), |&i| Ok(i), || true, |_, _| ran += 1);
        assert_eq!(ran, 0);
    }

    /// The summary counts each kind of outcome.
    #[test]
    fn summary_counts_outcomes() {
        let s = BatchSummary {
            outcomes: vec![
                Outcome::Skipped,
                Outcome::Done { seconds: 0.1, frames: 1, warnings: Vec::new() },
                Outcome::Failed { error: "x".into() },
                Outcome::Skipped,
                Outcome::Skipped,
            ],
            combined: Combined { path: "f.safetensors".into(), rows: 4, npy: "f.npy".into() },
        };
        assert_eq!((s.done(), s.skipped(), s.failed()), (1, 3, 1));
    }
}
