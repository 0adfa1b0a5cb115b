//! The input policy against an attacker (docs/security.md): playlists,
//! concat lists and manifests that name a private clip of the server by
//! `file:` URL, path or a 127.0.0.1 URL. Opened as trusted input (a user's
//! own file) FFmpeg follows them, which is what makes them attacks; opened
//! as untrusted input, from a path or from bytes, every one is refused
//! before FFmpeg opens anything, and the canary HTTP server gets no
//! request. Real uploads in the accepted containers decode to the same
//! frames either way.

use std::path::Path;

use relaxvqa_fixtures::attack::{containers, corpus, private_clip, Canary};
use relaxvqa_video::{open_input, DecodeOptions, FrameSource, MediaInput, RgbImage, Trust, VideoError};

fn options(trust: Trust) -> DecodeOptions {
    DecodeOptions { threads: 1, trust, ..Default::default() }
}

/// Every frame of `input`, as RGB.
fn frames(input: MediaInput, trust: Trust) -> Result<Vec<RgbImage>, VideoError> {
    let mut dec = open_input(input, &options(trust))?;
    let mut out = Vec::new();
    while let Some(f) = dec.next_frame(true)? {
        out.extend(f.rgb);
    }
    Ok(out)
}

#[test]
fn playlists_and_manifests_are_refused_from_paths_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    private_clip(dir.path());
    let canary = Canary::start();
    let attacks = corpus(dir.path(), &canary);
    for a in &attacks {
        std::fs::write(dir.path().join(&a.file), &a.bytes).unwrap();
    }

    // The corpus is live: a trusted open of the file: playlist and of the
    // concat list reads the private clip's frames.
    for live in ["hls-file-url", "hls-absolute-path", "ffconcat-relative"] {
        let a = attacks.iter().find(|a| a.name == live).unwrap();
        let got = frames(MediaInput::File(dir.path().join(&a.file)), Trust::Trusted);
        let n = got.as_ref().map(Vec::len).unwrap_or(0);
        println!("{live} opened as trusted input: {n} frames of the private clip");
        assert!(n > 0, "{live}: the attack must work on a trusted open for this test to mean anything: {got:?}");
    }

    for a in &attacks {
        let by_path = frames(MediaInput::File(dir.path().join(&a.file)), Trust::Untrusted);
        let by_bytes = frames(MediaInput::bytes(a.file.clone(), a.bytes.clone()), Trust::Untrusted);
        for (how, got) in [("path", by_path), ("bytes", by_bytes)] {
            let e = match got {
                Ok(f) => panic!("{} as untrusted {how}: opened, {} frames", a.name, f.len()),
                Err(e) => e,
            };
            println!("{} ({how}): {e}", a.name);
            assert!(!e.to_string().contains('\n'));
            // (A bare path after `#EXTM3U` is not even probed as HLS: it
            // fails as "not media".)
            if (a.name.starts_with("hls") && a.name != "hls-bare-path") || a.name.starts_with("ffconcat") {
                assert!(
                    matches!(e, VideoError::Refused { .. })
                        && e.to_string()
                            .contains("playlists and manifests are not accepted: upload the media file itself"),
                    "{} ({how}): {e}",
                    a.name
                );
            }
        }
    }
    assert_eq!(canary.hits(), 0, "no request reached the loopback server");

    // An untrusted input cannot be a URL at all.
    let e = frames(MediaInput::Url(format!("{}secret.ts", canary.url())), Trust::Untrusted).unwrap_err();
    assert!(matches!(e, VideoError::Refused { .. }), "{e}");
    assert_eq!(canary.hits(), 0);
}

