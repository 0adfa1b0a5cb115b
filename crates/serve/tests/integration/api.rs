//! The service end to end, in process: the API contract, security, errors,
//! cancellation, the bounded wait, and a load test against a small queue.
//! Every server listens on 127.0.0.1 with an OS-assigned port and stops
//! when its test ends.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{args, tiny_clip, TestServer};
use relaxvqa_fixtures::video;
use serde_json::Value;

const TOKEN: &str = "s3cret-token-for-tests";

/// One server with a token and a media root carries the contract tests
/// (each test here loads a model: keep them few).
#[test]
fn api_contract_security_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::copy(video("testsrc2_static"), media.join("static.mp4")).unwrap();
    std::fs::write(dir.path().join("outside.mp4"), b"not yours").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("outside.mp4"), media.join("link.mp4")).unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut a = args(&dir.path().join("data"));
    a.media_root = Some(media.clone());
    a.token_file = Some(token_file);
    a.max_upload_bytes = 1 << 20;
    let s = TestServer::start(a);

    // Probes answer without a token; everything else needs the right one.
    assert_eq!(s.get_open("/healthz").0, 200);
    assert_eq!(s.get_open("/readyz").0, 200);
    for path in ["/v1/jobs/0123456789abcdef0123456789abcdef", "/metrics", "/openapi.json"] {
        let r = s.get_open(path);
        assert_eq!(r.0, 401, "{path} without a token: {r:?}");
        assert_eq!(r.2.www_authenticate.as_deref(), Some("Bearer"));
        let wrong = ureq::get(&s.url(path)).set("Authorization", "Bearer s3cret-token-for-tesTs").call();
        assert!(matches!(wrong, Err(ureq::Error::Status(401, _))), "{path} with a wrong token");
    }
    let no_token_upload = ureq::post(&s.url("/v1/jobs")).send_bytes(b"abc");
    assert!(matches!(no_token_upload, Err(ureq::Error::Status(401, _))));
    assert!(s.uploads().is_empty(), "an unauthorised upload leaves nothing");

    // Errors: unknown ids, malformed JSON, bad parameters, big bodies.
    assert_eq!(s.get("/v1/jobs/0123456789abcdef0123456789abcdef").0, 404);
    assert_eq!(s.get("/v1/jobs/nope").0, 404);
    assert_eq!(s.delete("/v1/jobs/nope").0, 404);
    let r = s.post_json("/v1/jobs", "{\"path\": ");
    assert_eq!(r.0, 400, "{r:?}");
    assert!(r.1["error"].as_str().unwrap().contains("malformed JSON"), "{r:?}");
    assert_eq!(s.post_json("/v1/jobs", "{\"file\": \"x\"}").0, 400, "unknown field");
    let r = s.post_bytes("/v1/jobs?segments=fast", b"x");
    assert_eq!(r.0, 400);
    assert!(r.1["error"].as_str().unwrap().starts_with("segments fast:"), "{r:?}");
    // Query parameters are read from the query, as documented, and a bad
    // one is named as itself.
    let r = s.post_bytes("/v1/score?wait=forever", b"x");
    assert_eq!(r.0, 400, "{r:?}");
    assert!(r.1["error"].as_str().unwrap().starts_with("wait forever:"), "{r:?}");
    // A wait no Duration can hold is the longest wait, not a dropped
    // connection (found by schemathesis: the handler panicked).
    let r = s.post_bytes("/v1/score?wait=1e300s", b"x");
    assert_eq!(r.0, 422, "answered, the body refused as not a video: {r:?}");
    // Too big: refused from its Content-Length before any byte is read,
    // and while streaming when the length is not announced (chunked).
    let head = |extra: &str| {
        format!("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: video/mp4\r\n{extra}\r\n")
    };
    let status = raw(&s, head(&format!("Content-Length: {}\r\n", (1 << 20) + 1)).as_bytes(), &[]);
    assert_eq!(status, 413);
    let mut chunked = Vec::new();
    for _ in 0..17 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend(std::iter::repeat_n(0u8, 0x10000));
        chunked.extend_from_slice(b"\r\n");
    }
    let status = raw(&s, head("Transfer-Encoding: chunked\r\n").as_bytes(), &chunked);
    assert_eq!(status, 413, "streamed past the limit");
    assert!(s.uploads().is_empty(), "the partial upload is removed: {:?}", s.uploads());
    let r = ureq::post(&s.url("/v1/jobs"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "text/plain")
        .send_string("hello");
    assert!(matches!(r, Err(ureq::Error::Status(415, _))));

    // The media root: no escape by '..', absolute paths or symbolic links.
    let outside = dir.path().join("outside.mp4");
    for p in ["../outside.mp4", "sub/../../outside.mp4", outside.to_str().unwrap(), "/etc/passwd", "link.mp4"] {
        let r = s.post_json("/v1/jobs", &serde_json::json!({ "path": p }).to_string());
        assert_eq!(r.0, 403, "{p}: {r:?}");
    }
    assert_eq!(s.post_json("/v1/jobs", "{\"path\": \"missing.mp4\"}").0, 400);

    // A video under the media root: done, with provenance; the file stays.
    let r = s.post_json("/v1/jobs?segments=500ms", "{\"path\": \"static.mp4\"}");
    assert_eq!(r.0, 202, "{r:?}");
    let id = r.1["id"].as_str().unwrap().to_owned();
    assert_eq!(r.1["status"], "queued");
    assert_eq!(r.2.location.as_deref(), Some(format!("/v1/jobs/{id}").as_str()));
    let doc = s.wait_final(&id, Duration::from_secs(120));
    assert_eq!(doc["status"], "done", "{doc}");
    assert!(doc["score"].as_f64().unwrap().is_finite());
    assert_eq!(doc["window"], 0.5);
    assert_eq!(doc["attempts"], 1);
    assert!(!doc["segments"].as_array().unwrap().is_empty());
    assert_eq!(doc["provenance"]["weights"], "synthetic");
    assert_eq!(doc["provenance"]["input"], "static.mp4", "named as the client named it");
    let text = doc.to_string();
    for server in [s.data_dir.to_str().unwrap(), media.canonicalize().unwrap().to_str().unwrap()] {
        assert!(!text.contains(server), "the job document names {server}: {text}");
    }
    assert!(doc["provenance"]["sampled_frames"].as_u64().unwrap() > 0);
    assert!(doc["model"].is_string() && doc["model_source"].is_string() && doc["warnings"].is_array());
    assert!(media.join("static.mp4").exists(), "a media-root file is never removed");
    let report = s.get(&format!("/v1/jobs/{id}/report"));
    assert_eq!(report.0, 200);
    assert!(report.2.content_type.unwrap().starts_with("text/html"));
    assert!(report.1.as_str().unwrap().contains("Quality report"));
    assert_eq!(s.delete(&format!("/v1/jobs/{id}")).0, 409, "a done job cannot be cancelled");

    // A broken video: refused at submit (422) with the library's one-line
    // error, named as an upload, not by a server path; nothing is kept.
    let r = s.post_bytes("/v1/jobs", &std::fs::read(dir.path().join("outside.mp4")).unwrap());
    assert_eq!(r.0, 422, "{r:?}");
    let err = r.1["error"].as_str().unwrap();
    println!("broken video: {err}");
    assert!(!err.is_empty() && !err.contains('\n'));
    assert!(err.starts_with("upload ") && err.contains(": not a media file"), "named by the job: {err}");
    assert!(!err.contains(s.data_dir.to_str().unwrap()), "{err}");
    assert!(s.uploads().is_empty(), "a refused upload is removed");

    // The metrics and the OpenAPI document.
    let m = s.get("/metrics");
    assert_eq!(m.0, 200);
    let text = m.1.as_str().unwrap();
    for name in [
        "relaxvqa_queue_depth",
        "relaxvqa_jobs{status=\"done\"} 1",
        "relaxvqa_video_seconds_bucket",
        "relaxvqa_sampled_frame_seconds_count 1",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
    let (code, doc, _) = s.get("/openapi.json");
    assert_eq!(code, 200);
    every_route_documented(&doc);
}

/// Sends a request by hand (the body without its end) and reads the
/// status of the answer.
fn raw(s: &TestServer, head: &[u8], body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let addr = s.base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(head).unwrap();
    let _ = c.write_all(body);
    let mut buf = [0u8; 512];
    let n = c.read(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]);
    println!("raw answer: {}", line.lines().next().unwrap_or(""));
    line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn every_route_documented(doc: &Value) {
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = 0;
    for (path, ops) in paths {
        documented += ops.as_object().unwrap().len();
        println!("openapi: {path}: {:?}", ops.as_object().unwrap().keys().collect::<Vec<_>>());
    }
    for (method, path) in relaxvqa_serve::http::routes::ROUTES {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from /openapi.json");
    }
    assert_eq!(documented, relaxvqa_serve::http::routes::ROUTES.len(), "no operation beyond the routes");
    // Each parameter is where the router reads it: `{name}` segments are
    // path parameters, everything else (segments, wait) the query.
    let mut query = Vec::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let (name, location) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(location, if in_path { "path" } else { "query" }, "{method} {path}: parameter {name}");
                assert_eq!(p["required"].as_bool().unwrap_or(false), in_path, "{method} {path}: {name} required?");
                if !in_path {
                    query.push(format!("{method} {path}?{name}"));
                }
            }
        }
    }
    query.sort();
    assert_eq!(query, ["post /v1/jobs?segments", "post /v1/score?segments", "post /v1/score?wait"]);
    assert!(doc["components"]["schemas"]["JobDoc"].is_object());
}

