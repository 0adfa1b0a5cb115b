//! A self-contained HTML page about a video's quality: the score, a
//! timeline of per-window scores, and the sampled frames, frame fragments
//! and merged fragments the model looked at, so a person can see why a
//! video scored as it did. Everything is inline (CSS, SVG, PNG data URIs),
//! so the page can be mailed or archived as one file. Memory does not grow
//! with the video's length: at most twice the shown number of samples are
//! kept, as thumbnails, while the video runs.

use std::fmt::Write as _;

use base64::Engine as _;
use relaxvqa_features::{Observer, SampleImages};
use relaxvqa_image::RgbImage;

use crate::extract::{Features, VERSION};
use crate::head::{scale_label, OutputScale};
use crate::score::{Score, Segment};
use crate::{Error, Input, Model, Result, ScoreOptions};

/// How to make a report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Timeline window length, seconds.
    pub window: f64,
    /// At most this many sampled frames shown (evenly spread; 0 for all).
    pub max_frames: usize,
    /// Images wider than this are downscaled on the page.
    pub image_width: usize,
    /// Report on this scale instead of the head's own.
    pub scale: Option<OutputScale>,
    /// How to extract.
    pub extract: crate::ExtractOptions,
    /// What the page and the score call the head's source instead of what
    /// the head file records (which may name files of the machine that
    /// made it): a service gives the head file's name and hash, so its
    /// pages and JSON show the same redacted provenance.
    pub model_source: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            window: 1.0,
            max_frames: 24,
            image_width: 320,
            scale: None,
            extract: Default::default(),
            model_source: None,
        }
    }
}

/// The thumbnails of one shown sample.
#[derive(Clone, Debug)]
pub struct SampleThumbnails {
    /// The sample's index.
    pub index: usize,
    /// Its frame number.
    pub frame_number: u64,
    /// The frame, downscaled.
    pub frame: RgbImage,
    /// The frame fragment, downscaled, when the sample has a pair.
    pub frame_fragment: Option<RgbImage>,
    /// The merged fragment, downscaled, when the sample has a pair.
    pub merged_fragment: Option<RgbImage>,
}

/// Keeps thumbnails of evenly spread samples while a video runs: every
/// `stride`-th sample, the stride doubling whenever twice `max` are kept,
/// so at most `2 * max` thumbnails exist whatever the length.
pub struct Thumbnails {
    max: usize,
    width: usize,
    stride: usize,
    kept: Vec<SampleThumbnails>,
}

impl Thumbnails {
    /// Keeps about `max` samples (all with 0), images at most `width` wide.
    pub fn new(max: usize, width: usize) -> Self {
        Self { max, width: width.max(16), stride: 1, kept: Vec::new() }
    }

    /// The `max` shown samples, evenly spread over what was kept.
    pub fn finish(self) -> Vec<SampleThumbnails> {
        let n = self.kept.len();
        if self.max == 0 || n <= self.max {
            return self.kept;
        }
        let mut pick: Vec<usize> = (0..self.max).map(|k| k * (n - 1) / (self.max - 1).max(1)).collect();
        pick.dedup();
        let mut kept: Vec<Option<SampleThumbnails>> = self.kept.into_iter().map(Some).collect();
        pick.into_iter().filter_map(|i| kept[i].take()).collect()
    }
}

impl Observer for Thumbnails {
    fn wants_images(&self) -> bool {
        true
    }

    fn sample_images(&mut self, s: SampleImages<'_>) {
        if !s.index.is_multiple_of(self.stride) {
            return;
        }
        let w = self.width;
        self.kept.push(SampleThumbnails {
            index: s.index,
            frame_number: s.frame_number,
            frame: downscale(s.frame, w),
            frame_fragment: s.frame_fragment.map(|f| downscale(f, w)),
            merged_fragment: s.merged_fragment.map(|f| downscale(f, w)),
        });
        if self.max > 0 && self.kept.len() >= 2 * self.max {
            self.stride *= 2;
            let stride = self.stride;
            self.kept.retain(|t| t.index.is_multiple_of(stride));
        }
    }
}

/// Box-downscales by an integer factor to at most `max_width` wide.
fn downscale(img: &RgbImage, max_width: usize) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let f = w.div_ceil(max_width).max(1);
    if f == 1 {
        return img.clone();
    }
    let (nw, nh) = ((w / f).max(1), (h / f).max(1));
    let data = img.as_bytes();
    let mut small = Vec::with_capacity(nw * nh * 3);
    for y in 0..nh {
        for x in 0..nw {
            for c in 0..3 {
                let mut sum = 0u32;
                let mut count = 0u32;
                for dy in 0..f {
                    for dx in 0..f {
                        if let Some(&v) = data.get(((y * f + dy) * w + x * f + dx) * 3 + c) {
                            sum += u32::from(v);
                            count += 1;
                        }
                    }
                }
                small.push((sum / count.max(1)) as u8);
            }
        }
    }
    RgbImage::from_vec(nw, nh, small).unwrap_or_else(|_| img.clone())
}

