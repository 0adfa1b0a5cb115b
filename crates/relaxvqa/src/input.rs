//! What a video can come from: a file, raw frames with their geometry, any
//! URL or pipe FFmpeg opens, or bytes in memory / any `Read + Seek` (read
//! through a custom FFmpeg I/O context: an upload or a Python `bytes` object
//! is never written to disk).
//!
//! Every input carries a [`Trust`]: a path or URL the caller names is
//! trusted (FFmpeg's full power: playlists, protocols, image patterns);
//! bytes and readers are untrusted unless the caller says otherwise, and
//! an untrusted input is read only as one of the accepted containers, with
//! no second file or URL opened ([`relaxvqa_video::policy`],
//! `docs/security.md`). A service marks every upload and every path a
//! client names untrusted with [`Input::untrusted`].

use std::path::{Path, PathBuf};

pub use relaxvqa_video::{FrameRate, RawVideo, ReadSeek, Trust};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One video to extract or score.
///
/// ```
/// use relaxvqa::Input;
/// let a = Input::path("clip.mp4");
/// let b = Input::bytes("upload.mp4", vec![0u8; 16]);
/// let c = Input::url("-"); // standard input
/// assert_eq!(a.name(), "clip.mp4");
/// assert_eq!(b.name(), "upload.mp4");
/// assert_eq!(c.name(), "-");
/// ```
pub struct Input {
    pub(crate) source: Source,
    pub(crate) raw: Option<RawVideo>,
    pub(crate) trust: Trust,
}

pub(crate) enum Source {
    File(PathBuf),
    Url(String),
    Reader { name: String, reader: Box<dyn ReadSeek> },
}

impl Input {
    /// A local file (never read as a URL, even if its name looks like one),
    /// trusted: chain [`Input::untrusted`] when someone else chose it.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self { source: Source::File(path.into()), raw: None, trust: Trust::Trusted }
    }

    /// Anything FFmpeg's protocols open: `http://...`, `pipe:0`; `-` is
    /// standard input. Trusted; an untrusted URL is refused when opened.
    pub fn url(url: impl Into<String>) -> Self {
        Self { source: Source::Url(url.into()), raw: None, trust: Trust::Trusted }
    }

    /// Bytes in memory (a container file's bytes, or raw frames with
    /// [`Input::raw`]); `name` is what messages and results call it.
    pub fn bytes(name: impl Into<String>, data: impl AsRef<[u8]> + Send + 'static) -> Self {
        Self::reader(name, std::io::Cursor::new(data))
    }

    /// Any seekable reader: an open file, a buffer, an upload. Untrusted
    /// (as [`Input::bytes`]) unless [`Input::trusted`] is chained.
    pub fn reader(name: impl Into<String>, reader: impl ReadSeek + 'static) -> Self {
        Self {
            source: Source::Reader { name: name.into(), reader: Box::new(reader) },
            raw: None,
            trust: Trust::Untrusted,
        }
    }

    /// Marks the input as coming from someone else (an upload, a path a
    /// network client named): it is read only as an accepted container,
    /// and nothing it names is opened.
    ///
    /// ```
    /// use relaxvqa::{Input, Trust};
    /// assert_eq!(Input::path("clip.mp4").trust(), Trust::Trusted);
    /// assert_eq!(Input::path("upload").untrusted().trust(), Trust::Untrusted);
    /// assert_eq!(Input::bytes("b", vec![0u8]).trust(), Trust::Untrusted);
    /// ```
    pub fn untrusted(mut self) -> Self {
        self.trust = Trust::Untrusted;
        self
    }

    /// Lifts the container allow-list for bytes or a reader the caller made
    /// or vouches for: any demuxer FFmpeg has may read them. Bytes have no
    /// location, so whatever they name still cannot be opened (their
    /// protocol whitelist stays empty); a path is trusted already.
    pub fn trusted(mut self) -> Self {
        self.trust = Trust::Trusted;
        self
    }

    /// Whether FFmpeg may do everything for this input.
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Reads the input as headerless raw video (`.yuv`) of this geometry,
    /// pixel format and frame rate.
    pub fn raw(mut self, raw: RawVideo) -> Self {
        self.raw = Some(raw);
        self
    }

    /// The name used in messages and results: the path, URL or given name.
    pub fn name(&self) -> String {
        match &self.source {
            Source::File(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
            Source::Reader { name, .. } => name.clone(),
        }
    }

    /// The local file, when the input is one.
    pub fn file(&self) -> Option<&Path> {
        match &self.source {
            Source::File(p) => Some(p),
            _ => None,
        }
    }

    /// The raw-video parameters, when given.
    pub fn raw_video(&self) -> Option<&RawVideo> {
        self.raw.as_ref()
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("name", &self.name()).field("raw", &self.raw).finish()
    }
}

