//! Frame sampling (spec section 1), kept free of FFmpeg so it is checked by
//! plain unit tests and shared by every frame source.
//!
//! The authors sample about two frames per second: every `k`-th frame, with
//! `k = ceil(fps / 2)` when `fps < 2` and `floor(fps / 2)` otherwise, where
//! `fps` is the stream's `r_frame_rate`. Sampled frames are
//! `S = { n : n mod k == 0 }` and pairs `P = { (n, n + 1) : n in S, n + 1 < N }`.

/// A frame rate as the exact fraction the container reports (`r_frame_rate`),
/// because `k` must be computed exactly: `30000/1001` gives 14, and a float
/// round trip could land on the wrong side of an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameRate {
    /// Numerator.
    pub num: i32,
    /// Denominator.
    pub den: i32,
}

impl FrameRate {
    /// Builds `num / den` (no validation: a zero or negative rate is reported
    /// when the interval is asked for).
    pub const fn new(num: i32, den: i32) -> Self {
        Self { num, den }
    }

    /// The rate as a float, for display; `None` when it is zero, negative or
    /// has a zero denominator (FFmpeg's "unknown" is `0/0` or `0/1`).
    pub fn as_f64(self) -> Option<f64> {
        (self.num > 0 && self.den > 0).then(|| f64::from(self.num) / f64::from(self.den))
    }

    /// The sampling interval `k` for this rate (see [`frame_interval`]).
    pub fn interval(self) -> Option<u64> {
        frame_interval(i64::from(self.num), i64::from(self.den))
    }
}

impl std::fmt::Display for FrameRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// The sampling interval `k` for `fps = num / den`, computed with integers:
/// `ceil(fps / 2)` if `fps < 2`, else `floor(fps / 2)`.
///
/// `None` when the rate is zero, negative or has a zero denominator: the
/// spec makes a missing frame rate an error, and the caller names the file.
/// Both rules give at least 1 for any positive rate.
pub fn frame_interval(num: i64, den: i64) -> Option<u64> {
    if num <= 0 || den <= 0 {
        return None;
    }
    let (num, den) = (num.unsigned_abs(), den.unsigned_abs());
    let twice_den = den.checked_mul(2)?;
    let k = if num < twice_den {
        // fps < 2: ceil(num / (2 den)), which is 1 for every such positive rate.
        num.div_ceil(twice_den)
    } else {
        num / twice_den
    };
    Some(k.max(1))
}

/// Which frames a sampling interval `k` selects, and which must be converted
/// to RGB (sampled frames and their successors): the one place where the
/// definitions of `S` and `P` live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampling {
    interval: u64,
}

impl Sampling {
    /// Sampling every `interval`-th frame; `None` for an interval of 0.
    pub fn new(interval: u64) -> Option<Self> {
        (interval > 0).then_some(Self { interval })
    }

    /// Sampling for a frame rate; `None` when the rate is zero or missing.
    pub fn for_rate(rate: FrameRate) -> Option<Self> {
        rate.interval().and_then(Self::new)
    }

    /// The interval `k`.
    pub fn interval(self) -> u64 {
        self.interval
    }

    /// Whether frame `n` is in `S` (`n mod k == 0`).
    pub fn is_sampled(self, n: u64) -> bool {
        n.is_multiple_of(self.interval)
    }

    /// Whether frame `n` is the successor of a sampled frame, i.e. the second
    /// frame of a pair (if it exists, the pair is in `P`).
    pub fn is_successor(self, n: u64) -> bool {
        n > 0 && self.is_sampled(n - 1)
    }

    /// Whether frame `n` must be converted to RGB: sampled frames and their
    /// successors. Every other frame is decoded (the codec needs it) but never
    /// converted, which is most of the decoding time saved.
    pub fn needs_rgb(self, n: u64) -> bool {
        self.is_sampled(n) || self.is_successor(n)
    }

    /// `|S|` for a video of `frames` frames: `ceil(N / k)`.
    pub fn sampled_count(self, frames: u64) -> u64 {
        frames.div_ceil(self.interval)
    }

