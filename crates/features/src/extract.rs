//! The whole extraction: decoder thread -> preparation thread -> networks,
//! joined by bounded channels (spec sections 1-5).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use relaxvqa_video::{FrameSource, SampledFrames, VideoInfo};
use serde::Serialize;

use crate::consume::consume;
use crate::dump::{DumpTensor, TensorData};
use crate::prepare::{prepare, Prepared};
use crate::{Backbones, FeatureError};

/// How to run an extraction.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Images per network batch (frames, frame fragments and merged
    /// fragments together, taken across sample boundaries), rounded up to a
    /// whole number of images per compute thread; the first batch is one
    /// image per thread, so the networks start with the first sample.
    pub batch_size: usize,
    /// Keep every intermediate tensor (`--dump all`); holds the whole video's
    /// sampled frames in memory, so meant for short clips.
    pub dump: bool,
    /// Keep each sample's own feature rows (for per-segment scores).
    pub per_sample: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self { batch_size: 8, dump: false, per_sample: false }
    }
}

/// Seconds spent in each stage (stages overlap, so they can add up to more
/// than the wall time).
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTimings {
    /// Decoding and RGB conversion.
    pub decode: f64,
    /// Pillow-compatible resizing.
    pub resize: f64,
    /// Optical flow and the flow image.
    pub flow: f64,
    /// Residual, ranking and mosaics.
    pub fragments: f64,
    /// ResNet-50 passes.
    pub resnet: f64,
    /// ViT-B/16 passes.
    pub vit: f64,
    /// The networks waiting for prepared images.
    pub network_wait: f64,
    /// Wall time of the whole extraction.
    pub total: f64,
}

/// The feature rows of one sampled frame (and its pair), for per-segment use.
#[derive(Clone, Debug)]
pub struct SampleFeatures {
    /// The frame number `n`.
    pub frame_number: u64,
    /// The sample's own 35,203 values: frame blocks from this frame, pair
    /// blocks from its pair (NaN when it has none).
    pub values: Vec<f32>,
}

/// A video's features and how they were made.
#[derive(Clone, Debug)]
pub struct VideoFeatures {
    /// What the decoder reported.
    pub info: VideoInfo,
    /// The 35,203-value vector (spec section 5); pair blocks NaN when P is empty.
    pub features: Vec<f64>,
    /// k.
    pub frame_interval: u64,
    /// N, frames decoded.
    pub frames_decoded: u64,
    /// |S|.
    pub sampled_frames: usize,
    /// |P|.
    pub pairs: usize,
    /// Per-stage seconds.
    pub timings: StageTimings,
    /// Every intermediate, by fixture name, when asked for.
    pub dump: Option<BTreeMap<String, DumpTensor>>,
    /// Per-sample rows, when asked for.
    pub per_sample: Option<Vec<SampleFeatures>>,
}

impl VideoFeatures {
    /// The tensors of an output file: `video.*` and, when dumped, every
    /// intermediate.
    pub fn tensors(&self) -> BTreeMap<String, DumpTensor> {
        let mut t = self.dump.clone().unwrap_or_default();
        t.insert(
            "video.features".into(),
            DumpTensor::new(vec![self.features.len()], TensorData::F64(self.features.clone())),
        );
        t.insert("video.frame_interval".into(), DumpTensor::scalar_i64(self.frame_interval as i64));
        t.insert("video.sampled_frame_count".into(), DumpTensor::scalar_i64(self.sampled_frames as i64));
        t.insert("video.pair_count".into(), DumpTensor::scalar_i64(self.pairs as i64));
        t.insert("video.frame_count".into(), DumpTensor::scalar_i64(self.frames_decoded as i64));
        t
    }
}

