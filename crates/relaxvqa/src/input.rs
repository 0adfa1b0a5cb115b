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

/// Parses `WxH` (a raw video's `--size`).
pub fn parse_size(s: &str) -> Option<(u32, u32)> {
    s.split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0)
}

/// Parses a frame rate `N` or `N/D`.
pub fn parse_rate(s: &str) -> Option<FrameRate> {
    let (n, d) = match s.split_once('/') {
        Some((n, d)) => (n.trim().parse().ok()?, d.trim().parse().ok()?),
        None => (s.trim().parse().ok()?, 1),
    };
    Some(FrameRate { num: n, den: d })
}
