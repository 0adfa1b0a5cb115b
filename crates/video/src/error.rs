//! The one error type of the crate: every failure names the file and says
//! what is wrong with it in one line, so a batch run over thousands of videos
//! can log and skip a bad one without a backtrace.

use std::path::PathBuf;

/// Why a video could not be opened, sampled or decoded.
///
/// Nothing in this crate panics on bad input: every malformed, truncated or
/// unexpected file ends in one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// The path does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The file asked for.
        path: PathBuf,
    },

    /// The path exists but cannot be read as a file (a directory, no
    /// permission, an I/O error).
    #[error("{}: cannot read the file: {cause}", path.display())]
    Unreadable {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },

    /// The path cannot be handed to FFmpeg's C API (not UTF-8, or contains a
    /// NUL byte).
    #[error("{}: the path is not valid UTF-8 or contains a NUL byte, which FFmpeg cannot open", path.display())]
    BadPath {
        /// The file asked for.
        path: PathBuf,
    },

    /// FFmpeg could not open the file as media: it is not a video (a text
    /// file, say), or it is damaged or truncated before its index (an MP4
    /// whose `moov` atom is missing, as in the first half of a file written
    /// without `+faststart`, cannot be opened at all).
    #[error("{}: not a media file FFmpeg can read, or damaged or truncated before its index: {cause}", path.display())]
    NotMedia {
        /// The file asked for.
        path: PathBuf,
        /// FFmpeg's message.
        cause: String,
    },

    /// The file is valid media but has no video stream (audio only, say), or
    /// only a still cover picture.
    #[error("{}: the file has no video stream", path.display())]
    NoVideoStream {
        /// The file asked for.
        path: PathBuf,
    },

    /// The video stream uses a codec this FFmpeg build cannot decode, or the
    /// decoder refused to open.
    #[error("{}: cannot decode the video stream ({codec}): {cause}", path.display())]
    Decoder {
        /// The file asked for.
        path: PathBuf,
        /// The codec's name as FFmpeg reports it.
        codec: String,
        /// Why it could not be opened.
        cause: String,
    },

    /// The options for a raw `.yuv` file are invalid (zero size, unknown pixel
    /// format, zero frame rate).
    #[error("{}: invalid raw video options: {cause}", path.display())]
    RawOptions {
        /// The file asked for.
        path: PathBuf,
        /// What is wrong with them.
        cause: String,
    },

    /// The stream's frame rate (`r_frame_rate`) is zero or missing, so the
    /// sampling interval `k` (spec section 1) cannot be computed.
    #[error("{}: the video stream's frame rate {num}/{den} is zero or missing, so frames cannot be sampled", path.display())]
    InvalidFrameRate {
        /// The file asked for.
        path: PathBuf,
        /// Numerator of `r_frame_rate`.
        num: i32,
        /// Denominator of `r_frame_rate`.
        den: i32,
    },

    /// The video stream decoded to no frame at all.
    #[error("{}: the video stream has no decodable frame", path.display())]
    NoFrames {
        /// The file asked for.
        path: PathBuf,
    },

    /// The file is so damaged or truncated that no frame decodes (a file
    /// cut short or damaged part way decodes up to its last good frame, as
    /// the FFmpeg CLI decodes it, and says so in its
    /// [`DecodeReport`](crate::DecodeReport)).
    #[error("{}: damaged or truncated after {frames} decoded frames: {cause}", path.display())]
    Damaged {
        /// The file asked for.
        path: PathBuf,
        /// How many frames were decoded before the failure.
        frames: u64,
        /// FFmpeg's message.
        cause: String,
    },

    /// Decoding failed for a reason that is not the file's (out of memory):
    /// damaged data is skipped, not reported here.
    #[error("{}: decoding failed after {frames} decoded frames: {cause}", path.display())]
    Decode {
        /// The file asked for.
        path: PathBuf,
        /// How many frames were decoded before the failure.
        frames: u64,
        /// FFmpeg's message.
        cause: String,
    },

    /// Converting a decoded frame to RGB failed (an unsupported pixel format).
    #[error("{}: cannot convert frame {frame} ({pixel_format}) to RGB: {cause}", path.display())]
    Convert {
        /// The file asked for.
        path: PathBuf,
        /// The frame number (from 0).
        frame: u64,
        /// The frame's pixel format name.
        pixel_format: String,
        /// Why.
        cause: String,
    },

    /// The input goes over one of the decoder's [`crate::Limits`]: frames
    /// too large, too many streams, too long, too many sampled frames.
    /// Found when the input is opened (from the container or its packets)
    /// or while decoding (a container can lie); nothing over the limit is
    /// allocated or decoded.
    #[error("{}: {found}: over the limit of {limit} (raise --{} to allow it)", path.display(), limit.option())]
    OverLimit {
        /// The input's name.
        path: PathBuf,
        /// The limit, with its value.
        limit: crate::Limit,
        /// What the input has (`frames of 15360x8640`, `a stream of 36000.0 s`).
        found: String,
    },

    /// An untrusted input was refused before FFmpeg read it as media: its
    /// container is not on the accepted list (a playlist or manifest that
    /// names other files or URLs, say). See [`crate::policy`].
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The input's name.
        path: PathBuf,
        /// FFmpeg's name of the container it was probed as.
        format: String,
        /// One line for the user: what is refused and what to send instead.
        reason: String,
    },
}
