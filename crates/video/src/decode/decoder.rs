//! The frame source over FFmpeg: opening an input (its first video
//! stream, the decoder with the limits set inside FFmpeg), then decoding
//! frame by frame as the CLI does, damage included.

use std::ffi::{c_int, CString};
use std::path::Path;

use ff::codec::threading;
use ff::format::Pixel;
use ff::{ffi, frame, media, Packet};
use ffmpeg_next as ff;
use relaxvqa_image::RgbImage;

use super::convert::{pixel_name, Conversion, Key, Target};
use super::demux::{check_file, discard_other_streams, ffmpeg_url, init, open_format, reader_opening, Opening};
use super::inputs::{DecodeOptions, MediaInput, RawVideo};
use crate::decode_report::{DecodeReport, SizeChange};
use crate::limits::{Limit, Limits};
use crate::orient::{matrix_from_bytes, rotation_degrees, Orientation};
use crate::policy::Trust;
use crate::sample::FrameRate;
use crate::source::{Frame, FrameSource, VideoInfo};
use crate::stream::SampledFrames;
use crate::VideoError;

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

#[cfg(test)]
mod tests {
    /// Decoders can be moved to a worker thread (one video per thread).
    #[test]
    fn decoder_is_send() {
        fn send<T: Send>() {}
        send::<super::VideoDecoder>();
        send::<super::MediaInput>();
    }
}