    /// `|P|` for a video of `frames` frames: sampled frames whose successor
    /// exists, i.e. `|S|` minus one when the last frame is sampled.
    pub fn pair_count(self, frames: u64) -> u64 {
        let s = self.sampled_count(frames);
        if frames > 0 && self.is_sampled(frames - 1) {
            s - 1
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_matches_the_spec_examples() {
        let cases: [(i64, i64, u64); 12] = [
            (30000, 1001, 14), // 29.97 / 2 = 14.985 -> 14
            (24, 1, 12),
            (25, 1, 12),
            (30, 1, 15),
            (60000, 1001, 29), // 59.94 / 2 = 29.97 -> 29
            (1, 1, 1),         // ceil(0.5)
            (3, 2, 1),         // ceil(0.75)
            (5, 2, 1),         // floor(1.25)
            (2, 1, 1),         // floor(1)
            (4, 1, 2),
            (1, 10, 1), // ceil(0.05)
            (24000, 1001, 11),
        ];
        for (num, den, k) in cases {
            let got = frame_interval(num, den);
            println!("fps {num}/{den}: k = {got:?} (expected {k})");
            assert_eq!(got, Some(k), "{num}/{den}");
        }
    }

    #[test]
    fn interval_refuses_zero_and_negative_rates() {
        for (num, den) in [(0, 1), (0, 0), (1, 0), (-25, 1), (25, -1)] {
            assert_eq!(frame_interval(num, den), None, "{num}/{den}");
        }
        assert_eq!(FrameRate::new(0, 0).interval(), None);
        assert_eq!(Sampling::for_rate(FrameRate::new(0, 1)), None);
        assert_eq!(Sampling::new(0), None);
    }

    #[test]
    fn interval_is_exact_near_integer_boundaries() {
        // 2k/1 must give exactly k, not k - 1 through a float round trip.
        for k in 1..1000i64 {
            assert_eq!(frame_interval(2 * k, 1), Some(k as u64));
            assert_eq!(frame_interval(2 * k * 1001 - 1, 1001), Some((k - 1).max(1) as u64));
        }
        assert_eq!(frame_interval(i64::from(i32::MAX), 1), Some((i32::MAX / 2) as u64));
    }

    #[test]
    fn sampled_frames_and_pairs_follow_the_definitions() {
        // Brute force against the set definitions for small videos.
        for k in 1..6u64 {
            let s = Sampling::new(k).unwrap();
            for n_frames in 0..40u64 {
                let sampled: Vec<u64> = (0..n_frames).filter(|n| n.is_multiple_of(k)).collect();
                let pairs: Vec<u64> = sampled.iter().copied().filter(|n| n + 1 < n_frames).collect();
                assert_eq!(s.sampled_count(n_frames), sampled.len() as u64, "k={k} N={n_frames}");
                assert_eq!(s.pair_count(n_frames), pairs.len() as u64, "k={k} N={n_frames}");
                for n in 0..n_frames {
                    let needed = sampled.contains(&n) || (n > 0 && sampled.contains(&(n - 1)));
                    assert_eq!(s.needs_rgb(n), needed, "k={k} n={n}");
                }
            }
        }
    }

    #[test]
    fn fixture_counts() {
        // README: carphone 120 frames at k=14 -> 9 sampled, 9 pairs;
        // testsrc2 48 frames at k=12 -> 4 and 4.
        let s = Sampling::for_rate(FrameRate::new(30000, 1001)).unwrap();
        assert_eq!((s.sampled_count(120), s.pair_count(120)), (9, 9));
        let s = Sampling::for_rate(FrameRate::new(24, 1)).unwrap();
        assert_eq!((s.sampled_count(48), s.pair_count(48)), (4, 4));
        // A one-frame video: one sampled frame, no pair.
        assert_eq!((s.sampled_count(1), s.pair_count(1)), (1, 0));
        // Last frame sampled: 25 frames at k=12 -> frames 0, 12, 24; 24 has no successor.
        assert_eq!((s.sampled_count(25), s.pair_count(25)), (3, 2));
    }
}
