//! `relaxvqa serve` replicas sharing one PostgreSQL queue (a throwaway
//! server on 127.0.0.1, started and stopped here) and one data dir: a
//! replica killed with `kill -9` mid-job loses nothing (the other takes the
//! job over when its lease runs out), and a replica paused past its lease
//! (SIGSTOP) cannot overwrite the run that took its job over.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::service::{get, uploads, Serve};
use crate::common::{relaxvqa, run, synthetic_head_file};
use relaxvqa_fixtures::postgres::TestPostgres;
use relaxvqa_fixtures::{test_clip, video};
use serde_json::Value;

/// A replica: one compute thread, the shared queue, a short lease.
fn replica(data: &Path, head: &Path, pg: &TestPostgres) -> Serve {
    Serve::start_with(data, head, &["--threads", "1"], &["--database-url", &pg.url, "--lease", "3s"])
}

/// Clip `i`: 12 + i frames, its hue turned by 36 i degrees (each clip its
/// own content, so each score its own).
fn clip(dir: &Path, i: usize) -> PathBuf {
    test_clip(dir, &format!("clip{i}.mp4"), 12 + i, 36 * i)
}

/// `relaxvqa score --json` of `files` with the head and window the
/// services use.
fn cli_scores(head: &Path, files: &[PathBuf]) -> Value {
    let out = run(relaxvqa()
        .args(["--threads", "2", "score", "--weights", "synthetic", "--segments", "1s", "--json", "--quiet"])
        .arg("--model")
        .arg(head)
        .args(files));
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_scores_equal(docs: &[Value], cli: &Value) {
    for (k, doc) in docs.iter().enumerate() {
        assert_eq!(doc["status"], "done", "{doc}");
        let (a, b) = (doc["score"].as_f64().unwrap(), cli["videos"][k]["score"].as_f64().unwrap());
        println!("job {k}: service {a:.17} cli {b:.17} (attempts {})", doc["attempts"]);
        assert_eq!(a.to_bits(), b.to_bits(), "job {k}: the service's score differs from relaxvqa score");
        assert_eq!(doc["segments"], cli["videos"][k]["segments"], "job {k}: the timelines differ");
    }
}

#[test]
fn a_killed_replica_loses_no_job() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let data = dir.path().join("data");
    // A alone takes the first (longer: 60 sampled frames) job, so that it
    // is the one killed while it runs, however fast the machine; B starts
    // after.
    let a = replica(&data, &head, &pg);
    let mut files = vec![test_clip(dir.path(), "long.mp4", 720, 0)];
    let mut ids = vec![a.submit(&files[0])];
    a.wait_status(&ids[0], "running", Duration::from_secs(60));
    let b = replica(&data, &head, &pg);
    for i in 1..10 {
        files.push(clip(dir.path(), i));
        let to = if i % 2 == 0 { &a } else { &b };
        ids.push(to.submit(&files[i]));
    }
    for id in &ids {
        assert_eq!(a.job(id), b.job(id), "both replicas answer for every job alike");
    }
    assert_eq!(a.job(&ids[0])["status"], "running");
    let done_by_a = a.metric("relaxvqa_jobs_finished_total{status=\"done\"}");
    a.signal("KILL");
    drop(a);
    println!("A killed after finishing {done_by_a} job(s)");

    let t0 = Instant::now();
    let docs: Vec<Value> = ids.iter().map(|id| b.wait_final(id, Duration::from_secs(600))).collect();
    println!("B finished the rest in {:.1} s", t0.elapsed().as_secs_f64());
    assert_eq!(docs[0]["attempts"], 2, "the interrupted job ran again, on B: {}", docs[0]);
    let done_by_b = b.metric("relaxvqa_jobs_finished_total{status=\"done\"}");
    println!("done: A {done_by_a}, B {done_by_b}; stale results on B: {}", b.metric("relaxvqa_stale_results_total"));
    assert_eq!(done_by_a + done_by_b, 10.0, "every job ended exactly once");
    assert_eq!(b.metric("relaxvqa_stale_results_total"), 0.0);
    assert_eq!(b.metric("relaxvqa_jobs{status=\"done\"}"), 10.0, "the shared counts");
    assert_eq!(b.metric("relaxvqa_queue_depth"), 0.0);
    assert_scores_equal(&docs, &cli_scores(&head, &files));
    let mut distinct: Vec<u64> = docs.iter().map(|d| d["score"].as_f64().unwrap().to_bits()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "ten clips, ten scores");
    assert!(uploads(&data).is_empty(), "uploads of ended jobs are removed: {:?}", uploads(&data));

    // A restarted A answers for every job as B does, reports included.
    let a = replica(&data, &head, &pg);
    for (id, doc) in ids.iter().zip(&docs) {
        assert_eq!(&a.job(id), doc);
    }
    let (code, html) = get(&format!("{}/v1/jobs/{}/report", a.base, ids[0]));
    assert_eq!(code, 200);
    assert!(html.as_str().unwrap().contains("Quality report"));
}

