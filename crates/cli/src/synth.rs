//! `relaxvqa synth`: Make a learnable synthetic-distortion dataset with FFmpeg.
//!
//! No public VQA dataset can be downloaded everywhere this program is built,
//! so training and evaluation need a dataset made on the spot: source clips
//! (FFmpeg test sources and any given videos) get graded distortions
//! (x264 CRF, down- and up-scaling, blur, noise, frame drops) and a 1-5
//! quality target: by default a fixed monotone map of each distortion's
//! level (the same for every content, so a head must recognise the
//! distortion and its strength whatever the picture), or, with `--target
//! psnr`, the PSNR against the source. The `content` column lets train keep
//! source contents apart in its splits.

use std::process::ExitCode;

use crate::args::SynthArgs;
use relaxvqa::synth::make_dataset;
use serde_json::json;

/// Runs `relaxvqa synth-dataset`.
pub fn run(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let s = make_dataset(&a.options)?;
    if a.json {
        crate::output::print_json(&json!({
            "schema": "relaxvqa.synth-dataset/1",
            "list": s.list,
            "sources": s.sources,
            "target": a.options.target.as_str(),
            "clips": s.clips,
            "seconds": s.seconds,
        }))?;
    } else {
        println!("{} clips of {} sources in {:.0} s -> {}", s.clips, s.sources.len(), s.seconds, s.list.display());
    }
    Ok(ExitCode::SUCCESS)
}
