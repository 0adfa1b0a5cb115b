//! The service against an attacker (docs/security.md), through the real
//! HTTP API on 127.0.0.1:
//! - playlists, concat lists and a DASH manifest naming a private clip of
//!   the server, uploaded with either content type and submitted as paths
//!   under the media root: every one refused at submit (415), no job, no
//!   upload left, no request to the canary server, no server path in any
//!   answer;
//! - real uploads in mp4, mov, mkv, webm, avi, ts, flv and 3gp score the
//!   same as the library on the same file;
//! - a second service on a live data dir exits at once and touches nothing;
//! - 50 slow uploads at once leave at most `--max-uploads` partial files,
//!   every other client is refused with 503 and Retry-After, and the
//!   partial files go when their clients do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{args, files_in, TestServer};
use relaxvqa::{Input, Model, ModelOptions, ScoreOptions};
use relaxvqa_fixtures::attack::{containers, corpus, private_clip, Canary};
use relaxvqa_serve::{Config, Server};

/// Fails when `text` names a server folder or file.
fn assert_no_server_paths(text: &str, server: &[&Path]) {
    for p in server {
        let p = p.to_str().unwrap();
        assert!(!text.contains(p), "an answer names the server path {p}: {text}");
    }
}

#[test]
fn attacks_are_refused_and_real_uploads_score_as_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let secret_dir = dir.path().join("private");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::create_dir_all(&media).unwrap();
    private_clip(&secret_dir);
    let canary = Canary::start();
    let attacks = corpus(&secret_dir, &canary);
    for a in &attacks {
        std::fs::write(media.join(&a.file), &a.bytes).unwrap();
    }
    let clips = containers(&media);
    let mut a = args(&dir.path().join("data"));
    a.media_root = Some(media.clone());
    let head = a.model.clone();
    let s = TestServer::start(a);
    let data_dir = s.data_dir.clone();
    let media_c = media.canonicalize().unwrap();
    let head_c = Path::new(&head).canonicalize().unwrap();
    let server_paths = [data_dir.as_path(), media_c.as_path(), secret_dir.as_path(), head_c.as_path()];

    // Not recognised as a playlist, so "not a media file" (422): a bare path
    // after `#EXTM3U` is not probed as HLS, and no DASH demuxer is compiled
    // into relaxvqa's FFmpeg (ffmpeg/components.txt).
    let unrecognised = |name: &str| name == "hls-bare-path" || name == "dash-manifest";
    for a in &attacks {
        for ctype in ["application/octet-stream", "video/mp4"] {
            let r = ureq::post(&s.url("/v1/jobs")).set("Content-Type", ctype).send_bytes(&a.bytes);
            let (code, body) = match r {
                Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
                Err(e) => panic!("{}: {e}", a.name),
            };
            println!("{} uploaded as {ctype}: {code} {body}", a.name);
            let want = if unrecognised(&a.name) { 422 } else { 415 };
            assert_eq!(code, want, "{}: {body}", a.name);
            assert_no_server_paths(&body, &server_paths);
        }
        let r = s.post_json("/v1/jobs", &serde_json::json!({ "path": a.file }).to_string());
        println!("{} as a path job: {} {}", a.name, r.0, r.1);
        assert_eq!(r.0, if unrecognised(&a.name) { 422 } else { 415 }, "{}: {r:?}", a.name);
        assert_no_server_paths(&r.1.to_string(), &server_paths);
        if (a.name.starts_with("hls") && a.name != "hls-bare-path") || a.name.starts_with("ffconcat") {
            let msg = r.1["error"].as_str().unwrap();
            assert!(msg.starts_with(&format!("{}: playlists and manifests are not accepted", a.file)), "{msg}");
        }
    }
    assert!(s.uploads().is_empty(), "refused uploads leave nothing: {:?}", s.uploads());
    assert!(files_in(&data_dir.join("reports")).is_empty(), "no job ran");
    assert_eq!(canary.hits(), 0, "no request reached the loopback server");

    // Real uploads score as the library scores the same file.
    let model = Model::load(ModelOptions {
        weights: "synthetic".into(),
        head: Some(head.clone()),
        threads: Some(2),
        ..Default::default()
    })
    .unwrap();
    for clip in &clips {
        let name = clip.file_name().unwrap().to_str().unwrap();
        let want = model.score(Input::path(clip), &ScoreOptions::default()).unwrap().score;
        let r = s.post_bytes("/v1/score?wait=120s", &std::fs::read(clip).unwrap());
        assert_eq!((r.0, r.1["status"].as_str()), (200, Some("done")), "{name}: {r:?}");
        let got = r.1["score"].as_f64().unwrap();
        println!("{name}: service {got} library {want}");
        assert_eq!(got.to_bits(), want.to_bits(), "{name}: the service's score differs from the library's");
        let id = r.1["id"].as_str().unwrap();
        assert_eq!(r.1["provenance"]["input"], format!("upload {id}"));
        assert!(r.1["model_source"].as_str().unwrap().contains("sha256"), "{}", r.1);
        assert_no_server_paths(&r.1.to_string(), &server_paths);
        let report = s.get(&format!("/v1/jobs/{id}/report"));
        assert_eq!(report.0, 200);
        assert_no_server_paths(report.1.as_str().unwrap(), &server_paths);
    }
    // A path job is named as the client named it.
    let r = s.post_json("/v1/score?wait=120s", "{\"path\": \"clip.mkv\"}");
    assert_eq!((r.0, r.1["status"].as_str()), (200, Some("done")), "{r:?}");
    assert_eq!(r.1["provenance"]["input"], "clip.mkv");
    assert_no_server_paths(&r.1.to_string(), &server_paths);
    // Not a video: 422 at submit, named by the upload.
    let r = s.post_bytes("/v1/jobs", b"hello, not a video at all");
    assert_eq!(r.0, 422, "{r:?}");
    assert!(r.1["error"].as_str().unwrap().starts_with("upload "), "{r:?}");
    assert_no_server_paths(&r.1.to_string(), &server_paths);
    assert_eq!(canary.hits(), 0);
}

