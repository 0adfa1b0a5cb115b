//! Helpers of the decoding tests: the FFmpeg command-line tool that makes
//! the inputs and the reference frames, and the sampler run to its end.

use std::path::{Path, PathBuf};
use std::process::Command;

use relaxvqa_video::{FrameSource, SampledFrames, VideoError};

/// Lets FFmpeg's own log print fatal errors only (damaged inputs are the
/// point of many tests).
pub fn quiet() {
    relaxvqa_video::quiet_ffmpeg_log();
}

/// Runs the `ffmpeg` CLI and returns its stdout; panics with its stderr on
/// failure (the tests need the CLI: a missing one is a broken setup).
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the ffmpeg CLI (needed by these tests): {e}"));
    assert!(out.status.success(), "ffmpeg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Encodes the lavfi `source` with the `encode` arguments into `dir/name`.
pub fn make(dir: &Path, name: &str, source: &str, encode: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["-f", "lavfi", "-i", source];
    args.extend_from_slice(encode);
    let p = path.to_str().unwrap();
    args.push(p);
    ffmpeg(&args);
    path
}

/// Runs the sampler to the end: (N, |S|, |P|) or the first error.
pub fn sample_all<S: FrameSource>(mut it: SampledFrames<S>) -> Result<(u64, usize, usize), VideoError> {
    for s in it.by_ref() {
        s?;
    }
    Ok((it.frames_decoded(), it.sampled_count(), it.pair_count()))
}
