//! The command line, declared with clap: every subcommand's arguments, in
//! one place; `///` comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use relaxvqa::head::DEFAULT_HEAD;

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
    Score(ScoreArgs),
    /// List, fetch and convert the published quality heads.
    Models(ModelsArgs),
    /// Write a self-contained HTML quality report for a video.
    Report(ReportArgs),
    /// Train a quality head on features and MOS (the authors' protocol).
    Train(TrainArgs),
    /// Evaluate predictions or a head: SRCC, KRCC, PLCC, RMSE.
    Eval(EvalArgs),
    /// Make a learnable synthetic-distortion dataset with FFmpeg.
    SynthDataset(SynthArgs),
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

/// How to load the backbones: every command that runs them.
#[derive(Args, Debug, Clone)]
pub struct BackboneArgs {
    /// Backbone weights: hub (default: the real pretrained weights, cached),
    /// synthetic (tests and benchmarks only), a folder or file, or
    /// resnet50=SRC,vit=SRC.
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// Images per network batch (rounded up to a multiple of --threads).
    #[arg(long, default_value_t = relaxvqa::DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,
    /// Refuse frames with more pixels than this (0: no limit; default 8K UHD,
    /// 7680x4320). Optical flow runs at full resolution.
    #[arg(long, default_value_t = relaxvqa::DEFAULT_MAX_PIXELS, value_name = "N")]
    pub max_pixels: u64,
}

impl BackboneArgs {
    /// The decoder's limits: `--max-pixels` (the only one a file named on
    /// the command line is held to) over the untrusted defaults.
    pub fn limits(&self) -> relaxvqa::Limits {
        relaxvqa::Limits { max_pixels: (self.max_pixels > 0).then_some(self.max_pixels), ..Default::default() }
    }

    /// The model these flags describe, with `head` and `threads`.
    pub fn load(&self, head: Option<&str>, threads: Option<usize>) -> anyhow::Result<relaxvqa::Model> {
        use anyhow::Context;
        let opts = relaxvqa::ModelOptions {
            weights: self.weights.clone(),
            head: head.map(str::to_owned),
            threads,
            batch_size: self.batch_size,
            max_pixels: (self.max_pixels > 0).then_some(self.max_pixels),
        };
        let what = match head {
            Some(h) => format!("--model {h} --weights {}", self.weights),
            None => format!("--weights {}", self.weights),
        };
        relaxvqa::Model::load(opts).with_context(|| what)
    }
}

/// Which head scores, on which scale: every command that scores.
#[derive(Args, Debug, Clone)]
pub struct HeadArgs {
    /// The head: a zoo name (see `relaxvqa models list`; fetched and cached)
    /// or a head file (.safetensors, from `models convert` or training).
    #[arg(long, default_value = DEFAULT_HEAD, value_name = "NAME|FILE")]
    pub model: String,
    /// Report scores on this scale (1-5, 0-100) instead of the head's own.
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
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
    /// Frame rate of raw input, as N, N/D or a decimal (default 25).
    #[arg(long, value_name = "RATE", requires = "size")]
    pub fps: Option<String>,
}

impl RawArgs {
    /// The library's raw-video options (validated there).
    pub fn options(&self) -> relaxvqa::RawOptions {
        relaxvqa::RawOptions { size: self.size.clone(), pix_fmt: self.pix_fmt.clone(), fps: self.fps.clone() }
    }
}

/// Which videos a batch reads: a list CSV and how to read it.
#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    /// A CSV with a column of video paths (relative to the CSV or absolute);
    /// other columns (MOS, ...) are carried into extract's index.
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
}

