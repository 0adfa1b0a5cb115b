//! `relaxvqa synth`: Make a learnable synthetic-distortion dataset with FFmpeg.
//!
//! No public VQA dataset can be downloaded everywhere this program is built,
//! so training and evaluation need a dataset made on the spot: source clips
//! (FFmpeg test sources and any given videos) get graded distortions
//! (x264 CRF, down- and up-scaling, blur, noise, frame drops) and a quality
//! target from the PSNR against the source, mapped to a 1-5 MOS. The
//! `content` column lets train keep source contents apart in its splits.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;

use crate::train::data::write_atomically;

/// `relaxvqa synth-dataset`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Folder for the clips and `videos.csv`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Source videos (each one content); default: the FFmpeg test sources,
    /// plus the fixture videos when `$RELAXVQA_SHARED` or ../shared exists.
    #[arg(long, value_name = "VIDEO", num_args = 1..)]
    pub sources: Vec<PathBuf>,
    /// Leave out the FFmpeg test sources (testsrc2, smptehdbars, ...).
    #[arg(long)]
    pub no_lavfi: bool,
    /// Clip length in seconds.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub duration: f64,
    /// Frame size of every clip, WxH.
    #[arg(long, default_value = "320x240", value_name = "WxH")]
    pub size: String,
    /// Frame rate of every clip.
    #[arg(long, default_value_t = 25, value_name = "FPS")]
    pub fps: u32,
    /// The FFmpeg program.
    #[arg(long, default_value = "ffmpeg", value_name = "PATH")]
    pub ffmpeg: PathBuf,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

/// PSNR (dB) mapped to the 1-5 target: 18 dB or less is 1, 48 dB or more is 5, linear between.
pub fn psnr_to_mos(psnr: f64) -> f64 {
    1.0 + 4.0 * ((psnr - 18.0) / 30.0).clamp(0.0, 1.0)
}

/// The FFmpeg test sources used as contents: (content name, lavfi graph
/// before scaling; `{s}` is the size, `{r}` the rate).
const LAVFI: &[(&str, &str)] = &[
    ("testsrc2", "testsrc2=size={s}:rate={r}"),
    ("smptebars_scroll", "smptehdbars=size={s}:rate={r},scroll=h=0.004:v=0.002"),
    ("mandelbrot", "mandelbrot=size={s}:rate={r}"),
    ("life", "life=size={s}:rate={r}:mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00"),
    ("cellauto", "cellauto=size={s}:rate={r}:rule=110"),
    ("gradients", "gradients=size={s}:rate={r}:speed=0.03:n=5"),
];

/// One distortion at one level: (distortion, level name, video filter or
/// None, x264 CRF).
fn distortions(w: u32, h: u32, fps: u32) -> Vec<(&'static str, String, Option<String>, u32)> {
    let mut v = vec![("pristine", "0".to_owned(), None, 10)];
    for crf in [26, 32, 38, 44, 51] {
        v.push(("crf", crf.to_string(), None, crf));
    }
    for k in [2, 3, 4, 6] {
        let f =
            format!("scale={}:{}:flags=area,scale={w}:{h}:flags=bilinear", (w / k).max(2) & !1, (h / k).max(2) & !1);
        v.push(("scale", k.to_string(), Some(f), 14));
    }
    for s in [1.0, 2.0, 4.0] {
        v.push(("blur", format!("{s}"), Some(format!("gblur=sigma={s}")), 14));
    }
    for n in [8, 20, 40] {
        v.push(("noise", n.to_string(), Some(format!("noise=alls={n}:allf=t")), 14));
    }
    for k in [3, 6] {
        v.push(("drop", k.to_string(), Some(format!("fps={fps}/{k},fps={fps}")), 14));
    }
    v
}

/// Runs FFmpeg with `args`, returning its stderr; a failure is one line
/// naming what was being made.
fn ffmpeg(bin: &Path, args: &[String], what: &str) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(["-hide_banner", "-nostdin", "-y"])
        .args(args)
        .output()
        .with_context(|| format!("running {} (is FFmpeg installed? --ffmpeg PATH)", bin.display()))?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        bail!("ffmpeg failed making {what}: {last}");
    }
    Ok(err)
}

