//! What an input is, checked against the [`Limits`] before any work is
//! queued for it: the container's frame size, duration and frame count,
//! and, when the container does not say how long the stream is (a raw
//! H.264 stream, say), its packets counted without decoding them, so a
//! ten-hour stream is refused in the time it takes to read it, not after a
//! day of decoding.

use crate::decode::{open_input, DecodeOptions, MediaInput};
use crate::limits::Limit;
use crate::source::{FrameSource, VideoInfo};
use crate::VideoError;

/// The longest the packets of a stream are counted for (a few seconds per
/// gigabyte is the usual cost).
const SCAN_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Opens `input` and checks it against `options`' limits without decoding
/// more than the stream probe does: what a service does at submit. On top
/// of [`open_input`]'s checks, the stream probe must have sized the frames
/// (a decoder that reports 0x0 could not: the file is damaged, or its
/// frames are over the limit, which the decoder refused to allocate), and when its container gives neither a duration nor a
/// frame count, the video stream's packets are counted (demuxed, not
/// decoded) until the end or until they pass a limit.
pub fn probe(input: MediaInput, options: &DecodeOptions) -> Result<VideoInfo, VideoError> {
    let mut dec = open_input(input, options)?;
    let info = dec.info().clone();
    let limits = options.effective_limits();
    if info.width == 0 || info.height == 0 {
        let most = limits.max_pixels.map_or_else(|| "FFmpeg allows".to_owned(), |m| format!("the limit of {m} pixels"));
        return Err(VideoError::Decoder {
            path: info.path,
            codec: info.codec,
            cause: format!(
                "the decoder cannot size the frames (0x0): the file is damaged, or its frames are larger than {most} (--max-pixels)"
            ),
        });
    }
    let bounded = limits.max_duration_s.is_some() || limits.max_sampled_frames.is_some();
    if bounded && info.duration_seconds.is_none() && info.frame_count == 0 {
        let rate = info.frame_rate.as_f64();
        let k = info.frame_rate.interval();
        let over = |(limit, found): (Limit, String)| VideoError::OverLimit { path: info.path.clone(), limit, found };
        let start = std::time::Instant::now();
        dec.scan_packets(|packets, seconds| {
            if start.elapsed() > SCAN_TIME {
                return Err(VideoError::NotMedia {
                    path: info.path.clone(),
                    cause: format!(
                        "its length could not be measured within {} s ({packets} packets read)",
                        SCAN_TIME.as_secs()
                    ),
                });
            }
            let seconds = seconds.or_else(|| rate.map(|r| packets as f64 / r));
            if let Some(s) = seconds {
                limits.check_duration(s).map_err(over)?;
            }
            if let Some(k) = k {
                limits.check_sampled(packets.div_ceil(k)).map_err(over)?;
            }
            Ok(())
        })?;
    }
    Ok(info)
}
