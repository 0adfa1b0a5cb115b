//! The network stage of the pipeline: prepared samples in (in any order),
//! fixed-size batches of images through each network, means and dumps out.
//!
//! Images are batched across sample boundaries: a batch takes exactly
//! `batch` images from the queue (frames, frame fragments and merged
//! fragments, in sample order), whichever samples they belong to, so every
//! batch but the last splits evenly over the threads. Outputs are added to
//! the means in sample order, so the features do not depend on the batch
//! size or on the order in which samples were prepared.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::Receiver;

use relaxvqa_video::VideoInfo;
use std::time::Instant;

use relaxvqa_image::RgbImage;

use crate::accumulate::Accumulator;
use crate::dump::{DumpTensor, TensorData};
use crate::layout::{LAYER_STACK_LEN, RESNET_POOL_LEN, VIT_POOL_LEN};
use crate::options::{ExtractOptions, SampleFeatures, StageTimings};
use crate::prepare::Prepared;
use crate::{Backbones, FeatureError, Observer, ResNetOutput, SampleImages};

/// What the network stage hands back to the extraction.
pub(crate) struct Consumed {
    pub features: Vec<f64>,
    pub sampled_frames: usize,
    pub pairs: usize,
    pub timings: StageTimings,
    pub dump: Option<BTreeMap<String, DumpTensor>>,
    pub per_sample: Option<Vec<SampleFeatures>>,
    /// The video's information and sampling interval, when it was opened.
    pub opened: Option<(VideoInfo, u64)>,
}

/// The images of a batch: `batch_size` rounded up to a whole number of
/// images per compute thread (the networks give each thread a part of
/// equal size and run a remainder after, with all threads sharing each
/// matrix product, which is about 2.5 times slower per image).
pub(crate) fn images_per_batch(batch_size: usize, threads: usize) -> usize {
    let (b, t) = (batch_size.max(1), threads.max(1));
    if b < t {
        b
    } else {
        b.div_ceil(t) * t
    }
}

/// A sample whose images are queued or running, with the outputs so far.
struct InFlight {
    prepared: Prepared,
    /// Outputs in image order: frame, then frame fragment and merged fragment.
    resnet: Vec<ResNetOutput>,
    vit: Vec<Vec<f32>>,
}

impl InFlight {
    fn images(&self) -> usize {
        if self.prepared.pair.is_some() {
            3
        } else {
            1
        }
    }

    /// The ResNet and ViT inputs of image `k` of this sample.
    fn inputs(&self, k: usize) -> (&RgbImage, &RgbImage) {
        let p = &self.prepared;
        match (k, &p.pair) {
            (1, Some(pair)) => (&pair.frame_fragment, &pair.frame_fragment),
            (2, Some(pair)) => (&pair.merged_fragment, &pair.merged_fragment),
            _ => (&p.resnet_in, &p.vit_in),
        }
    }
}

