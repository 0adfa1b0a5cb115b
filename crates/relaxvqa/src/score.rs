//! Scores: the whole video's, and a timeline of per-window scores, because
//! users want to see where quality drops. A window's score pools the
//! per-sample feature rows of the sampled frames in it, exactly as the
//! whole video pools all of them, and goes through the same head.

use std::collections::BTreeMap;

use relaxvqa_features::layout::{Over, BLOCKS};
use relaxvqa_features::SampleFeatures;
use serde::{Deserialize, Serialize};

use crate::extract::{ExtractOptions, Features, Provenance};
use crate::head::{LoadedHead, OutputScale};
use crate::{Error, Result};

/// How to score a video.
#[derive(Clone, Debug, Default)]
pub struct ScoreOptions {
    /// Also score windows of this many seconds (see [`parse_duration`]).
    pub segments: Option<f64>,
    /// Report on this scale instead of the head's own.
    pub scale: Option<OutputScale>,
    /// How to extract the features.
    pub extract: ExtractOptions,
}

/// The score of one time window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds (the window's nominal end, or the video's end).
    pub end: f64,
    /// Sampled frames in the window.
    pub frames: usize,
    /// Of which have a pair.
    pub pairs: usize,
    /// The score, on the reported scale.
    pub score: f64,
}

/// A video's quality score and how it was made: the result document every
/// front end prints (the command's `--json`, Python's `Score.to_dict()`,
/// the service's done job), field for field.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Score {
    /// The whole video's score.
    pub score: f64,
    /// The scale of every score here.
    #[serde(with = "scale_name")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "mos_1_5"))]
    pub scale: OutputScale,
    /// Per-window scores, when asked for.
    pub segments: Option<Vec<Segment>>,
    /// What a user should know about the result.
    pub warnings: Vec<String>,
    /// The head that scored.
    pub model: String,
    /// Where the head came from.
    pub model_source: String,
    /// What was scored, with which weights, by which version.
    pub provenance: Provenance,
}

/// A scale as its name (`mos_1_5`, `mos_0_100`, `raw`).
mod scale_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::head::{parse_scale, OutputScale};

    pub fn serialize<S: Serializer>(s: &OutputScale, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<OutputScale, D::Error> {
        let name = String::deserialize(de)?;
        parse_scale(&name).map_err(serde::de::Error::custom)
    }
}

/// The shortest timeline window: one millisecond, shorter than any frame
/// interval a video has (a window holding no sample is not reported).
pub const MIN_WINDOW: f64 = 0.001;

/// Checks a timeline window length in seconds: a finite number of at least
/// [`MIN_WINDOW`]. Every way a window reaches the library (a flag, a Python
/// argument, an HTTP parameter, [`ScoreOptions::segments`]) goes through it.
pub fn check_window(seconds: f64) -> Result<f64> {
    if seconds.is_finite() && seconds >= MIN_WINDOW {
        return Ok(seconds);
    }
    Err(Error::invalid(format!(
        "segments {seconds}s: a window must be a finite duration of at least {}ms, such as 2s, 500ms or 1m",
        MIN_WINDOW * 1e3
    )))
}

/// Parses a window length (`2s`, `2`, `500ms`, `1m`, `1.5s`) into seconds,
/// checked by [`check_window`].
pub fn parse_duration(s: &str) -> Result<f64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("min") {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t.as_str(), 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| Error::invalid(format!("{s}: expected a positive duration such as 2s, 500ms or 1m")))?;
    check_window(v * mult).map_err(|_| {
        Error::invalid(format!(
            "{s}: expected a finite duration of at least {}ms, such as 2s, 500ms or 1m",
            MIN_WINDOW * 1e3
        ))
    })
}

/// One window's pooled feature row.
#[derive(Clone, Debug)]
pub(crate) struct PooledWindow {
    /// The window's index (start = index x length).
    pub index: u64,
    /// Sampled frames in it.
    pub frames: usize,
    /// Of which have a pair.
    pub pairs: usize,
    /// The pooled 35,203 values.
    pub values: Vec<f64>,
}

