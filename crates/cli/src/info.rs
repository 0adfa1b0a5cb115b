//! `relaxvqa info`: what the decoder reports and how the video is sampled
//! ([`relaxvqa::inspect`]).

use std::process::ExitCode;

use crate::args::InfoArgs;

/// Runs `relaxvqa info`.
pub fn run(a: InfoArgs) -> anyhow::Result<ExitCode> {
    let i = relaxvqa::inspect(crate::extract::input(&a.video, &a.raw)?, a.count)?;
    if a.json {
        crate::output::print_json(&i)?;
        return Ok(ExitCode::SUCCESS);
    }
    let v = &i.video;
    println!("{}", v.path);
    println!("  size        {}x{} (rotation {})", v.width, v.height, v.rotation);
    println!("  frame rate  {} -> interval k = {}", v.r_frame_rate, i.frame_interval);
    println!("  frames      {} (container)", v.frame_count);
    println!("  pixels      {} ({})", v.pixel_format, v.codec);
    if let Some(d) = v.duration_seconds {
        println!("  duration    {d:.3} s");
    }
    if let (Some(n), Some(s), Some(p)) = (i.decoded_frames, i.sampled_frames, i.pairs) {
        println!("  decoded     {n} frames: {s} sampled, {p} pairs");
    }
    println!("  kernels     {} ({})", i.simd.path, i.simd.reason);
    println!("  products    {} ({})", i.simd.matmul.kernels, i.simd.matmul.reason);
    Ok(ExitCode::SUCCESS)
}
