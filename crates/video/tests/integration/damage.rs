//! The spec's decoding rules for streams that are not clean (section 1):
//! a frame size that changes mid-stream, damaged packets, files cut short
//! and raw files with a partial last frame. Each is compared with the FFmpeg
//! 5.1 CLI (frame counts, and bytes where a reference exists: tolerance 0).

use std::path::Path;
use std::process::Command;

use crate::common::{ffmpeg, quiet, sample_all};
use relaxvqa_fixtures::{fixture, TensorFile};
use relaxvqa_video::{
    open, open_raw, sampled_frames, FrameRate, FrameSource, RawVideo, SampledFrames, SizeChange, VideoError,
};

/// How many frames the CLI decodes (`ffprobe -count_frames`), and how many
/// it writes with `ffmpeg -i FILE -f null -` (the frames the pipeline saw).
fn cli_counts(path: &Path, input_args: &[&str]) -> (u64, u64) {
    let mut probe = Command::new("ffprobe");
    probe.args(["-v", "quiet", "-count_frames", "-select_streams", "v:0"]);
    probe.args(input_args);
    probe.args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"]).arg(path);
    let out = probe.output().unwrap_or_else(|e| panic!("cannot run ffprobe: {e}"));
    let probed = String::from_utf8_lossy(&out.stdout).trim().trim_end_matches(',').parse().unwrap_or(0);
    let mut null = Command::new("ffmpeg");
    null.args(["-hide_banner", "-nostdin", "-v", "error", "-stats"]).args(input_args).arg("-i").arg(path);
    null.args(["-fps_mode", "passthrough", "-f", "null", "-"]);
    let out = null.output().unwrap_or_else(|e| panic!("cannot run ffmpeg: {e}"));
    let stats = String::from_utf8_lossy(&out.stderr);
    let written = stats
        .rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in ffmpeg's output: {stats}"));
    (probed, written)
}

/// Decodes every frame without conversion: (frames, report).
fn count(mut dec: impl FrameSource) -> (u64, relaxvqa_video::DecodeReport) {
    let mut n = 0;
    while let Some(f) = dec.next_frame(false).unwrap_or_else(|e| panic!("{e}")) {
        assert_eq!(f.number, n);
        n += 1;
    }
    (n, dec.report())
}

fn differing(a: &[u8], b: &[u8]) -> (usize, u8) {
    let n = a.iter().zip(b).filter(|(x, y)| x != y).count();
    (n, a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0))
}

#[test]
fn size_change_matches_the_cli_reference_bit_for_bit() {
    quiet();
    let path = fixture("videos/size_change.ts");
    let reference = TensorFile::open(&fixture("reference/size_change_frames.safetensors"));
    let frames = reference.get("frames");
    assert_eq!(frames.shape, vec![88, 240, 320, 3]);
    let expected = frames.u8();
    let frame_len = 240 * 320 * 3;
    let mut dec = open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut n = 0usize;
    let (mut total_differing, mut worst) = (0usize, 0u8);
    while let Some(f) = dec.next_frame(true).unwrap_or_else(|e| panic!("{e}")) {
        assert_eq!(f.number, n as u64);
        let rgb = f.rgb.expect("rgb was asked for");
        assert_eq!((rgb.width(), rgb.height()), (320, 240), "frame {n}");
        let want = expected.get(n * frame_len..(n + 1) * frame_len).unwrap_or_else(|| panic!("frame {n}: too many"));
        let (d, m) = differing(rgb.as_bytes(), want);
        if d > 0 {
            println!("  frame {n}: {d} bytes differ, max abs diff {m}");
        }
        total_differing += d;
        worst = worst.max(m);
        n += 1;
    }
    let report = dec.report();
    println!("size_change.ts: {n} frames, {total_differing} differing bytes, max abs diff {worst}; {report:?}");
    for w in report.warnings() {
        println!("  warning: {w}");
    }
    assert_eq!(n, 88);
    assert_eq!((total_differing, worst), (0, 0));
    assert_eq!(report.size_change, Some(SizeChange { first: (320, 240), other: (640, 480), at_frame: 13 }));
    assert_eq!((report.concealed_errors, report.ended_early, report.partial_frame_dropped), (0, false, false));

    // Sampled: frame numbers stay global (k = 12: 0, 12, 24, ...; the pair
    // (12, 13) straddles the change).
    let mut it = sampled_frames(&path).unwrap();
    let numbers: Vec<u64> = it.by_ref().map(|s| s.unwrap().frame_number).collect();
    assert_eq!(numbers, vec![0, 12, 24, 36, 48, 60, 72, 84]);
    assert_eq!((it.frames_decoded(), it.pair_count()), (88, 8));
    assert!(it.report().size_change.is_some());
}

