//! `relaxvqa serve`, the real binary: the same scores as `relaxvqa score`
//! bit for bit, and no job lost or completed twice across `kill -9` and
//! SIGTERM. Every server listens on 127.0.0.1 with an OS-assigned port, is
//! bounded in time and is killed when its test ends.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::service::{get, uploads, Serve};
use common::{relaxvqa, run, synthetic_head_file};
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
