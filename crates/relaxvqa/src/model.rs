//! The model: both backbones and, optionally, a quality head, loaded once,
//! with the thread pools every extraction runs on. Load it once and call
//! [`Model::extract`] or [`Model::score`] for each video, from one thread or
//! several (a `Model` is `Sync`).

use std::sync::Arc;

use relaxvqa_features::{extract_observed, CpuBackbones, Observer};
use relaxvqa_model::weights::WeightSources;
use relaxvqa_video::DEFAULT_MAX_PIXELS;
use relaxvqa_video::{DecodeOptions, Limits, VideoInfo};

use crate::extract::{ExtractOptions, Features, Progress};
use crate::head::LoadedHead;
use crate::input::Input;
use crate::score::{score_features, Score, ScoreOptions};
use crate::{Error, Result};

/// Images per network batch when none is given: every front end's default.
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// How to load a [`Model`].
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// Backbone weights: `hub` (the real pretrained weights, cached),
    /// `synthetic` (deterministic, for tests and benchmarks only), a folder
    /// or file, or `resnet50=SRC,vit=SRC`.
    pub weights: String,
    /// The quality head: a zoo name (`konvid-1k`, ...) or a head file;
    /// `None` for a model that only extracts.
    pub head: Option<String>,
    /// Compute threads (default: all cores). The model owns its pools: no
    /// environment variable, no global pool.
    pub threads: Option<usize>,
    /// Images per network batch (rounded up to a multiple of the threads).
    pub batch_size: usize,
    /// Refuse frames with more pixels than this (default 8K UHD); `None`
    /// for no limit.
    pub max_pixels: Option<u64>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            weights: "hub".into(),
            head: None,
            threads: None,
            batch_size: DEFAULT_BATCH_SIZE,
            max_pixels: Some(DEFAULT_MAX_PIXELS),
        }
    }
}

/// Both backbones, an optional head and the thread pools: everything a
/// video needs, loaded once.
pub struct Model {
    backbones: CpuBackbones,
    head: Option<LoadedHead>,
    pool: rayon::ThreadPool,
    prepare_pool: Arc<rayon::ThreadPool>,
    weights: String,
    batch_size: usize,
    max_pixels: Option<u64>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("weights", &self.weights)
            .field("head", &self.head)
            .field("threads", &self.pool.current_num_threads())
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Model {
    /// Loads the backbones (and the head, when named). With `weights:
    /// "hub"` the real weights are looked up in the caches and downloaded
    /// when missing.
    pub fn load(opts: ModelOptions) -> Result<Self> {
        let sources: WeightSources = opts.weights.parse()?;
        if opts.weights.trim().eq_ignore_ascii_case("synthetic") {
            tracing::warn!("synthetic backbone weights: features are for tests and benchmarks, not for quality scores");
        }
        let simd = crate::inspect::simd();
        tracing::info!(
            "kernels: {} ({}); matrix products: {} ({})",
            simd.path,
            simd.reason,
            simd.matmul.kernels,
            simd.matmul.reason
        );
        if opts.batch_size == 0 {
            return Err(Error::invalid("batch size 0: give at least 1 image per network batch"));
        }
        let threads = match opts.threads {
            Some(0) => return Err(Error::invalid("threads 0: give at least 1 (or leave it unset for all cores)")),
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        };
        let pool = |name: &'static str| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("relaxvqa-{name}-{i}"))
                .build()
                .map_err(|e| Error::invalid(format!("cannot start {threads} threads: {e}")))
        };
        let (pool, prepare_pool) = (pool("compute")?, Arc::new(pool("prepare")?));
        let head = opts.head.as_deref().map(LoadedHead::load).transpose()?;
        let backbones = pool.install(|| CpuBackbones::load(&sources))?;
        Ok(Self {
            backbones,
            head,
            pool,
            prepare_pool,
            weights: opts.weights,
            batch_size: opts.batch_size,
            max_pixels: opts.max_pixels,
        })
    }

    /// The head, when one was loaded.
    pub fn head(&self) -> Option<&LoadedHead> {
        self.head.as_ref()
    }

    /// The weights as given.
    pub fn weights(&self) -> &str {
        &self.weights
    }

    /// Compute threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Extracts a video's 35,203 features.
    pub fn extract(&self, input: impl Into<Input>, opts: &ExtractOptions) -> Result<Features> {
        self.extract_observed(input.into(), opts, &mut NoImages)
    }

