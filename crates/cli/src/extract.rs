//! `relaxvqa extract`: one video to a feature file, or a batch (see
//! [`crate::batch`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use relaxvqa_features::{extract_with, write_safetensors, Backbones, CandleBackbones, ExtractOptions, VideoFeatures};
use relaxvqa_model::weights::WeightSources;
use relaxvqa_video::{DecodeOptions, FrameRate, RawVideo};
use serde_json::json;

use crate::args::{Dump, ExtractArgs, RawArgs};

/// Runs `relaxvqa extract`.
pub fn run(a: ExtractArgs) -> anyhow::Result<ExitCode> {
    let batch =
        a.list.is_some() || a.out_dir.is_some() || a.inputs.len() != 1 || a.inputs.first().is_some_and(|p| p.is_dir());
    if batch {
        return crate::batch::run(a);
    }
    let video = a.inputs[0].clone();
    let output = a.output.clone().unwrap_or_else(|| default_output(&video));
    let nets = load_backbones(&a.weights)?;
    let opts = ExtractOptions { batch_size: a.batch_size, dump: a.dump == Dump::All, per_sample: false };
    let decode = decode_options(&a.raw, 0)?;
    let pb = crate::output::bar(0, "samples", a.quiet || a.json);
    let out = extract_video(&video, &decode, &nets, &opts, &mut |n| pb.set_position(n as u64))?;
    pb.finish_and_clear();
    write_features(&output, &out, &a.weights, a.f32, &video)?;
    let warnings = warnings(&out);
    for w in &warnings {
        eprintln!("relaxvqa: warning: {}: {w}", video.display());
    }
    if a.json {
        crate::output::print_json(&summary_json(&video, &output, &out, &a.weights, &warnings))?;
    } else {
        println!(
            "{}: {} frames, k = {}, {} sampled, {} pairs, {:.2} s -> {}",
            video.display(),
            out.frames_decoded,
            out.frame_interval,
            out.sampled_frames,
            out.pairs,
            out.timings.total,
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `clip.mp4` -> `clip.features.safetensors` in the current folder.
fn default_output(video: &Path) -> PathBuf {
    let stem = video.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "video".into());
    PathBuf::from(format!("{stem}.features.safetensors"))
}

/// Parses `--weights` and loads both backbones on the CPU.
pub fn load_backbones(weights: &str) -> anyhow::Result<CandleBackbones> {
    let sources: WeightSources = weights.parse().with_context(|| format!("--weights {weights}"))?;
    if weights.trim().eq_ignore_ascii_case("synthetic") {
        tracing::warn!("synthetic backbone weights: features are for tests and benchmarks, not for quality scores");
    }
    Ok(CandleBackbones::load(&sources, &candle_core::Device::Cpu)?)
}

/// The decoder options of the raw-video flags.
pub fn decode_options(raw: &RawArgs, threads: usize) -> anyhow::Result<DecodeOptions> {
    let raw = match &raw.size {
        None => None,
        Some(size) => {
            let (w, h) = size
                .split_once(['x', 'X'])
                .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
                .filter(|&(w, h)| w > 0 && h > 0)
                .with_context(|| format!("--size {size}: expected WxH, e.g. 1920x1080"))?;
            let fps = raw.fps.as_deref().unwrap_or("25");
            let frame_rate =
                parse_rate(fps).with_context(|| format!("--fps {fps}: expected N or N/D, e.g. 30000/1001"))?;
            Some(RawVideo {
                width: w,
                height: h,
                pixel_format: raw.pix_fmt.clone().unwrap_or_else(|| "yuv420p".into()),
                frame_rate,
            })
        }
    };
    Ok(DecodeOptions { threads, raw })
}

fn parse_rate(s: &str) -> Option<FrameRate> {
    let (n, d) = match s.split_once('/') {
        Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
        None => (s.trim().parse().ok()?, 1),
    };
    Some(FrameRate { num: n, den: d })
}

/// Decodes and extracts one video.
pub fn extract_video(
    video: &Path,
    decode: &DecodeOptions,
    nets: &dyn Backbones,
    opts: &ExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> anyhow::Result<VideoFeatures> {
    let path = video.to_owned();
    let decode = decode.clone();
    Ok(extract_with(move || relaxvqa_video::open_with(&path, &decode), nets, opts, progress)?)
}

/// Writes a feature file (temporary file, then rename).
pub fn write_features(
    output: &Path,
    out: &VideoFeatures,
    weights: &str,
    as_f32: bool,
    video: &Path,
) -> anyhow::Result<()> {
    if output.is_dir() {
        bail!("{}: is a folder; give a file name ending in .safetensors", output.display());
    }
    let mut tensors = out.tensors();
    if as_f32 {
        if let Some(t) = tensors.get_mut("video.features") {
            if let relaxvqa_features::TensorData::F64(v) = &t.data {
                t.data = relaxvqa_features::TensorData::F32(v.iter().map(|&x| x as f32).collect());
            }
        }
    }
    write_safetensors(output, &tensors, Some(crate::output::feature_metadata(video, weights)))?;
    Ok(())
}

/// What a user should know about a result.
pub fn warnings(out: &VideoFeatures) -> Vec<String> {
    let mut w = Vec::new();
    if out.pairs == 0 {
        w.push("the video has no frame pair (one frame, or one sampled frame at its end): the four fragment blocks are NaN and a head's imputer fills them".into());
    }
    w
}

/// The `--json` summary of one video.
pub fn summary_json(
    video: &Path,
    output: &Path,
    out: &VideoFeatures,
    weights: &str,
    warnings: &[String],
) -> serde_json::Value {
    json!({
        "schema": "relaxvqa.extract/1",
        "video": video,
        "output": output,
        "weights": weights,
        "width": out.info.width,
        "height": out.info.height,
        "r_frame_rate": format!("{}/{}", out.info.frame_rate.num, out.info.frame_rate.den),
        "frames": out.frames_decoded,
        "frame_interval": out.frame_interval,
        "sampled_frames": out.sampled_frames,
        "pairs": out.pairs,
        "seconds": out.timings.total,
        "timings": out.timings,
        "warnings": warnings,
        "relaxvqa_version": env!("CARGO_PKG_VERSION"),
    })
}
