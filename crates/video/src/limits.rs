//! What one input may make the decoder spend, enforced by the decoder
//! itself (`docs/security.md`, "Limits"): frame size (FFmpeg's own
//! `max_pixels`, given to every decoder FFmpeg opens, the stream probe's
//! included, so a frame over it is never allocated, whatever the container
//! says and whenever the size changes), streams (FFmpeg's `max_streams`),
//! stream duration and sampled frames (checked from the container when the
//! input is opened, from the packets when the container does not say, and
//! again on every decoded frame: a container can lie).
//!
//! A trusted input (a file the user names) keeps only the frame-size limit;
//! an untrusted one (an upload, bytes, a path a network client named) gets
//! all of them, with the defaults below unless the caller sets others.

use std::fmt;

use crate::source::VideoInfo;

/// The largest frame decoded by default: 8K UHD (7680x4320), 33.2 million
/// pixels. Larger frames are refused before a frame buffer is allocated.
pub const DEFAULT_MAX_PIXELS: u64 = 7680 * 4320;

/// The most streams an untrusted container may declare (FFmpeg's own
/// default is 1,000, and every stream costs a demuxer context and, while
/// probing, a decoder). Phone and camera files have two or three; a film
/// master with many audio and subtitle tracks a few dozen.
pub const DEFAULT_MAX_STREAMS: u32 = 32;

/// The longest untrusted video by default, seconds of stream time: ten
/// minutes, longer than any clip of the datasets the heads were trained on
/// (KoNViD-1k 8 s, YouTube-UGC 20 s, LSVQ up to 20 s) and than most upload
/// platforms' short-form limit.
pub const DEFAULT_MAX_DURATION_S: f64 = 600.0;

/// The most sampled frames of an untrusted video by default: the work of
/// the networks grows with them (three images each). Ten minutes sampled at
/// the spec's two-odd frames a second is 1,200-1,300; a video under 2 fps
/// samples every frame, so 1,500 also covers ten minutes at 2.5 fps.
pub const DEFAULT_MAX_SAMPLED_FRAMES: u64 = 1_500;

/// The limits one input is decoded under. `None` is "no limit".
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// The largest frame, width x height: given to FFmpeg's decoders as
    /// `max_pixels`, checked against the container at open and against
    /// every decoded frame.
    pub max_pixels: Option<u64>,
    /// The most streams the container may have (FFmpeg's `max_streams`).
    pub max_streams: Option<u32>,
    /// The longest stream, seconds: from the container (or, when it does
    /// not say, the packets) at open, and from the decoded frames'
    /// timestamps while decoding.
    pub max_duration_s: Option<f64>,
    /// The most sampled frames (every `k`-th frame, spec section 1): from
    /// the container's frame count or duration at open, and from the
    /// decoded frames while decoding.
    pub max_sampled_frames: Option<u64>,
}

impl Limits {
    /// The limits of a trusted input: frames up to `max_pixels`, nothing
    /// else bounded (a researcher's own two-hour film is fine).
    pub const fn trusted(max_pixels: Option<u64>) -> Self {
        Self { max_pixels, max_streams: None, max_duration_s: None, max_sampled_frames: None }
    }

    /// No limit at all.
    pub const fn none() -> Self {
        Self::trusted(None)
    }

    /// The defaults for an untrusted input ([`DEFAULT_MAX_PIXELS`],
    /// [`DEFAULT_MAX_STREAMS`], [`DEFAULT_MAX_DURATION_S`],
    /// [`DEFAULT_MAX_SAMPLED_FRAMES`]).
    pub const fn untrusted() -> Self {
        Self {
            max_pixels: Some(DEFAULT_MAX_PIXELS),
            max_streams: Some(DEFAULT_MAX_STREAMS),
            max_duration_s: Some(DEFAULT_MAX_DURATION_S),
            max_sampled_frames: Some(DEFAULT_MAX_SAMPLED_FRAMES),
        }
    }