/// Sends a request head with a body that never ends; returns the stream.
fn slow_upload(addr: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(
        b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\n\r\n0123456789",
    )
    .unwrap();
    c
}

/// The status line of an answer that has come, or `None` after `wait`.
fn answer(c: &mut TcpStream, wait: Duration) -> Option<String> {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    match c.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

#[test]
fn one_owner_per_data_dir_and_bounded_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&dir.path().join("data"));
    a.max_uploads = 3;
    let s = TestServer::start(a.clone());
    let addr = s.base.trim_start_matches("http://").to_owned();

    // 50 slow uploads at once: 3 are being received, 47 refused at once.
    let mut conns: Vec<TcpStream> = (0..50).map(|_| slow_upload(&addr)).collect();
    let mut refused = 0;
    let mut waiting = Vec::new();
    for c in &mut conns {
        match answer(c, Duration::from_millis(1500)) {
            Some(text) => {
                assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                assert!(text.to_ascii_lowercase().contains("retry-after:"), "{text}");
                refused += 1;
            }
            None => waiting.push(()),
        }
    }
    let parts: Vec<_> = s.uploads().into_iter().filter(|p| p.extension().is_some_and(|e| e == "part")).collect();
    println!(
        "50 slow uploads: {refused} refused with 503, {} being received, {} .part files",
        waiting.len(),
        parts.len()
    );
    assert_eq!(refused, 47);
    assert!(parts.len() <= 3, "{parts:?}");

    // A second service on the live data dir: refused at once, nothing touched.
    let t0 = Instant::now();
    let err = match Server::start(Config::from_args(&a, Some(1)).unwrap()) {
        Ok(_) => panic!("a second service started on a live data dir"),
        Err(e) => e.to_string(),
    };
    println!("second service: {err} ({:.2} s)", t0.elapsed().as_secs_f64());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(err.contains(s.data_dir.to_str().unwrap()) && err.contains("another relaxvqa serve"), "{err}");
    let after: Vec<_> = s.uploads().into_iter().filter(|p| p.extension().is_some_and(|e| e == "part")).collect();
    assert_eq!(after, parts, "the first service's uploads in flight are untouched");

    // The clients go away: their partial files go too.
    drop(conns);
    let t0 = Instant::now();
    while !s.uploads().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "partial uploads left: {:?}", s.uploads());
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the service still takes uploads.
    assert_eq!(s.get("/readyz").0, 200);
}
