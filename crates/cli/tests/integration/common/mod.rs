//! Helpers shared by the end-to-end tests of the `relaxvqa` binary.

pub mod service;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use relaxvqa_fixtures::fixture;
use relaxvqa_model::head::{head_tensor_shapes, save_head_file, HeadFile, OutputScale, FEATURE_LEN};
use relaxvqa_model::StateDict;

/// The binary under test, with only errors logged.
pub fn relaxvqa() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_relaxvqa"));
    c.env("RELAXVQA_LOG", "error");
    c
}

/// Runs a command, printing its stdout and stderr for the test log.
pub fn run(c: &mut Command) -> Output {
    let out = c.output().expect("running a command");
    println!("stdout: {}", String::from_utf8_lossy(&out.stdout));
    println!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A full-size head with synthetic weights and the fixture KoNViD-1k
/// imputer and scaler, saved in our head format (raw output scale), as
/// `synthetic_head_scores.json` was computed.
pub fn synthetic_head_file(dir: &Path) -> PathBuf {
    let mut sd = StateDict::new();
    for (name, shape) in head_tensor_shapes(FEATURE_LEN) {
        let t = relaxvqa_model::synthetic::synthetic_tensor(&name, &shape);
        sd.insert(name, t);
    }
    let imputer = relaxvqa_formats::joblib::read_simple_imputer(&fixture("head/konvid_1k_imputer.pkl")).unwrap();
    let scaler = relaxvqa_formats::joblib::read_min_max_scaler(&fixture("head/konvid_1k_scaler.pkl")).unwrap();
    let hf = HeadFile::new(sd, Some(imputer.into()), Some(scaler.into()), OutputScale::Raw, "synthetic v1 + konvid_1k")
        .unwrap();
    let path = dir.join("synthetic_head.safetensors");
    save_head_file(&path, &hf).unwrap();
    path
}
