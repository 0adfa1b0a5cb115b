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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use relaxvqa::synth::{make_dataset, SynthOptions, Target};
use serde_json::json;

/// `relaxvqa synth-dataset`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Folder for the clips and `videos.csv`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Source videos (each one content); default: the FFmpeg test sources,
    /// plus the fixture videos when `$RELAXVQA_SHARED` or ../shared exists.
    #[arg(long, value_name = "VIDEO", num_args = 1..)]
    pub sources: Vec<PathBuf>,
    /// Leave out the FFmpeg test sources (testsrc2, smptehdbars, ...).
    #[arg(long)]
    pub no_lavfi: bool,
    /// Scenes per FFmpeg test-source family (1 to 4): more scenes, more
    /// distinct contents to train on and to hold out.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub scenes: u8,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub duration: f64,
    /// Frame size of every clip, WxH.
    #[arg(long, default_value = "320x240", value_name = "WxH")]
    pub size: String,
    /// Frame rate of every clip.
    #[arg(long, default_value_t = 25, value_name = "FPS")]
    pub fps: u32,
    /// The FFmpeg program.
    #[arg(long, default_value = "ffmpeg", value_name = "PATH")]
    pub ffmpeg: PathBuf,
    /// How the quality target is made.
    #[arg(long, value_enum, default_value_t = TargetArg::Level)]
    pub target: TargetArg,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// The quality target of each clip (the `mos` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// A fixed monotone map of distortion and level, the same for every content.
    Level,
    /// The PSNR against the source, mapped to 1-5.
    Psnr,
}

/// Runs `relaxvqa synth-dataset`.
pub fn run(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let opts = SynthOptions {
        out: a.out.clone(),
        sources: a.sources.clone(),
        no_lavfi: a.no_lavfi,
        scenes: a.scenes,
        duration: a.duration,
        size: a.size.clone(),
        fps: a.fps,
        ffmpeg: a.ffmpeg.clone(),
        target: match a.target {
            TargetArg::Level => Target::Level,
            TargetArg::Psnr => Target::Psnr,
        },
    };
    let s = make_dataset(&opts)?;
    if a.json {
        crate::output::print_json(&json!({
            "schema": "relaxvqa.synth-dataset/1",
            "list": s.list,
            "sources": s.sources,
            "target": format!("{:?}", a.target).to_lowercase(),
            "clips": s.clips,
            "seconds": s.seconds,
        }))?;
    } else {
        println!("{} clips of {} sources in {:.0} s -> {}", s.clips, s.sources.len(), s.seconds, s.list.display());
    }
    Ok(ExitCode::SUCCESS)
}