/// Mean-pools the per-sample rows by window: frame blocks over every sample
/// of the window, pair blocks over the samples that have a pair (NaN when
/// none has, for the imputer to fill). Windows in time order.
pub(crate) fn pool_windows(samples: &[SampleFeatures], fps: f64, window: f64) -> Vec<PooledWindow> {
    let mut groups: BTreeMap<u64, Vec<&SampleFeatures>> = BTreeMap::new();
    for s in samples {
        let w = ((s.frame_number as f64 / fps) / window).floor().max(0.0) as u64;
        groups.entry(w).or_default().push(s);
    }
    let pair_probe = BLOCKS.iter().find(|b| b.over == Over::Pairs).map(|b| b.offset).unwrap_or(0);
    groups
        .into_iter()
        .map(|(w, rows)| {
            let len = rows.first().map(|r| r.values.len()).unwrap_or(0);
            let mut pooled = vec![f64::NAN; len];
            let paired: Vec<&SampleFeatures> =
                rows.iter().copied().filter(|r| r.values.get(pair_probe).is_some_and(|v| !v.is_nan())).collect();
            for b in BLOCKS {
                let over: &[&SampleFeatures] = match b.over {
                    Over::Frames => &rows,
                    Over::Pairs => &paired,
                };
                if over.is_empty() {
                    continue;
                }
                let end = (b.offset + b.len).min(len);
                for (i, slot) in pooled.iter_mut().enumerate().take(end).skip(b.offset) {
                    let sum: f64 = over.iter().map(|r| f64::from(r.values[i])).sum();
                    *slot = sum / over.len() as f64;
                }
            }
            PooledWindow { index: w, frames: rows.len(), pairs: paired.len(), values: pooled }
        })
        .collect()
}

/// Scores each window of `features`' per-sample rows with `head` on `scale`.
pub(crate) fn segment_scores(
    head: &LoadedHead,
    features: &Features,
    window: f64,
    scale: OutputScale,
) -> Result<Vec<Segment>> {
    let samples = features
        .per_sample
        .as_deref()
        .ok_or_else(|| Error::invalid("per-window scores need the per-sample rows (extract with per_sample)"))?;
    let fps = features.fps();
    if !(fps.is_finite() && fps > 0.0) {
        return Err(Error::invalid(format!(
            "{}: the video reports no frame rate; cannot place frames in time",
            features.provenance.input
        )));
    }
    let duration = features.frames_decoded as f64 / fps;
    let pooled = pool_windows(samples, fps, window);
    let rows: Vec<&[f64]> = pooled.iter().map(|p| p.values.as_slice()).collect();
    let scores = head.score_rows(&rows, scale, &features.provenance.input)?;
    Ok(pooled
        .iter()
        .zip(scores)
        .map(|(p, score)| {
            let start = p.index as f64 * window;
            Segment {
                start,
                end: ((p.index + 1) as f64 * window).min(duration.max(start)),
                frames: p.frames,
                pairs: p.pairs,
                score,
            }
        })
        .collect())
}

/// Scores extracted features: the whole video, and windows when asked.
pub fn score_features(head: &LoadedHead, features: &Features, opts: &ScoreOptions) -> Result<Score> {
    let scale = opts.scale.unwrap_or(head.output_scale());
    let window = opts.segments.map(check_window).transpose()?;
    let score = head.score(&features.values, scale, &features.provenance.input)?;
    let segments = window.map(|w| segment_scores(head, features, w, scale)).transpose()?;
    Ok(Score {
        score,
        scale,
        segments,
        warnings: features.warnings.clone(),
        model: head.name.clone(),
        model_source: head.source.clone(),
        provenance: features.provenance.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), 2.0);
        assert_eq!(parse_duration("500ms").unwrap(), 0.5);
        assert_eq!(parse_duration("1m").unwrap(), 60.0);
        assert_eq!(parse_duration("1.5").unwrap(), 1.5);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("abc").is_err());
        for bad in ["0", "-1s", "nan", "inf", "1e-300s", "1e-15s", "1ns", "1e400"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("1e308s").unwrap(), 1e308);
        assert_eq!(parse_duration("1ms").unwrap(), MIN_WINDOW);
    }

    #[test]
    fn windows_pool_frames_and_pairs_apart() {
        let len = relaxvqa_features::FEATURE_LEN;
        let row = |n: u64, v: f32, pair: bool| {
            let mut values = vec![v; len];
            if !pair {
                for b in BLOCKS.iter().filter(|b| b.over == Over::Pairs) {
                    values[b.offset..b.offset + b.len].fill(f32::NAN);
                }
            }
            SampleFeatures { frame_number: n, values }
        };
        let samples = [row(0, 1.0, true), row(10, 3.0, false), row(30, 5.0, false)];
        let w = pool_windows(&samples, 10.0, 2.0);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].index, w[0].frames, w[0].pairs), (0, 2, 1));
        assert_eq!(w[0].values[0], 2.0);
        assert_eq!(w[0].values[BLOCKS[2].offset], 1.0);
        assert_eq!((w[1].index, w[1].frames, w[1].pairs), (1, 1, 0));
        assert!(w[1].values[BLOCKS[2].offset].is_nan());
    }
}
