//! Turning an [`Input`] into a frame source (the one place that knows how
//! each kind of input reaches FFmpeg).

use relaxvqa_video::{DecodeOptions, VideoDecoder, VideoError};

use crate::input::{Input, Source};

/// Opens the input for decoding (on the decoder thread).
pub(crate) fn open(input: Input, decode: &DecodeOptions) -> Result<VideoDecoder, VideoError> {
    match input.source {
        Source::File(p) => relaxvqa_video::open_with(&p, decode),
        Source::Url(u) => Err(VideoError::NotMedia { path: u.into(), cause: "URL input is not supported yet".into() }),
        Source::Reader { name, .. } => {
            Err(VideoError::NotMedia { path: name.into(), cause: "in-memory input is not supported yet".into() })
        }
    }
}
