//! The command line, declared with clap; `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// No-reference video quality for user-generated content (ReLaX-VQA).
#[derive(Parser, Debug)]
#[command(name = "relaxvqa", version, about, long_about = None)]
pub struct Cli {
    /// Compute threads for the networks and image work (default: all cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// More logging on stderr (-v info, -vv debug); RELAXVQA_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compute the 35,203-value feature vector of one video or a whole dataset.
    Extract(ExtractArgs),
    /// Show what the decoder reports about a video and how it is sampled.
    Info(InfoArgs),
    /// Score videos (or saved features) with a quality head.
    Score(crate::score::ScoreArgs),
    /// List, fetch and convert the published quality heads.
    Models(crate::models::ModelsArgs),
    /// Write a self-contained HTML quality report for a video.
    Report(crate::report::ReportArgs),
    /// Train a quality head on features and MOS (the authors' protocol).
    Train(crate::train::TrainArgs),
    /// Evaluate predictions or a head: SRCC, KRCC, PLCC, RMSE.
    Eval(crate::eval::EvalArgs),
    /// Make a learnable synthetic-distortion dataset with FFmpeg.
    SynthDataset(crate::synth::SynthArgs),
    /// Run the quality-scoring HTTP service (durable job queue).
    Serve(relaxvqa_serve::ServeArgs),
}

/// What `--dump` keeps besides the feature vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dump {
    /// Only `video.features` and the `video.*` counts.
    None,
    /// Every intermediate tensor, under the reference fixtures' names.
    All,
}

/// Raw-video options, for `.yuv` and other headerless input.
#[derive(Args, Debug, Clone, Default)]
pub struct RawArgs {
    /// Frame size of raw input, WxH (e.g. 1920x1080); makes the input raw video.
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// Pixel format of raw input (FFmpeg name, default yuv420p).
    #[arg(long, value_name = "FMT", requires = "size")]
    pub pix_fmt: Option<String>,
    /// Frame rate of raw input, as N or N/D (default 25).
    #[arg(long, value_name = "RATE", requires = "size")]
    pub fps: Option<String>,
}

/// `relaxvqa extract`.
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// Video file(s), or one directory of videos (batch mode).
    #[arg(value_name = "VIDEO")]
    pub inputs: Vec<PathBuf>,
    /// Output file for a single video (.safetensors).
    #[arg(short, long, value_name = "FILE", conflicts_with = "out_dir")]
    pub output: Option<PathBuf>,
    /// Batch mode: a CSV with a column of video paths (relative to the CSV or
    /// absolute); other columns (MOS, ...) are carried into the index.
    #[arg(long, value_name = "CSV")]
    pub list: Option<PathBuf>,
    /// The CSV column holding the paths (default: the first of path, file,
    /// filename, video, vid, name).
    #[arg(long, value_name = "NAME")]
    pub path_column: Option<String>,
    /// Folder that relative list entries are resolved against (default: the
    /// CSV's own folder).
    #[arg(long, value_name = "DIR", requires = "list")]
    pub video_dir: Option<PathBuf>,
    /// File extension appended to list entries that have none (e.g. mp4, for
    /// the authors' metadata whose `vid` column has bare names).
    #[arg(long, value_name = "EXT")]
    pub ext: Option<String>,
    /// Batch mode: where per-video outputs, the combined feature matrix,
    /// the index and the failures file go.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Backbone weights: hub (default: the real pretrained weights, cached),
    /// synthetic (tests and benchmarks only), a folder or file, or
    /// resnet50=SRC,vit=SRC.
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// Keep every intermediate tensor in the output (single video only).
    #[arg(long, value_enum, default_value_t = Dump::None)]
    pub dump: Dump,
    /// Store the feature vector as f32 instead of f64.
    #[arg(long)]
    pub f32: bool,
    /// Images per network batch (rounded up to a multiple of --threads).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// Refuse frames with more pixels than this (0: no limit; default 8K UHD,
    /// 7680x4320). Optical flow runs at full resolution.
    #[arg(long, default_value_t = relaxvqa::lower::features::DEFAULT_MAX_PIXELS, value_name = "N")]
    pub max_pixels: u64,
    /// Videos processed at once in batch mode.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Recompute outputs that already exist.
    #[arg(long)]
    pub force: bool,
    /// A machine-readable summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// `relaxvqa info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The video.
    pub video: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Decode every frame to count them (slower, exact).
    #[arg(long)]
    pub count: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}
