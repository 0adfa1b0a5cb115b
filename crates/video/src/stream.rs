//! The driver the pipeline uses: sampled frames and their pair successors,
//! in order, from any [`FrameSource`], holding at most two RGB frames at a
//! time whatever the video's length.

use relaxvqa_image::RgbImage;

use crate::decode_report::DecodeReport;
use crate::sample::Sampling;
use crate::source::{FrameSource, VideoInfo};
use crate::VideoError;

/// A sampled frame `n` (in `S`), with the frame after it when the pair
/// `(n, n + 1)` is in `P`.
///
/// Pairs are numbered like the sampled frames: only the last sampled frame
/// can lack a successor, so the pair of sample `i`, when it exists, is pair
/// `j = i` (the fixtures' `frame.{i}` and `pair.{j}` line up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// `i`, the index of this frame in `S` order (from 0); also the index `j`
    /// of its pair in `P` order when [`Self::next_rgb`] is present.
    pub index: usize,
    /// `n`, the frame number in the video (from 0).
    pub frame_number: u64,
    /// The frame's RGB (`frame.{i}.rgb`).
    pub rgb: RgbImage,
    /// The RGB of frame `n + 1` (`pair.{i}.next_rgb`); `None` only when `n`
    /// is the video's last frame.
    pub next_rgb: Option<RgbImage>,
}

/// Iterates the samples of a video in order: an `Iterator` of
/// `Result<Sample, VideoError>` that stops after the first error.
///
/// Every frame is decoded; only sampled frames and their successors are
/// converted to RGB. When it is exhausted, [`Self::frames_decoded`] is the
/// video's frame count `N`.
pub struct SampledFrames<S> {
    source: S,
    sampling: Sampling,
    /// The sampled frame waiting for its successor.
    pending: Option<(u64, RgbImage)>,
    next_index: usize,
    frames_decoded: u64,
    pairs: usize,
    finished: bool,
}

impl<S: FrameSource> SampledFrames<S> {
    /// Samples `source` at the interval its frame rate gives (spec section 1);
    /// an error when the frame rate is zero or missing.
    pub fn new(source: S) -> Result<Self, VideoError> {
        let info = source.info();
        let rate = info.frame_rate;
        let sampling = Sampling::for_rate(rate).ok_or_else(|| VideoError::InvalidFrameRate {
            path: info.path.clone(),
            num: rate.num,
            den: rate.den,
        })?;
        Ok(Self::with_sampling(source, sampling))
    }

    /// Samples `source` at a given interval, whatever its frame rate.
    pub fn with_sampling(source: S, sampling: Sampling) -> Self {
        Self { source, sampling, pending: None, next_index: 0, frames_decoded: 0, pairs: 0, finished: false }
    }

    /// The video's information.
    pub fn info(&self) -> &VideoInfo {
        self.source.info()
    }

    /// The sampling in use (its interval is the fixtures' `video.frame_interval`).
    pub fn sampling(&self) -> Sampling {
        self.sampling
    }

    /// Frames decoded so far: `N` once the iterator has returned `None`.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }

    /// Samples yielded so far: `|S|` at the end.
    pub fn sampled_count(&self) -> usize {
        self.next_index
    }

    /// Samples yielded with a successor so far: `|P|` at the end.
    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// What the source had to work around so far (see
    /// [`FrameSource::report`]): complete once the iterator has returned
    /// `None`.
    pub fn report(&self) -> DecodeReport {
        self.source.report()
    }

    /// Gives the source back (to reuse a decoder's state, say).
    pub fn into_source(self) -> S {
        self.source
    }

    fn emit(&mut self, n: u64, rgb: RgbImage, next_rgb: Option<RgbImage>) -> Sample {
        let index = self.next_index;
        self.next_index += 1;
        if next_rgb.is_some() {
            self.pairs += 1;
        }
        Sample { index, frame_number: n, rgb, next_rgb }
    }

    fn missing_rgb(&self, n: u64) -> VideoError {
        VideoError::Convert {
            path: self.source.info().path.clone(),
            frame: n,
            pixel_format: self.source.info().pixel_format.clone(),
            cause: "the frame source gave no RGB although it was asked for".to_owned(),
        }
    }

    fn step(&mut self) -> Result<Option<Sample>, VideoError> {
        loop {
            let n = self.frames_decoded;
            let frame = self.source.next_frame(self.sampling.needs_rgb(n))?;
            let Some(frame) = frame else {
                self.finished = true;
                if self.frames_decoded == 0 {
                    let path = self.source.info().path.clone();
                    let report = self.source.report();
                    return Err(if report.is_clean() {
                        VideoError::NoFrames { path }
                    } else {
                        VideoError::Damaged { path, frames: 0, cause: report.warnings().join("; ") }
                    });
                }
                // The last frame was sampled: it has no pair.
                return Ok(self.pending.take().map(|(n, rgb)| self.emit(n, rgb, None)));
            };
            self.frames_decoded += 1;
            if !self.sampling.needs_rgb(n) {
                continue;
            }
            let rgb = frame.rgb.ok_or_else(|| self.missing_rgb(n))?;
            let sampled = self.sampling.is_sampled(n);
            match self.pending.take() {
                Some((prev, prev_rgb)) => {
                    // n is the successor of a sampled frame. With k = 1 it is
                    // also sampled itself and waits for its own successor.
                    if sampled {
                        self.pending = Some((n, rgb.clone()));
                    }
                    return Ok(Some(self.emit(prev, prev_rgb, Some(rgb))));
                }
                None if sampled => self.pending = Some((n, rgb)),
                None => {}
            }
        }
    }
}

