//! Decoding with FFmpeg's libraries, in process, to the RGB bytes the
//! authors' pipeline saw (spec section 1): every frame of the first video
//! stream in presentation order, converted with libswscale (`SWS_BICUBIC`, no
//! scaling) to the format the FFmpeg 5.1 command-line tool picks when it
//! writes PNG, and turned by the display rotation as the CLI turns it.
//!
//! What the CLI does, and is reproduced here (each checked byte for byte
//! against the CLI in `tests/decode.rs`):
//! - its auto-inserted scaler runs with `flags=bicubic` and nothing else (no
//!   `accurate_rnd`, no `full_chroma_int`);
//! - on every frame it sets libswscale's colorspace details from the frame:
//!   the YCbCr matrix from the frame's colorspace (unknown or unsupported
//!   values give BT.601) and the input range from the frame's range when
//!   known (`vf_scale.c`, `in_color_matrix=auto`);
//! - PNG output is rgb24 for 8-bit sources, rgb48 for deeper ones, rgba or
//!   rgba64 with alpha, gray8 or gray16 for grey; the reader keeps the high
//!   byte of 16-bit samples, drops alpha and replicates grey;
//! - display rotation (`-autorotate`) inserts `transpose`, `hflip` or `vflip`
//!   before the format conversion, i.e. on the decoded YUV planes. Rotated
//!   streams therefore go through the same libavfilter chain; unrotated ones
//!   go straight to libswscale.
//!
//! Frames that the caller does not need are decoded (the codec needs them)
//! but never converted.

