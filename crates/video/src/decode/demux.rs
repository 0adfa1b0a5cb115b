//! Opening a container through FFmpeg: the demuxer's input (a URL FFmpeg
//! opens, or our own I/O over a reader), its options dictionary, the
//! format policy of untrusted inputs, and the streams left out.

use std::ffi::{c_int, CString};
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;

use ff::ffi;
use ff::format::context::StreamIo;
use ff::format::Pixel;
use ffmpeg_next as ff;

use super::inputs::{RawVideo, ReadSeek};
use crate::limits::{Limit, Limits};
use crate::policy::{self, Trust};
use crate::VideoError;

/// Lets FFmpeg's own log print fatal errors only (it prints warnings and errors to stderr by
/// default): the crate reports every failure through [`VideoError`] anyway.
/// Global to the process, so it is left to the application to call.
pub fn quiet_ffmpeg_log() {
    ff::util::log::set_level(ff::util::log::Level::Fatal);
}

/// The URL FFmpeg opens for [`MediaInput::Url`]: `-` is standard input.
pub(super) fn ffmpeg_url(url: &str) -> &str {
    if url == "-" {
        "pipe:0"
    } else {
        url
    }
}

/// A custom I/O context over `reader`, with `name` (its NULs removed) for
/// format probing.
pub(super) fn reader_opening(path: &Path, name: String, reader: Box<dyn ReadSeek>) -> Result<Opening, VideoError> {
    init().map_err(|cause| VideoError::NotMedia { path: path.to_owned(), cause })?;
    let io = StreamIo::from_read_seek(reader)
        .map_err(|e| VideoError::NotMedia { path: path.to_owned(), cause: e.to_string() })?;
    // The name only guides format probing: a NUL cannot reach C.
    let name = CString::new(name.replace('\0', "")).unwrap_or_default();
    Ok(Opening::Io { name, io })
}

/// How the demuxer reaches the bytes.
pub(super) enum Opening {
    /// A URL FFmpeg opens itself (`file:...`, `pipe:0`, `https://...`).
    Url(CString),
    /// A custom `AVIOContext` over a Rust reader, with the name used for
    /// format probing.
    Io { name: CString, io: StreamIo },
}

/// Initialises FFmpeg once per process.
pub(super) fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| ff::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))).clone()
}

/// The checks FFmpeg would report less clearly: the file exists and is a file.
pub(super) fn check_file(path: &Path) -> Result<(), VideoError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            Err(VideoError::Unreadable { path: path.to_owned(), cause: std::io::Error::other("it is a directory") })
        }
        Ok(_) => {
            std::fs::File::open(path).map(drop).map_err(|cause| VideoError::Unreadable { path: path.to_owned(), cause })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(VideoError::NotFound { path: path.to_owned() }),
        Err(cause) => Err(VideoError::Unreadable { path: path.to_owned(), cause }),
    }
}

