//! Inputs other than a local file path ([`MediaInput`]): bytes in memory, an
//! open file read through `Read + Seek`, a URL. The same bytes must give the
//! same frames, byte for byte, whichever way they arrive.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use crate::common::quiet;
use relaxvqa_fixtures::fixture;
use relaxvqa_video::{
    open_input, DecodeOptions, DecodeReport, FrameRate, FrameSource, MediaInput, RawVideo, RgbImage, SampledFrames,
    VideoError,
};

/// Every frame as RGB, the report, and the info's path.
fn decode_all(input: MediaInput, options: &DecodeOptions) -> (Vec<RgbImage>, DecodeReport, String) {
    let mut dec = open_input(input, options).unwrap_or_else(|e| panic!("{e}"));
    let mut frames = Vec::new();
    while let Some(f) = dec.next_frame(true).unwrap_or_else(|e| panic!("{e}")) {
        frames.push(f.rgb.expect("rgb was asked for"));
    }
    (frames, dec.report(), dec.info().path.display().to_string())
}

fn fixture_videos() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = relaxvqa_fixtures::VIDEOS.iter().map(|s| relaxvqa_fixtures::video(s)).collect();
    v.push(fixture("videos/damaged_mid.mp4"));
    v.push(fixture("videos/size_change.ts"));
    v
}

#[test]
fn bytes_readers_and_urls_give_the_frames_of_the_path() {
    quiet();
    // One decoder thread: FFmpeg's frame-threaded concealment of
    // damaged_mid.mp4's bad packet differs from run to run (207-296 bytes
    // of one frame in 2 runs of 6), whatever the input; this test is about
    // the input, so it decodes deterministically.
    let options = DecodeOptions { threads: 1, ..Default::default() };
    for path in fixture_videos() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (want, want_report, _) = decode_all(MediaInput::File(path.clone()), &options);
        let bytes = std::fs::read(&path).unwrap();
        let inputs = [
            ("bytes", MediaInput::bytes(name.clone(), bytes)),
            ("file reader", MediaInput::reader(name.clone(), std::fs::File::open(&path).unwrap())),
            ("url", MediaInput::Url(format!("file:{}", path.display()))),
        ];
        for (how, input) in inputs {
            let (got, report, shown) = decode_all(input, &options);
            let differing: usize = got
                .iter()
                .zip(&want)
                .map(|(a, b)| a.as_bytes().iter().zip(b.as_bytes()).filter(|(x, y)| x != y).count())
                .sum();
            println!("{name} as {how}: {} frames (path: {}), {differing} differing bytes", got.len(), want.len());
            assert_eq!(got.len(), want.len(), "{name} as {how}");
            assert_eq!(differing, 0, "{name} as {how}");
            assert_eq!(report, want_report, "{name} as {how}");
            if how != "url" {
                assert_eq!(shown, name);
            }
        }
    }
}

