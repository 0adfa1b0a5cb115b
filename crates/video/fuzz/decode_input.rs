//! The one function both the cargo-fuzz target (`fuzz_targets/decode.rs`)
//! and the stable robustness test (`tests/integration/robustness.rs`) run: arbitrary
//! bytes through `open_input` (as `MediaInput::bytes`) and `SampledFrames`
//! to the end. Any input must end in frames or a `VideoError`, never a
//! panic or a crash. Inputs of even length take the untrusted path (the
//! container probe and allow-list of `policy`, what uploads go through),
//! odd ones the trusted reader path.

use relaxvqa_video::{open_input, DecodeOptions, FrameRate, FrameSource, MediaInput, RawVideo, SampledFrames, Trust};

/// Inputs whose frames are larger than this many pixels are not decoded
/// (opening them is still exercised): keeps one input fast.
pub const MAX_PIXELS: u64 = 640 * 480;

/// Decoding stops after this many frames.
pub const MAX_FRAMES: u64 = 200;

/// What one input gave, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The input opened as a video.
    pub opened: bool,
    /// Frames decoded.
    pub frames: u64,
    /// Decoding ended in an error (after opening).
    pub failed: bool,
    /// The decode report was not clean.
    pub worked_around: bool,
}

/// A first byte of 0xF0 or more reads the rest as raw video; its low four
/// bits pick the size and pixel format.
fn raw_options(data: &[u8]) -> Option<(RawVideo, &[u8])> {
    let (&first, rest) = data.split_first()?;
    if first < 0xF0 {
        return None;
    }
    let bits = first & 0x0F;
    let width = 16 * (1 + u32::from(bits & 1));
    let height = 16 * (1 + u32::from((bits >> 1) & 1));
    let pixel_format = ["yuv420p", "yuv420p10le", "nv12", "gray"][usize::from(bits >> 2)].to_owned();
    Some((RawVideo { width, height, pixel_format, frame_rate: FrameRate::new(25, 1) }, rest))
}

/// Decodes `data` as the pipeline would, with [`MAX_PIXELS`] and
/// [`MAX_FRAMES`] as limits.
pub fn decode(data: &[u8]) -> Outcome {
    let trust = if data.len().is_multiple_of(2) { Trust::Untrusted } else { Trust::Trusted };
    let mut outcome = Outcome::default();
    let (options, bytes) = match raw_options(data) {
        Some((raw, rest)) => (DecodeOptions { threads: 1, raw: Some(raw), trust, limits: Default::default() }, rest),
        None => (DecodeOptions { threads: 1, raw: None, trust, limits: Default::default() }, data),
    };
    let Ok(dec) = open_input(MediaInput::bytes("fuzz-input", bytes.to_vec()), &options) else {
        return outcome;
    };
    outcome.opened = true;
    let info = dec.info().clone();
    let _ = format!("{info:?}");
    if u64::from(info.width) * u64::from(info.height) > MAX_PIXELS {
        return outcome;
    }
    let Ok(mut samples) = SampledFrames::new(dec) else {
        outcome.failed = true;
        return outcome;
    };
    while let Some(sample) = samples.next() {
        match sample {
            Ok(s) => {
                // Every frame is an RGB image of a consistent size.
                assert_eq!(s.rgb.as_bytes().len(), s.rgb.width() * s.rgb.height() * 3);
                if let Some(next) = &s.next_rgb {
                    assert_eq!(next.as_bytes().len(), next.width() * next.height() * 3);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "an error message spans lines: {msg}");
                outcome.failed = true;
                break;
            }
        }
        if samples.frames_decoded() >= MAX_FRAMES {
            break;
        }
    }
    outcome.frames = samples.frames_decoded();
    let report = samples.report();
    outcome.worked_around = !report.is_clean();
    let _ = report.warnings();
    outcome
}