use std::ffi::{c_int, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::OnceLock;

use ff::codec::threading;
use ff::format::context::StreamIo;
use ff::format::Pixel;
use ff::{ffi, frame, media, software::scaling, Packet};
use ffmpeg_next as ff;
use relaxvqa_image::RgbImage;

use crate::decode_report::{DecodeReport, SizeChange};
use crate::limits::{Limit, Limits};
use crate::orient::{matrix_from_bytes, rotation_degrees, Orientation};
use crate::policy::{self, Trust};
use crate::sample::FrameRate;
use crate::source::{Frame, FrameSource, VideoInfo};
use crate::stream::SampledFrames;
use crate::VideoError;

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

/// Opens a video file for decoding with default options (see [`open_with`]).
pub fn open(path: impl AsRef<Path>) -> Result<VideoDecoder, VideoError> {
    open_with(path, &DecodeOptions::default())
}

/// Opens a raw `.yuv` (or any headerless raw video) file with the given
/// geometry, pixel format and frame rate.
pub fn open_raw(path: impl AsRef<Path>, raw: RawVideo) -> Result<VideoDecoder, VideoError> {
    open_with(path, &DecodeOptions { raw: Some(raw), ..Default::default() })
}

/// Opens a video file and samples it (spec section 1): the iterator the
/// pipeline runs on. Fails early when the frame rate is zero or missing.
pub fn sampled_frames(path: impl AsRef<Path>) -> Result<SampledFrames<VideoDecoder>, VideoError> {
    SampledFrames::new(open(path)?)
}

/// Lets FFmpeg's own log print fatal errors only (it prints warnings and errors to stderr by
/// default): the crate reports every failure through [`VideoError`] anyway.
/// Global to the process, so it is left to the application to call.
pub fn quiet_ffmpeg_log() {
    ff::util::log::set_level(ff::util::log::Level::Fatal);
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

/// The URL FFmpeg opens for [`MediaInput::Url`]: `-` is standard input.
fn ffmpeg_url(url: &str) -> &str {
    if url == "-" {
        "pipe:0"
    } else {
        url
    }
}

/// Opens a video file for decoding: [`open_input`] with
/// [`MediaInput::File`].
pub fn open_with(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<VideoDecoder, VideoError> {
    open_input(MediaInput::File(path.as_ref().to_owned()), options)
}

/// Opens a video for decoding from any input: checks a file, probes the
/// format (or reads raw video with the options' parameters), picks the
/// first video stream that is not a cover picture, and opens its decoder.
pub fn open_input(input: MediaInput, options: &DecodeOptions) -> Result<VideoDecoder, VideoError> {
    let path = input.name();
    let path = path.as_path();
    let untrusted = options.trust == Trust::Untrusted;
    let opening = match input {
        MediaInput::File(file) if untrusted => {
            // Read by us, not by FFmpeg's `file` protocol: nothing of the
            // name reaches FFmpeg but its extension, for probing.
            let reader = crate::file::open_regular(&file)?;
            reader_opening(
                path,
                path.display().to_string(),
                Box::new(std::io::BufReader::with_capacity(1 << 16, reader)),
            )?
        }
        MediaInput::Url(_) if untrusted => {
            return Err(VideoError::Refused {
                path: path.to_owned(),
                format: "url".to_owned(),
                reason: "an untrusted input cannot be a URL or a pipe: send the media file's bytes".to_owned(),
            });
        }
        MediaInput::File(file) => {
            check_file(&file)?;
            // "file:" keeps FFmpeg from reading a name such as `concat:a|b`
            // or `http://...` as a protocol.
            let url = file
                .to_str()
                .and_then(|s| CString::new(format!("file:{s}")).ok())
                .ok_or_else(|| VideoError::BadPath { path: path.to_owned() })?;
            Opening::Url(url)
        }
        MediaInput::Url(url) => {
            Opening::Url(CString::new(ffmpeg_url(&url)).map_err(|_| VideoError::BadPath { path: path.to_owned() })?)
        }
        MediaInput::Reader { name, reader } => reader_opening(path, name, reader)?,
    };
    init().map_err(|cause| VideoError::NotMedia { path: path.to_owned(), cause })?;

    let limits = options.effective_limits();
    let mut input = open_format(path, opening, options.raw.as_ref(), options.trust, &limits)?;
    let stream = input
        .streams()
        .find(|s| {
            s.parameters().medium() == media::Type::Video
                && !s.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .ok_or_else(|| VideoError::NoVideoStream { path: path.to_owned() })?;
    let stream_index = stream.index();
    let over = |(limit, found): (Limit, String)| VideoError::OverLimit { path: path.to_owned(), limit, found };
    let params = stream.parameters();
    let codec_id = params.id();
    let codec_name = codec_id.name().to_owned();
    let decoder_error = |cause: String| VideoError::Decoder { path: path.to_owned(), codec: codec_name.clone(), cause };
    if ff::decoder::find(codec_id).is_none() {
        return Err(decoder_error("this FFmpeg build has no decoder for it".to_owned()));
    }
    let mut ctx = ff::codec::context::Context::from_parameters(params).map_err(|e| decoder_error(e.to_string()))?;
    ctx.set_threading(threading::Config { kind: threading::Type::Frame, count: options.threads, ..Default::default() });
    // SAFETY: `ctx` owns a valid, not yet opened AVCodecContext; writing its
    // `thread_type` before `avcodec_open2` is how the C API is used (the CLI
    // keeps libavcodec's default, frame and slice threading together).
    // `max_pixels` (the codec option of that name) makes the decoder refuse
    // to allocate a frame over the limit, at whatever point of the stream.
    unsafe {
        (*ctx.as_mut_ptr()).thread_type = ffi::FF_THREAD_FRAME | ffi::FF_THREAD_SLICE;
        if let Some(max) = limits.max_pixels {
            (*ctx.as_mut_ptr()).max_pixels = i64::try_from(max).unwrap_or(i64::MAX);
        }
    }
    let mut dec = ctx.decoder();
    dec.set_packet_time_base(stream.time_base());
    let decoder = dec.video().map_err(|e| decoder_error(e.to_string()))?;

    let matrix = stream
        .side_data()
        .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .and_then(|sd| matrix_from_bytes(sd.data()));
    let orientation = Orientation::from_display_matrix(matrix.as_ref());
    let (mut width, mut height) = (decoder.width(), decoder.height());
    if orientation.swaps_dimensions() {
        std::mem::swap(&mut width, &mut height);
    }
    let rate = stream.rate();
    let time_base = stream.time_base();
    let duration_seconds = if stream.duration() > 0 && time_base.denominator() != 0 {
        Some(stream.duration() as f64 * f64::from(time_base.numerator()) / f64::from(time_base.denominator()))
    } else if input.duration() > 0 {
        Some(input.duration() as f64 / f64::from(ffi::AV_TIME_BASE))
    } else {
        None
    };
    // A raw file's frames are all this long; a shorter last packet is the
    // file's partial last frame.
    let raw_frame_size = options.raw.as_ref().and_then(|_| {
        let format: ffi::AVPixelFormat = decoder.format().into();
        let (w, h) = (c_int::try_from(decoder.width()).ok()?, c_int::try_from(decoder.height()).ok()?);
        // SAFETY: a pure computation on plain values; it returns a negative
        // error code for invalid ones.
        let size = unsafe { ffi::av_image_get_buffer_size(format, w, h, 1) };
        usize::try_from(size).ok()
    });
    let time_base_s = if time_base.denominator() != 0 {
        f64::from(time_base.numerator()) / f64::from(time_base.denominator())
    } else {
        0.0
    };
    let info = VideoInfo {
        path: path.to_owned(),
        width,
        height,
        frame_rate: FrameRate::new(rate.numerator(), rate.denominator()),
        frame_count: u64::try_from(stream.frames()).unwrap_or(0),
        pixel_format: pixel_name(decoder.format()),
        codec: codec_name.clone(),
        rotation: rotation_degrees(matrix.as_ref()),
        duration_seconds,
    };
    discard_other_streams(&mut input, stream_index);
    limits.check_container(&info).map_err(over)?;
    Ok(VideoDecoder {
        interval: info.frame_rate.interval(),
        info,
        limits,
        time_base_s,
        first_timestamp: None,
        input,
        stream_index,
        decoder,
        decoded: frame::Video::empty(),
        conversion: None,
        stream_matrix: matrix,
        frames: 0,
        eof_sent: false,
        finished: false,
        first: None,
        raw_frame_size,
        last_packet_corrupt: false,
        drain_errors: 0,
        report: DecodeReport::default(),
    })
}

/// A custom I/O context over `reader`, with `name` (its NULs removed) for
/// format probing.
fn reader_opening(path: &Path, name: String, reader: Box<dyn ReadSeek>) -> Result<Opening, VideoError> {
    init().map_err(|cause| VideoError::NotMedia { path: path.to_owned(), cause })?;
    let io = StreamIo::from_read_seek(reader)
        .map_err(|e| VideoError::NotMedia { path: path.to_owned(), cause: e.to_string() })?;
    // The name only guides format probing: a NUL cannot reach C.
    let name = CString::new(name.replace('\0', "")).unwrap_or_default();
    Ok(Opening::Io { name, io })
}

/// How the demuxer reaches the bytes.
enum Opening {
    /// A URL FFmpeg opens itself (`file:...`, `pipe:0`, `https://...`).
    Url(CString),
    /// A custom `AVIOContext` over a Rust reader, with the name used for
    /// format probing.
    Io { name: CString, io: StreamIo },
}

/// The first decoded frame's geometry and format: every frame comes out at
/// its size, in the RGB format chosen for it (spec section 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FirstFrame {
    format: Pixel,
    width: u32,
    height: u32,
}

/// Receive errors tolerated in a row while draining the decoder before
/// giving up on the frames it still holds (the CLI retries without bound; a
/// decoder that fails forever must not hang the caller).
const MAX_DRAIN_ERRORS: u32 = 64;

/// A video being decoded by FFmpeg: the [`FrameSource`] for files, URLs
/// and readers.
///
/// Holds the demuxer (with its custom I/O, if any), the decoder (whose own
/// buffers are bounded by the codec's reordering depth) and one conversion
/// context; memory does not grow with the video's length.
///
/// Damage is handled as the FFmpeg CLI handles it (spec section 1): a
/// packet the decoder rejects is skipped, decode errors are skipped, a file
/// cut short ends at its last decoded frame, and [`FrameSource::report`]
/// says what happened.
pub struct VideoDecoder {
    info: VideoInfo,
    /// The demuxer. A custom `AVIOContext` and the reader behind it are
    /// owned by this value and freed by its destructor after
    /// `avformat_close_input`, never before.
    input: ff::format::context::Input,
    stream_index: usize,
    decoder: ff::decoder::Video,
    decoded: frame::Video,
    conversion: Option<Conversion>,
    stream_matrix: Option<[i32; 9]>,
    frames: u64,
    eof_sent: bool,
    finished: bool,
    first: Option<FirstFrame>,
    /// The size of one frame of a raw input.
    raw_frame_size: Option<usize>,
    /// Whether the last packet of the video stream read was flagged corrupt.
    last_packet_corrupt: bool,
    /// Receive errors in a row while draining.
    drain_errors: u32,
    report: DecodeReport,
    /// The limits in force (see [`DecodeOptions::effective_limits`]).
    limits: Limits,
    /// The sampling interval `k`, when the frame rate gives one.
    interval: Option<u64>,
    /// Seconds per unit of the stream's timestamps (0 when unknown).
    time_base_s: f64,
    /// The first decoded frame's timestamp.
    first_timestamp: Option<i64>,
}

impl VideoDecoder {
    /// Frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames
    }

    fn over_limit(&self, (limit, found): (Limit, String)) -> VideoError {
        VideoError::OverLimit { path: self.info.path.clone(), limit, found }
    }

    /// The limits checked on every decoded frame: its size (FFmpeg refuses
    /// to allocate one over `max_pixels`; this catches a decoder that does
    /// not ask), the stream time its timestamp reaches (or, without
    /// timestamps, the frame count over the frame rate), and the frames
    /// sampled so far.
    fn check_frame(&mut self) -> Result<(), VideoError> {
        let f = &self.decoded;
        self.limits.check_pixels(f.width(), f.height()).map_err(|e| self.over_limit(e))?;
        let seconds = match f.timestamp() {
            Some(ts) if self.time_base_s > 0.0 => {
                let first = *self.first_timestamp.get_or_insert(ts);
                ts.saturating_sub(first) as f64 * self.time_base_s
            }
            _ => self.frames as f64 / self.info.frame_rate.as_f64().unwrap_or(f64::INFINITY),
        };
        self.limits.check_duration(seconds).map_err(|e| self.over_limit(e))?;
        if let Some(k) = self.interval {
            // Frame n (from 0) is the (n / k + 1)-th sampled frame when n % k == 0.
            let sampled = (self.frames.saturating_sub(1)) / k + 1;
            self.limits.check_sampled(sampled).map_err(|e| self.over_limit(e))?;
        }
        Ok(())
    }

    /// Reads the video stream's packets without decoding them, calling
    /// `each` with the packets read so far and the stream time the last
    /// one reaches (from its timestamps, when it has them), until the end
    /// of the input or `each`'s first error. Used before decoding, to
    /// measure a stream whose container does not say how long it is.
    pub(crate) fn scan_packets(
        &mut self,
        mut each: impl FnMut(u64, Option<f64>) -> Result<(), VideoError>,
    ) -> Result<(), VideoError> {
        let (mut packets, mut first) = (0u64, None::<i64>);
        loop {
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream_index => {
                    packets += 1;
                    let seconds = packet.pts().or(packet.dts()).filter(|_| self.time_base_s > 0.0).map(|ts| {
                        let first = *first.get_or_insert(ts);
                        ts.saturating_sub(first) as f64 * self.time_base_s
                    });
                    each(packets, seconds)?;
                }
                Ok(()) => {}
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(_) => return Ok(()),
            }
        }
    }

    /// After a decode error: a size the decoder refused to allocate
    /// (`max_pixels`) is the limit, not damage, and ends decoding.
    fn check_refused_size(&self) -> Result<(), VideoError> {
        // SAFETY: the decoder owns a valid, open AVCodecContext; reading two
        // plain int fields.
        let (w, h) = unsafe {
            let ctx = self.decoder.as_ptr();
            ((*ctx).width, (*ctx).height)
        };
        let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
        self.limits.check_pixels(w, h).map_err(|e| self.over_limit(e))
    }

    fn decode_error(&self, cause: impl std::fmt::Display) -> VideoError {
        VideoError::Decode { path: self.info.path.clone(), frames: self.frames, cause: cause.to_string() }
    }

    /// Sends the next packet of the video stream to the decoder, or the end
    /// of stream when the file is exhausted. As the CLI does, a packet the
    /// decoder rejects is dropped (counted), and a read error ends the file
    /// (the decoder is drained).
    fn feed(&mut self) -> Result<(), VideoError> {
        let mut retries = 0u32;
        loop {
            // A fresh packet each time: FFmpeg 5.1's av_read_frame blanks
            // the packet it is given without unreferencing it, so reading
            // into one that still holds a packet (of another stream, say)
            // would leak that packet's buffers.
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    let corrupt = packet.is_corrupt();
                    let partial_raw = self.raw_frame_size.is_some_and(|size| packet.size() < size);
                    self.last_packet_corrupt = corrupt && !partial_raw;
                    if corrupt && !partial_raw {
                        // The CLI warns and decodes it all the same.
                        self.report.concealed_errors += 1;
                    }
                    return match self.decoder.send_packet(&packet) {
                        Ok(()) | Err(ff::Error::Eof) => Ok(()),
                        Err(e) if is_fatal(&e) => Err(self.decode_error(e)),
                        Err(_) => {
                            self.check_refused_size()?;
                            if partial_raw {
                                self.report.partial_frame_dropped = true;
                            } else if !corrupt {
                                self.report.concealed_errors += 1;
                            }
                            Ok(())
                        }
                    };
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN && retries < 500 => {
                    // A live input with nothing yet (the CLI waits too).
                    retries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    // The end of the file, or a read error the CLI treats as
                    // the end ("partial file" of an MP4 cut short, say).
                    if e != ff::Error::Eof || self.last_packet_corrupt {
                        self.report.ended_early = true;
                    }
                    self.eof_sent = true;
                    return match self.decoder.send_eof() {
                        Ok(()) | Err(ff::Error::Eof) => Ok(()),
                        Err(e) => {
                            self.check_refused_size()?;
                            Err(self.decode_error(e))
                        }
                    };
                }
            }
        }
    }

    /// The decoded frame as RGB after display rotation, at the first
    /// frame's size.
    fn convert(&mut self, number: u64, first: FirstFrame) -> Result<RgbImage, VideoError> {
        let f = &self.decoded;
        let matrix =
            f.side_data(ff::util::frame::side_data::Type::DisplayMatrix).and_then(|sd| matrix_from_bytes(sd.data()));
        let orientation = Orientation::from_display_matrix(matrix.as_ref().or(self.stream_matrix.as_ref()));
        let path = &self.info.path;
        let format = f.format();
        let convert_error = |cause: String| VideoError::Convert {
            path: path.clone(),
            frame: number,
            pixel_format: pixel_name(format),
            cause,
        };
        let target = Target::for_source(first.format).map_err(convert_error)?;
        let key = Key {
            format,
            width: f.width(),
            height: f.height(),
            orientation,
            out_width: first.width,
            out_height: first.height,
            target,
        };
        let conversion = match self.conversion.take() {
            Some(c) if c.key() == key => c,
            _ => Conversion::new(key).map_err(convert_error)?,
        };
        self.conversion.insert(conversion).run(f).map_err(convert_error)
    }

    /// Notes the first frame's geometry, or a frame of another size.
    fn note_geometry(&mut self, number: u64) -> FirstFrame {
        let f = &self.decoded;
        let this = FirstFrame { format: f.format(), width: f.width(), height: f.height() };
        let first = *self.first.get_or_insert(this);
        if (this.width, this.height) != (first.width, first.height) && self.report.size_change.is_none() {
            self.report.size_change = Some(SizeChange {
                first: (first.width, first.height),
                other: (this.width, this.height),
                at_frame: number,
            });
        }
        first
    }
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("info", &self.info)
            .field("frames", &self.frames)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl FrameSource for VideoDecoder {
    fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn next_frame(&mut self, want_rgb: bool) -> Result<Option<Frame>, VideoError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.pull(want_rgb);
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn report(&self) -> DecodeReport {
        self.report.clone()
    }
}

impl VideoDecoder {
    fn pull(&mut self, want_rgb: bool) -> Result<Option<Frame>, VideoError> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    let number = self.frames;
                    self.frames += 1;
                    self.drain_errors = 0;
                    self.check_frame()?;
                    let first = self.note_geometry(number);
                    let rgb = if want_rgb { Some(self.convert(number, first)?) } else { None };
                    return Ok(Some(Frame { number, rgb }));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    if self.eof_sent {
                        // Drained: a decoder may answer EAGAIN rather than EOF.
                        return Ok(None);
                    }
                    self.feed()?;
                }
                Err(e) if is_fatal(&e) => return Err(self.decode_error(e)),
                Err(_) => {
                    // The CLI reports "Error while decoding stream", drops
                    // what the decoder could not give and goes on with the
                    // next packet (or keeps draining).
                    self.check_refused_size()?;
                    self.report.concealed_errors += 1;
                    if self.eof_sent {
                        self.drain_errors += 1;
                        if self.drain_errors > MAX_DRAIN_ERRORS {
                            return Ok(None);
                        }
                    } else {
                        self.feed()?;
                    }
                }
            }
        }
    }
}

