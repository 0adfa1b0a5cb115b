//! A learnable synthetic-distortion dataset made with FFmpeg (`relaxvqa synth-dataset`).
//!
//! No public VQA dataset can be downloaded everywhere this program is built,
//! so training and evaluation need a dataset made on the spot: source clips
//! (FFmpeg test sources and any given videos) get graded distortions
//! (x264 CRF, down- and up-scaling, blur, noise, frame drops) and a 1-5
//! quality target: by default a fixed monotone map of each distortion's
//! level (the same for every content, so a head must recognise the
//! distortion and its strength whatever the picture), or, with `--target
//! psnr`, the PSNR against the source. The `content` column lets train keep
//! source contents apart in its splits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{Error, Result};

/// The quality target of each clip (the `mos` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A fixed monotone map of distortion and level ([`level_mos`]), the same
    /// for every content.
    Level,
    /// The PSNR against the source through [`psnr_to_mos`]; it depends on
    /// the content as much as on the distortion (a smooth picture barely
    /// changes when blurred, a pixel pattern collapses), which caps what any
    /// model can reach across contents.
    Psnr,
}

impl Target {
    /// `level` or `psnr`, as the command line names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Level => "level",
            Self::Psnr => "psnr",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "level" => Ok(Self::Level),
            "psnr" => Ok(Self::Psnr),
            _ => Err(format!("{s}: expected level or psnr")),
        }
    }
}

/// The 1-5 target of a distortion at a level: 5 for the pristine encode,
/// falling with the strength of each distortion. Unknown pairs give `None`.
pub(crate) fn level_mos(distortion: &str, level: &str) -> Option<f64> {
    let table: &[(&str, &str, f64)] = &[
        ("pristine", "0", 5.0),
        ("crf", "26", 4.4),
        ("crf", "32", 3.7),
        ("crf", "38", 2.9),
        ("crf", "44", 2.1),
        ("crf", "51", 1.3),
        ("scale", "2", 3.8),
        ("scale", "3", 3.2),
        ("scale", "4", 2.6),
        ("scale", "6", 1.9),
        ("blur", "1", 4.1),
        ("blur", "2", 3.0),
        ("blur", "4", 1.9),
        ("noise", "8", 4.2),
        ("noise", "20", 3.1),
        ("noise", "40", 2.0),
        ("drop", "3", 3.6),
        ("drop", "6", 2.6),
    ];
    table.iter().find(|(d, l, _)| *d == distortion && *l == level).map(|t| t.2)
}

/// PSNR (dB) mapped to the 1-5 target: 18 dB or less is 1, 48 dB or more is 5, linear between.
pub(crate) fn psnr_to_mos(psnr: f64) -> f64 {
    1.0 + 4.0 * ((psnr - 18.0) / 30.0).clamp(0.0, 1.0)
}