/// Scores `input` with the model's head and renders its page; returns the
/// page and the score.
pub fn report(model: &Model, input: Input, opts: &ReportOptions) -> Result<(String, Score)> {
    let head = model.require_head()?;
    let mut extract = opts.extract.clone();
    extract.per_sample = true;
    let mut thumbs = Thumbnails::new(opts.max_frames, opts.image_width);
    let features = model.extract_observed(input, &extract, &mut thumbs)?;
    let sopts = ScoreOptions { segments: Some(opts.window), scale: opts.scale, extract };
    let mut score = crate::score::score_features(head, &features, &sopts)?;
    if let Some(source) = &opts.model_source {
        score.model_source = source.clone();
    }
    let html = render(&score, &features, &thumbs.finish(), opts.window)?;
    Ok((html, score))
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:24px 0 8px}\
.score{font-size:48px;font-weight:700;color:#1a5fb4}.scale{font-size:16px;color:#555;margin-left:8px}\
table.meta{border-collapse:collapse;font-size:13px}table.meta td{padding:2px 12px 2px 0;vertical-align:top}\
table.meta td:first-child{color:#666}.grid{display:flex;flex-wrap:wrap;gap:12px}\
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;font-size:12px}\
.card .imgs{display:flex;gap:6px;align-items:flex-start}.card figure{margin:0}\
.card figcaption{color:#666;font-size:11px}.card img{display:block;image-rendering:auto;max-width:320px}\
svg{background:#fff;border:1px solid #ddd;border-radius:6px}.note{color:#666;font-size:12px}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the page of a scored video: its score and provenance, the
/// timeline of `score.segments` (windows of `window` seconds) and the
/// thumbnails of the shown samples.
pub fn render(score: &Score, features: &Features, shown: &[SampleThumbnails], window: f64) -> Result<String> {
    let fmt_err = |_| Error::invalid("formatting the report failed");
    let name = std::path::Path::new(&features.provenance.input)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fps = features.fps();
    let mut h = String::new();
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>relaxvqa report: {}</title><style>{CSS}</style></head><body>\n",
        esc(&name)
    )
    .map_err(fmt_err)?;
    write!(
        h,
        "<h1>Quality report: {}</h1>\n<div><span class=\"score\">{:.3}</span><span class=\"scale\">{}</span></div>\n",
        esc(&name),
        score.score,
        scale_label(score.scale)
    )
    .map_err(fmt_err)?;
    h.push_str("<table class=\"meta\">");
    let rows = [
        ("video", features.provenance.input.clone()),
        ("model", format!("{} ({})", score.model, score.model_source)),
        ("backbone weights", features.provenance.weights.clone()),
        (
            "size",
            format!(
                "{} x {}, {:.3} fps, {} frames decoded",
                features.info.width, features.info.height, fps, features.frames_decoded
            ),
        ),
        (
            "sampling",
            format!(
                "every {} frames: {} sampled, {} pairs",
                features.frame_interval, features.sampled_frames, features.pairs
            ),
        ),
        ("relaxvqa", VERSION.to_owned()),
    ];
    for (k, v) in rows {
        write!(h, "<tr><td>{k}</td><td>{}</td></tr>", esc(&v)).map_err(fmt_err)?;
    }
    h.push_str("</table>\n");
    if features.provenance.weights.trim().eq_ignore_ascii_case("synthetic") {
        h.push_str("<p class=\"note\">Synthetic backbone weights: these scores are for tests, not quality.</p>\n");
    }
    for w in &score.warnings {
        writeln!(h, "<p class=\"note\">Warning: {}</p>", esc(w)).map_err(fmt_err)?;
    }
    writeln!(h, "<h2>Timeline ({window} s windows)</h2>").map_err(fmt_err)?;
    h.push_str(&timeline_svg(score.segments.as_deref().unwrap_or(&[]), score.score, score.scale));
    h.push_str("\n<h2>What the model looked at</h2>\n<p class=\"note\">Each sampled frame, and for frames with a pair the frame fragment and the merged (residual + optical-flow) fragment fed to the networks.</p>\n<div class=\"grid\">\n");
    for t in shown {
        let when = format!("frame {}, {:.2} s", t.frame_number, t.frame_number as f64 / fps);
        write!(h, "<div class=\"card\"><div>{}</div><div class=\"imgs\">", esc(&when)).map_err(fmt_err)?;
        for (img, caption) in [
            (Some(&t.frame), "frame"),
            (t.frame_fragment.as_ref(), "frame fragment"),
            (t.merged_fragment.as_ref(), "merged fragment"),
        ] {
            let Some(img) = img else { continue };
            write!(
                h,
                "<figure><img alt=\"{caption}\" width=\"{}\" height=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{caption}</figcaption></figure>",
                img.width(),
                img.height(),
                base64::engine::general_purpose::STANDARD.encode(encode_png(img)?)
            )
            .map_err(fmt_err)?;
        }
        h.push_str("</div></div>\n");
    }
    h.push_str("</div>\n</body></html>\n");
    Ok(h)
}

/// An inline SVG line plot of the window scores, with the whole-video score
/// as a dashed line.
fn timeline_svg(segments: &[Segment], overall: f64, scale: OutputScale) -> String {
    let (w, h, l, r, t, b) = (900.0, 260.0, 56.0, 16.0, 16.0, 36.0);
    let mut lo = segments.iter().map(|s| s.score).fold(overall, f64::min);
    let mut hi = segments.iter().map(|s| s.score).fold(overall, f64::max);
    if let OutputScale::Mos1To5 = scale {
        (lo, hi) = (lo.min(1.0), hi.max(5.0));
    } else if let OutputScale::Mos0To100 = scale {
        (lo, hi) = (lo.min(0.0), hi.max(100.0));
    }
    if (hi - lo).abs() < 1e-9 {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    } else {
        let pad = (hi - lo) * 0.05;
        (lo, hi) = (lo - pad, hi + pad);
    }
    let t_end = segments.iter().map(|s| s.end).fold(0.0_f64, f64::max).max(1e-6);
    let x = |s: f64| l + (w - l - r) * s / t_end;
    let y = |v: f64| t + (h - t - b) * (1.0 - (v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-size=\"11\" font-family=\"sans-serif\">");
    // Enough decimals that the five tick labels differ.
    let prec = (-((hi - lo) / 4.0).log10()).ceil().clamp(0.0, 6.0) as usize + 1;
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        let yy = y(v);
        let _ = write!(s, "<line x1=\"{l}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#666\">{v:.prec$}</text>", w - r, l - 6.0, yy + 4.0);
    }
    for k in 0..=5 {
        let tt = t_end * k as f64 / 5.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">{tt:.1} s</text>",
            x(tt),
            h - b + 16.0
        );
    }
    let _ = write!(s, "<line x1=\"{l}\" x2=\"{l}\" y1=\"{t}\" y2=\"{}\" stroke=\"#999\"/><line x1=\"{l}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#999\"/>", h - b, w - r, h - b, h - b);
    let _ = write!(s, "<line x1=\"{l}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c01c28\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#c01c28\">video {overall:.3}</text>", w - r, y(overall), y(overall), w - r - 4.0, y(overall) - 4.0);
    let pts: Vec<String> =
        segments.iter().map(|g| format!("{:.1},{:.1}", x((g.start + g.end) / 2.0), y(g.score))).collect();
    let _ = write!(s, "<polyline fill=\"none\" stroke=\"#1a5fb4\" stroke-width=\"2\" points=\"{}\"/>", pts.join(" "));
    for g in segments {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1a5fb4\"><title>{:.2}-{:.2} s: {:.4} ({} frames, {} pairs)</title></circle>",
            x((g.start + g.end) / 2.0),
            y(g.score),
            g.start,
            g.end,
            g.score,
            g.frames,
            g.pairs
        );
    }
    s.push_str("</svg>");
    s
}