/// Errors that are about this machine, not the file: they end decoding.
fn is_fatal(e: &ff::Error) -> bool {
    matches!(e, ff::Error::Other { errno } if *errno == ff::util::error::ENOMEM)
}

/// What libswscale converts to, chosen as the CLI chooses a PNG pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    Rgb24,
    Rgba,
    Rgb48,
    Rgba64,
    Gray8,
    Gray16,
}

impl Target {
    fn for_source(format: Pixel) -> Result<Self, String> {
        let id: ffi::AVPixelFormat = format.into();
        // SAFETY: av_pix_fmt_desc_get accepts any AVPixelFormat value and
        // returns either null or a pointer to a static, immutable descriptor
        // that lives as long as the process.
        let desc = unsafe { ffi::av_pix_fmt_desc_get(id).as_ref() }.ok_or("unknown pixel format")?;
        let flag = |f: c_int| desc.flags & (f as u64) != 0;
        if flag(ffi::AV_PIX_FMT_FLAG_HWACCEL) {
            return Err("hardware frames are not supported".to_owned());
        }
        let alpha = flag(ffi::AV_PIX_FMT_FLAG_ALPHA);
        let colour_components = usize::from(desc.nb_components).saturating_sub(usize::from(alpha)).clamp(1, 4);
        let depth = desc.comp[..colour_components].iter().map(|c| c.depth).max().unwrap_or(8);
        let deep = depth > 8;
        let gray = colour_components == 1 && !flag(ffi::AV_PIX_FMT_FLAG_PAL);
        Ok(match (gray, deep, alpha) {
            (true, false, _) => Self::Gray8,
            (true, true, _) => Self::Gray16,
            (false, false, false) => Self::Rgb24,
            (false, false, true) => Self::Rgba,
            (false, true, false) => Self::Rgb48,
            (false, true, true) => Self::Rgba64,
        })
    }