#[test]
fn raw_video_works_from_bytes() {
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.yuv");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25"])
        .args(["-frames:v", "6", "-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&path)
        .status()
        .expect("cannot run the ffmpeg CLI");
    assert!(status.success());
    let raw = RawVideo { width: 64, height: 48, pixel_format: "yuv420p".to_owned(), frame_rate: FrameRate::new(25, 1) };
    let options = DecodeOptions { threads: 1, raw: Some(raw), ..Default::default() };
    let (want, _, _) = decode_all(MediaInput::File(path.clone()), &options);
    let mut bytes = std::fs::read(&path).unwrap();
    let (got, report, _) = decode_all(MediaInput::bytes("clip.yuv", bytes.clone()), &options);
    assert_eq!((want.len(), &got), (6, &want));
    assert!(report.is_clean());
    // A partial last frame is ignored from bytes too.
    bytes.truncate(bytes.len() - 100);
    let (got, report, _) = decode_all(MediaInput::bytes("clip.yuv", bytes), &options);
    println!("raw from bytes: 6 frames; cut by 100 bytes: {} frames, {:?}", got.len(), report.warnings());
    assert_eq!(got, want[..5]);
    assert!(report.partial_frame_dropped);
}

#[test]
fn empty_and_random_bytes_are_not_media() {
    quiet();
    let random: Vec<u8> = (0u64..50_000).map(|i| (i.wrapping_mul(6_364_136_223_846_793_005) >> 56) as u8).collect();
    for (name, data) in [("empty upload", Vec::new()), ("random.mp4", random.clone()), ("random", random)] {
        let err = open_input(MediaInput::bytes(name, data), &DecodeOptions::default()).unwrap_err();
        let msg = err.to_string();
        println!("{msg}");
        assert!(matches!(err, VideoError::NotMedia { .. }), "{err:?}");
        assert!(msg.starts_with(name) && !msg.contains('\n'));
    }
    // An empty raw upload opens (raw video has no header) but has no frame.
    let raw = RawVideo { width: 64, height: 48, pixel_format: "yuv420p".to_owned(), frame_rate: FrameRate::new(25, 1) };
    let dec =
        open_input(MediaInput::bytes("empty.yuv", Vec::new()), &DecodeOptions { raw: Some(raw), ..Default::default() })
            .unwrap_or_else(|e| panic!("{e}"));
    let err = SampledFrames::new(dec).unwrap().find_map(Result::err).expect("an error");
    println!("{err}");
    assert!(matches!(err, VideoError::NoFrames { .. }), "{err:?}");
}

/// A reader that fails after `limit` bytes, as a dropped upload would.
struct Failing {
    inner: Cursor<Vec<u8>>,
    limit: u64,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.limit.saturating_sub(self.inner.position());
        if left == 0 {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.inner.read(&mut buf[..n])
    }
}

impl Seek for Failing {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn a_reader_that_fails_part_way_ends_early() {
    quiet();
    // faststart (index first), so that the reader fails in the frame data.
    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("fast.mp4");
    let source = fixture("videos/testsrc2_noise.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-i"])
        .arg(&source)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&fast)
        .status()
        .expect("cannot run the ffmpeg CLI");
    assert!(status.success());
    let bytes = std::fs::read(Path::new(&fast)).unwrap();
    let limit = bytes.len() as u64 / 2;
    let reader = Failing { inner: Cursor::new(bytes), limit };
    let (frames, report, _) = decode_all(MediaInput::reader("upload.mp4", reader), &DecodeOptions::default());
    println!("reader failing at {limit} bytes: {} frames, {:?}", frames.len(), report.warnings());
    assert!(!frames.is_empty() && frames.len() < 48);
    assert!(report.ended_early, "{report:?}");
}

#[test]
fn bytes_never_make_ffmpeg_open_other_files() {
    // An HLS playlist naming a local file: opened as a file, FFmpeg reads the
    // segment (5 frames); as uploaded bytes it may not open anything.
    quiet();
    let dir = tempfile::tempdir().unwrap();
    let segment = dir.path().join("seg.ts");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10"])
        .args(["-frames:v", "5", "-c:v", "libx264"])
        .arg(&segment)
        .status()
        .expect("cannot run the ffmpeg CLI");
    assert!(status.success());
    let playlist = format!("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.5,\n{}\n#EXT-X-ENDLIST\n", segment.display());
    let list = dir.path().join("list.m3u8");
    std::fs::write(&list, &playlist).unwrap();
    let (frames, _, _) = decode_all(MediaInput::File(list), &DecodeOptions::default());
    assert_eq!(frames.len(), 5);
    let result = open_input(MediaInput::bytes("list.m3u8", playlist.into_bytes()), &DecodeOptions::default())
        .and_then(|dec| SampledFrames::new(dec)?.find_map(Result::err).map_or(Ok(()), Err));
    let err = result.expect_err("the playlist's segment was opened");
    println!("playlist as bytes: {err}");
}