/// `avformat_open_input` + `avformat_find_stream_info`, probing the format
/// or forcing the rawvideo demuxer with its options, on a URL or a custom
/// `AVIOContext`.
pub(super) fn open_format(
    path: &Path,
    opening: Opening,
    raw: Option<&RawVideo>,
    trust: Trust,
    limits: &Limits,
) -> Result<ff::format::context::Input, VideoError> {
    let mut options = Options::default();
    let mut format: *const ffi::AVInputFormat = ptr::null();
    if let Some(raw) = raw {
        let bad = |cause: String| VideoError::RawOptions { path: path.to_owned(), cause };
        if raw.width == 0 || raw.height == 0 {
            return Err(bad(format!("frame size {}x{} is empty", raw.width, raw.height)));
        }
        if raw.frame_rate.interval().is_none() {
            return Err(bad(format!("frame rate {} is zero or negative", raw.frame_rate)));
        }
        if raw.pixel_format.parse::<Pixel>().is_err() {
            return Err(bad(format!("FFmpeg knows no pixel format named {:?}", raw.pixel_format)));
        }
        // SAFETY: the argument is a NUL-terminated literal; the result is
        // null or a pointer to a static demuxer description.
        format = unsafe { ffi::av_find_input_format(c"rawvideo".as_ptr()) };
        if format.is_null() {
            return Err(bad("this FFmpeg build has no rawvideo demuxer".to_owned()));
        }
        options.set("video_size", &format!("{}x{}", raw.width, raw.height)).map_err(bad)?;
        options.set("pixel_format", &raw.pixel_format).map_err(bad)?;
        options.set("framerate", &raw.frame_rate.to_string()).map_err(bad)?;
    }
    let not_media =
        |code: c_int| VideoError::NotMedia { path: path.to_owned(), cause: ff::Error::from(code).to_string() };
    let option_error = |cause: String| VideoError::NotMedia { path: path.to_owned(), cause };
    if matches!(opening, Opening::Io { .. }) {
        // Bytes from a reader may not make FFmpeg open anything else (an HLS
        // or concat playlist naming files or URLs): no protocol matches
        // "none".
        options.set("protocol_whitelist", "none").map_err(option_error)?;
    }
    let untrusted = trust == Trust::Untrusted;
    if untrusted {
        // Enforced by FFmpeg as well as by the probe below.
        options.set("format_whitelist", &policy::format_whitelist()).map_err(option_error)?;
        options.set("probesize", &policy::PROBE_SIZE.to_string()).map_err(option_error)?;
    }
    if let Some(max) = limits.max_streams {
        // A demuxer fails to add a stream past this (FFmpeg's default 1,000).
        options.set("max_streams", &max.to_string()).map_err(option_error)?;
    }
    // SAFETY: allocates an empty format context (null when out of memory).
    // Nothing below returns before avformat_open_input, which takes it.
    let mut ctx: *mut ffi::AVFormatContext = unsafe { ffi::avformat_alloc_context() };
    if ctx.is_null() {
        return Err(not_media(ffi::AVERROR(ffi::ENOMEM)));
    }
    let (url, io) = match opening {
        Opening::Url(url) => (url, None),
        Opening::Io { name, mut io } => {
            // SAFETY: `ctx` is the valid context just allocated and `io` a
            // valid read context. Setting `pb` before avformat_open_input is
            // the documented way to use custom I/O; avformat_open_input then
            // sets AVFMT_FLAG_CUSTOM_IO, so neither it (on failure) nor
            // avformat_close_input ever frees `pb`: `io` stays the owner, and
            // it lives until after the context is closed (below, or in the
            // `Input` that takes both).
            unsafe {
                (*ctx).pb = io.as_mut_ptr();
                (*ctx).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
            }
            (name, Some(io))
        }
    };
    if untrusted {
        if io.is_none() {
            // open_input gives an untrusted input only through custom I/O.
            // SAFETY: `ctx` is the context allocated above, not yet handed to
            // FFmpeg; freeing it here is its only release.
            unsafe { ffi::avformat_free_context(ctx) };
            return Err(not_media(ffi::AVERROR(ffi::EINVAL)));
        }
        // SAFETY: `ctx` is valid and not yet opened; `io_open` is a plain
        // callback field that avformat_open_input and every demuxer call
        // for nested opens, and `refuse_open` matches its signature and
        // touches none of its arguments.
        unsafe { (*ctx).io_open = Some(policy::refuse_open) };
        if format.is_null() {
            // SAFETY: `ctx` is valid with `pb` set to the live custom I/O
            // context; av_probe_input_buffer2 reads from it and rewinds it
            // (keeping the probed bytes buffered), exactly as
            // avformat_open_input does when it is given no format, and sets
            // `format` to a static demuxer description or leaves it null.
            // `url` is NUL-terminated; the log context may be null.
            let ret =
                unsafe { ffi::av_probe_input_buffer2((*ctx).pb, &mut format, url.as_ptr(), ptr::null_mut(), 0, 0) };
            let refused = if ret < 0 || format.is_null() {
                None
            } else {
                // SAFETY: `format` points at a static demuxer description
                // whose `name` is a static NUL-terminated string.
                let name = unsafe { std::ffi::CStr::from_ptr((*format).name) }.to_string_lossy().into_owned();
                (!policy::is_accepted(&name)).then_some(name)
            };
            if ret < 0 || format.is_null() || refused.is_some() {
                // SAFETY: as above: `ctx` was never opened, `pb` is owned by
                // `io` (dropped after this) and not freed with the context.
                unsafe { ffi::avformat_free_context(ctx) };
                return Err(match refused {
                    Some(name) => {
                        VideoError::Refused { path: path.to_owned(), reason: policy::refusal(&name), format: name }
                    }
                    None => not_media(if ret < 0 { ret } else { ffi::AVERROR_INVALIDDATA }),
                });
            }
        }
    }
    // SAFETY: `ctx` is a context from avformat_alloc_context, which
    // avformat_open_input accepts and frees itself on failure (leaving `ctx`
    // null; a custom `pb` is not freed). `url` is NUL-terminated; `format`
    // is null or a static demuxer; the options dictionary is owned by
    // `options`, which frees what remains of it.
    let ret = unsafe { ffi::avformat_open_input(&mut ctx, url.as_ptr(), format, options.as_mut_ptr()) };
    if ret < 0 {
        // `ctx` is already freed; `io`, if any, is dropped here, after it.
        // A demuxer reports a stream past `max_streams` as out of memory.
        if let (Some(max), true) = (limits.max_streams, ret == ffi::AVERROR(ffi::ENOMEM)) {
            return Err(VideoError::OverLimit {
                path: path.to_owned(),
                limit: Limit::Streams(max),
                found: "a container that declares more streams (or memory ran out)".to_owned(),
            });
        }
        return Err(not_media(ret));
    }
    // SAFETY: avformat_open_input succeeded, so `ctx` is a valid, open input
    // context, owned from here by the wrapper. With custom I/O the wrapper
    // also owns `io` and drops it only after avformat_close_input.
    let input = unsafe {
        match io {
            Some(io) => ff::format::context::Input::wrap_with_custom_io(ctx, io),
            None => ff::format::context::Input::wrap(ctx),
        }
    };
    // The decoders the stream probe opens get the frame-size limit too:
    // one options dictionary per stream, as avformat_find_stream_info takes.
    // SAFETY: the context is valid and open.
    let streams = unsafe { (*ctx).nb_streams } as usize;
    let mut per_stream: Vec<Options> = Vec::with_capacity(streams);
    for _ in 0..streams {
        let mut o = Options::default();
        if let Some(max) = limits.max_pixels {
            o.set("max_pixels", &max.min(i64::MAX as u64).to_string()).map_err(option_error)?;
        }
        per_stream.push(o);
    }
    let mut dicts: Vec<*mut ffi::AVDictionary> =
        per_stream.iter_mut().map(|o| o.dict.take().map_or(ptr::null_mut(), |d| d.as_ptr())).collect();
    // SAFETY: the context is valid and open; `dicts` holds one dictionary
    // (or null) per stream that existed when it was made, which is what the
    // function reads; it may replace each entry, and every entry left is
    // handed back to an `Options` below, which frees it.
    let ret =
        unsafe { ffi::avformat_find_stream_info(ctx, if streams == 0 { ptr::null_mut() } else { dicts.as_mut_ptr() }) };
    for (o, d) in per_stream.iter_mut().zip(dicts) {
        o.dict = ptr::NonNull::new(d);
    }
    if ret < 0 {
        return Err(not_media(ret));
    }
    Ok(input)
}