    fn pixel(self) -> Pixel {
        match self {
            Self::Rgb24 => Pixel::RGB24,
            Self::Rgba => Pixel::RGBA,
            Self::Rgb48 => Pixel::RGB48LE,
            Self::Rgba64 => Pixel::RGBA64LE,
            Self::Gray8 => Pixel::GRAY8,
            Self::Gray16 => Pixel::GRAY16LE,
        }
    }

    /// Bytes per pixel, and the byte offsets of R, G, B within a pixel (the
    /// high byte of each little-endian 16-bit sample for deep formats).
    fn layout(self) -> (usize, [usize; 3]) {
        match self {
            Self::Rgb24 => (3, [0, 1, 2]),
            Self::Rgba => (4, [0, 1, 2]),
            Self::Rgb48 => (6, [1, 3, 5]),
            Self::Rgba64 => (8, [1, 3, 5]),
            Self::Gray8 => (1, [0, 0, 0]),
            Self::Gray16 => (2, [1, 1, 1]),
        }
    }

    fn is_gray(self) -> bool {
        matches!(self, Self::Gray8 | Self::Gray16)
    }
}

/// A libswscale context for one source geometry and format, with the
/// colorspace details last applied.
struct Converter {
    key: Key,
    target: Target,
    sws: scaling::Context,
    /// (colorspace, range) of the frames the details were set for.
    colors: Option<(c_int, c_int)>,
    /// The converted frame, allocated once (aligned as FFmpeg aligns it).
    out: frame::Video,
}