    /// Whether a `width` x `height` frame is allowed.
    pub(crate) fn check_pixels(&self, width: u32, height: u32) -> Result<(), (Limit, String)> {
        let pixels = u64::from(width) * u64::from(height);
        match self.max_pixels {
            Some(max) if pixels > max => Err((Limit::Pixels(max), format!("frames of {width}x{height}"))),
            _ => Ok(()),
        }
    }

    /// Whether `seconds` of stream are allowed.
    pub(crate) fn check_duration(&self, seconds: f64) -> Result<(), (Limit, String)> {
        match self.max_duration_s {
            Some(max) if seconds > max => Err((Limit::Duration(max), format!("a stream of {seconds:.1} s"))),
            _ => Ok(()),
        }
    }

    /// Whether `sampled` sampled frames are allowed.
    pub(crate) fn check_sampled(&self, sampled: u64) -> Result<(), (Limit, String)> {
        match self.max_sampled_frames {
            Some(max) if sampled > max => Err((Limit::SampledFrames(max), format!("{sampled} sampled frames"))),
            _ => Ok(()),
        }
    }

    /// The container's own figures against the limits: frame size, duration,
    /// and sampled frames from the frame count (or duration times frame rate).
    pub(crate) fn check_container(&self, info: &VideoInfo) -> Result<(), (Limit, String)> {
        self.check_pixels(info.width, info.height)?;
        if let Some(seconds) = info.duration_seconds {
            self.check_duration(seconds)?;
        }
        if let Some(k) = info.frame_rate.interval() {
            let frames = if info.frame_count > 0 {
                Some(info.frame_count)
            } else {
                info.duration_seconds.zip(info.frame_rate.as_f64()).map(|(d, r)| (d * r).floor() as u64)
            };
            if let Some(n) = frames {
                self.check_sampled(n.div_ceil(k))?;
            }
        }
        Ok(())
    }
}

impl Default for Limits {
    /// [`Limits::untrusted`]: a caller that asks for limits gets them all.
    fn default() -> Self {
        Self::untrusted()
    }
}

/// Which limit an input went over, with its value: what
/// [`crate::VideoError::OverLimit`] names, so a front end can say which
/// option raises it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_pixels`].
    Pixels(u64),
    /// [`Limits::max_streams`].
    Streams(u32),
    /// [`Limits::max_duration_s`].
    Duration(f64),
    /// [`Limits::max_sampled_frames`].
    SampledFrames(u64),
}

impl Limit {
    /// The option's name in every front end (`--max-pixels` on the command
    /// line and the service, `max_pixels` in Python).
    pub fn option(self) -> &'static str {
        match self {
            Self::Pixels(_) => "max-pixels",
            Self::Streams(_) => "max-streams",
            Self::Duration(_) => "max-duration",
            Self::SampledFrames(_) => "max-sampled-frames",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pixels(n) => write!(f, "{n} pixels a frame"),
            Self::Streams(n) => write!(f, "{n} streams"),
            Self::Duration(s) => write!(f, "{s} s"),
            Self::SampledFrames(n) => write!(f, "{n} sampled frames"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_limit() {
        let l = Limits::untrusted();
        assert!(l.check_pixels(7680, 4320).is_ok());
        let (limit, what) = l.check_pixels(15360, 8640).unwrap_err();
        assert_eq!((limit, what.as_str()), (Limit::Pixels(DEFAULT_MAX_PIXELS), "frames of 15360x8640"));
        assert_eq!(limit.option(), "max-pixels");
        assert!(l.check_duration(600.0).is_ok());
        assert_eq!(l.check_duration(36000.0).unwrap_err().0, Limit::Duration(600.0));
        assert_eq!(l.check_sampled(1501).unwrap_err().0, Limit::SampledFrames(1500));
        let t = Limits::trusted(None);
        assert!(t.check_pixels(u32::MAX, u32::MAX).is_ok() && t.check_duration(1e9).is_ok());
    }
}