/// `POST /v1/score` waits for the result; `DELETE` cancels queued and
/// running jobs.
#[test]
fn score_waits_and_delete_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = tiny_clip(dir.path());
    let s = TestServer::start(args(&dir.path().join("data")));
    let r = s.post_bytes("/v1/score?wait=60s", &std::fs::read(&tiny).unwrap());
    assert_eq!(r.0, 200, "{r:?}");
    assert_eq!(r.1["status"], "done");
    assert!(r.1["score"].as_f64().unwrap().is_finite());

    // A long job, then another behind it: cancel the queued one, then the
    // running one.
    let long = std::fs::read(video("carphone_pristine")).unwrap();
    let r = s.post_bytes("/v1/score?wait=100ms", &long);
    assert_eq!(r.0, 202, "still running after the wait: {r:?}");
    assert!(r.2.location.is_some());
    let running = r.1["id"].as_str().unwrap().to_owned();
    let queued = s.submit_file(&tiny);
    let t0 = Instant::now();
    while s.get(&format!("/v1/jobs/{running}")).1["status"] != "running" {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = s.delete(&format!("/v1/jobs/{queued}"));
    assert_eq!((r.0, r.1["status"].as_str()), (200, Some("cancelled")), "{r:?}");
    let r = s.delete(&format!("/v1/jobs/{running}"));
    assert_eq!((r.0, r.1["status"].as_str()), (200, Some("cancelled")), "{r:?}");
    let t0 = Instant::now();
    while !s.uploads().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the running job stops: {:?}", s.uploads());
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("running job stopped {:.2} s after DELETE", t0.elapsed().as_secs_f64());
    assert_eq!(s.get(&format!("/v1/jobs/{running}")).1["status"], "cancelled");
    assert_eq!(s.delete(&format!("/v1/jobs/{running}")).0, 200, "cancelling twice is fine");
}