// SAFETY: the SwsContext (the only member that is not Send) is owned by
// this Converter alone and used only through `&mut self`, so it is never
// touched by two threads at once; libswscale keeps no thread-local or
// thread-affine state in a context (made here without slice threads), so
// moving it to another thread between calls is sound.
unsafe impl Send for Converter {}

impl Converter {
    fn new(key: Key) -> Result<Self, String> {
        // A frame of another size than the first goes straight to the first
        // size in one conversion, as the CLI's `scale` filter does it.
        let Key { format, width, height, out_width, out_height, target, .. } = key;
        let sws = scaling::Context::get(
            format,
            width,
            height,
            target.pixel(),
            out_width,
            out_height,
            scaling::Flags::BICUBIC,
        )
        .map_err(|e| format!("libswscale refused the conversion to {}: {e}", pixel_name(target.pixel())))?;
        let out = frame::Video::new(target.pixel(), out_width, out_height);
        // SAFETY: `out` wraps a valid AVFrame; a null first plane means that
        // av_frame_get_buffer failed (out of memory) inside `new`.
        if unsafe { (*out.as_ptr()).data[0].is_null() } {
            return Err(format!("cannot allocate a {out_width}x{out_height} frame"));
        }
        Ok(Self { key, target, sws, colors: None, out })
    }

