//! The whole extraction: decoder thread -> preparation thread -> networks,
//! joined by bounded channels (spec sections 1-5).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use relaxvqa_video::{DecodeReport, FrameSource, SampledFrames, VideoInfo};

use std::sync::{Arc, Mutex};

use crate::consume::consume;
use crate::dump::{DumpTensor, TensorData};
use crate::layout::{Over, BLOCKS};
use crate::options::{ExtractOptions, SampleFeatures, StageTimings, LARGE_FRAME_PIXELS};
use crate::prepare::{prepare, Prepared};
use crate::{Backbones, FeatureError, Observer};

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
    /// What a user should know about this result (one line each): no frame
    /// pair, frames smaller than a patch, damage the decoder concealed.
    pub warnings: Vec<String>,
    /// What decoding had to work around (concealed errors, a file that
    /// ended early, a size change), for outputs' metadata.
    pub decode_report: DecodeReport,
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
    warnings: Vec<String>,
    report: DecodeReport,
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
    extract_observed(open, nets, opts, &mut { progress })
}

/// [`extract_with`] with an [`Observer`] that also sees the video's
/// information as soon as it is open and, when it asks, each sample's images.
///
/// Any stage's error (decoder, preparation, a network) ends the extraction
/// promptly with that error; every thread it started has stopped when it
/// returns.
pub fn extract_observed<S, F>(
    open: F,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    observer: &mut dyn Observer,
) -> Result<VideoFeatures, FeatureError>
where
    S: FrameSource,
    F: FnOnce() -> Result<S, relaxvqa_video::VideoError> + Send,
{
    let start = Instant::now();
    let batch = opts.batch_size.max(1);
    let keep_frames = opts.dump || observer.wants_images();
    let cancel = &opts.cancel;

    std::thread::scope(|scope| {
        let (info_tx, info_rx) = sync_channel::<(VideoInfo, u64)>(1);
        let (sample_tx, sample_rx) = sync_channel(2);
        let (prep_tx, prep_rx) = sync_channel::<Result<Prepared, FeatureError>>(batch.div_ceil(3) + 2);
        // How many preparation workers to run, decided once the size is known.
        let (workers_tx, workers_rx) = sync_channel::<usize>(1);
        let max_pixels = opts.max_pixels;
        let decoder = scope.spawn(move || -> Result<Decoded, FeatureError> {
            let t = Instant::now();
            let mut samples = SampledFrames::new(open()?)?;
            let mut decode = t.elapsed();
            let info = samples.info().clone();
            let pixels = u64::from(info.width) * u64::from(info.height);
            if let Some(max) = max_pixels.filter(|&m| pixels > m) {
                return Err(FeatureError::TooLarge { path: info.path, width: info.width, height: info.height, max });
            }
            let _ = workers_tx.send(if pixels > LARGE_FRAME_PIXELS { 1 } else { PREPARATION_WORKERS });
            let _ = info_tx.send((info.clone(), samples.sampling().interval()));
            let path = info.path.clone();
            let mut tiny = None;
            loop {
                if cancel.is_cancelled() {
                    return Err(FeatureError::Cancelled(path));
                }
                let t = Instant::now();
                let next = samples.next();
                decode += t.elapsed();
                match next {
                    None => break,
                    Some(Err(e)) => return Err(e.into()),
                    Some(Ok(s)) => {
                        let (w, h) = (s.rgb.width(), s.rgb.height());
                        if tiny.is_none() && (w < PATCH || h < PATCH) {
                            tiny = Some((w, h));
                        }
                        if sample_tx.send((s, path.clone())).is_err() {
                            break; // a later stage stopped; its error is reported
                        }
                    }
                }
            }
            let report = samples.report();
            let mut warnings = report.warnings();
            if let Some((w, h)) = tiny {
                warnings.push(format!(
                    "frames of {w}x{h} are smaller than one {PATCH}x{PATCH} patch: the fragments hold no picture, so the four fragment blocks do not depend on the content"
                ));
            }
            if samples.pair_count() == 0 && samples.frames_decoded() > 0 {
                warnings.push("the video has no frame pair (one frame, or one sampled frame at its end): the four fragment blocks are NaN and a head's imputer fills them".into());
            }
            Ok(Decoded {
                frames_decoded: samples.frames_decoded(),
                sampled: samples.sampled_count(),
                pairs: samples.pair_count(),
                decode,
                warnings,
                report,
            })
        });
        // Several preparation workers (optical flow dominates at high
        // resolutions): at the start, before the networks have work, they
        // fill the first batch in parallel; later they share the cores with
        // the networks. Results arrive out of order and are put back in
        // order by the consumer.
        // Their image work runs in a thread pool of its own: the networks
        // keep the main pool's threads busy with long tasks, and rayon does
        // not preempt, so sharing it would stall the flow for seconds.
        let prep_pool = match &opts.prepare_pool {
            Some(p) => Some(Arc::clone(p)),
            None => rayon::ThreadPoolBuilder::new()
                .num_threads(rayon::current_num_threads())
                .thread_name(|i| format!("relaxvqa-prepare-{i}"))
                .build()
                .ok()
                .map(Arc::new),
        };
        // No message: the decoder failed before the size was known, and
        // says why; one worker drains the (empty) channel.
        let workers = workers_rx.recv().unwrap_or(1);
        let sample_rx = Arc::new(Mutex::new(sample_rx));
        let preparers: Vec<_> = (0..workers)
            .map(|_| {
                let prep_tx = prep_tx.clone();
                let sample_rx = Arc::clone(&sample_rx);
                let prep_pool = prep_pool.clone();
                scope.spawn(move || loop {
                    let next = sample_rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                    let Ok((s, path)) = next else { break };
                    let r = match prep_pool.as_deref() {
                        Some(pool) => pool.install(|| prepare(s, keep_frames, opts.dump, &path)),
                        None => prepare(s, keep_frames, opts.dump, &path),
                    };
                    let failed = r.is_err();
                    if prep_tx.send(r).is_err() || failed {
                        break;
                    }
                })
            })
            .collect();
        // Only the workers hold the receiver now: when they have all stopped
        // (a later stage failed), the decoder's next send fails and it stops
        // instead of waiting forever on a full channel.
        drop(sample_rx);
        drop(prep_tx);
        let consumed = consume(prep_rx, nets, opts, observer, &info_rx);
        let opened = info_rx.try_recv().ok();
        let decoded = decoder.join().map_err(|_| FeatureError::Stage("decoder"))?;
        for preparer in preparers {
            preparer.join().map_err(|_| FeatureError::Stage("preparation"))?;
        }
        // A decoder error is the root cause of anything the consumer saw.
        let decoded = decoded?;
        let mut out = consumed?;
        let (info, interval) = out.opened.take().or(opened).ok_or(FeatureError::Stage("decoder"))?;
        if decoded.frames_decoded == 0 {
            return Err(FeatureError::NoFrames(info.path.clone()));
        }
        check_finite(&out.features, decoded.pairs, &info.path)?;
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
            warnings: decoded.warnings,
            decode_report: decoded.report,
        })
    })
}

/// The patch size of the fragments (spec section 3).
const PATCH: usize = 16;

/// Every value of the vector must be a number, except the pair blocks of a
/// video without a pair (NaN by definition, for the imputer).
fn check_finite(features: &[f64], pairs: usize, path: &Path) -> Result<(), FeatureError> {
    for b in BLOCKS {
        if b.over == Over::Pairs && pairs == 0 {
            continue;
        }
        if features[b.offset..b.offset + b.len].iter().any(|v| !v.is_finite()) {
            return Err(FeatureError::NotFinite { path: path.to_owned(), block: b.name });
        }
    }
    Ok(())
}
