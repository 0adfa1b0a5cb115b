//! `relaxvqa info`: what the decoder reports and how the video is sampled.

use std::process::ExitCode;

use anyhow::Context;
use relaxvqa::lower::video as relaxvqa_video;
use relaxvqa_video::{FrameSource, SampledFrames};
use serde_json::json;

use crate::args::InfoArgs;

/// Runs `relaxvqa info`.
pub fn run(a: InfoArgs) -> anyhow::Result<ExitCode> {
    let opts = relaxvqa_video::DecodeOptions { raw: a.raw.options().parse()?, ..Default::default() };
    let dec = relaxvqa_video::open_with(&a.video, &opts)?;
    let info = dec.info().clone();
    let k = info.frame_rate.interval().with_context(|| format!("{}: frame rate 0 or missing", a.video.display()))?;
    let mut counted = None;
    if a.count {
        let mut s = SampledFrames::new(dec)?;
        for r in s.by_ref() {
            r?;
        }
        counted = Some((s.frames_decoded(), s.sampled_count(), s.pair_count()));
    }
    let v = json!({
        "schema": "relaxvqa.info/1",
        "path": info.path,
        "width": info.width,
        "height": info.height,
        "r_frame_rate": format!("{}/{}", info.frame_rate.num, info.frame_rate.den),
        "frame_count": info.frame_count,
        "pixel_format": info.pixel_format,
        "codec": info.codec,
        "rotation": info.rotation,
        "duration_seconds": info.duration_seconds,
        "frame_interval": k,
        "decoded_frames": counted.map(|c| c.0),
        "sampled_frames": counted.map(|c| c.1),
        "pairs": counted.map(|c| c.2),
    });
    if a.json {
        crate::output::print_json(&v)?;
    } else {
        println!("{}", info.path.display());
        println!("  size        {}x{} (rotation {})", info.width, info.height, info.rotation);
        println!("  frame rate  {}/{} -> interval k = {k}", info.frame_rate.num, info.frame_rate.den);
        println!("  frames      {} (container)", info.frame_count);
        println!("  pixels      {} ({})", info.pixel_format, info.codec);
        if let Some(d) = info.duration_seconds {
            println!("  duration    {d:.3} s");
        }
        if let Some((n, s, p)) = counted {
            println!("  decoded     {n} frames: {s} sampled, {p} pairs");
        }
    }
    Ok(ExitCode::SUCCESS)
}