    /// [`Model::extract`] with an observer that also sees each sample's
    /// images (reports).
    pub fn extract_observed(
        &self,
        input: Input,
        opts: &ExtractOptions,
        observer: &mut (dyn Observer + Send),
    ) -> Result<Features> {
        let name = input.name();
        let decode = DecodeOptions {
            threads: opts.decode_threads,
            raw: input.raw.clone(),
            trust: input.trust,
            limits: opts.decode_limits(self.max_pixels, input.trust),
        };
        let fopts = relaxvqa_features::ExtractOptions {
            batch_size: self.batch_size,
            dump: opts.dump,
            per_sample: opts.per_sample,
            cancel: opts.cancel.clone(),
            max_pixels: self.max_pixels,
            prepare_pool: Some(Arc::clone(&self.prepare_pool)),
        };
        let mut observer = WithProgress { inner: observer, progress: opts.progress.as_deref(), total: None };
        let v = self.pool.install(|| {
            extract_observed(move || crate::open::open(input, &decode), &self.backbones, &fopts, &mut observer)
        })?;
        Ok(Features::new(v, name, &self.weights))
    }

    /// Extracts a video into the feature file `output` (what `relaxvqa
    /// extract VIDEO -o OUT` writes): refused before any work when `output`
    /// cannot be written; written whole or not at all, recording what the
    /// features came from (a file's path, size and time, or the input's
    /// name) and the weights.
    pub fn extract_to_file(
        &self,
        input: impl Into<Input>,
        output: &std::path::Path,
        opts: &ExtractOptions,
        as_f32: bool,
    ) -> Result<Features> {
        crate::files::check_writable(output)?;
        let input = input.into();
        let identity = crate::files::Identity::of_input(&input, &self.weights);
        let features = self.extract(input, opts)?;
        crate::files::write_features(output, &features, &identity, as_f32)?;
        Ok(features)
    }

    /// Scores a video with the model's head.
    pub fn score(&self, input: impl Into<Input>, opts: &ScoreOptions) -> Result<Score> {
        let head = self.require_head()?;
        opts.segments.map(crate::score::check_window).transpose()?;
        let mut extract = opts.extract.clone();
        extract.per_sample |= opts.segments.is_some();
        let features = self.extract(input, &extract)?;
        score_features(head, &features, opts)
    }

    /// The head, or an error saying the model was loaded without one.
    pub fn require_head(&self) -> Result<&LoadedHead> {
        self.head.as_ref().ok_or_else(|| Error::invalid("this model was loaded without a head: name one to score"))
    }
}

/// Opens a video and reads what the container says, without loading any
/// network, and checks it against `limits` as decoding would (a trusted
/// input against `limits.max_pixels` only): a bad file, a refused
/// container or a video over a limit fails in milliseconds. An untrusted
/// input whose container does not say how long it is has its packets
/// counted (not decoded) against the duration and sampled-frame limits;
/// see [`relaxvqa_video::probe`]. `None` for URLs and pipes, which
/// cannot be read twice.
pub fn probe(input: Input, limits: &Limits) -> Result<Option<VideoInfo>> {
    if matches!(input.source, crate::input::Source::Url(_)) {
        return Ok(None);
    }
    let decode = DecodeOptions {
        threads: 1,
        raw: input.raw.clone(),
        trust: input.trust,
        // A trusted input is held to `max_pixels` alone: the decoder's
        // own reading of the limits by trust.
        limits: limits.clone(),
    };
    Ok(Some(relaxvqa_video::probe(input.into_media(), &decode)?))
}

/// An observer that wants nothing but progress.
struct NoImages;
impl Observer for NoImages {}

/// Forwards events to the caller's observer and its progress callback.
struct WithProgress<'a> {
    inner: &'a mut (dyn Observer + Send),
    progress: Option<&'a (dyn Fn(Progress) + Send + Sync)>,
    total: Option<usize>,
}

impl Observer for WithProgress<'_> {
    fn opened(&mut self, info: &VideoInfo, expected: Option<usize>) {
        self.total = expected;
        self.inner.opened(info, expected);
        if let Some(p) = self.progress {
            p(Progress { done: 0, total: expected });
        }
    }

    fn samples_done(&mut self, done: usize) {
        self.inner.samples_done(done);
        if let Some(p) = self.progress {
            p(Progress { done, total: self.total.map(|t| t.max(done)) });
        }
    }

    fn wants_images(&self) -> bool {
        self.inner.wants_images()
    }

    fn sample_images(&mut self, images: relaxvqa_features::SampleImages<'_>) {
        self.inner.sample_images(images)
    }
}
