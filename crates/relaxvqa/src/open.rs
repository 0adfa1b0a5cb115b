//! Turning an [`Input`] into a frame source: the one place that knows how
//! each kind of input reaches FFmpeg.

use relaxvqa_video::{DecodeOptions, MediaInput, VideoDecoder, VideoError};

use crate::input::{Input, Source};

/// Opens the input for decoding (on the decoder thread).
pub(crate) fn open(input: Input, decode: &DecodeOptions) -> Result<VideoDecoder, VideoError> {
    relaxvqa_video::open_input(input.into_media(), decode)
}

impl Input {
    /// The video crate's form of this input.
    pub(crate) fn into_media(self) -> MediaInput {
        match self.source {
            Source::File(p) => MediaInput::File(p),
            Source::Url(u) => MediaInput::Url(u),
            Source::Reader { name, reader } => MediaInput::Reader { name, reader },
        }
    }
}