/// An RGB image as PNG bytes.
fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: png::EncodingError| Error::invalid(format!("encoding a report image: {e}"));
    let mut enc = png::Encoder::new(&mut out, img.width() as u32, img.height() as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(img.as_bytes()).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(v: u8) -> RgbImage {
        RgbImage::from_vec(4, 2, vec![v; 24]).unwrap()
    }

    #[test]
    fn thumbnails_stay_bounded_and_evenly_spread() {
        let mut t = Thumbnails::new(4, 320);
        let frame = img(7);
        for i in 0..1000 {
            t.sample_images(SampleImages {
                index: i,
                frame_number: i as u64 * 12,
                frame: &frame,
                frame_fragment: None,
                merged_fragment: None,
            });
            assert!(t.kept.len() < 8, "at most 2 x max kept");
        }
        let shown = t.finish();
        assert_eq!(shown.len(), 4);
        assert_eq!(shown[0].index, 0);
        assert!(shown[3].index > 700, "the last shown is near the end: {}", shown[3].index);
    }

    #[test]
    fn short_videos_show_the_old_selection() {
        let mut t = Thumbnails::new(24, 320);
        let frame = img(1);
        for i in 0..30 {
            t.sample_images(SampleImages {
                index: i,
                frame_number: 0,
                frame: &frame,
                frame_fragment: None,
                merged_fragment: None,
            });
        }
        let got: Vec<usize> = t.finish().iter().map(|s| s.index).collect();
        let mut want: Vec<usize> = (0..24).map(|k| k * 29 / 23).collect();
        want.dedup();
        assert_eq!(got, want);
    }

    #[test]
    fn png_round_trips() {
        let png = encode_png(&img(200)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (4, 2));
        assert!(buf[..24].iter().all(|&b| b == 200));
    }
}