impl ListArgs {
    /// The library's batch input: this list and the `inputs` given.
    pub fn videos(&self, inputs: &[PathBuf]) -> relaxvqa::batch::Videos {
        let list_options = relaxvqa::batch::ListOptions {
            path_column: self.path_column.clone(),
            video_dir: self.video_dir.clone(),
            ext: self.ext.clone(),
        };
        relaxvqa::batch::Videos { list: self.list.clone(), inputs: inputs.to_vec(), list_options }
    }
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
    #[command(flatten)]
    pub videos: ListArgs,
    /// Batch mode: where per-video outputs, the combined feature matrix,
    /// the index and the failures file go.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    #[command(flatten)]
    pub backbones: BackboneArgs,
    /// Keep every intermediate tensor in the output (single video only).
    #[arg(long, value_enum, default_value_t = Dump::None)]
    pub dump: Dump,
    /// Store the feature vector as f32 instead of f64.
    #[arg(long)]
    pub f32: bool,
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

/// `relaxvqa score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Video file(s), or folders of videos.
    #[arg(value_name = "VIDEO")]
    pub inputs: Vec<PathBuf>,
    /// Saved features to score without decoding: per-video files from
    /// `relaxvqa extract`, the combined matrix of `extract --list`
    /// (`features.safetensors`, one score per row), or a folder of either.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub features: Vec<PathBuf>,
    #[command(flatten)]
    pub videos: ListArgs,
    #[command(flatten)]
    pub head: HeadArgs,
    #[command(flatten)]
    pub backbones: BackboneArgs,
    /// Also score windows of this length (e.g. 2s, 500ms, 1m): sampled
    /// frames grouped by time, mean-pooled, scored with the same head.
    #[arg(long, value_name = "DURATION")]
    pub segments: Option<String>,
    /// Write the scores to this CSV too; inputs already scored in it (same
    /// file, head, weights and scale) are skipped.
    #[arg(short, long, value_name = "CSV")]
    pub output: Option<PathBuf>,
    /// Score again inputs already in the --output CSV.
    #[arg(long)]
    pub force: bool,
    /// One JSON document on stdout (schema relaxvqa.score/1).
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// `relaxvqa report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The video.
    #[arg(value_name = "VIDEO")]
    pub video: PathBuf,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub head: HeadArgs,
    #[command(flatten)]
    pub backbones: BackboneArgs,
    /// Timeline window length.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub segments: String,
    /// At most this many sampled frames shown (evenly spread).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub max_frames: usize,
    /// Images wider than this are downscaled on the page.
    #[arg(long, default_value_t = 320, value_name = "PIXELS")]
    pub image_width: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// Where the labelled data comes from; shared by `train` and `eval`.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Features: a combined matrix (features.safetensors), an extract
    /// output folder, or a per-video feature file.
    #[arg(long, value_name = "PATH")]
    pub features: Option<PathBuf>,
    /// CSV mapping video names to MOS (the authors' metadata, our index.csv,
    /// or any CSV with a name/vid column and a mos column).
    #[arg(long, value_name = "CSV")]
    pub mos: Option<PathBuf>,
    /// The MOS CSV's name column (default: the first of name, vid, video,
    /// path, file, filename, flickr_id).
    #[arg(long, value_name = "NAME")]
    pub name_column: Option<String>,
    /// The MOS CSV's score column (default: mos, dmos or score).
    #[arg(long, value_name = "NAME")]
    pub mos_column: Option<String>,
}

/// `relaxvqa train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The head file to write (.safetensors).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub options: relaxvqa::training::TrainOptions,
    /// Fine-tune: start from this head's weights instead of a random
    /// initialisation (a head file from `train` or `models convert`, or the
    /// authors' .pth). The imputer and scaler are refitted on the new data.
    #[arg(long, value_name = "HEAD")]
    pub init: Option<PathBuf>,
    /// Scale recorded for the head's output: raw (the MOS list's own units),
    /// mos_1_5 or mos_0_100.
    #[arg(long, default_value = "raw", value_name = "SCALE", value_parser = parse_scale)]
    pub scale: relaxvqa::OutputScale,
    /// Evaluation mode: N random train/test splits (the authors use 21);
    /// prints every split's test metrics and their medians, writes no head.
    #[arg(long, value_name = "N")]
    pub splits: Option<usize>,
    /// Fraction held out by each split (of videos, or of groups).
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub test_fraction: f64,
    /// A MOS CSV column (e.g. content) whose values are kept on one side of
    /// every split, so test contents are never seen in training.
    #[arg(long, value_name = "NAME")]
    pub group_column: Option<String>,
    /// Print a JSON summary (the output is JSON in any case).
    #[arg(long)]
    pub json: bool,
}

/// `relaxvqa eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A CSV of predictions: columns mos and pred, optionally name.
    #[arg(long, value_name = "CSV", conflicts_with_all = ["model", "features"])]
    pub predictions: Option<PathBuf>,
    /// A head file to score --features with (instead of --predictions).
    #[arg(long, value_name = "FILE", requires_all = ["features", "mos"])]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// With --model: also write the predictions (name, mos, pred) to CSV.
    #[arg(long, value_name = "CSV", requires = "model")]
    pub write_predictions: Option<PathBuf>,
    /// Print JSON (the output is JSON in any case).
    #[arg(long)]
    pub json: bool,
}

/// `relaxvqa models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ModelsCommand,
}

/// The `models` subcommands.
#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// List the published heads: name, training data, scale, SRCC, cached.
    List {
        /// JSON on stdout (schema relaxvqa.models/1).
        #[arg(long)]
        json: bool,
    },
    /// Download (and verify) a published head with its imputer and scaler.
    Fetch {
        /// Head name(s), or `all`.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Also write it in our head format (one file) here.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Convert a .pth head, its imputer and scaler into one head file.
    Convert {
        /// The head's state dict (.pth; plain, DataParallel or SWA).
        #[arg(long, value_name = "PTH")]
        head: PathBuf,
        /// The imputer (joblib pickle of a SimpleImputer).
        #[arg(long, value_name = "PKL")]
        imputer: Option<PathBuf>,
        /// The scaler (joblib pickle of a MinMaxScaler).
        #[arg(long, value_name = "PKL")]
        scaler: Option<PathBuf>,
        /// The scale of the head's output: 1-5, 0-100 or raw.
        #[arg(long, value_name = "SCALE")]
        scale: String,
        /// Where the source is recorded from (default: the input paths).
        #[arg(long, value_name = "TEXT")]
        source: Option<String>,
        /// The head file to write (.safetensors).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// `relaxvqa synth-dataset`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    #[command(flatten)]
    pub options: relaxvqa::synth::SynthOptions,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// `--scale` read by the library (its message on a bad name).
fn parse_scale(s: &str) -> Result<relaxvqa::OutputScale, String> {
    relaxvqa::head::parse_scale(s).map_err(|e| e.to_string())
}