#[test]
fn a_paused_replica_cannot_overwrite_the_run_that_took_its_job() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let data = dir.path().join("data");
    let a = replica(&data, &head, &pg);
    let file = video("testsrc2_noise");
    let id = a.submit(&file);
    a.wait_status(&id, "running", Duration::from_secs(60));
    a.signal("STOP"); // partitioned: alive, silent, past its lease
    let b = replica(&data, &head, &pg);
    let doc = b.wait_final(&id, Duration::from_secs(600));
    assert_eq!((doc["status"].as_str(), doc["attempts"].as_u64()), (Some("done"), Some(2)), "{doc}");
    a.signal("CONT");
    // A wakes up, finds its lease gone, and its result is refused.
    let t0 = Instant::now();
    while a.metric("relaxvqa_stale_results_total") < 1.0 {
        assert!(t0.elapsed() < Duration::from_secs(300), "A never noticed it lost the job");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(a.metric("relaxvqa_jobs_finished_total{status=\"done\"}"), 0.0, "A recorded nothing");
    assert_eq!(a.job(&id), doc, "the job is B's run, unchanged");
    assert_scores_equal(&[doc], &cli_scores(&head, std::slice::from_ref(&file)));
    let (code, html) = get(&format!("{}/v1/jobs/{id}/report", a.base));
    assert_eq!(code, 200, "B's report is intact");
    assert!(html.as_str().unwrap().contains("Quality report"));

    // DELETE on one replica stops the job the other one runs (within a
    // renewal: a third of the 3 s lease).
    let id = a.submit(&file);
    let t0 = Instant::now();
    let (runner, other) = loop {
        if a.metric("relaxvqa_running_jobs") == 1.0 {
            break (&a, &b);
        }
        if b.metric("relaxvqa_running_jobs") == 1.0 {
            break (&b, &a);
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "nobody started the job");
        std::thread::sleep(Duration::from_millis(50));
    };
    let resp = ureq::delete(&format!("{}/v1/jobs/{id}", other.base)).call().expect("DELETE");
    assert_eq!(resp.status(), 200);
    let t1 = Instant::now();
    while runner.metric("relaxvqa_running_jobs") != 0.0 {
        assert!(t1.elapsed() < Duration::from_secs(10), "the running replica never stopped the cancelled job");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("stopped on the other replica {:.2} s after DELETE", t1.elapsed().as_secs_f64());
    let doc = runner.job(&id);
    assert_eq!((doc["status"].as_str(), doc["score"].is_null()), (Some("cancelled"), true), "{doc}");
    assert_eq!(runner.metric("relaxvqa_jobs_finished_total{status=\"cancelled\"}"), 1.0);
    assert!(uploads(&data).is_empty(), "the cancelled job's upload is removed: {:?}", uploads(&data));
}

/// A single-machine service cannot start beside replicas on their data dir;
/// a replica whose database stops answering says so at /readyz (so a load
/// balancer sends it no traffic) and answers requests that need the
/// database with a 5xx that names no server detail.
#[test]
fn readiness_follows_the_shared_database() {
    let pg = TestPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let head = synthetic_head_file(dir.path());
    let data = dir.path().join("data");
    let a = replica(&data, &head, &pg);
    assert_eq!(get(&format!("{}/readyz", a.base)).0, 200);
    // A single-machine service (SQLite) on the replicas' data dir is refused:
    // its start-up sweep would remove their uploads.
    let out = run(relaxvqa()
        .args(["serve", "--listen", "127.0.0.1:0", "--weights", "synthetic", "--model"])
        .arg(&head)
        .arg("--data-dir")
        .arg(&data));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("another relaxvqa serve is using it"), "{err}");
    drop(pg); // pg_ctl stop -m immediate
    let t0 = Instant::now();
    let (code, body) = loop {
        let (code, body) = get(&format!("{}/readyz", a.base));
        if code != 200 {
            break (code, body);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "still ready without a database");
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("/readyz without a database: {code} {body}");
    assert_eq!(code, 503);
    assert_eq!(body["error"], "the shared job database does not answer");
    assert_eq!(get(&format!("{}/healthz", a.base)).0, 200, "alive all the same");
    let (code, body) = get(&format!("{}/v1/jobs/{}", a.base, "0".repeat(32)));
    println!("a job without a database: {code} {body}");
    assert!(code >= 500 && !body.to_string().contains("127.0.0.1"), "{code} {body}");
}