    /// Sets the YCbCr matrix and input range from the frame, as `vf_scale`
    /// does for every frame (`in_color_matrix=auto`).
    fn set_colors(&mut self, f: &frame::Video) {
        if self.target.is_gray() {
            return;
        }
        // SAFETY: `f` wraps a valid AVFrame; reading two plain enum fields.
        let (space, range) = unsafe { ((*f.as_ptr()).colorspace as c_int, (*f.as_ptr()).color_range as c_int) };
        if self.colors == Some((space, range)) {
            return;
        }
        self.colors = Some((space, range));
        // parse_yuv_type("auto", colorspace): values outside 1..=10 and 8
        // (YCgCo) fall back to BT.470BG (BT.601).
        let matrix = if !(1..=10).contains(&space) || space == 8 {
            ffi::AVColorSpace::AVCOL_SPC_BT470BG as c_int
        } else {
            space
        };
        let (mut inv_table, mut table): (*mut c_int, *mut c_int) = (ptr::null_mut(), ptr::null_mut());
        let (mut in_full, mut out_full, mut brightness, mut contrast, mut saturation) = (0, 0, 0, 0, 0);
        // SAFETY: `self.sws` owns a valid, initialised SwsContext. The getter
        // only writes through the out-pointers, which point at live locals;
        // sws_getCoefficients returns a pointer into a static table of 4 ints
        // for any input; the setter copies the tables it is given.
        unsafe {
            let ctx = self.sws.as_mut_ptr();
            if ffi::sws_getColorspaceDetails(
                ctx,
                &mut inv_table,
                &mut in_full,
                &mut table,
                &mut out_full,
                &mut brightness,
                &mut contrast,
                &mut saturation,
            ) < 0
            {
                return;
            }
            let coefficients = ffi::sws_getCoefficients(matrix);
            if range == ffi::AVColorRange::AVCOL_RANGE_MPEG as c_int {
                in_full = 0;
            } else if range == ffi::AVColorRange::AVCOL_RANGE_JPEG as c_int {
                in_full = 1;
            }
            ffi::sws_setColorspaceDetails(
                ctx,
                coefficients,
                in_full,
                coefficients,
                out_full,
                brightness,
                contrast,
                saturation,
            );
        }
    }

    fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        self.set_colors(f);
        self.sws.run(f, &mut self.out).map_err(|e| e.to_string())?;
        extract(&self.out, self.target)
    }
}

/// What a conversion context was made for; a decoded frame with another
/// key gets a new context (streams may change size mid-way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    format: Pixel,
    width: u32,
    height: u32,
    orientation: Orientation,
    /// The first frame's decoded size, which every frame is brought to
    /// (before rotation).
    out_width: u32,
    out_height: u32,
    /// The RGB format chosen for the first frame (the CLI keeps its output
    /// format when a later frame changes size or format).
    target: Target,
}

/// How decoded frames become RGB: libswscale directly, or, for rotated
/// streams, the CLI's own filter chain.
enum Conversion {
    Direct(Converter),
    Rotated(RotationGraph),
}

impl Key {
    /// The output size after rotation.
    fn rotated_out(&self) -> (u32, u32) {
        if self.orientation.swaps_dimensions() {
            (self.out_height, self.out_width)
        } else {
            (self.out_width, self.out_height)
        }
    }
}

impl Conversion {
    fn new(key: Key) -> Result<Self, String> {
        if key.width == 0 || key.height == 0 || key.out_width == 0 || key.out_height == 0 {
            return Err(format!("the frame is {}x{}", key.width, key.height));
        }
        if key.orientation == Orientation::Identity {
            Converter::new(key).map(Self::Direct)
        } else {
            RotationGraph::new(key).map(Self::Rotated)
        }
    }

    fn key(&self) -> Key {
        match self {
            Self::Direct(c) => c.key,
            Self::Rotated(g) => g.key,
        }
    }

    fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        match self {
            Self::Direct(c) => c.run(f),
            Self::Rotated(g) => g.run(f),
        }
    }
}

/// A libavfilter graph `buffer -> transpose/hflip/vflip -> buffersink` whose
/// sink accepts only the target format, with `flags=bicubic` for the scaler
/// libavfilter inserts: the FFmpeg CLI's own chain, so rotated frames match
/// it byte for byte.
///
/// The CLI turns the YUV planes before the RGB conversion. For 8-bit 4:2:0
/// sources of even size that is the same as turning the RGB frame (the
/// spec's observation), but not in general: libswscale's bicubic chroma
/// upsampling (deep sources, odd sizes, 4:2:2 sources, which `transpose`
/// first converts) sees the turned chroma planes.
struct RotationGraph {
    key: Key,
    target: Target,
    graph: ff::filter::Graph,
}