#[test]
fn damaged_mid_decodes_74_frames_as_the_cli_does() {
    quiet();
    let path = fixture("videos/damaged_mid.mp4");
    let (cli_probe, cli_written) = cli_counts(&path, &[]);
    let (n, report) = count(open(&path).unwrap());
    println!(
        "damaged_mid.mp4: {n} frames (ffprobe -count_frames {cli_probe}, ffmpeg -f null {cli_written}); {report:?}"
    );
    for w in report.warnings() {
        println!("  warning: {w}");
    }
    assert_eq!(n, 74);
    assert_eq!(n, cli_written);
    assert!(report.concealed_errors >= 1, "{report:?}");
    assert!(!report.ended_early && !report.partial_frame_dropped && report.size_change.is_none());

    // The sampled frames and their successors against the authors' pipeline.
    let reference = TensorFile::reference("damaged_mid");
    let mut it = sampled_frames(&path).unwrap();
    let mut compared = 0;
    for s in it.by_ref() {
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        let mut check = |name: String, rgb: &relaxvqa_video::RgbImage| {
            let t = reference.get(&name);
            assert_eq!(t.shape, vec![rgb.height(), rgb.width(), 3], "{name}");
            let (d, m) = differing(rgb.as_bytes(), &t.u8());
            println!("  {name}: {d} bytes differ, max abs diff {m}");
            assert_eq!(d, 0, "{name}");
            compared += 1;
        };
        check(format!("frame.{}.rgb", s.index), &s.rgb);
        if let Some(next) = &s.next_rgb {
            check(format!("pair.{}.next_rgb", s.index), next);
        }
    }
    assert_eq!(it.sampling().interval() as usize, reference.count("video.frame_interval"));
    assert_eq!(it.sampled_count(), reference.count("video.sampled_frame_count"));
    assert_eq!(it.pair_count(), reference.count("video.pair_count"));
    println!("damaged_mid.mp4: {compared} reference frames identical");
}

#[test]
fn a_file_cut_short_ends_at_its_last_decoded_frame() {
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fast = d.join("fast.mp4");
    let source = fixture("videos/testsrc2_noise.mp4");
    ffmpeg(&["-i", source.to_str().unwrap(), "-c", "copy", "-movflags", "+faststart", fast.to_str().unwrap()]);
    let bytes = std::fs::read(&fast).unwrap();
    for percent in [50usize, 30, 75, 95] {
        let cut = d.join(format!("cut{percent}.mp4"));
        std::fs::write(&cut, &bytes[..bytes.len() * percent / 100]).unwrap();
        let (cli_probe, cli_written) = cli_counts(&cut, &[]);
        let (n, report) = count(open(&cut).unwrap_or_else(|e| panic!("{e}")));
        println!(
            "cut at {percent}%: {n} frames (ffprobe -count_frames {cli_probe}, ffmpeg -f null {cli_written}); {:?}",
            report.warnings()
        );
        assert_eq!(n, cli_written, "cut at {percent}%");
        assert!(n > 0 && n < 48);
        assert!(report.ended_early, "{report:?}");
        let counts = sample_all(sampled_frames(&cut).unwrap()).unwrap();
        assert_eq!(counts.0, n);
    }
}

#[test]
fn a_partial_last_raw_frame_is_ignored() {
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let whole = d.join("whole.yuv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=25",
        "-frames:v",
        "10",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        whole.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&whole).unwrap();
    let frame = 64 * 48 * 3 / 2;
    assert_eq!(bytes.len(), 10 * frame);
    let raw =
        || RawVideo { width: 64, height: 48, pixel_format: "yuv420p".to_owned(), frame_rate: FrameRate::new(25, 1) };
    let args = ["-f", "rawvideo", "-video_size", "64x48", "-pixel_format", "yuv420p", "-framerate", "25"];
    let mut all = Vec::new();
    {
        let mut dec = open_raw(&whole, raw()).unwrap();
        while let Some(f) = dec.next_frame(true).unwrap() {
            all.push(f.rgb.unwrap());
        }
        assert!(dec.report().is_clean());
    }
    for (cut, whole_frames) in [(7 * frame + 1000, 7u64), (frame - 1, 0), (9 * frame + 1, 9)] {
        let part = d.join(format!("part{cut}.yuv"));
        std::fs::write(&part, &bytes[..cut]).unwrap();
        let (_, cli_written) = cli_counts(&part, &args);
        let mut dec = open_raw(&part, raw()).unwrap();
        let mut n = 0;
        while let Some(f) = dec.next_frame(true).unwrap_or_else(|e| panic!("{e}")) {
            assert_eq!(f.rgb.as_ref(), Some(&all[n as usize]), "frame {n}");
            n += 1;
        }
        let report = dec.report();
        println!("{cut} bytes: {n} whole frames (ffmpeg -f null {cli_written}); {:?}", report.warnings());
        assert_eq!((n, n), (whole_frames, cli_written));
        assert!(report.partial_frame_dropped && report.concealed_errors == 0, "{report:?}");
        if whole_frames == 0 {
            // No whole frame: still an error, saying why.
            let err = sample_all(SampledFrames::new(open_raw(&part, raw()).unwrap()).unwrap()).unwrap_err();
            println!("  {err}");
            assert!(err.to_string().contains(part.to_str().unwrap()));
            assert!(matches!(err, VideoError::Damaged { frames: 0, .. }), "{err:?}");
        }
    }
}