impl<S: FrameSource> Iterator for SampledFrames<S> {
    type Item = Result<Sample, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.step() {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => None,
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::FrameRate;
    use crate::source::IterSource;

    /// A frame whose first byte is its number, to check what ends up where.
    fn frame(n: u64) -> RgbImage {
        let mut img = RgbImage::zeros(2, 2);
        img.as_bytes_mut()[0] = n as u8;
        img.as_bytes_mut()[1] = (n >> 8) as u8;
        img
    }

    fn number(img: &RgbImage) -> u64 {
        u64::from(img.as_bytes()[0]) | (u64::from(img.as_bytes()[1]) << 8)
    }

    /// (frame number, number read from the RGB, number read from the next RGB).
    type Seen = (u64, u64, Option<u64>);

    fn run(n_frames: u64, rate: FrameRate) -> Result<(Vec<Seen>, u64), VideoError> {
        let info = VideoInfo::synthetic("synthetic", 2, 2, rate);
        let src = IterSource::new(info, (0..n_frames).map(frame));
        let mut it = SampledFrames::new(src)?;
        let mut got = Vec::new();
        for s in it.by_ref() {
            let s = s?;
            assert_eq!(s.index, got.len());
            got.push((s.frame_number, number(&s.rgb), s.next_rgb.as_ref().map(number)));
        }
        assert_eq!(it.sampled_count(), got.len());
        Ok((got, it.frames_decoded()))
    }

    #[test]
    fn samples_and_pairs_match_the_definitions() {
        for (rate, k) in [(FrameRate::new(24, 1), 12u64), (FrameRate::new(3, 1), 1), (FrameRate::new(30000, 1001), 14)]
        {
            for n_frames in [1u64, 2, 11, 12, 13, 24, 25, 48, 120] {
                let (got, decoded) = run(n_frames, rate).unwrap();
                assert_eq!(decoded, n_frames);
                let expect: Vec<Seen> = (0..n_frames)
                    .filter(|n| n.is_multiple_of(k))
                    .map(|n| (n, n, (n + 1 < n_frames).then_some(n + 1)))
                    .collect();
                assert_eq!(got, expect, "rate {rate} N={n_frames}");
            }
        }
    }

    #[test]
    fn only_needed_frames_are_converted() {
        struct Counting(IterSource<std::vec::IntoIter<RgbImage>>, Vec<u64>);
        impl FrameSource for Counting {
            fn info(&self) -> &VideoInfo {
                self.0.info()
            }
            fn next_frame(&mut self, want_rgb: bool) -> Result<Option<crate::Frame>, VideoError> {
                let f = self.0.next_frame(want_rgb)?;
                if let Some(f) = &f {
                    if want_rgb {
                        self.1.push(f.number);
                    }
                }
                Ok(f)
            }
        }
        let info = VideoInfo::synthetic("synthetic", 2, 2, FrameRate::new(24, 1));
        let frames: Vec<RgbImage> = (0..30).map(frame).collect();
        let mut it = SampledFrames::new(Counting(IterSource::new(info, frames), Vec::new())).unwrap();
        assert_eq!(it.by_ref().count(), 3);
        assert_eq!(it.pair_count(), 3);
        assert_eq!(it.into_source().1, vec![0, 1, 12, 13, 24, 25]);
    }

    #[test]
    fn zero_frames_and_zero_rate_are_errors() {
        let err = run(0, FrameRate::new(24, 1)).unwrap_err();
        println!("{err}");
        assert!(matches!(err, VideoError::NoFrames { .. }));
        let err = run(10, FrameRate::new(0, 1)).unwrap_err();
        println!("{err}");
        assert!(matches!(err, VideoError::InvalidFrameRate { num: 0, den: 1, .. }));
    }

    #[test]
    fn one_frame_video_has_one_sample_and_no_pair() {
        let (got, decoded) = run(1, FrameRate::new(25, 1)).unwrap();
        assert_eq!(decoded, 1);
        assert_eq!(got, vec![(0, 0, None)]);
    }

    #[test]
    fn a_long_video_streams() {
        // 100k frames: the iterator never holds more than two.
        let info = VideoInfo::synthetic("long", 2, 2, FrameRate::new(30, 1));
        let mut it = SampledFrames::new(IterSource::new(info, (0..100_000u64).map(frame))).unwrap();
        let n = it.by_ref().filter(|s| s.is_ok()).count();
        assert_eq!((n, it.pair_count(), it.frames_decoded()), (6667, 6667, 100_000));
    }
}
