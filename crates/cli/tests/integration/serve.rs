//! `relaxvqa serve`, the real binary: the same scores as `relaxvqa score`
//! bit for bit, and no job lost or completed twice across `kill -9` and
//! SIGTERM. Every server listens on 127.0.0.1 with an OS-assigned port, is
//! bounded in time and is killed when its test ends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::service::{get, uploads, Serve};
use crate::common::{relaxvqa, run, synthetic_head_file};
use relaxvqa_fixtures::{test_clip, video, VIDEOS};
use serde_json::Value;

/// Every fixture video through the service and through `relaxvqa score`
/// (one run for the three): the same score and timeline, bit for bit.
#[test]
fn service_scores_equal_relaxvqa_score() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let s = Serve::start(&dir.path().join("data"), &head);
    let ids: Vec<String> = VIDEOS.iter().map(|v| s.submit(&video(v))).collect();
    let docs: Vec<Value> = ids.iter().map(|id| s.wait_final(id, Duration::from_secs(300))).collect();
    drop(s);
    let out = run(relaxvqa()
        .args(["--threads", "2", "score", "--weights", "synthetic", "--segments", "1s", "--json", "--quiet"])
        .arg("--model")
        .arg(&head)
        .args(VIDEOS.iter().map(|v| video(v))));
    assert!(out.status.success());
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (k, (stem, doc)) in VIDEOS.iter().zip(&docs).enumerate() {
        assert_eq!(doc["status"], "done", "{doc}");
        let want = &cli["videos"][k];
        assert_eq!(want["name"], *stem);
        let (a, b) = (doc["score"].as_f64().unwrap(), want["score"].as_f64().unwrap());
        println!("{stem}: service {a:.17} cli {b:.17} difference {:e}", (a - b).abs());
        assert_eq!(a.to_bits(), b.to_bits(), "{stem}: the service's score differs");
        assert_eq!(doc["segments"], want["segments"], "{stem}: the timelines differ");
        assert_eq!(doc["scale"], cli["scale"]);
    }
}

/// A tiny clip (64x64, 12 frames).
fn tiny_clip(dir: &Path) -> PathBuf {
    test_clip(dir, "tiny.mp4", 12, 0)
}

