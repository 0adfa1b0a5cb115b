//! `relaxvqa report`: one self-contained HTML page about a video's quality:
//! the score, a timeline of per-window scores, and the sampled frames, frame
//! fragments and merged fragments the model looked at, so a person can see
//! why a video scored as it did. Everything is inline (CSS, SVG, PNG data
//! URIs), so the page can be mailed or archived as one file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use relaxvqa_features::{DumpTensor, ExtractOptions, TensorData, VideoFeatures};
use relaxvqa_model::head::OutputScale;
use relaxvqa_model::zoo;

use crate::args::RawArgs;
use crate::score::{convert, load_model, parse_duration, parse_scale, scale_label, segment_scores, Segment};

/// `relaxvqa report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The video.
    #[arg(value_name = "VIDEO")]
    pub video: PathBuf,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// The head: a zoo name or a head file (as for `relaxvqa score`).
    #[arg(long, default_value = zoo::DEFAULT_HEAD, value_name = "NAME|FILE")]
    pub model: String,
    /// Backbone weights (as for `relaxvqa extract`).
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// Report scores on this scale (1-5, 0-100) instead of the head's own.
    #[arg(long, value_name = "SCALE")]
    pub scale: Option<String>,
    /// Timeline window length.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub segments: String,
    /// At most this many sampled frames shown (evenly spread).
    #[arg(long, default_value_t = 24, value_name = "N")]
    pub max_frames: usize,
    /// Images wider than this are downscaled on the page.
    #[arg(long, default_value_t = 320, value_name = "PIXELS")]
    pub image_width: usize,
    /// Images per network batch (rounded up to a multiple of --threads).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch_size: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub raw: RawArgs,
}

/// Runs `relaxvqa report`.
pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    if a.output.is_dir() {
        bail!("{}: is a folder; give a file name ending in .html", a.output.display());
    }
    let window = parse_duration(&a.segments)?;
    let model = load_model(&a.model)?;
    let scale = a.scale.as_deref().map(parse_scale).transpose()?.unwrap_or(model.head.output_scale());
    let nets = crate::extract::load_backbones(&a.weights)?;
    let decode = crate::extract::decode_options(&a.raw, 0)?;
    let opts = ExtractOptions { batch_size: a.batch_size, dump: true, per_sample: true };
    let pb = crate::output::bar(0, "samples", a.quiet);
    let out = crate::extract::extract_video(&a.video, &decode, &nets, &opts, &mut |n| pb.set_position(n as u64))?;
    pb.finish_and_clear();
    let score = convert(model.head.output_scale(), model.head.score(&out.features)?, scale)?;
    let segments = segment_scores(&model.head, &out, window, scale)?;
    let page =
        Page { video: &a.video, model: &model.name, source: &model.source, weights: &a.weights, scale, score, window };
    let html = render(&page, &out, &segments, a.max_frames, a.image_width.max(16))?;
    write_atomically(&a.output, html.as_bytes())?;
    println!("{}\t{score:.4}\t{} -> {}", a.video.display(), scale_label(scale), a.output.display());
    Ok(ExitCode::SUCCESS)
}

/// What the page says about the run.
struct Page<'a> {
    video: &'a Path,
    model: &'a str,
    source: &'a str,
    weights: &'a str,
    scale: OutputScale,
    score: f64,
    window: f64,
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