/// The FFmpeg test sources used as contents, by family: (family, lavfi
/// graphs of its scenes before scaling to the clip size; `{s}` is the size,
/// `{q}` a quarter of it, `{r}` the rate). Scene 1 of a family is named after
/// the family, scene `i` after it `family-i`; `--scenes N` takes the first N
/// of each family. Scenes of one family differ in their parameters (region of
/// the Mandelbrot set, automaton rule and seed, pattern, colours, motion) and
/// share the generator's look, so a split can hold out whole families too
/// (`--group-column family`).
/// The cellular patterns are made at a quarter of the size and enlarged 4x
/// with nearest-neighbour: at one pixel per cell any blur or scaling erases
/// them entirely. (A smooth `gradients` content was dropped: blurring or
/// scaling it changes nothing visible.)
const LAVFI: &[(&str, &[&str])] = &[
    (
        "testsrc2",
        &[
            "testsrc2=size={s}:rate={r}",
            "testsrc=size={s}:rate={r}",
            "testsrc2=size={s}:rate={r},hue=h=120,hflip,rotate=0.15:c=gray",
            "testsrc=size={q}:rate={r},scale=iw*4:ih*4:flags=neighbor,vflip",
        ],
    ),
    (
        "smptebars_scroll",
        &[
            "smptehdbars=size={s}:rate={r},scroll=h=0.004:v=0.002",
            "pal75bars=size={s}:rate={r},rotate=0.3:c=gray,scroll=h=0.01",
            "smptebars=size={s}:rate={r},drawgrid=w=20:h=20:t=2:c=white,scroll=v=0.01",
            "colorspectrum=size={s}:rate={r}:type=all,drawgrid=w=16:h=16:t=1:c=black,scroll=h=0.005",
        ],
    ),
    (
        "mandelbrot",
        &[
            "mandelbrot=size={s}:rate={r}",
            "mandelbrot=size={s}:rate={r}:start_x=0.275:start_y=0.006:start_scale=0.02:end_scale=0.01",
            "mandelbrot=size={s}:rate={r}:start_x=-0.088:start_y=0.654:start_scale=0.05:end_scale=0.02:\
             outer=normalized_iteration_count",
            "mandelbrot=size={s}:rate={r}:start_x=-1.768:start_y=0.001:start_scale=0.02:end_scale=0.01:inner=period",
        ],
    ),
    (
        "sierpinski",
        &[
            "sierpinski=size={s}:rate={r}:type=triangle:jump=20",
            "sierpinski=size={s}:rate={r}:type=carpet:jump=10:seed=3",
            "sierpinski=size={q}:rate={r}:type=carpet:jump=5:seed=7,scale=iw*4:ih*4:flags=neighbor",
            "sierpinski=size={s}:rate={r}:type=triangle:jump=50:seed=11,lutrgb=g=val*0.6:b=255-val",
        ],
    ),
    (
        "life",
        &[
            "life=size={q}:rate={r}:mold=10:ratio=0.2:death_color=#C83232:life_color=#00ff00,\
             scale=iw*4:ih*4:flags=neighbor",
            "life=size={q}:rate={r}:rule=B36/S23:seed=2:ratio=0.4:mold=20:life_color=#ffff00:death_color=#0000a0,\
             scale=iw*4:ih*4:flags=neighbor",
            "life=size={q}:rate={r}:rule=B3678/S34678:seed=3:ratio=0.5:life_color=#ffffff:death_color=#303030,\
             scale=iw*4:ih*4:flags=neighbor",
            "life=size={s}:rate={r}:rule=B35678/S5678:seed=4:ratio=0.5:mold=5:life_color=#ff8000:death_color=#004040",
        ],
    ),
    (
        "cellauto",
        &[
            "cellauto=size={q}:rate={r}:rule=110,scale=iw*4:ih*4:flags=neighbor",
            "cellauto=size={q}:rate={r}:rule=30:random_fill_ratio=0.5:seed=5,scale=iw*4:ih*4:flags=neighbor,\
             lutrgb=r=val*0.8:b=255-val",
            "cellauto=size={q}:rate={r}:rule=90:seed=6,scale=iw*4:ih*4:flags=neighbor,hue=h=60:s=3",
            "cellauto=size={s}:rate={r}:rule=150:random_fill_ratio=0.3:seed=8,negate",
        ],
    ),
];

/// The test-source scenes to make: (content name, family, lavfi graph).
fn lavfi_scenes(scenes: usize) -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    for (family, graphs) in LAVFI {
        for (i, graph) in graphs.iter().take(scenes).enumerate() {
            let name = if i == 0 { (*family).to_owned() } else { format!("{family}-{}", i + 1) };
            out.push((name, *family, *graph));
        }
    }
    out
}

/// A scene's lavfi graph with its size, quarter size and rate filled in.
fn fill_graph(graph: &str, size: &str, quarter: &str, fps: u32) -> String {
    graph.replace("{s}", size).replace("{q}", quarter).replace("{r}", &fps.to_string())
}

/// The content a source video belongs to: a name that starts with a test
/// source's name and `_` (the fixtures `testsrc2_noise`, `testsrc2_static`)
/// is that test source in another version, so a split must never train on
/// one version and test on another.
fn content_of(name: &str, lavfi: bool) -> String {
    if lavfi {
        for (content, _) in LAVFI {
            if name.strip_prefix(content).is_some_and(|rest| rest.starts_with('_')) {
                return (*content).to_owned();
            }
        }
    }
    name.to_owned()
}

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
fn ffmpeg(bin: &Path, args: &[String], what: &str) -> Result<String> {
    let out =
        Command::new(bin).args(["-hide_banner", "-nostdin", "-y"]).args(args).output().map_err(|e| {
            Error::invalid(format!("running {} (is FFmpeg installed? --ffmpeg PATH): {e}", bin.display()))
        })?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(Error::invalid(format!("ffmpeg failed making {what}: {last}")));
    }
    Ok(err)
}

/// PSNR (average over frames, dB) and SSIM (All) of `dist` against `reference`.
fn quality(bin: &Path, dist: &Path, reference: &Path) -> Result<(f64, f64)> {
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
    let psnr =
        find("average:").ok_or_else(|| Error::invalid(format!("no PSNR in FFmpeg's output for {}", dist.display())))?;
    let ssim =
        find("All:").ok_or_else(|| Error::invalid(format!("no SSIM in FFmpeg's output for {}", dist.display())))?;
    Ok((psnr, ssim))
}

