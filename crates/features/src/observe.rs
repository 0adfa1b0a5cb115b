//! What a caller sees of an extraction while it runs: progress, and the
//! images of each sample for those who show them (a report keeps a few
//! thumbnails instead of every intermediate of every sample).

use relaxvqa_image::RgbImage;
use relaxvqa_video::VideoInfo;

/// The images of one finished sample, lent to [`Observer::sample_images`].
#[derive(Clone, Copy, Debug)]
pub struct SampleImages<'a> {
    /// `i`, the sample's index in S order.
    pub index: usize,
    /// `n`, its frame number.
    pub frame_number: u64,
    /// The decoded frame (full resolution RGB).
    pub frame: &'a RgbImage,
    /// The pair's frame fragment, when the sample has a pair.
    pub frame_fragment: Option<&'a RgbImage>,
    /// The pair's merged (residual + flow) fragment, when it has a pair.
    pub merged_fragment: Option<&'a RgbImage>,
}

/// Receives events of one extraction, on the thread that called it.
///
/// Every method has an empty default; a plain `FnMut(usize)` closure is an
/// observer of [`Observer::samples_done`].
pub trait Observer {
    /// The video was opened: its information and the number of samples to
    /// expect, when the container says how many frames it has.
    fn opened(&mut self, _info: &VideoInfo, _expected_samples: Option<usize>) {}
    /// `done` samples have gone through the networks so far.
    fn samples_done(&mut self, _done: usize) {}
    /// True to receive [`Observer::sample_images`] calls (the pipeline then
    /// keeps each frame until its sample is done).
    fn wants_images(&self) -> bool {
        false
    }
    /// The images of a finished sample, in sample order.
    fn sample_images(&mut self, _images: SampleImages<'_>) {}
}

impl<F: FnMut(usize)> Observer for F {
    fn samples_done(&mut self, done: usize) {
        self(done)
    }
}