/// PSNR (average over frames, dB) and SSIM (All) of `dist` against `reference`.
fn quality(bin: &Path, dist: &Path, reference: &Path) -> anyhow::Result<(f64, f64)> {
    let args: Vec<String> = vec![
        "-i".into(),
        dist.display().to_string(),
        "-i".into(),
        reference.display().to_string(),
        "-lavfi".into(),
        "[0:v]split[a0][a1];[1:v]split[b0][b1];[a0][b0]psnr;[a1][b1]ssim".into(),
        "-f".into(),
        "null".into(),
        "-".into(),
    ];
    let err = ffmpeg(bin, &args, &format!("quality of {}", dist.display()))?;
    let find = |key: &str| -> Option<f64> {
        err.lines().filter_map(|l| l.split(key).nth(1)).filter_map(|t| t.split_whitespace().next()).find_map(|t| {
            if t.starts_with("inf") {
                Some(f64::INFINITY)
            } else {
                t.parse().ok()
            }
        })
    };
    let psnr = find("average:").with_context(|| format!("no PSNR in FFmpeg's output for {}", dist.display()))?;
    let ssim = find("All:").with_context(|| format!("no SSIM in FFmpeg's output for {}", dist.display()))?;
    Ok((psnr, ssim))
}

/// Default fixture videos, when a shared folder is found.
fn fixture_videos() -> Vec<PathBuf> {
    let shared = std::env::var_os("RELAXVQA_SHARED").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared"));
    let dir = shared.join("fixtures/videos");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "mp4")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `relaxvqa synth-dataset`.
pub fn run(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let (w, h) = a
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w >= 16 && h >= 16 && w % 2 == 0 && h % 2 == 0)
        .with_context(|| format!("--size {:?}: expected WxH with even sides of at least 16", a.size))?;
    if !(a.duration > 0.0 && a.duration <= 600.0) || a.fps == 0 {
        bail!("--duration must be in (0, 600] seconds and --fps positive");
    }
    let sources = if a.sources.is_empty() { fixture_videos() } else { a.sources.clone() };
    // (content, input args)
    let mut contents: Vec<(String, Vec<String>)> = Vec::new();
    if !a.no_lavfi {
        for (name, graph) in LAVFI {
            let g = graph.replace("{s}", &a.size).replace("{r}", &a.fps.to_string());
            contents.push(((*name).to_owned(), vec!["-f".into(), "lavfi".into(), "-i".into(), g]));
        }
    }
    for s in &sources {
        if !s.is_file() {
            bail!("{}: no such source video", s.display());
        }
        let stem = s.file_stem().map(|x| x.to_string_lossy().into_owned()).unwrap_or_else(|| "source".into());
        let name: String = stem.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect();
        contents.push((name, vec!["-stream_loop".into(), "-1".into(), "-i".into(), s.display().to_string()]));
    }
    if contents.is_empty() {
        bail!("no sources: give --sources or drop --no-lavfi");
    }
    let ref_dir = a.out.join("reference");
    std::fs::create_dir_all(&ref_dir).with_context(|| format!("creating {}", ref_dir.display()))?;
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["path", "mos", "content", "distortion", "level", "psnr", "ssim"])?;
    let dur = format!("{}", a.duration);
    let base_filter = format!("scale={w}:{h}:flags=bicubic,fps={},format=yuv420p", a.fps);
    let mut clips = 0usize;
    for (content, input) in &contents {
        let reference = ref_dir.join(format!("{content}.mkv"));
        let mut args = input.clone();
        args.extend(["-t", dur.as_str(), "-vf", base_filter.as_str(), "-an", "-c:v", "ffv1"].map(String::from));
        args.push(reference.display().to_string());
        ffmpeg(&a.ffmpeg, &args, &reference.display().to_string())?;
        for (dist, level, filter, crf) in distortions(w, h, a.fps) {
            let file = format!("{content}__{dist}_{level}.mp4");
            let path = a.out.join(&file);
            let mut args = vec!["-i".to_owned(), reference.display().to_string()];
            if let Some(f) = &filter {
                args.extend(["-vf".to_owned(), format!("{f},format=yuv420p")]);
            }
            args.extend(
                [
                    "-an",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    crf.to_string().as_str(),
                    "-pix_fmt",
                    "yuv420p",
                ]
                .map(String::from),
            );
            args.push(path.display().to_string());
            ffmpeg(&a.ffmpeg, &args, &path.display().to_string())?;
            let (psnr, ssim) = quality(&a.ffmpeg, &path, &reference)?;
            let mos = psnr_to_mos(psnr);
            csv.write_record([
                file,
                format!("{mos:.4}"),
                content.clone(),
                dist.to_owned(),
                level,
                format!("{psnr:.3}"),
                format!("{ssim:.5}"),
            ])?;
            clips += 1;
        }
    }
    let list = a.out.join("videos.csv");
    write_atomically(&list, &csv.into_inner()?)?;
    let seconds = t0.elapsed().as_secs_f64();
    if a.json {
        crate::output::print_json(&json!({
            "schema": "relaxvqa.synth-dataset/1",
            "list": list,
            "contents": contents.iter().map(|c| &c.0).collect::<Vec<_>>(),
            "clips": clips,
            "seconds": seconds,
        }))?;
    } else {
        println!("{clips} clips of {} contents in {:.0} s -> {}", contents.len(), seconds, list.display());
    }
    Ok(ExitCode::SUCCESS)
}