/// How to make a dataset. With the `clap` feature these are the command
/// line's `synth-dataset` flags, and these comments its help.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct SynthOptions {
    /// Folder for the clips and `videos.csv`.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub out: PathBuf,
    /// Source videos (each one content), besides the FFmpeg test sources
    /// (e.g. tests/data/videos/*.mp4 of a checkout).
    #[cfg_attr(feature = "clap", arg(long, value_name = "VIDEO", num_args = 1..))]
    pub sources: Vec<PathBuf>,
    /// Leave out the FFmpeg test sources (testsrc2, smptehdbars, ...).
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_lavfi: bool,
    /// Scenes per FFmpeg test-source family (1 to 4): more scenes, more
    /// distinct contents to train on and to hold out.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1, value_name = "N"))]
    pub scenes: u8,
    /// Clip length in seconds.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3.0, value_name = "S"))]
    pub duration: f64,
    /// Frame size of every clip, WxH.
    #[cfg_attr(feature = "clap", arg(long, default_value = "320x240", value_name = "WxH"))]
    pub size: String,
    /// Frame rate of every clip.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 25, value_name = "FPS"))]
    pub fps: u32,
    /// The FFmpeg program.
    #[cfg_attr(feature = "clap", arg(long, default_value = "ffmpeg", value_name = "PATH"))]
    pub ffmpeg: PathBuf,
    /// How the quality target is made: level (a fixed monotone map of
    /// distortion and level, the same for every content) or psnr (the PSNR
    /// against the source, mapped to 1-5).
    #[cfg_attr(feature = "clap", arg(long, default_value = "level", value_name = "level|psnr"))]
    pub target: Target,
}

/// What a dataset run made.
#[derive(Clone, Debug)]
pub struct SynthSummary {
    /// `videos.csv`.
    pub list: PathBuf,
    /// The contents' names.
    pub sources: Vec<String>,
    /// Clips made.
    pub clips: usize,
    /// Wall time.
    pub seconds: f64,
}

