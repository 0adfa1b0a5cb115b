//! The whole extraction: decoder thread -> preparation thread -> networks,
//! joined by bounded channels (spec sections 1-5).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::{Duration, Instant};

use relaxvqa_image::RgbImage;
use relaxvqa_video::{FrameSource, SampledFrames, VideoInfo};
use serde::Serialize;

use crate::accumulate::Accumulator;
use crate::dump::{DumpTensor, TensorData};
use crate::prepare::{prepare, Prepared};
use crate::{Backbones, FeatureError};

/// How to run an extraction.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Images per network batch (frames, frame fragments and merged
    /// fragments together).
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

struct Consumed {
    features: Vec<f64>,
    sampled_frames: usize,
    pairs: usize,
    timings: StageTimings,
    dump: Option<BTreeMap<String, DumpTensor>>,
    per_sample: Option<Vec<SampleFeatures>>,
}

/// The network stage: batches prepared samples, runs each network once per
/// image, accumulates the means.
fn consume(
    rx: Receiver<Result<Prepared, FeatureError>>,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Consumed, FeatureError> {
    let mut acc = Accumulator::new();
    let mut timings = StageTimings::default();
    let mut dump = opts.dump.then(BTreeMap::new);
    let mut per_sample = opts.per_sample.then(Vec::new);
    let mut pending: Vec<Prepared> = Vec::new();
    let mut images = 0usize;
    let mut done = 0usize;
    let mut pairs = 0usize;
    // Samples that arrived before an earlier one, by index.
    let mut early: BTreeMap<usize, Prepared> = BTreeMap::new();
    let mut expected = 0usize;
    loop {
        let next = match early.first_key_value() {
            Some((&i, _)) if i == expected => early.pop_first().map(|(_, p)| Ok(Ok(p))),
            _ => None,
        };
        let next = match next {
            Some(n) => n,
            None => {
                let t = Instant::now();
                let next = rx.recv();
                timings.network_wait += t.elapsed().as_secs_f64();
                match next {
                    Ok(Ok(p)) if p.index != expected => {
                        early.insert(p.index, p);
                        continue;
                    }
                    other => other,
                }
            }
        };
        let finished = match next {
            Ok(p) => {
                let p = p?;
                expected += 1;
                timings.resize += p.resize_time.as_secs_f64();
                timings.flow += p.flow_time.as_secs_f64();
                timings.fragments += p.fragment_time.as_secs_f64();
                images += if p.pair.is_some() { 3 } else { 1 };
                pending.push(p);
                false
            }
            Err(_) => true,
        };
        if (finished && !pending.is_empty()) || images >= opts.batch_size.max(1) {
            let group = std::mem::take(&mut pending);
            images = 0;
            run_group(&group, nets, &mut acc, &mut timings, dump.as_mut(), per_sample.as_mut())?;
            done += group.len();
            pairs += group.iter().filter(|p| p.pair.is_some()).count();
            progress(done);
        }
        if finished {
            break;
        }
    }
    Ok(Consumed { features: acc.finish(), sampled_frames: done, pairs, timings, dump, per_sample })
}

/// One network pass over every image of a group of samples.
fn run_group(
    group: &[Prepared],
    nets: &dyn Backbones,
    acc: &mut Accumulator,
    timings: &mut StageTimings,
    mut dump: Option<&mut BTreeMap<String, DumpTensor>>,
    per_sample: Option<&mut Vec<SampleFeatures>>,
) -> Result<(), FeatureError> {
    // ResNet inputs: resized frame, frame fragment, merged fragment.
    let mut resnet_in: Vec<&RgbImage> = Vec::new();
    let mut vit_in: Vec<&RgbImage> = Vec::new();
    for p in group {
        resnet_in.push(&p.resnet_in);
        vit_in.push(&p.vit_in);
        if let Some(pair) = &p.pair {
            resnet_in.extend([&pair.frame_fragment, &pair.merged_fragment]);
            vit_in.extend([&pair.frame_fragment, &pair.merged_fragment]);
        }
    }
    let t = Instant::now();
    let res = nets.resnet(&resnet_in)?;
    timings.resnet += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let vit = nets.vit(&vit_in)?;
    timings.vit += t.elapsed().as_secs_f64();
    if res.len() != resnet_in.len() || vit.len() != vit_in.len() {
        return Err(FeatureError::Network { network: "backbones", message: "wrong number of outputs".into() });
    }
    let mut at = 0;
    let mut rows = Vec::new();
    for p in group {
        let i = p.index;
        acc.add(0, &res[at].layer_stack);
        acc.add(1, &vit[at]);
        acc.count_frame();
        let mut row = per_sample.is_some().then(|| vec![f32::NAN; crate::FEATURE_LEN]);
        if let Some(row) = row.as_mut() {
            put(row, 0, &res[at].layer_stack);
            put(row, 1, &vit[at]);
        }
        if let Some(d) = dump.as_deref_mut() {
            d.insert(format!("frame.{i}.resnet_layerstack"), f32s(&res[at].layer_stack));
            d.insert(format!("frame.{i}.vit_pool"), f32s(&vit[at]));
            d.insert(format!("frame.{i}.resnet_input_rgb"), image(&p.resnet_in));
            d.insert(format!("frame.{i}.vit_input_rgb"), image(&p.vit_in));
        }
        if let Some(sd) = &p.dump {
            if let Some(d) = dump.as_deref_mut() {
                d.insert(format!("frame.{i}.rgb"), image(&sd.rgb));
            }
        }
        if let Some(pair) = &p.pair {
            let (frag, merged) = (&res[at + 1], &res[at + 2]);
            let (frag_vit, merged_vit) = (&vit[at + 1], &vit[at + 2]);
            acc.add(2, &frag.layer_stack);
            acc.add(3, &merged.pool);
            acc.add(4, frag_vit);
            acc.add(5, merged_vit);
            acc.count_pair();
            if let Some(row) = row.as_mut() {
                put(row, 2, &frag.layer_stack);
                put(row, 3, &merged.pool);
                put(row, 4, frag_vit);
                put(row, 5, merged_vit);
            }
            if let Some(d) = dump.as_deref_mut() {
                d.insert(format!("pair.{i}.frag_resnet_layerstack"), f32s(&frag.layer_stack));
                d.insert(format!("pair.{i}.merged_resnet_pool"), f32s(&merged.pool));
                d.insert(format!("pair.{i}.frag_vit_pool"), f32s(frag_vit));
                d.insert(format!("pair.{i}.merged_vit_pool"), f32s(merged_vit));
                d.insert(format!("pair.{i}.frame_fragment"), image(&pair.frame_fragment));
                d.insert(format!("pair.{i}.merged_fragment"), image(&pair.merged_fragment));
                if let Some(pd) = p.dump.as_ref().and_then(|s| s.pair.as_ref()) {
                    d.insert(format!("pair.{i}.next_rgb"), image(&pd.next_rgb));
                    d.insert(
                        format!("pair.{i}.residual_patch_sums"),
                        DumpTensor::new(
                            vec![pd.residual_rows, pd.residual_cols],
                            TensorData::F64(pd.residual_sums.iter().map(|&s| s as f64).collect()),
                        ),
                    );
                    d.insert(format!("pair.{i}.positions"), positions(&pd.positions));
                    d.insert(format!("pair.{i}.flow_positions"), positions(&pd.flow_positions));
                    d.insert(format!("pair.{i}.tie_at_cut"), DumpTensor::scalar_i64(pd.tie_at_cut as i64));
                    d.insert(
                        format!("pair.{i}.flow"),
                        DumpTensor::new(
                            vec![pd.flow.height(), pd.flow.width(), 2],
                            TensorData::F32(pd.flow.as_slice().to_vec()),
                        ),
                    );
                    d.insert(format!("pair.{i}.flow_rgb"), image(&pd.flow_rgb));
                }
            }
            at += 3;
        } else {
            at += 1;
        }
        if let Some(row) = row {
            rows.push(SampleFeatures { frame_number: p.frame_number, values: row });
        }
    }
    if let Some(ps) = per_sample {
        ps.extend(rows);
    }
    Ok(())
}

fn put(row: &mut [f32], block: usize, values: &[f32]) {
    let b = crate::BLOCKS[block];
    row[b.offset..b.offset + b.len].copy_from_slice(values);
}

fn f32s(v: &[f32]) -> DumpTensor {
    DumpTensor::new(vec![v.len()], TensorData::F32(v.to_vec()))
}

fn image(img: &RgbImage) -> DumpTensor {
    DumpTensor::new(vec![img.height(), img.width(), 3], TensorData::U8(img.as_bytes().to_vec()))
}

fn positions(p: &[(usize, usize)]) -> DumpTensor {
    DumpTensor::new(vec![p.len(), 2], TensorData::I64(p.iter().flat_map(|&(r, c)| [r as i64, c as i64]).collect()))
}