fn render(
    p: &Page,
    out: &VideoFeatures,
    segments: &[Segment],
    max_frames: usize,
    width: usize,
) -> anyhow::Result<String> {
    let name = p.video.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let fps = out.info.frame_rate.num as f64 / out.info.frame_rate.den.max(1) as f64;
    let mut h = String::new();
    write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>relaxvqa report: {}</title><style>{CSS}</style></head><body>\n",
        esc(&name)
    )?;
    write!(
        h,
        "<h1>Quality report: {}</h1>\n<div><span class=\"score\">{:.3}</span><span class=\"scale\">{}</span></div>\n",
        esc(&name),
        p.score,
        scale_label(p.scale)
    )?;
    h.push_str("<table class=\"meta\">");
    let rows = [
        ("video", p.video.display().to_string()),
        ("model", format!("{} ({})", p.model, p.source)),
        ("backbone weights", p.weights.to_owned()),
        (
            "size",
            format!("{} x {}, {:.3} fps, {} frames decoded", out.info.width, out.info.height, fps, out.frames_decoded),
        ),
        (
            "sampling",
            format!("every {} frames: {} sampled, {} pairs", out.frame_interval, out.sampled_frames, out.pairs),
        ),
        ("relaxvqa", env!("CARGO_PKG_VERSION").to_owned()),
    ];
    for (k, v) in rows {
        write!(h, "<tr><td>{k}</td><td>{}</td></tr>", esc(&v))?;
    }
    h.push_str("</table>\n");
    if p.weights.trim().eq_ignore_ascii_case("synthetic") {
        h.push_str("<p class=\"note\">Synthetic backbone weights: these scores are for tests, not quality.</p>\n");
    }
    writeln!(h, "<h2>Timeline ({} s windows)</h2>", p.window)?;
    h.push_str(&timeline_svg(segments, p.score, p.scale));
    h.push_str("\n<h2>What the model looked at</h2>\n<p class=\"note\">Each sampled frame, and for frames with a pair the frame fragment and the merged (residual + optical-flow) fragment fed to the networks.</p>\n<div class=\"grid\">\n");
    let dump = out.dump.as_ref().context("the extraction kept no images")?;
    let n = out.sampled_frames;
    let shown: Vec<usize> = if n <= max_frames || max_frames == 0 {
        (0..n.min(if max_frames == 0 { n } else { max_frames })).collect()
    } else {
        let mut v: Vec<usize> = (0..max_frames).map(|k| k * (n - 1) / (max_frames - 1).max(1)).collect();
        v.dedup();
        v
    };
    let per_sample = out.per_sample.as_deref().unwrap_or(&[]);
    for i in shown {
        let frame_number = per_sample.get(i).map(|s| s.frame_number);
        let when = frame_number
            .map(|f| format!("frame {f}, {:.2} s", f as f64 / fps))
            .unwrap_or_else(|| format!("sample {i}"));
        write!(h, "<div class=\"card\"><div>{}</div><div class=\"imgs\">", esc(&when))?;
        for (key, caption) in [
            (format!("frame.{i}.rgb"), "frame"),
            (format!("pair.{i}.frame_fragment"), "frame fragment"),
            (format!("pair.{i}.merged_fragment"), "merged fragment"),
        ] {
            if let Some(t) = dump.get(&key) {
                let (png, w, ht) = tensor_png(t, width).with_context(|| format!("image {key}"))?;
                write!(
                    h,
                    "<figure><img alt=\"{caption}\" width=\"{w}\" height=\"{ht}\" src=\"data:image/png;base64,{}\"><figcaption>{caption}</figcaption></figure>",
                    base64(&png)
                )?;
            }
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

/// A dumped `[h, w, 3]` u8 image as PNG bytes, box-downscaled by an integer
/// factor to at most `max_width` wide; also returns the new size.
fn tensor_png(t: &DumpTensor, max_width: usize) -> anyhow::Result<(Vec<u8>, usize, usize)> {
    let (TensorData::U8(data), [h, w, 3]) = (&t.data, t.shape.as_slice()) else {
        bail!("not an RGB image tensor (shape {:?})", t.shape);
    };
    let (h, w) = (*h, *w);
    if data.len() != h * w * 3 || h == 0 || w == 0 {
        bail!("image data does not match its shape {:?}", t.shape);
    }
    let f = w.div_ceil(max_width).max(1);
    let (nw, nh) = (w / f, h / f);
    let mut small = Vec::with_capacity(nw * nh * 3);
    for y in 0..nh {
        for x in 0..nw {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..f {
                    for dx in 0..f {
                        sum += u32::from(data[((y * f + dy) * w + x * f + dx) * 3 + c]);
                    }
                }
                small.push((sum / (f * f) as u32) as u8);
            }
        }
    }
    Ok((encode_png(&small, nw, nh), nw, nh))
}

/// A minimal PNG encoder: 8-bit RGB, filter 0 on each row, zlib via miniz.
fn encode_png(rgb: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut raw = Vec::with_capacity((w * 3 + 1) * h);
    for row in rgb.chunks_exact(w * 3).take(h) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend((w as u32).to_be_bytes());
    ihdr.extend((h as u32).to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    let mut crc = !0u32;
    for &b in kind.iter().chain(data) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    out.extend((!crc).to_be_bytes());
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        s.push(A[(n >> 18) as usize & 63] as char);
        s.push(A[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        s.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    s
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn png_crc_and_header() {
        let png = encode_png(&[255, 0, 0, 0, 255, 0], 2, 1);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // CRC of IEND is fixed.
        assert_eq!(&png[png.len() - 4..], &[0xAE, 0x42, 0x60, 0x82]);
    }
}
