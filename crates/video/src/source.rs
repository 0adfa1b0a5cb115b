//! The frame-source abstraction: the processing core pulls decoded frames
//! through [`FrameSource`] and never touches FFmpeg, so it can be tested with
//! frames made in memory ([`IterSource`]) and a different decoder can be
//! plugged in later.

use std::path::PathBuf;

use relaxvqa_image::RgbImage;

use crate::decode_report::DecodeReport;
use crate::sample::FrameRate;
use crate::VideoError;

/// What is known about a video before decoding it: reported by the source,
/// shown to the user, and used to compute the sampling interval.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// The file (or a descriptive name for an in-memory source); every error
    /// message names it.
    pub path: PathBuf,
    /// Width of the RGB frames in pixels, after the display rotation.
    pub width: u32,
    /// Height of the RGB frames in pixels, after the display rotation.
    pub height: u32,
    /// The stream's `r_frame_rate`, from which the sampling interval comes.
    pub frame_rate: FrameRate,
    /// The number of frames the container reports (`nb_frames`); 0 when it
    /// does not say. Only a hint: the decoded count `N` is what counts.
    pub frame_count: u64,
    /// The decoder's pixel format name (`yuv420p`, `yuv420p10le`, ...).
    pub pixel_format: String,
    /// The codec name (`h264`, `rawvideo`, ...).
    pub codec: String,
    /// The display rotation in degrees counter-clockwise, in `[0, 360)`, as
    /// ffprobe prints it (`rotation=90` for `-metadata:s:v:0 rotate=90`).
    /// Multiples of 90 are applied to the frames as the FFmpeg CLI applies
    /// them (turning the decoded planes, then converting); other angles are
    /// not applied.
    pub rotation: u32,
    /// Duration in seconds, when the container says.
    pub duration_seconds: Option<f64>,
}

impl VideoInfo {
    /// Information for frames made in memory (tests, synthetic inputs): the
    /// container fields are left unknown.
    pub fn synthetic(name: impl Into<PathBuf>, width: u32, height: u32, frame_rate: FrameRate) -> Self {
        Self {
            path: name.into(),
            width,
            height,
            frame_rate,
            frame_count: 0,
            pixel_format: "rgb24".to_owned(),
            codec: "none".to_owned(),
            rotation: 0,
            duration_seconds: None,
        }
    }
}

/// One decoded frame, numbered from 0 in presentation order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The frame number `n` (0 for the first decoded frame).
    pub number: u64,
    /// The frame as 8-bit RGB after display rotation, when it was asked for;
    /// `None` when the caller said it did not need it (decoded, never
    /// converted).
    pub rgb: Option<RgbImage>,
}

/// A stream of decoded frames in presentation order.
///
/// Implementations decode every frame (codecs need them) but convert to RGB
/// only when asked, so that frames nobody looks at cost no conversion. They
/// hold a bounded number of frames whatever the video's length.
pub trait FrameSource {
    /// What the source knows about the video before decoding.
    fn info(&self) -> &VideoInfo;

    /// The next frame, converted to RGB when `want_rgb` is true; `Ok(None)`
    /// at the end of the stream (and on every call after it).
    fn next_frame(&mut self, want_rgb: bool) -> Result<Option<Frame>, VideoError>;

    /// What decoding has had to work around so far (damaged packets, an
    /// early end, a size change); complete once [`Self::next_frame`] has
    /// returned `Ok(None)`. Sources that cannot meet damage report nothing.
    fn report(&self) -> DecodeReport {
        DecodeReport::default()
    }
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn info(&self) -> &VideoInfo {
        (**self).info()
    }

    fn next_frame(&mut self, want_rgb: bool) -> Result<Option<Frame>, VideoError> {
        (**self).next_frame(want_rgb)
    }

    fn report(&self) -> DecodeReport {
        (**self).report()
    }
}

/// A [`FrameSource`] over RGB frames produced by an iterator: for tests and
/// synthetic inputs. The iterator is pulled one frame at a time, so a long
/// generated video never sits in memory.
pub struct IterSource<I> {
    info: VideoInfo,
    frames: I,
    next_number: u64,
    done: bool,
}

impl<I: Iterator<Item = RgbImage>> IterSource<I> {
    /// A source yielding `frames` in order, described by `info`.
    pub fn new(info: VideoInfo, frames: impl IntoIterator<IntoIter = I>) -> Self {
        Self { info, frames: frames.into_iter(), next_number: 0, done: false }
    }
}

impl<I: Iterator<Item = RgbImage>> FrameSource for IterSource<I> {
    fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn next_frame(&mut self, want_rgb: bool) -> Result<Option<Frame>, VideoError> {
        if self.done {
            return Ok(None);
        }
        match self.frames.next() {
            Some(img) => {
                let number = self.next_number;
                self.next_number += 1;
                Ok(Some(Frame { number, rgb: want_rgb.then_some(img) }))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}
