//! What to decode and how: a file, a URL or a reader ([`MediaInput`]),
//! with the options and limits of one opening ([`DecodeOptions`]).

use std::path::{Path, PathBuf};

use crate::limits::Limits;
use crate::policy::Trust;
use crate::sample::FrameRate;

/// How to read a headerless raw video file (`.yuv`): such a file says
/// nothing about itself, so size, pixel format and frame rate must be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawVideo {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// FFmpeg's pixel format name (`yuv420p`, `yuv420p10le`, `nv12`, ...).
    pub pixel_format: String,
    /// The frame rate, which sets the sampling interval.
    pub frame_rate: FrameRate,
}

/// Options for [`open_with`]: defaults suit one video at a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodeOptions {
    /// Decoder threads; 0 lets FFmpeg pick (one per core, as the CLI does).
    /// Set 1 when many videos are decoded in parallel.
    pub threads: usize,
    /// Read the file as raw video with these parameters instead of probing it.
    pub raw: Option<RawVideo>,
    /// What FFmpeg may do for this input ([`Trust::Trusted`] by default: a
    /// caller of this crate names its own files). An untrusted input is
    /// read through our own I/O, must be one of the accepted containers and
    /// may not make FFmpeg open anything else; a URL is refused.
    pub trust: Trust,
    /// What the input may make the decoder spend. An untrusted input gets
    /// all of them; a trusted one only [`Limits::max_pixels`]. The default
    /// is [`Limits::untrusted`].
    pub limits: Limits,
}

impl DecodeOptions {
    /// The limits in force for this input's trust.
    pub fn effective_limits(&self) -> Limits {
        match self.trust {
            Trust::Untrusted => self.limits.clone(),
            Trust::Trusted => Limits::trusted(self.limits.max_pixels),
        }
    }
}

/// `Read + Seek + Send`, object-safe: what [`MediaInput::Reader`] holds.
/// Implemented for every type that has the three.
pub trait ReadSeek: std::io::Read + std::io::Seek + Send {}

impl<T: std::io::Read + std::io::Seek + Send> ReadSeek for T {}

/// Where a video's bytes come from. Every input goes through the same
/// demuxer, decoder and conversions, so the frames are the same whichever
/// way the same bytes arrive.
pub enum MediaInput {
    /// A local file (opened as `file:`, never read as a protocol; the
    /// existence checks of [`open_with`] apply).
    File(PathBuf),
    /// Anything FFmpeg's own protocols open: a URL, `pipe:0`; the string
    /// `-` means standard input (`pipe:0`).
    Url(String),
    /// Any `Read + Seek` (bytes in memory through [`std::io::Cursor`], an
    /// open file, an upload), read through a custom `AVIOContext`; nothing
    /// is written to disk. `name` is what errors and [`VideoInfo::path`]
    /// say, and FFmpeg sees it as the file name when it guesses the format
    /// (an extension helps, as with a file). Such an input may not make
    /// FFmpeg open anything else (a playlist's segments, say): its protocol
    /// whitelist is empty.
    Reader {
        /// The name shown in errors and in [`VideoInfo::path`].
        name: String,
        /// The bytes.
        reader: Box<dyn ReadSeek>,
    },
}

impl MediaInput {
    /// Bytes in memory (a `Vec<u8>`, `bytes::Bytes`, a `&'static [u8]`, ...),
    /// read in place through a [`std::io::Cursor`], without a copy.
    pub fn bytes(name: impl Into<String>, data: impl AsRef<[u8]> + Send + 'static) -> Self {
        Self::Reader { name: name.into(), reader: Box::new(std::io::Cursor::new(data)) }
    }

    /// Any `Read + Seek` under a name (see [`MediaInput::Reader`]).
    pub fn reader(name: impl Into<String>, reader: impl ReadSeek + 'static) -> Self {
        Self::Reader { name: name.into(), reader: Box::new(reader) }
    }

    /// The name errors and [`VideoInfo::path`] use: the path, the URL as
    /// given, or the reader's name.
    pub fn name(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Url(url) => PathBuf::from(url),
            Self::Reader { name, .. } => PathBuf::from(name),
        }
    }
}

impl std::fmt::Debug for MediaInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Url(url) => f.debug_tuple("Url").field(url).finish(),
            Self::Reader { name, .. } => f.debug_struct("Reader").field("name", name).finish_non_exhaustive(),
        }
    }
}

impl From<PathBuf> for MediaInput {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<&Path> for MediaInput {
    fn from(path: &Path) -> Self {
        Self::File(path.to_owned())
    }
}
