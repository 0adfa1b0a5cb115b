//! What a video is, before any network runs: the container's and decoder's
//! answers and how the video will be sampled, as one serde document that
//! `relaxvqa info`, an extraction's summary and Python's `Features.info`
//! all print.

use relaxvqa_video::{DecodeOptions, FrameSource, SampledFrames, VideoInfo};
use serde::Serialize;

use crate::{Error, Input, Result};

/// What the decoder reports about a video.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VideoSummary {
    /// The input's name.
    pub path: String,
    /// Frame width, after rotation.
    pub width: u32,
    /// Frame height, after rotation.
    pub height: u32,
    /// The frame rate as FFmpeg's `r_frame_rate`, `N/D`.
    pub r_frame_rate: String,
    /// Frames the container says it has (0 when unknown).
    pub frame_count: u64,
    /// FFmpeg's pixel format name.
    pub pixel_format: String,
    /// FFmpeg's codec name.
    pub codec: String,
    /// Display rotation, degrees.
    pub rotation: u32,
    /// The container's duration.
    pub duration_seconds: Option<f64>,
}

impl From<&VideoInfo> for VideoSummary {
    fn from(i: &VideoInfo) -> Self {
        Self {
            path: i.path.display().to_string(),
            width: i.width,
            height: i.height,
            r_frame_rate: format!("{}/{}", i.frame_rate.num, i.frame_rate.den),
            frame_count: i.frame_count,
            pixel_format: i.pixel_format.clone(),
            codec: i.codec.clone(),
            rotation: i.rotation,
            duration_seconds: i.duration_seconds,
        }
    }
}

/// A video's summary and its sampling: the interval k, and with `count`
/// the frames decoded, sampled and paired (every frame decoded).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Inspection {
    /// `relaxvqa.info/1`, the schema of `relaxvqa info --json`, which
    /// prints this.
    pub schema: &'static str,
    /// What the decoder reports.
    #[serde(flatten)]
    pub video: VideoSummary,
    /// The sampling interval k (one sampled frame per second of video).
    pub frame_interval: u64,
    /// Frames decoded (with `count`).
    pub decoded_frames: Option<u64>,
    /// Sampled frames (with `count`).
    pub sampled_frames: Option<usize>,
    /// Frame pairs (with `count`).
    pub pairs: Option<usize>,
    /// Which vector instructions the kernels of this process use, and why.
    pub simd: Simd,
}

/// Which vector instructions this process's kernels use and why: our own
/// kernels' path (`RELAXVQA_SIMD`, or what the CPU has) and the matrix
/// products' kernels (with the calibration where the CPU has AVX-512), so
/// that every measurement can say what it measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Simd {
    /// Our own kernels (flow rows, Winograd transforms, bias/GELU/softmax
    /// rows): `portable` or `avx2`.
    pub path: &'static str,
    /// Why that path: detected, forced, or a forced path the CPU lacks.
    pub reason: String,
    /// What the CPU offers, of what matters here: `avx2`, `fma`, `avx512f`.
    pub cpu: Vec<&'static str>,
    /// The matrix products: `scalar`, `avx2` or `avx512`, why, and the
    /// calibration's timings when one decided.
    pub matmul: MatmulChoice,
}

/// The matrix products' kernels and why (part of [`Simd`]).
pub use relaxvqa_model::backbone::matmul::MatmulChoice;

/// This process's kernel paths (chosen at the first call; on a CPU with
/// AVX-512 the first call may time the two matrix-product kernel sets, a
/// few tens of milliseconds, once per machine).
pub fn simd() -> Simd {
    use relaxvqa_model::backbone::matmul;
    let ours = relaxvqa_image::simd::choice();
    Simd {
        path: relaxvqa_image::simd::path().as_str(),
        reason: ours.reason.clone(),
        cpu: ours.cpu.clone(),
        matmul: MatmulChoice { kernels: matmul::current().as_str(), ..matmul::choice().clone() },
    }
}

/// Opens `input` (a file, trusted or not, raw or not) and reports what it is;
/// with `count`, decodes every frame to count the samples exactly.
pub fn inspect(input: Input, count: bool) -> Result<Inspection> {
    // Describing a trusted file refuses nothing; an untrusted one is held
    // to the default limits, as extracting it would be.
    let limits = match input.trust {
        crate::Trust::Trusted => relaxvqa_video::Limits::none(),
        crate::Trust::Untrusted => relaxvqa_video::Limits::untrusted(),
    };
    let decode = DecodeOptions { threads: 0, raw: input.raw.clone(), trust: input.trust, limits };
    let name = input.name();
    let dec = crate::open::open(input, &decode)?;
    let info = dec.info().clone();
    let frame_interval = info
        .frame_rate
        .interval()
        .ok_or_else(|| Error::invalid(format!("{name}: frame rate 0 or missing; cannot sample")))?;
    let mut counted = None;
    if count {
        let mut s = SampledFrames::new(dec)?;
        for r in s.by_ref() {
            r?;
        }
        counted = Some((s.frames_decoded(), s.sampled_count(), s.pair_count()));
    }
    Ok(Inspection {
        schema: "relaxvqa.info/1",
        video: VideoSummary::from(&info),
        frame_interval,
        decoded_frames: counted.map(|c| c.0),
        sampled_frames: counted.map(|c| c.1),
        pairs: counted.map(|c| c.2),
        simd: simd(),
    })
}
