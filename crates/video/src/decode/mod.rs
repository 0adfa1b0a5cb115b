//! Decoding with FFmpeg's libraries, in process, to the RGB bytes the
//! authors' pipeline saw (spec section 1): every frame of the first video
//! stream in presentation order, converted with libswscale (`SWS_BICUBIC`, no
//! scaling) to the format the FFmpeg 5.1 command-line tool picks when it
//! writes PNG, and turned by the display rotation as the CLI turns it.
//!
//! What the CLI does, and is reproduced here (each checked byte for byte
//! against the CLI in `tests/integration/decode.rs`):
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
//!
//! One concept a file: `inputs` (what to read and how), `demux` (opening
//! the container through FFmpeg, its options dictionary and I/O), `decoder`
//! (the frame source), `convert` (libswscale to RGB, and `convert::rotate`,
//! the CLI's filter chain for rotated streams). Every `unsafe` block of the
//! crate is in these files, each with its SAFETY comment, but for
//! `policy`'s callback that refuses FFmpeg's nested opens.

mod convert;
mod decoder;
mod demux;
mod inputs;

pub use decoder::{open, open_input, open_raw, open_with, sampled_frames, VideoDecoder};
pub use demux::quiet_ffmpeg_log;
pub use inputs::{DecodeOptions, MediaInput, RawVideo, ReadSeek};