/// An owned `AVDictionary` of demuxer options, freed on drop.
#[derive(Default)]
struct Options {
    dict: Option<ptr::NonNull<ffi::AVDictionary>>,
}

impl Options {
    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let k = CString::new(key).map_err(|_| format!("option name {key:?} contains NUL"))?;
        let v = CString::new(value).map_err(|_| format!("option {key} value {value:?} contains NUL"))?;
        let mut raw = self.dict.map_or(ptr::null_mut(), |d| d.as_ptr());
        // SAFETY: `raw` is null or a dictionary owned by `self`; av_dict_set
        // copies both strings and updates `raw` (it may reallocate).
        let ret = unsafe { ffi::av_dict_set(&mut raw, k.as_ptr(), v.as_ptr(), 0) };
        self.dict = ptr::NonNull::new(raw);
        if ret < 0 {
            return Err(format!("cannot set option {key}: {}", ff::Error::from(ret)));
        }
        Ok(())
    }

    /// A pointer to the dictionary pointer, for functions that consume the
    /// entries they recognise and leave the rest. The caller must not keep it.
    fn as_mut_ptr(&mut self) -> *mut *mut ffi::AVDictionary {
        // NonNull<T> and *mut T share their layout, and Option<NonNull<T>>
        // uses null for None, so this is a valid `*mut *mut AVDictionary`.
        (&mut self.dict as *mut Option<ptr::NonNull<ffi::AVDictionary>>).cast()
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        if let Some(d) = self.dict.take() {
            let mut raw = d.as_ptr();
            // SAFETY: `raw` is the dictionary owned by `self`, not freed yet.
            unsafe { ffi::av_dict_free(&mut raw) };
        }
    }
}

/// Marks every stream but the chosen one discarded: the demuxer drops
/// their packets, and no decoder is ever opened for them.
pub(super) fn discard_other_streams(input: &mut ff::format::context::Input, keep: usize) {
    // SAFETY: `input` wraps a valid, open format context whose `streams`
    // array holds `nb_streams` valid stream pointers; `discard` is a plain
    // field the demuxer reads before returning each packet.
    unsafe {
        let ctx = input.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            if i != keep {
                (**(*ctx).streams.add(i)).discard = ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::inputs::MediaInput;

    /// `-` is standard input; every other string goes to FFmpeg unchanged.
    #[test]
    fn dash_means_standard_input() {
        assert_eq!(super::ffmpeg_url("-"), "pipe:0");
        for url in ["pipe:0", "https://example.invalid/a.mp4", "--", "file:-", "a.mp4"] {
            assert_eq!(super::ffmpeg_url(url), url);
        }
        let input = MediaInput::Url("-".to_owned());
        assert_eq!(input.name(), std::path::PathBuf::from("-"));
    }
}
