//! Throughput of `relaxvqa serve` replicas sharing one PostgreSQL queue
//! (1, 2 and 4 replicas, `--threads 1` each) against one service on its
//! SQLite queue (`--threads` = every core), printed as Markdown for
//! docs/performance.md.
//!
//! `cargo run -p relaxvqa-serve --example bench_replicas -- target/debug/relaxvqa [JOBS]`
//!
//! Every configuration gets a fresh data dir, the same JOBS clips (default
//! 16; 64x64, 2 s, each its own hue) submitted round-robin to its replicas at
//! once, and is timed from the first submit to the last job done. The
//! replicas are the real binary as child processes on 127.0.0.1 (OS-assigned
//! ports); PostgreSQL is a throwaway server (`relaxvqa_fixtures::postgres`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use relaxvqa_fixtures::postgres::TestPostgres;
use serde_json::Value;

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &Path, data: &Path, head: &Path, threads: usize, shared: Option<&str>) -> Replica {
    let mut c = Command::new(bin);
    c.env("RELAXVQA_LOG", "error")
        .args(["--threads", &threads.to_string(), "serve", "--listen", "127.0.0.1:0", "--weights", "synthetic"])
        .arg("--data-dir")
        .arg(data)
        .arg("--model")
        .arg(head)
        .args(["--max-queue", "1000"])
        .stdout(Stdio::piped());
    if let Some(url) = shared {
        c.args(["--database-url", url]);
    }
    let mut child = c.spawn().expect("starting relaxvqa serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the listening line");
    let base = line.trim().strip_prefix("listening on ").expect("the listening line").to_owned();
    while ureq::get(&format!("{base}/readyz")).call().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Replica { child, base }
}

fn clip(dir: &Path, i: usize) -> PathBuf {
    let out = dir.join(format!("clip{i}.mp4"));
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=24:duration=2", "-vf"])
        .arg(format!("hue=h={}", (i * 23) % 360))
        .args(["-pix_fmt", "yuv420p", "-c:v", "mpeg4", "-q:v", "4"])
        .arg(&out)
        .status()
        .expect("the ffmpeg tool");
    assert!(st.success());
    out
}

/// Submits every clip round-robin, waits for all; seconds.
fn run(replicas: &[Replica], clips: &[PathBuf]) -> f64 {
    let t0 = Instant::now();
    let ids: Vec<(usize, String)> = clips
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let r = &replicas[i % replicas.len()];
            let resp = ureq::post(&format!("{}/v1/jobs", r.base))
                .set("Content-Type", "video/mp4")
                .send_bytes(&std::fs::read(c).expect("clip"))
                .expect("submit");
            let doc: Value = resp.into_json().expect("json");
            (i % replicas.len(), doc["id"].as_str().expect("id").to_owned())
        })
        .collect();
    for (r, id) in &ids {
        loop {
            let doc: Value = ureq::get(&format!("{}/v1/jobs/{id}", replicas[*r].base))
                .call()
                .expect("job")
                .into_json()
                .expect("json");
            match doc["status"].as_str() {
                Some("done") => break,
                Some("failed" | "cancelled") => panic!("job {id}: {doc}"),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
    t0.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(args.next().expect("usage: bench_replicas RELAXVQA_BINARY [JOBS]"));
    let jobs: usize = args.next().and_then(|j| j.parse().ok()).unwrap_or(16);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let head = dir.path().join("head.safetensors");
    relaxvqa::testing::write_synthetic_head(&head).expect("head");
    let clips: Vec<PathBuf> = (0..jobs).map(|i| clip(dir.path(), i)).collect();
    let pg = TestPostgres::start();

    println!("| queue | replicas x threads | {jobs} jobs (s) | jobs/min |\n| --- | --- | --- | --- |");
    let sqlite = vec![start(&bin, &dir.path().join("sqlite"), &head, cores, None)];
    let s = run(&sqlite, &clips);
    println!("| SQLite (one service) | 1 x {cores} | {s:.1} | {:.1} |", jobs as f64 / s * 60.0);
    drop(sqlite);
    for n in [1usize, 2, 4] {
        let data = dir.path().join(format!("pg{n}"));
        let replicas: Vec<Replica> = (0..n).map(|_| start(&bin, &data, &head, 1, Some(&pg.url))).collect();
        let s = run(&replicas, &clips);
        println!("| PostgreSQL (shared) | {n} x 1 | {s:.1} | {:.1} |", jobs as f64 / s * 60.0);
    }
}