/// Makes the dataset: a reference of each content, every distortion of
/// it, and `videos.csv` (path, mos, content, distortion, level, psnr,
/// ssim, family).
pub fn make_dataset(a: &SynthOptions) -> Result<SynthSummary> {
    let t0 = Instant::now();
    let (w, h) = a
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w >= 16 && h >= 16 && w % 2 == 0 && h % 2 == 0)
        .ok_or_else(|| Error::invalid(format!("--size {:?}: expected WxH with even sides of at least 16", a.size)))?;
    if !(a.duration > 0.0 && a.duration <= 600.0) || a.fps == 0 {
        return Err(Error::invalid("--duration must be in (0, 600] seconds and --fps positive"));
    }
    if !(1..=4).contains(&a.scenes) {
        return Err(Error::invalid(format!("--scenes {}: give 1 to 4", a.scenes)));
    }
    let sources = a.sources.clone();
    // (content, family, input args)
    let mut contents: Vec<(String, String, Vec<String>)> = Vec::new();
    // (source name, content it belongs to) of the given videos.
    let mut sources_seen: Vec<(String, String)> = Vec::new();
    if !a.no_lavfi {
        let quarter = format!("{}x{}", (w / 4).max(4), (h / 4).max(4));
        for (name, family, graph) in lavfi_scenes(usize::from(a.scenes)) {
            let g = fill_graph(graph, &a.size, &quarter, a.fps);
            contents.push((name, family.to_owned(), vec!["-f".into(), "lavfi".into(), "-i".into(), g]));
        }
    }
    for s in &sources {
        if !s.is_file() {
            return Err(Error::invalid(format!("{}: no such source video", s.display())));
        }
        let stem = s.file_stem().map(|x| x.to_string_lossy().into_owned()).unwrap_or_else(|| "source".into());
        let name: String = stem.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let content = content_of(&name, !a.no_lavfi);
        sources_seen.push((name.clone(), content.clone()));
        let input = vec!["-stream_loop".into(), "-1".into(), "-i".into(), s.display().to_string()];
        contents.push((name, content, input));
    }
    if contents.is_empty() {
        return Err(Error::invalid("no sources: give --sources or drop --no-lavfi"));
    }
    let ref_dir = a.out.join("reference");
    std::fs::create_dir_all(&ref_dir).map_err(Error::io(&ref_dir))?;
    let csv_err = |e: csv::Error| Error::invalid(format!("videos.csv: {e}"));
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["path", "mos", "content", "distortion", "level", "psnr", "ssim", "family"]).map_err(csv_err)?;
    let dur = format!("{}", a.duration);
    let base_filter = format!("scale={w}:{h}:flags=bicubic,fps={},format=yuv420p", a.fps);
    let mut clips = 0usize;
    for (source, family, input) in &contents {
        let content = sources_seen.iter().find(|(s, _)| s == source).map_or_else(|| source.clone(), |(_, c)| c.clone());
        let reference = ref_dir.join(format!("{source}.mkv"));
        let mut args = input.clone();
        args.extend(["-t", dur.as_str(), "-vf", base_filter.as_str(), "-an", "-c:v", "ffv1"].map(String::from));
        args.push(reference.display().to_string());
        ffmpeg(&a.ffmpeg, &args, &reference.display().to_string())?;
        for (dist, level, filter, crf) in distortions(w, h, a.fps) {
            let file = format!("{source}__{dist}_{level}.mp4");
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
            let mos = match a.target {
                Target::Level => {
                    level_mos(dist, &level).ok_or_else(|| Error::invalid(format!("no target for {dist} {level}")))?
                }
                Target::Psnr => psnr_to_mos(psnr),
            };
            csv.write_record([
                file,
                format!("{mos:.4}"),
                content.clone(),
                dist.to_owned(),
                level,
                format!("{psnr:.3}"),
                format!("{ssim:.5}"),
                family.clone(),
            ])
            .map_err(csv_err)?;
            clips += 1;
        }
    }
    let list = a.out.join("videos.csv");
    crate::files::write_file(&list, &csv.into_inner().map_err(|e| Error::invalid(e.to_string()))?)?;
    Ok(SynthSummary {
        list,
        sources: contents.into_iter().map(|c| c.0).collect(),
        clips,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_targets_fall_with_every_distortion_and_cover_each_level() {
        for (dist, level, _, _) in distortions(320, 240, 25) {
            let mos = level_mos(dist, &level);
            assert!(mos.is_some_and(|m| (1.0..=5.0).contains(&m)), "{dist} {level}: {mos:?}");
        }
        // Stronger is worse, within each distortion, and nothing beats pristine.
        let mut last: Option<(&str, f64)> = None;
        for (dist, level, _, _) in distortions(320, 240, 25) {
            let mos = level_mos(dist, &level).unwrap_or(f64::NAN);
            if let Some((d, m)) = last {
                if d == dist {
                    assert!(mos < m, "{dist} {level}: {mos} not below {m}");
                }
            }
            assert!(mos <= 5.0);
            last = Some((dist, mos));
        }
        assert_eq!(level_mos("blur", "9"), None);
    }

    #[test]
    fn scenes_are_distinct_and_named_after_their_family() {
        let all = lavfi_scenes(4);
        assert_eq!(all.len(), 4 * LAVFI.len());
        let names: std::collections::BTreeSet<&str> = all.iter().map(|s| s.0.as_str()).collect();
        let graphs: std::collections::BTreeSet<&str> = all.iter().map(|s| s.2).collect();
        assert_eq!((names.len(), graphs.len()), (all.len(), all.len()), "a scene name or graph repeats");
        for (name, family, _) in &all {
            assert!(name == family || name.starts_with(&format!("{family}-")), "{name} in {family}");
        }
        let first: Vec<String> = lavfi_scenes(1).into_iter().map(|s| s.0).collect();
        assert_eq!(first, LAVFI.iter().map(|f| f.0.to_owned()).collect::<Vec<_>>());
    }

    #[test]
    fn every_scene_graph_runs_in_ffmpeg() {
        // A typo in a graph would only show when a dataset is made.
        for (name, _, graph) in lavfi_scenes(4) {
            let g = fill_graph(graph, "64x48", "16x12", 25);
            let out = std::process::Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", &g, "-frames:v", "2", "-f", "null", "-"])
                .output()
                .expect("ffmpeg runs");
            assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    #[test]
    fn versions_of_a_test_source_share_its_content() {
        assert_eq!(content_of("testsrc2_noise", true), "testsrc2");
        assert_eq!(content_of("testsrc2_static", true), "testsrc2");
        assert_eq!(content_of("carphone_pristine", true), "carphone_pristine");
        assert_eq!(content_of("testsrc2x", true), "testsrc2x");
        // Without the test sources there is nothing to share.
        assert_eq!(content_of("testsrc2_noise", false), "testsrc2_noise");
    }
}