/// The network stage: runs each network once per image, in batches, and
/// accumulates the means.
pub(crate) fn consume(
    rx: Receiver<Result<Prepared, FeatureError>>,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    observer: &mut dyn Observer,
    opened: &Receiver<(VideoInfo, u64)>,
) -> Result<Consumed, FeatureError> {
    // The decoder sends the video's information first (or fails, dropping
    // the sender).
    let opened = opened.recv().ok();
    if let Some((info, k)) = &opened {
        let expected = (info.frame_count > 0 && *k > 0).then(|| info.frame_count.div_ceil(*k) as usize);
        observer.opened(info, expected);
    }
    let path = opened.as_ref().map(|(i, _)| i.path.clone()).unwrap_or_default();
    let threads = rayon::current_num_threads();
    let full = images_per_batch(opts.batch_size, threads);
    // The first batch is one image per thread, so that the networks start
    // as soon as the first sample is ready.
    let mut batch = full.min(threads.max(1));
    let mut out = Finisher {
        acc: Accumulator::new(),
        dump: opts.dump.then(BTreeMap::new),
        per_sample: opts.per_sample.then(Vec::new),
        done: 0,
        pairs: 0,
    };
    let mut timings = StageTimings::default();
    let mut queue: VecDeque<InFlight> = VecDeque::new();
    let mut queued = 0usize;
    // Samples that arrived before an earlier one, by index.
    let mut early: BTreeMap<usize, Prepared> = BTreeMap::new();
    let mut expected = 0usize;
    loop {
        let next = match early.first_key_value() {
            Some((&i, _)) if i == expected => early.pop_first().map(|(_, p)| Ok(p)),
            _ => {
                let t = Instant::now();
                let next = rx.recv();
                timings.network_wait += t.elapsed().as_secs_f64();
                match next {
                    Ok(Ok(p)) if p.index != expected => {
                        early.insert(p.index, p);
                        continue;
                    }
                    Ok(r) => Some(r),
                    Err(_) => None,
                }
            }
        };
        let finished = next.is_none();
        if let Some(p) = next {
            let p = p?;
            expected += 1;
            timings.resize += p.resize_time.as_secs_f64();
            timings.flow += p.flow_time.as_secs_f64();
            timings.fragments += p.fragment_time.as_secs_f64();
            let f = InFlight { prepared: p, resnet: Vec::new(), vit: Vec::new() };
            queued += f.images();
            queue.push_back(f);
        }
        while queued >= batch || (finished && queued > 0) {
            if opts.cancel.is_cancelled() {
                return Err(FeatureError::Cancelled(path));
            }
            let n = queued.min(batch);
            run_batch(&mut queue, n, nets, &mut timings)?;
            queued -= n;
            batch = full;
            let before = out.done;
            while queue.front().is_some_and(|f| f.resnet.len() == f.images()) {
                if let Some(f) = queue.pop_front() {
                    out.finish(f, observer);
                }
            }
            if out.done > before {
                observer.samples_done(out.done);
            }
        }
        if finished {
            break;
        }
    }
    Ok(Consumed {
        features: out.acc.finish(),
        sampled_frames: out.done,
        pairs: out.pairs,
        timings,
        dump: out.dump,
        per_sample: out.per_sample,
        opened,
    })
}

/// Runs the next `n` queued images through both networks and files each
/// output with its sample.
fn run_batch(
    queue: &mut VecDeque<InFlight>,
    n: usize,
    nets: &dyn Backbones,
    timings: &mut StageTimings,
) -> Result<(), FeatureError> {
    // (sample position in the queue, images of it in this batch)
    let mut takes: Vec<(usize, usize)> = Vec::new();
    let mut resnet_in: Vec<&RgbImage> = Vec::with_capacity(n);
    let mut vit_in: Vec<&RgbImage> = Vec::with_capacity(n);
    for (at, f) in queue.iter().enumerate() {
        if resnet_in.len() == n {
            break;
        }
        // A batch runs to the end before the next is made, so the images
        // with outputs are exactly those already sent.
        let sent = f.resnet.len();
        let take = (f.images() - sent).min(n - resnet_in.len());
        for k in sent..sent + take {
            let (r, v) = f.inputs(k);
            resnet_in.push(r);
            vit_in.push(v);
        }
        if take > 0 {
            takes.push((at, take));
        }
    }
    let t = Instant::now();
    let res = nets.resnet(&resnet_in)?;
    timings.resnet += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let vit = nets.vit(&vit_in)?;
    timings.vit += t.elapsed().as_secs_f64();
    check_outputs(&res, &vit, resnet_in.len())?;
    let (mut res, mut vit) = (res.into_iter(), vit.into_iter());
    for (at, take) in takes {
        let f = &mut queue[at];
        f.resnet.extend(res.by_ref().take(take));
        f.vit.extend(vit.by_ref().take(take));
    }
    Ok(())
}

/// A network implementation is outside this crate: its outputs are checked
/// (count and lengths) before they are used, so a faulty one is an error,
/// never a panic or a silently wrong mean.
fn check_outputs(res: &[ResNetOutput], vit: &[Vec<f32>], images: usize) -> Result<(), FeatureError> {
    let wrong = |network, what: String| FeatureError::network(network, what);
    if res.len() != images {
        return Err(wrong("resnet50", format!("{} outputs for {images} images", res.len())));
    }
    if vit.len() != images {
        return Err(wrong("vit", format!("{} outputs for {images} images", vit.len())));
    }
    if let Some(r) = res.iter().find(|r| r.layer_stack.len() != LAYER_STACK_LEN || r.pool.len() != RESNET_POOL_LEN) {
        return Err(wrong(
            "resnet50",
            format!(
                "an output of {} + {} values, expected {LAYER_STACK_LEN} + {RESNET_POOL_LEN}",
                r.layer_stack.len(),
                r.pool.len()
            ),
        ));
    }
    if let Some(v) = vit.iter().find(|v| v.len() != VIT_POOL_LEN) {
        return Err(wrong("vit", format!("an output of {} values, expected {VIT_POOL_LEN}", v.len())));
    }
    Ok(())
}

