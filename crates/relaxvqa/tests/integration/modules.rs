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

mod mos;

mod head;

mod training;

mod batch;