/// Opens `path` with FFmpeg and extracts its features.
pub fn extract_path(
    path: &Path,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<VideoFeatures, FeatureError> {
    let owned = path.to_owned();
    extract_with(move || relaxvqa_video::open(&owned), nets, opts, progress)
}

/// Extracts the features of an in-memory or otherwise sendable frame source.
pub fn extract<S: FrameSource + Send>(
    source: S,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<VideoFeatures, FeatureError> {
    extract_with(move || Ok(source), nets, opts, progress)
}

/// Threads that turn decoded samples into network inputs.
const PREPARATION_WORKERS: usize = 2;

struct Decoded {
    frames_decoded: u64,
    sampled: usize,
    pairs: usize,
    decode: Duration,
}

/// Extracts the features of the frame source that `open` makes; the source
/// is opened and driven on the decoder thread (FFmpeg contexts stay on the
/// thread that made them). `progress` is called with the number of samples
/// done so far.
pub fn extract_with<S, F>(
    open: F,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<VideoFeatures, FeatureError>
where
    S: FrameSource,
    F: FnOnce() -> Result<S, relaxvqa_video::VideoError> + Send,
{
    let start = Instant::now();
    let batch = opts.batch_size.max(1);

    std::thread::scope(|scope| {
        let (info_tx, info_rx) = sync_channel::<(VideoInfo, u64)>(1);
        let (sample_tx, sample_rx) = sync_channel(2);
        let (prep_tx, prep_rx) = sync_channel::<Result<Prepared, FeatureError>>(batch.div_ceil(3) + 2);
        let decoder = scope.spawn(move || -> Result<Decoded, FeatureError> {
            let t = Instant::now();
            let mut samples = SampledFrames::new(open()?)?;
            let mut decode = t.elapsed();
            let _ = info_tx.send((samples.info().clone(), samples.sampling().interval()));
            let path = samples.info().path.clone();
            loop {
                let t = Instant::now();
                let next = samples.next();
                decode += t.elapsed();
                match next {
                    None => break,
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(s)) => {
                        if sample_tx.send((s, path.clone())).is_err() {
                            break; // the consumer stopped
                        }
                    }
                }
            }
            Ok(Decoded {
                frames_decoded: samples.frames_decoded(),
                sampled: samples.sampled_count(),
                pairs: samples.pair_count(),
                decode,
            })
        });
        let keep_dump = opts.dump;
        // Several preparation workers (optical flow dominates at high
        // resolutions): at the start, before the networks have work, they
        // fill the first batch in parallel; later they share the cores with
        // the networks. Results arrive out of order and are put back in
        // order by the consumer.
        // Their image work runs in a thread pool of its own: the networks
        // keep the main pool's threads busy with long tasks, and rayon does
        // not preempt, so sharing it would stall the flow for seconds.
        let prep_pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("relaxvqa-prepare-{i}"))
            .build()
            .ok();
        let prep_pool = std::sync::Arc::new(prep_pool);
        let sample_rx = std::sync::Arc::new(std::sync::Mutex::new(sample_rx));
        let preparers: Vec<_> = (0..PREPARATION_WORKERS)
            .map(|_| {
                let prep_tx = prep_tx.clone();
                let sample_rx = std::sync::Arc::clone(&sample_rx);
                let prep_pool = std::sync::Arc::clone(&prep_pool);
                scope.spawn(move || loop {
                    let next = sample_rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                    let Ok((s, path)) = next else { break };
                    let r = match prep_pool.as_ref() {
                        Some(pool) => pool.install(|| prepare(s, keep_dump, &path)),
                        None => prepare(s, keep_dump, &path),
                    };
                    let failed = r.is_err();
                    if prep_tx.send(r).is_err() || failed {
                        break;
                    }
                })
            })
            .collect();
        drop(prep_tx);
        let consumed = consume(prep_rx, nets, opts, progress);
        let opened = info_rx.recv().ok();
        let decoded = decoder.join().map_err(|_| FeatureError::Stage("decoder"))?;
        for preparer in preparers {
            preparer.join().map_err(|_| FeatureError::Stage("preparation"))?;
        }
        // A decoder error is the root cause of anything the consumer saw.
        let decoded = decoded?;
        let mut out = consumed?;
        let (info, interval) = opened.ok_or(FeatureError::Stage("decoder"))?;
        if decoded.frames_decoded == 0 {
            return Err(FeatureError::NoFrames(info.path.clone()));
        }
        out.timings.decode = decoded.decode.as_secs_f64();
        out.timings.total = start.elapsed().as_secs_f64();
        debug_assert_eq!(out.sampled_frames, decoded.sampled);
        debug_assert_eq!(out.pairs, decoded.pairs);
        Ok(VideoFeatures {
            info,
            features: out.features,
            frame_interval: interval,
            frames_decoded: decoded.frames_decoded,
            sampled_frames: decoded.sampled,
            pairs: decoded.pairs,
            timings: out.timings,
            dump: out.dump,
            per_sample: out.per_sample,
        })
    })
}