/// Adds finished samples to the means, the dump and the per-sample rows.
struct Finisher {
    acc: Accumulator,
    dump: Option<BTreeMap<String, DumpTensor>>,
    per_sample: Option<Vec<SampleFeatures>>,
    done: usize,
    pairs: usize,
}

impl Finisher {
    fn finish(&mut self, f: InFlight, observer: &mut dyn Observer) {
        let InFlight { prepared: p, resnet: res, vit } = f;
        let i = p.index;
        if let Some(frame) = &p.rgb {
            observer.sample_images(SampleImages {
                index: i,
                frame_number: p.frame_number,
                frame,
                frame_fragment: p.pair.as_ref().map(|q| &q.frame_fragment),
                merged_fragment: p.pair.as_ref().map(|q| &q.merged_fragment),
            });
        }
        self.done += 1;
        self.acc.add(0, &res[0].layer_stack);
        self.acc.add(1, &vit[0]);
        self.acc.count_frame();
        let mut row = self.per_sample.is_some().then(|| vec![f32::NAN; crate::FEATURE_LEN]);
        if let Some(row) = row.as_mut() {
            put(row, 0, &res[0].layer_stack);
            put(row, 1, &vit[0]);
        }
        if let Some(d) = self.dump.as_mut() {
            d.insert(format!("frame.{i}.resnet_layerstack"), f32s(&res[0].layer_stack));
            d.insert(format!("frame.{i}.vit_pool"), f32s(&vit[0]));
            d.insert(format!("frame.{i}.resnet_input_rgb"), image(&p.resnet_in));
            d.insert(format!("frame.{i}.vit_input_rgb"), image(&p.vit_in));
            if let Some(rgb) = &p.rgb {
                d.insert(format!("frame.{i}.rgb"), image(rgb));
            }
        }
        if let Some(pair) = &p.pair {
            let (frag, merged) = (&res[1], &res[2]);
            let (frag_vit, merged_vit) = (&vit[1], &vit[2]);
            self.pairs += 1;
            self.acc.add(2, &frag.layer_stack);
            self.acc.add(3, &merged.pool);
            self.acc.add(4, frag_vit);
            self.acc.add(5, merged_vit);
            self.acc.count_pair();
            if let Some(row) = row.as_mut() {
                put(row, 2, &frag.layer_stack);
                put(row, 3, &merged.pool);
                put(row, 4, frag_vit);
                put(row, 5, merged_vit);
            }
            if let Some(d) = self.dump.as_mut() {
                d.insert(format!("pair.{i}.frag_resnet_layerstack"), f32s(&frag.layer_stack));
                d.insert(format!("pair.{i}.merged_resnet_pool"), f32s(&merged.pool));
                d.insert(format!("pair.{i}.frag_vit_pool"), f32s(frag_vit));
                d.insert(format!("pair.{i}.merged_vit_pool"), f32s(merged_vit));
                d.insert(format!("pair.{i}.frame_fragment"), image(&pair.frame_fragment));
                d.insert(format!("pair.{i}.merged_fragment"), image(&pair.merged_fragment));
                if let Some(pd) = &p.dump {
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
        }
        if let (Some(rows), Some(values)) = (self.per_sample.as_mut(), row) {
            rows.push(SampleFeatures { frame_number: p.frame_number, values });
        }
    }
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

#[cfg(test)]
mod tests {
    use super::images_per_batch;

    #[test]
    fn batches_split_evenly_over_threads() {
        assert_eq!(images_per_batch(8, 2), 8);
        assert_eq!(images_per_batch(9, 2), 10);
        assert_eq!(images_per_batch(8, 3), 9);
        assert_eq!(images_per_batch(8, 16), 8);
        assert_eq!(images_per_batch(0, 4), 1);
        assert_eq!(images_per_batch(5, 1), 5);
    }
}