/// A second `relaxvqa serve` on a live data dir exits non-zero within
/// seconds with one line naming the dir (killed after 20 s if it does not).
fn second_service_is_refused(data: &Path, head: &Path) {
    let t0 = Instant::now();
    let mut child = relaxvqa()
        .args(["serve", "--listen", "127.0.0.1:0", "--weights", "synthetic", "--data-dir"])
        .arg(data)
        .arg("--model")
        .arg(head)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("a second relaxvqa serve on a live data dir still runs after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    println!("second service: {status} after {:.2} s: {}", t0.elapsed().as_secs_f64(), err.trim());
    assert!(!status.success());
    let dir = data.canonicalize().unwrap();
    assert!(err.contains(dir.to_str().unwrap()) && err.contains("another relaxvqa serve"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `kill -9` while a job runs, then a restart on the same data dir: every
/// job ends done exactly once, the interrupted one started twice; finished
/// results are still served; uploads of ended jobs are gone. Then SIGTERM
/// while a job runs puts it back in the queue for the next start.
#[test]
fn no_job_lost_across_kill_9_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let data = dir.path().join("data");
    let s = Serve::start(&data, &head);
    let tiny = tiny_clip(dir.path());
    let first = s.submit(&tiny);
    s.wait_final(&first, Duration::from_secs(120));
    let long = s.submit(&video("testsrc2_noise"));
    let queued = s.submit(&tiny);
    s.wait_status(&long, "running", Duration::from_secs(60));
    second_service_is_refused(&data, &head);
    assert_eq!(uploads(&data).len(), 2, "the first service's uploads are untouched");
    assert_eq!((s.job(&long)["status"].as_str(), s.job(&long)["attempts"].as_u64()), (Some("running"), Some(1)));
    std::thread::sleep(Duration::from_millis(500));
    drop(s); // kill -9
    assert_eq!(uploads(&data).len(), 2, "the queued and the interrupted uploads survive the crash");

    let s = Serve::start(&data, &head);
    let before = s.job(&first);
    assert_eq!(before["status"], "done", "a finished result is still served");
    for id in [&long, &queued] {
        let doc = s.wait_final(id, Duration::from_secs(300));
        assert_eq!(doc["status"], "done", "{doc}");
    }
    assert_eq!(s.job(&long)["attempts"], 2, "the interrupted job ran again");
    assert_eq!(s.job(&queued)["attempts"], 1, "the queued job ran once");
    assert_eq!(s.job(&first)["attempts"], 1, "the finished job did not run again");
    assert_eq!(s.job(&first)["finished"], before["finished"], "and was not completed again");
    assert!(uploads(&data).is_empty(), "uploads of ended jobs are removed: {:?}", uploads(&data));
    let (code, html) = get(&format!("{}/v1/jobs/{long}/report", s.base));
    assert_eq!(code, 200);
    assert!(html.as_str().unwrap().contains("Quality report"));

    // SIGTERM while a job runs: it goes back to the queue, and runs at the
    // next start.
    let again = s.submit(&video("testsrc2_noise"));
    s.wait_status(&again, "running", Duration::from_secs(60));
    s.terminate();
    assert_eq!(uploads(&data).len(), 1, "the requeued job keeps its upload");
    let s = Serve::start(&data, &head);
    let doc = s.wait_final(&again, Duration::from_secs(300));
    assert_eq!(doc["status"], "done", "{doc}");
    assert_eq!(doc["attempts"], 2);
    assert!(uploads(&data).is_empty());
}

/// A value of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.trim_start_matches(':').trim().strip_suffix("kB")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .parse()
        .unwrap();
    kib << 10
}

/// POSTs a body to /v1/jobs, again while the service answers 503 (too many
/// uploads at once); the status and the document. A refused body over
/// 1 MiB is not read: the service answers 503 and closes, and a client that
/// sends the whole body first (ureq has no `Expect: 100-continue`) sees the
/// connection closed under it instead, which is retried the same way.
fn post_job(base: &str, ctype: &str, body: &[u8]) -> (u16, Value) {
    let t0 = Instant::now();
    loop {
        let r = ureq::post(&format!("{base}/v1/jobs")).set("Content-Type", ctype).send_bytes(body);
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(e))
                if e.kind() == ureq::ErrorKind::Io && t0.elapsed() < Duration::from_secs(120) =>
            {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => panic!("POST: {e}"),
        };
        let code = resp.status();
        let doc: Value = resp.into_json().unwrap_or(Value::Null);
        if code != 503 || t0.elapsed() > Duration::from_secs(120) {
            return (code, doc);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 29's resource attacks against the real binary with its default
/// limits, three of each bomb in flight at once: a 2 MB PNG that decodes
/// to 2 GiB, PNG and GIF headers of 60000x60000, a raw H.264 stream that
/// switches from 64x64 to 15360x8640 mid-way, a Matroska file of 1,000
/// streams, and ten hours of 32x32 (in MP4, and raw with no duration
/// anywhere). Each is refused at submit (422) or its job fails, never
/// "done", within three minutes; the service's peak memory stays within
/// 1.5 GiB of its idle memory over the whole run.
#[test]
fn hostile_inputs_are_refused_within_bounded_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let b = dir.path().join("bombs");
    std::fs::create_dir_all(&b).unwrap();
    use relaxvqa_fixtures::bombs;
    let (long_mp4, long_raw) = bombs::ten_hours(&b);
    let kinds: Vec<(&str, PathBuf, usize)> = vec![
        ("png bomb", bombs::png_bomb(&b), 3),
        ("png 60000x60000", bombs::png_huge_header(&b), 3),
        ("gif 60000x60000", bombs::gif_huge_header(&b), 3),
        ("h264 size switch", bombs::h264_size_switch(&b), 3),
        ("1000 streams", bombs::many_streams(&b, 1000), 3),
        ("ten hours mp4", long_mp4, 1),
        ("ten hours raw h264", long_raw, 1),
    ];
    let s = Serve::start(&dir.path().join("data"), &head);
    let pid = s.child.id();
    std::thread::sleep(Duration::from_secs(1));
    let idle = memory(pid, "VmRSS");
    let t0 = Instant::now();
    let base = s.base.clone();
    let outcomes: Vec<(String, u16, Value, f64)> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (label, file, copies) in &kinds {
            let body = std::fs::read(file).unwrap();
            for _ in 0..*copies {
                let (base, body, label) = (base.clone(), body.clone(), label.to_string());
                handles.push(scope.spawn(move || {
                    let (code, doc) = post_job(&base, "application/octet-stream", &body);
                    if code != 202 {
                        return (label, code, doc, t0.elapsed().as_secs_f64());
                    }
                    let id = doc["id"].as_str().unwrap().to_owned();
                    let t = Instant::now();
                    let fin = loop {
                        let (c, d) = get(&format!("{base}/v1/jobs/{id}"));
                        assert_eq!(c, 200);
                        if ["done", "failed", "cancelled"].contains(&d["status"].as_str().unwrap_or("")) {
                            break d;
                        }
                        assert!(t.elapsed() < Duration::from_secs(240), "{label}: job {id} still {d}");
                        std::thread::sleep(Duration::from_millis(200));
                    };
                    (label, 202, fin, t0.elapsed().as_secs_f64())
                }));
            }
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let peak = memory(pid, "VmHWM");
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    for (label, code, doc, at) in &outcomes {
        let said =
            if *code == 202 { format!("{} ({})", doc["error"], doc["error_kind"]) } else { doc["error"].to_string() };
        println!("{label}: {code} {} after {at:.1} s: {said}", doc["status"].as_str().unwrap_or(""));
        assert!(*at < 180.0, "{label}: ended after {at:.1} s");
        if *code == 202 {
            assert_eq!(doc["status"], "failed", "{label}: {doc}");
        } else {
            assert_eq!(*code, 422, "{label}: {doc}");
        }
        let text = doc["error"].as_str().unwrap_or_default();
        assert!(!text.contains(dir.path().to_str().unwrap()), "{label}: a server path in {text}");
        let expect = match label.as_str() {
            "h264 size switch" => "--max-pixels",
            "1000 streams" => "--max-streams",
            "ten hours mp4" => "--max-duration",
            "ten hours raw h264" => "over the limit",
            _ => "0x0",
        };
        assert!(text.contains(expect), "{label}: {text:?} does not say {expect:?}");
    }
    println!(
        "service memory: idle {:.2} GiB, peak {:.2} GiB over the hostile run ({:.2} GiB above idle), {:.1} s",
        gib(idle),
        gib(peak),
        gib(peak.saturating_sub(idle)),
        t0.elapsed().as_secs_f64()
    );
    assert!(peak.saturating_sub(idle) <= 3 << 29, "peak memory more than 1.5 GiB above idle");
    // The service still scores a real video after all of it.
    let clip = tiny_clip(dir.path());
    let id = s.submit(&clip);
    assert_eq!(s.wait_final(&id, Duration::from_secs(300))["status"], "done");
}

/// A path job's file swapped after its 202 (for a link to a file outside
/// the media root, for a FIFO, for another file) fails its job without the
/// outside file being read or the worker blocking; the worker then takes
/// the next job, and nothing is left running. A newline in a file name
/// cannot forge a log line.
#[test]
fn media_files_swapped_after_submit_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let secret = test_clip(dir.path(), "secret.mp4", 12, 90);
    for name in ["a.mp4", "b.mp4", "c.mp4", "d.mp4"] {
        std::fs::copy(tiny_clip(dir.path()), media.join(name)).unwrap();
    }
    let forged = "e.mp4\n2026-01-01T00:00:00Z INFO forged line";
    std::fs::copy(tiny_clip(dir.path()), media.join(forged)).unwrap();
    let log = dir.path().join("serve.log");
    let root = media.to_str().unwrap();
    let s =
        Serve::start_logged(&dir.path().join("data"), &head, &["--threads", "2"], &["--media-root", root], Some(&log));
    // Hold the one worker while the files are swapped.
    let blocker = s.submit(&test_clip(dir.path(), "long.mp4", 480, 0));
    s.wait_status(&blocker, "running", Duration::from_secs(60));
    let path_job = |name: &str| {
        let (code, doc) =
            post_job(&s.base, "application/json", serde_json::json!({ "path": name }).to_string().as_bytes());
        assert_eq!(code, 202, "{name}: {doc}");
        doc["id"].as_str().unwrap().to_owned()
    };
    let link = path_job("a.mp4");
    std::fs::remove_file(media.join("a.mp4")).unwrap();
    std::os::unix::fs::symlink(&secret, media.join("a.mp4")).unwrap();
    let fifo = path_job("b.mp4");
    std::fs::remove_file(media.join("b.mp4")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(media.join("b.mp4")).status().unwrap().success());
    let other = path_job("c.mp4");
    std::fs::remove_file(media.join("c.mp4")).unwrap();
    std::fs::copy(&secret, media.join("c.mp4")).unwrap();
    let forged_job = path_job(forged);
    let (code, _) = get(&format!("{}/v1/jobs/{blocker}", s.base));
    assert_eq!(code, 200);
    assert_eq!(ureq::delete(&format!("{}/v1/jobs/{blocker}", s.base)).call().unwrap().status(), 200);
    for (what, id) in [("link out of the root", &link), ("FIFO", &fifo), ("another file", &other)] {
        let doc = s.wait_final(id, Duration::from_secs(60));
        println!("{what}: {} {}", doc["status"], doc["error"]);
        assert_eq!(doc["status"], "failed", "{what}: {doc}");
        let e = doc["error"].as_str().unwrap();
        assert!(["replaced", "symbolic link", "not a regular file"].iter().any(|w| e.contains(w)), "{what}: {e}");
        assert!(!e.contains(root), "{what}: the media root in {e}");
    }
    // The worker goes on: the next job is scored.
    let good = path_job("d.mp4");
    let doc = s.wait_final(&good, Duration::from_secs(120));
    assert_eq!(doc["status"], "done");
    // The page and the JSON name the head and the video the same way, and
    // neither names a path of the server.
    let (code, page) = get(&format!("{}{}", s.base, doc["report"].as_str().unwrap()));
    assert_eq!(code, 200);
    let page = page.as_str().unwrap();
    let source = doc["model_source"].as_str().unwrap();
    assert!(source.starts_with("head file synthetic_head.safetensors (sha256 "), "{source}");
    assert!(page.contains(source), "the report names the head otherwise than the JSON ({source})");
    assert!(!page.contains(dir.path().to_str().unwrap()), "a server path in the report");
    assert_eq!(doc["provenance"]["input"], "d.mp4");
    assert_eq!(s.wait_final(&forged_job, Duration::from_secs(120))["status"], "done");
    assert_eq!(s.metric("relaxvqa_running_jobs"), 0.0);
    // Submit-time checks: a FIFO and a link are refused at once.
    let (code, doc) = post_job(&s.base, "application/json", br#"{"path": "b.mp4"}"#);
    assert_eq!(code, 400, "{doc}");
    let (code, doc) = post_job(&s.base, "application/json", br#"{"path": "a.mp4"}"#);
    assert_eq!(code, 403, "{doc}");
    drop(s);
    let text = std::fs::read_to_string(&log).unwrap();
    let forged_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("2026-01-01T00:00:00Z")).collect();
    assert!(forged_lines.is_empty(), "a client's file name forged log lines: {forged_lines:?}");
    assert!(text.contains("forged line"), "the path job's name is not in the log at all:\n{text}");
    // Written to a file: no terminal colour escapes.
    assert!(!text.contains('\u{1b}'), "ANSI escapes in a log file:\n{text}");
}