/// `--job-timeout` stops a job that runs too long (it fails with kind
/// `timeout`, naming the flag), the worker takes the next job; and the
/// default time-out is derived from `--max-sampled-frames`.
#[test]
fn a_job_past_the_time_limit_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&dir.path().join("data"));
    assert_eq!(
        relaxvqa_serve::Config::from_args(&a, Some(2)).unwrap().job_timeout,
        Some(Duration::from_secs(60 + 3 * 1500)),
        "the default"
    );
    a.job_timeout = Some("1s".into());
    let s = TestServer::start(a);
    let long = relaxvqa_fixtures::test_clip(dir.path(), "long.mp4", 480, 0);
    let id = s.submit_file(&long);
    let t0 = Instant::now();
    let doc = loop {
        let d = s.get(&format!("/v1/jobs/{id}")).1;
        if d["status"] == "failed" || d["status"] == "done" {
            break d;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{d}");
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("after {:.2} s: {doc}", t0.elapsed().as_secs_f64());
    assert_eq!(doc["status"], "failed");
    assert_eq!(doc["error_kind"], "timeout");
    assert!(doc["error"].as_str().unwrap().contains("--job-timeout"), "{doc}");
    let tiny = tiny_clip(dir.path());
    let r = s.post_bytes("/v1/score?wait=60s", &std::fs::read(&tiny).unwrap());
    assert_eq!(r.1["status"], "done", "the next job: {r:?}");
}

/// 50 concurrent submissions against `--max-queue 4`: every accepted job
/// ends done, every refusal is a 429 (queue full) or a 503 (more than
/// `--max-uploads` bodies at once) with `Retry-After`.
#[test]
fn load_test_small_queue() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = std::fs::read(tiny_clip(dir.path())).unwrap();
    let mut a = args(&dir.path().join("data"));
    a.max_queue = 4;
    a.workers = 2;
    let s = TestServer::start(a);
    let t0 = Instant::now();
    let replies: Vec<common::Reply> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..50).map(|_| sc.spawn(|| s.post_bytes("/v1/jobs", &tiny))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let submit_s = t0.elapsed().as_secs_f64();
    let accepted: Vec<String> =
        replies.iter().filter(|r| r.0 == 202).map(|r| r.1["id"].as_str().unwrap().to_owned()).collect();
    let refused: Vec<&common::Reply> = replies.iter().filter(|r| r.0 == 429 || r.0 == 503).collect();
    assert_eq!(accepted.len() + refused.len(), 50, "only 202, 429 or 503: {replies:?}");
    // The queue starts empty: the first 4 are taken; jobs that end during
    // the burst make room for a few more.
    assert!(accepted.len() >= 4 && !refused.is_empty(), "{} accepted, {} refused", accepted.len(), refused.len());
    for r in &refused {
        assert!(r.2.retry_after.as_deref().is_some_and(|v| v.parse::<u64>().is_ok()), "{r:?}");
    }
    for id in &accepted {
        let doc = s.wait_final(id, Duration::from_secs(120));
        assert_eq!(doc["status"], "done", "{doc}");
        assert_eq!(doc["attempts"], 1);
    }
    println!(
        "load: 50 submissions in {submit_s:.2} s: {} accepted, {} refused (429 or 503); all accepted done after {:.2} s",
        accepted.len(),
        refused.len(),
        t0.elapsed().as_secs_f64()
    );
    // Once the queue drains, submissions are accepted again.
    assert_eq!(s.post_bytes("/v1/jobs", &tiny).0, 202);
}