#[test]
fn empty_and_garbage_files_still_fail_clearly() {
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = d.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let garbage = d.join("garbage.ts");
    let bytes: Vec<u8> = (0u32..200_000).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(&garbage, bytes).unwrap();
    for path in [empty, garbage] {
        let err = open(&path).and_then(|dec| sample_all(SampledFrames::new(dec)?)).unwrap_err();
        let msg = err.to_string();
        println!("{msg}");
        assert!(msg.contains(path.to_str().unwrap()) && !msg.contains('\n'));
    }
}

#[test]
fn a_rotated_stream_that_changes_size_matches_the_cli() {
    // The CLI turns the new-size frame, then scales it to the first
    // (rotated) size: transpose -> scale -> format.
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let rot = dir.path().join("rot90.mp4");
    let source = fixture("videos/size_change.ts");
    ffmpeg(&["-i", source.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90", rot.to_str().unwrap()]);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&rot)
        .args(["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("cannot run the ffmpeg CLI");
    assert!(out.status.success());
    let cli = out.stdout;
    let mut dec = open(&rot).unwrap_or_else(|e| panic!("{e}"));
    let mut ours = Vec::new();
    let mut n = 0;
    while let Some(f) = dec.next_frame(true).unwrap_or_else(|e| panic!("{e}")) {
        let rgb = f.rgb.unwrap();
        assert_eq!((rgb.width(), rgb.height()), (240, 320));
        ours.extend_from_slice(rgb.as_bytes());
        n += 1;
    }
    let (d, m) = differing(&ours, &cli);
    println!("size_change.ts rotated 90: {n} frames, vs CLI: {d} differing bytes, max abs diff {m}");
    assert_eq!((ours.len(), d), (cli.len(), 0));
    assert!(dec.report().size_change.is_some());
}

#[test]
fn a_change_of_size_and_bit_depth_keeps_the_first_format() {
    // 8-bit 64x48, then 10-bit 96x64: the CLI keeps its first output format
    // (rgb24) and size, converting the 10-bit frames straight to them.
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join("a.ts");
    let b = d.join("b.ts");
    let noise = "noise=alls=20:allf=t";
    for (path, size, pix_fmt) in [(&a, "64x48", "yuv420p"), (&b, "96x64", "yuv420p10le")] {
        let source = format!("testsrc2=size={size}:rate=10,{noise}");
        let out = path.to_str().unwrap();
        ffmpeg(&["-f", "lavfi", "-i", &source, "-frames:v", "5", "-c:v", "libx264", "-pix_fmt", pix_fmt, out]);
    }
    let list = d.join("list.txt");
    std::fs::write(&list, format!("file '{}'\nfile '{}'\n", a.display(), b.display())).unwrap();
    let joined = d.join("joined.ts");
    ffmpeg(&["-f", "concat", "-safe", "0", "-i", list.to_str().unwrap(), "-c", "copy", joined.to_str().unwrap()]);
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&joined)
        .args(["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("cannot run the ffmpeg CLI");
    assert!(out.status.success());
    let mut dec = open(&joined).unwrap_or_else(|e| panic!("{e}"));
    let mut ours = Vec::new();
    while let Some(f) = dec.next_frame(true).unwrap_or_else(|e| panic!("{e}")) {
        let rgb = f.rgb.unwrap();
        assert_eq!((rgb.width(), rgb.height()), (64, 48));
        ours.extend_from_slice(rgb.as_bytes());
    }
    let (n, m) = differing(&ours, &out.stdout);
    println!(
        "8-bit 64x48 then 10-bit 96x64: {} frames, vs CLI: {n} differing bytes, max abs diff {m}; {:?}",
        ours.len() / (64 * 48 * 3),
        dec.report().warnings()
    );
    assert_eq!((ours.len(), n), (out.stdout.len(), 0));
    assert_eq!(dec.report().size_change.map(|c| c.other), Some((96, 64)));
}