impl RotationGraph {
    fn new(key: Key) -> Result<Self, String> {
        let target = key.target;
        // The CLI's filters for each orientation (`ffmpeg_filter.c`).
        let rotation: &[(&str, &str)] = match key.orientation {
            Orientation::Identity => &[("null", "")],
            Orientation::Rotate90Ccw => &[("transpose", "dir=cclock")],
            Orientation::Rotate90Cw => &[("transpose", "dir=clock")],
            Orientation::Transpose => &[("transpose", "dir=cclock_flip")],
            Orientation::AntiTranspose => &[("transpose", "dir=clock_flip")],
            Orientation::Rotate180 => &[("hflip", ""), ("vflip", "")],
            Orientation::FlipHorizontal => &[("hflip", "")],
            Orientation::FlipVertical => &[("vflip", "")],
        };
        let mut filters: Vec<(&str, String)> = rotation.iter().map(|(n, a)| (*n, (*a).to_owned())).collect();
        let (out_w, out_h) = key.rotated_out();
        let (rot_w, rot_h) =
            if key.orientation.swaps_dimensions() { (key.height, key.width) } else { (key.width, key.height) };
        if (rot_w, rot_h) != (out_w, out_h) {
            // A later frame of another size: the CLI's output `scale` to the
            // first (rotated) size, after the rotation.
            filters.push(("scale", format!("w={out_w}:h={out_h}:flags=bicubic")));
        }
        let err = |what: &str, e: ff::Error| format!("cannot build the rotation filter graph ({what}): {e}");
        let mut graph = ff::filter::Graph::new();
        // SAFETY: `graph` owns a valid AVFilterGraph whose `scale_sws_opts`
        // is null after allocation; avfilter_graph_free releases it with
        // av_freep, so it must come from av_strdup, as it does here.
        unsafe {
            (*graph.as_mut_ptr()).scale_sws_opts = ffi::av_strdup(c"flags=bicubic".as_ptr());
        }
        let find = |name: &str| ff::filter::find(name).ok_or_else(|| format!("libavfilter has no {name} filter"));
        let pix_fmt: ffi::AVPixelFormat = key.format.into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base=1/1:pixel_aspect=1/1",
            key.width, key.height, pix_fmt as c_int
        );
        // Created in the CLI's order (source, rotation filters, sink):
        // libavfilter negotiates formats link by link in that order, which
        // puts the RGB conversion after the rotation, as in the CLI. Created
        // the other way round, the conversion lands before it.
        let mut chain = vec![graph.add(&find("buffer")?, "in", &args).map_err(|e| err("source", e))?];
        for (i, (name, args)) in filters.iter().enumerate() {
            chain.push(graph.add(&find(name)?, &format!("rotate{i}"), args).map_err(|e| err(name, e))?);
        }
        let mut sink = graph.add(&find("buffersink")?, "out", "").map_err(|e| err("sink", e))?;
        sink.set_pixel_format(target.pixel());
        chain.push(sink);
        for i in 1..chain.len() {
            let (before, after) = chain.split_at_mut(i);
            before[i - 1].link(0, &mut after[0], 0);
        }
        graph.validate().map_err(|e| err("configuration", e))?;
        Ok(Self { key, target, graph })
    }

    fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        let mut source = self.graph.get("in").ok_or("the filter graph lost its source")?;
        // SAFETY: both pointers are valid: the buffer source of a configured
        // graph and a decoded frame. With KEEP_REF the source takes a new
        // reference to the frame's buffers and leaves `f` untouched.
        let ret = unsafe {
            ffi::av_buffersrc_add_frame_flags(
                source.as_mut_ptr(),
                f.as_ptr() as *mut ffi::AVFrame,
                ffi::AV_BUFFERSRC_FLAG_KEEP_REF as c_int,
            )
        };
        if ret < 0 {
            return Err(format!("the rotation filter graph refused the frame: {}", ff::Error::from(ret)));
        }
        let mut sink = self.graph.get("out").ok_or("the filter graph lost its sink")?;
        let mut out = frame::Video::empty();
        sink.sink().frame(&mut out).map_err(|e| format!("the rotation filter graph gave no frame: {e}"))?;
        let (w, h) = self.key.rotated_out();
        if (out.format(), out.width(), out.height()) != (self.target.pixel(), w, h) {
            return Err(format!(
                "the rotation filter graph gave a {}x{} {} frame, not {w}x{h} {}",
                out.width(),
                out.height(),
                pixel_name(out.format()),
                pixel_name(self.target.pixel())
            ));
        }
        extract(&out, self.target)
    }
}

/// The converted frame's pixels as 8-bit RGB: high bytes of 16-bit samples,
/// alpha dropped, grey replicated.
fn extract(out: &frame::Video, target: Target) -> Result<RgbImage, String> {
    let (w, h) = (out.width() as usize, out.height() as usize);
    let (step, [r, g, b]) = target.layout();
    let stride = out.stride(0);
    let data = out.data(0);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = data.get(y * stride..y * stride + w * step).ok_or("the converted frame is shorter than its size")?;
        if target == Target::Rgb24 {
            rgb.extend_from_slice(row);
        } else {
            for px in row.chunks_exact(step) {
                rgb.extend_from_slice(&[px[r], px[g], px[b]]);
            }
        }
    }
    RgbImage::from_vec(w, h, rgb).map_err(|e| e.to_string())
}

/// Initialises FFmpeg once per process.
fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| ff::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))).clone()
}

/// The checks FFmpeg would report less clearly: the file exists and is a file.
fn check_file(path: &Path) -> Result<(), VideoError> {
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
fn open_format(
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
fn discard_other_streams(input: &mut ff::format::context::Input, keep: usize) {
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

/// FFmpeg's name for a pixel format, or a placeholder for "none".
fn pixel_name(format: Pixel) -> String {
    format.descriptor().map_or_else(|| format!("{format:?}"), |d| d.name().to_owned())
}

#[cfg(test)]
mod tests {
    /// Decoders can be moved to a worker thread (one video per thread).
    #[test]
    fn decoder_is_send() {
        fn send<T: Send>() {}
        send::<super::VideoDecoder>();
        send::<super::MediaInput>();
    }

    /// `-` is standard input; every other string goes to FFmpeg unchanged.
    #[test]
    fn dash_means_standard_input() {
        assert_eq!(super::ffmpeg_url("-"), "pipe:0");
        for url in ["pipe:0", "https://example.invalid/a.mp4", "--", "file:-", "a.mp4"] {
            assert_eq!(super::ffmpeg_url(url), url);
        }
        let input = super::MediaInput::Url("-".to_owned());
        assert_eq!(input.name(), std::path::PathBuf::from("-"));
    }
}
