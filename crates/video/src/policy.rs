//! What FFmpeg may do for an input: everything for a trusted one, a closed
//! list of containers and nothing else for an untrusted one.
//!
//! FFmpeg's demuxers can open more than the file they are given: an HLS or
//! DASH playlist names segments (`file:/etc/...`, `http://127.0.0.1/...`),
//! an ffconcat list names files, an image2 pattern names a numbered series,
//! an SDP file starts RTP sessions, a QuickTime `dref` atom points at an
//! external media file. A protocol whitelist does not stop the first two:
//! nested opens inherit the outer input's `file` protocol. A service that
//! opens what strangers upload must therefore (docs/security.md):
//!
//! 1. read the bytes itself (a custom I/O context over a Rust reader) with
//!    an empty protocol whitelist, so FFmpeg opens no URL for the input;
//! 2. probe the container the way `avformat_open_input` does and refuse any
//!    demuxer not on [`ACCEPTED_DEMUXERS`] before it reads a byte more;
//! 3. replace the context's `io_open` callback with one that refuses, so no
//!    demuxer can open a second file or URL whatever its input says;
//! 4. keep `probesize` bounded (FFmpeg's default, set explicitly).

use std::ffi::{c_char, c_int};

use ffmpeg_next::ffi;

/// Whether an input may use FFmpeg's full power.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Trust {
    /// The user named this input (a path on the command line, a library
    /// caller's file): every protocol, demuxer and nested open FFmpeg offers.
    #[default]
    Trusted,
    /// Bytes from someone else (an upload, a path a network client named, a
    /// Python `bytes` object): only the containers of [`ACCEPTED_DEMUXERS`],
    /// read through our own I/O, with no second file or URL opened.
    Untrusted,
}

/// The demuxers an untrusted input may be read with (FFmpeg's names): the
/// containers real uploads come in, elementary streams, and single images.
/// None of them opens another file or URL by itself (QuickTime's external
/// data references are refused by the `io_open` callback instead).
pub const ACCEPTED_DEMUXERS: &[&str] = &[
    // MP4, MOV, 3GP, M4V.
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    // Matroska and WebM.
    "matroska",
    "webm",
    "avi",
    "flv",
    "mpegts",
    // MPEG program streams (.mpg, .vob).
    "mpeg",
    "ogg",
    "asf",
    "ivf",
    "yuv4mpegpipe",
    // Elementary video streams.
    "h264",
    "hevc",
    "m4v",
    "mpegvideo",
    "obu",
    // Raw frames, only when the caller forces it with a size and pixel format.
    "rawvideo",
    // Single images and animations (never image2's numbered patterns).
    "gif",
    "apng",
    "png_pipe",
    "jpeg_pipe",
    "bmp_pipe",
    "webp_pipe",
    "tiff_pipe",
];

/// Demuxers refused because their input names other inputs: the error says
/// to upload the media file itself.
const PLAYLISTS: &[&str] =
    &["hls", "applehttp", "dash", "concat", "ffconcat", "sdp", "rtp", "rtsp", "image2", "tee", "mpl2", "smil"];

/// Bytes FFmpeg may read while probing the streams (its default,
/// `probesize`); the container probe itself reads at most 1 MiB
/// (`formatprobesize`, also the default).
pub const PROBE_SIZE: u64 = 5_000_000;

/// Whether the demuxer `name` (FFmpeg's comma-separated name list, e.g.
/// `mov,mp4,m4a,3gp,3g2,mj2`) is accepted for an untrusted input: as with
/// FFmpeg's own `format_whitelist`, one accepted name is enough.
pub fn is_accepted(name: &str) -> bool {
    name.split(',').any(|n| ACCEPTED_DEMUXERS.contains(&n.trim()))
}

/// Why a demuxer that is not accepted was refused, in words for the user.
pub fn refusal(name: &str) -> String {
    if name.split(',').any(|n| PLAYLISTS.contains(&n.trim())) {
        format!("playlists and manifests are not accepted: upload the media file itself (this one is {name})")
    } else {
        format!(
            "the {name} format is not accepted from an untrusted source (accepted: MP4/MOV/3GP, Matroska/WebM, \
             AVI, FLV, MPEG-TS, MPEG-PS, Ogg, ASF, IVF, Y4M, elementary H.264/HEVC/MPEG-4/MPEG video, GIF and images)"
        )
    }
}

/// The `format_whitelist` option: the same list, enforced by FFmpeg too.
pub fn format_whitelist() -> String {
    ACCEPTED_DEMUXERS.join(",")
}

/// An `io_open` callback that opens nothing: a demuxer of an untrusted
/// input that tries to open a second file or URL (a segment, a referenced
/// track) gets "permission denied".
///
/// # Safety
/// Called by FFmpeg with its usual arguments; it reads none of them.
pub(crate) unsafe extern "C" fn refuse_open(
    _s: *mut ffi::AVFormatContext,
    _pb: *mut *mut ffi::AVIOContext,
    _url: *const c_char,
    _flags: c_int,
    _options: *mut *mut ffi::AVDictionary,
) -> c_int {
    ffi::AVERROR(ffi::EACCES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_refused_names() {
        assert!(is_accepted("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(is_accepted("matroska,webm"));
        for bad in ["hls", "dash", "concat", "image2", "sdp", "srt", "tee", "lavfi"] {
            assert!(!is_accepted(bad), "{bad}");
        }
        assert!(refusal("hls").starts_with("playlists and manifests are not accepted"));
        assert!(refusal("srt").contains("not accepted from an untrusted source"));
        assert!(format_whitelist().split(',').all(is_accepted));
    }
}