#[test]
fn accepted_containers_decode_the_same_frames_trusted_or_not() {
    let dir = tempfile::tempdir().unwrap();
    for path in containers(dir.path()) {
        let trusted = frames(MediaInput::File(path.clone()), Trust::Trusted).unwrap();
        let from_path = frames(MediaInput::File(path.clone()), Trust::Untrusted)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let from_bytes = frames(MediaInput::bytes(name(&path), std::fs::read(&path).unwrap()), Trust::Untrusted)
            .unwrap_or_else(|e| panic!("{} (bytes): {e}", path.display()));
        println!("{}: {} frames", name(&path), trusted.len());
        assert_eq!(trusted.len(), 12, "{}", path.display());
        assert!(trusted == from_path && trusted == from_bytes, "{}: frames differ", path.display());
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The duration and sampled-frame limits hold while decoding, where a
/// container that says nothing (a raw H.264 stream, 60 frames at 2 fps)
/// cannot be checked at open; the probe counts its packets instead and
/// refuses it before any frame is decoded. A trusted open of the same file
/// is held to none of them.
#[test]
fn limits_hold_while_decoding() {
    use relaxvqa_video::{probe, Limit, Limits};
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("thirty_seconds.h264");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=32x32:r=2", "-t", "30", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-f", "h264"])
        .arg(&raw)
        .status()
        .expect("the ffmpeg tool");
    assert!(st.success());
    let decode_all = |limits: Limits, trust: Trust| -> Result<u64, VideoError> {
        let o = DecodeOptions { threads: 1, trust, limits, ..Default::default() };
        let mut dec = open_input(MediaInput::File(raw.clone()), &o)?;
        let mut n = 0;
        while dec.next_frame(false)?.is_some() {
            n += 1;
        }
        Ok(n)
    };
    let duration = Limits { max_duration_s: Some(10.0), ..Limits::untrusted() };
    let e = decode_all(duration.clone(), Trust::Untrusted).unwrap_err();
    println!("duration while decoding: {e}");
    assert!(matches!(e, VideoError::OverLimit { limit: Limit::Duration(_), .. }), "{e:?}");
    let sampled = Limits { max_sampled_frames: Some(5), ..Limits::untrusted() };
    let e = decode_all(sampled.clone(), Trust::Untrusted).unwrap_err();
    println!("sampled frames while decoding: {e}");
    assert!(matches!(e, VideoError::OverLimit { limit: Limit::SampledFrames(5), .. }), "{e:?}");
    assert!(e.to_string().contains("--max-sampled-frames"), "{e}");
    // The probe finds both from the packets alone.
    for limits in [duration.clone(), sampled] {
        let o = DecodeOptions { threads: 1, trust: Trust::Untrusted, limits, ..Default::default() };
        let e = probe(MediaInput::File(raw.clone()), &o).unwrap_err();
        println!("probe: {e}");
        assert!(matches!(e, VideoError::OverLimit { .. }), "{e:?}");
    }
    // Trusted: the whole stream.
    assert_eq!(decode_all(duration, Trust::Trusted).unwrap(), 60);
}

/// FFmpeg's names of what the linked FFmpeg registered: demuxers, decoders
/// and input protocols.
#[cfg(not(feature = "system-ffmpeg"))]
fn registered() -> [std::collections::BTreeSet<String>; 3] {
    use ffmpeg_next::ffi;
    use std::ffi::CStr;
    let name = |p: *const std::ffi::c_char| {
        // SAFETY: FFmpeg's component names are static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    };
    let (mut demuxers, mut decoders, mut protocols) =
        (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    let mut it = std::ptr::null_mut();
    // SAFETY: the iterators take an opaque cursor that starts null and return
    // pointers to FFmpeg's static component tables, or null at the end.
    unsafe {
        while let Some(d) = ffi::av_demuxer_iterate(&mut it).as_ref() {
            let n: String = name(d.name);
            // The configure name is the first of FFmpeg's names.
            demuxers.insert(n.split(',').next().unwrap_or_default().to_owned());
        }
        it = std::ptr::null_mut();
        while let Some(c) = ffi::av_codec_iterate(&mut it).as_ref() {
            if ffi::av_codec_is_decoder(c) != 0 {
                decoders.insert(name(c.name));
            }
        }
        it = std::ptr::null_mut();
        loop {
            let p = ffi::avio_enum_protocols(&mut it, 0);
            if p.is_null() {
                break;
            }
            protocols.insert(name(p));
        }
    }
    [demuxers, decoders, protocols]
}

/// What is not compiled in cannot be reached by a hostile file: the linked
/// FFmpeg (relaxvqa's own, ffmpeg/build.sh) registers exactly the demuxers,
/// decoders and protocols of ffmpeg/components.txt, and none of the usual
/// others (audio, network, devices, other image formats).
#[test]
#[cfg(not(feature = "system-ffmpeg"))]
fn only_the_listed_ffmpeg_components_are_compiled_in() {
    let list =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ffmpeg/components.txt")).unwrap();
    let listed = |kind: &str| -> std::collections::BTreeSet<String> {
        let line = list.lines().find_map(|l| l.strip_prefix(kind).filter(|r| r.starts_with(' '))).unwrap();
        // FFmpeg's runtime names, where they differ from configure's.
        line.split_whitespace()
            .map(|n| match n {
                "mpegps" => "mpeg".to_owned(),
                "msmpeg4v3" => "msmpeg4".to_owned(),
                n => n.strip_prefix("image_").unwrap_or(n).to_owned(),
            })
            .collect()
    };
    let [demuxers, decoders, protocols] = registered();
    println!(
        "demuxers ({}): {demuxers:?}\ndecoders ({}): {decoders:?}\nprotocols: {protocols:?}",
        demuxers.len(),
        decoders.len()
    );
    assert_eq!(demuxers, listed("demuxer"));
    assert_eq!(decoders, listed("decoder"));
    assert_eq!(protocols, listed("protocol"));
    for absent in ["mxf", "wav", "mp3", "dash", "sdp", "rtsp", "nut", "dv", "image_exr_pipe", "exr_pipe"] {
        assert!(!demuxers.contains(absent), "{absent}");
    }
    for absent in ["aac", "mp3", "cinepak", "dvvideo", "exr", "jpeg2000", "h264_cuvid", "av1"] {
        assert!(!decoders.contains(absent), "{absent}");
    }
    for absent in ["http", "https", "tcp", "udp", "rtmp", "data", "concat", "subfile"] {
        assert!(!protocols.contains(absent), "{absent}");
    }
}