impl From<&Path> for Input {
    fn from(p: &Path) -> Self {
        Input::path(p)
    }
}

impl From<PathBuf> for Input {
    fn from(p: PathBuf) -> Self {
        Input::path(p)
    }
}

impl From<&PathBuf> for Input {
    fn from(p: &PathBuf) -> Self {
        Input::path(p.clone())
    }
}

impl From<&str> for Input {
    /// A path; use [`Input::url`] for URLs and `-`.
    fn from(p: &str) -> Self {
        Input::path(p)
    }
}

/// Opens a local file that someone else named (an upload, a path a network
/// client gave) for [`Input::reader`]: no symbolic link followed in its
/// last component, no blocking on a FIFO or a device, nothing but a regular
/// file, all checked on the opened descriptor.
pub fn open_untrusted_file(path: &Path) -> Result<std::fs::File> {
    Ok(relaxvqa_video::open_regular(path)?)
}

/// Parses `WxH` (a raw video's `--size`).
fn parse_size(s: &str) -> Option<(u32, u32)> {
    s.split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
}

/// Parses a frame rate: `N`, `N/D`, or a decimal such as `29.97` (as the
/// nearest fraction with a denominator up to 1001: 29.97002997 is 30000/1001).
fn parse_rate(s: &str) -> Option<FrameRate> {
    let s = s.trim();
    if let Some((n, d)) = s.split_once('/') {
        let (num, den): (i32, i32) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
        return (num > 0 && den > 0).then_some(FrameRate { num, den });
    }
    if let Ok(num) = s.parse::<i32>() {
        return (num > 0).then_some(FrameRate { num, den: 1 });
    }
    let v: f64 = s.parse().ok().filter(|v: &f64| v.is_finite() && *v > 0.0 && *v < f64::from(i32::MAX))?;
    (1..=1001)
        .map(|den: i32| {
            let num = (v * f64::from(den)).round();
            (num, den, (num / f64::from(den) - v).abs())
        })
        .filter(|&(num, _, _)| num >= 1.0 && num <= f64::from(i32::MAX))
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(num, den, _)| FrameRate { num: num as i32, den })
}

/// How to read headerless raw video, as every front end takes it: the
/// strings the user typed (`size` `WxH`, `pix_fmt`, `fps` `N`, `N/D` or a
/// decimal, taken as the nearest fraction with a denominator up to 1001),
/// validated in one place by [`RawOptions::parse`]. Serde, so a
/// batch task carries it unchanged from a driver to its workers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawOptions {
    /// The frame size, `WxH`; without it the input is not raw.
    pub size: Option<String>,
    /// The pixel format (default `yuv420p`).
    pub pix_fmt: Option<String>,
    /// The frame rate (default 25).
    pub fps: Option<String>,
}

impl RawOptions {
    /// The raw-video parameters, or `None` when no size is given; an
    /// [`Error::Invalid`] naming the bad option otherwise.
    pub fn parse(&self) -> Result<Option<RawVideo>> {
        let Some(size) = &self.size else {
            if self.pix_fmt.is_some() || self.fps.is_some() {
                return Err(Error::invalid("pix_fmt and fps describe raw video: give its size (WxH) too"));
            }
            return Ok(None);
        };
        let (width, height) =
            parse_size(size).ok_or_else(|| Error::invalid(format!("size {size}: expected WxH, e.g. 1920x1080")))?;
        let fps = self.fps.as_deref().unwrap_or("25");
        let frame_rate = parse_rate(fps)
            .ok_or_else(|| Error::invalid(format!("fps {fps}: expected N, N/D or a decimal, e.g. 30000/1001")))?;
        let pixel_format = self.pix_fmt.clone().unwrap_or_else(|| "yuv420p".into());
        Ok(Some(RawVideo { width, height, pixel_format, frame_rate }))
    }

    /// `input` read as raw video when a size is given.
    pub fn apply(&self, input: Input) -> Result<Input> {
        Ok(match self.parse()? {
            Some(raw) => input.raw(raw),
            None => input,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let r = |s: &str| parse_rate(s).map(|r| (r.num, r.den));
        assert_eq!(r("25"), Some((25, 1)));
        assert_eq!(r("30000/1001"), Some((30000, 1001)));
        assert_eq!(r("29.97"), Some((2997, 100)));
        assert_eq!(r("29.97002997"), Some((30000, 1001)));
        for bad in ["0", "-1", "1/0", "nan", "inf", "x", ""] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }
}
