//! Support for this crate's documentation examples and for the tests of the
//! front ends: the shared fixtures and a head with synthetic weights. Not
//! part of the API (hidden from the documentation).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use relaxvqa_model::head::{head_tensor_shapes, save_head_file, HeadFile, OutputScale, FEATURE_LEN};
use relaxvqa_model::StateDict;

/// The repository's test data (`tests/data`, see its README).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// A short fixture clip (48 frames of 320x240).
pub fn clip() -> PathBuf {
    data_dir().join("videos/testsrc2_noise.mp4")
}

/// Writes a full-size head with synthetic weights and the fixture
/// KoNViD-1k imputer and scaler to `path` (raw output scale): the head the
/// fixture `synthetic_head_scores.json` was computed with.
pub fn write_synthetic_head(path: &Path) -> crate::Result<()> {
    let mut sd = StateDict::new();
    for (name, shape) in head_tensor_shapes(FEATURE_LEN) {
        let t = relaxvqa_model::synthetic::synthetic_tensor(&name, &shape);
        sd.insert(name, t);
    }
    let fixtures = data_dir().join("head");
    let bad = |e: relaxvqa_formats::FormatError| crate::Error::invalid(e.to_string());
    let imputer =
        relaxvqa_formats::joblib::read_simple_imputer(&fixtures.join("konvid_1k_imputer.pkl")).map_err(bad)?;
    let scaler = relaxvqa_formats::joblib::read_min_max_scaler(&fixtures.join("konvid_1k_scaler.pkl")).map_err(bad)?;
    let hf = HeadFile::new(sd, Some(imputer.into()), Some(scaler.into()), OutputScale::Raw, "synthetic v1 + konvid_1k")
        .map_err(crate::Error::head("synthetic head"))?;
    save_head_file(path, &hf).map_err(crate::Error::head(path.display().to_string()))
}

/// The synthetic head, in the temporary folder under one name for every
/// process of this version: written (atomically) only when missing, so doc
/// tests, which run one process each, neither leave a 37 MB file behind per
/// run nor race each other.
pub fn head() -> String {
    static HEAD: OnceLock<PathBuf> = OnceLock::new();
    HEAD.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("relaxvqa-doc-head-{}.safetensors", crate::VERSION));
        if !path.is_file() {
            let tmp = path.with_extension(format!("{}.part", std::process::id()));
            let written = write_synthetic_head(&tmp).and_then(|()| {
                std::fs::rename(&tmp, &path).map_err(|e| crate::Error::invalid(format!("{}: {e}", path.display())))
            });
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                eprintln!("cannot write the synthetic head: {e}");
            }
        }
        path
    })
    .display()
    .to_string()
}
