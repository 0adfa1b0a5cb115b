//! Throughput and latency of the service against `relaxvqa score` on the
//! fixture videos (synthetic weights, 2 compute threads), printed as
//! Markdown for `docs/performance.md` ("Performance: `relaxvqa serve` against
//! `relaxvqa score`").
//!
//! `cargo run -p relaxvqa-serve --example bench_service -- target/debug/relaxvqa [RUNS]`
//!
//! - CLI latency: one `relaxvqa score VIDEO` per video (model load included:
//!   what a caller who runs the command per video waits).
//! - CLI throughput: one `relaxvqa score V1 V2 V3` (one load for three).
//! - Service latency: submit to done, one video at a time, model loaded.
//! - Service throughput: RUNS x 3 videos submitted at once, until all done,
//!   with 1 and 2 workers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use relaxvqa_fixtures::{video, VIDEOS};
use relaxvqa_serve::{Config, ServeArgs, Server};
use serde_json::Value;

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(args.next().expect("usage: bench_service RELAXVQA_BINARY [RUNS]"));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(2);
    let dir = tempfile::tempdir().expect("temp dir");
    let head = dir.path().join("head.safetensors");
    relaxvqa::testing::write_synthetic_head(&head).expect("head");

    println!("| what | video | runs (s) | mean (s) |\n| --- | --- | --- | --- |");
    for v in VIDEOS {
        let t: Vec<f64> = (0..runs).map(|_| cli(&bin, &head, &[video(v)])).collect();
        row("CLI latency (`relaxvqa score VIDEO`, load included)", v, &t);
    }
    let all: Vec<PathBuf> = VIDEOS.iter().map(|v| video(v)).collect();
    let batch: Vec<f64> = (0..runs).map(|_| cli(&bin, &head, &all)).collect();
    row("CLI batch (`relaxvqa score V1 V2 V3`)", "all 3", &batch);
    let mut throughput = vec![("CLI batch, 1 process".to_owned(), 3.0 / mean(&batch) * 3600.0)];

    for workers in [1usize, 2] {
        let data = dir.path().join(format!("data-{workers}"));
        let mut a = ServeArgs::new(&data);
        a.listen = "127.0.0.1:0".parse().expect("addr");
        a.weights = "synthetic".into();
        a.model = head.display().to_string();
        a.workers = workers;
        let t0 = Instant::now();
        let server = Server::start(Config::from_args(&a, Some(2)).expect("config")).expect("start");
        let base = format!("http://{}", server.addr());
        while ureq::get(&format!("{base}/readyz")).call().is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        row(&format!("service start to ready ({workers} worker(s))"), "-", &[t0.elapsed().as_secs_f64()]);
        if workers == 1 {
            for v in VIDEOS {
                let t: Vec<f64> = (0..runs)
                    .map(|_| {
                        let t0 = Instant::now();
                        let id = submit(&base, &video(v));
                        wait_done(&base, &id);
                        t0.elapsed().as_secs_f64()
                    })
                    .collect();
                row("service latency (submit to done, idle queue)", v, &t);
            }
        }
        let t0 = Instant::now();
        let ids: Vec<String> = (0..runs)
            .flat_map(|_| VIDEOS.iter().map(|v| video(v)).collect::<Vec<_>>())
            .map(|p| submit(&base, &p))
            .collect();
        let mut latencies = Vec::new();
        for id in &ids {
            wait_done(&base, id);
            latencies.push(t0.elapsed().as_secs_f64());
        }
        let total = t0.elapsed().as_secs_f64();
        row(&format!("service, {} jobs at once, {workers} worker(s): all done", ids.len()), "all", &[total]);
        throughput.push((format!("service, {workers} worker(s)"), ids.len() as f64 / total * 3600.0));
        server.stop();
    }
    println!("\n| throughput | videos/hour |\n| --- | --- |");
    for (what, vph) in throughput {
        println!("| {what} | {vph:.0} |");
    }
}

fn mean(t: &[f64]) -> f64 {
    t.iter().sum::<f64>() / t.len().max(1) as f64
}

fn row(what: &str, video: &str, t: &[f64]) {
    let runs: Vec<String> = t.iter().map(|x| format!("{x:.1}")).collect();
    println!("| {what} | {video} | {} | {:.1} |", runs.join(", "), mean(t));
}

fn cli(bin: &Path, head: &Path, videos: &[PathBuf]) -> f64 {
    let t0 = Instant::now();
    let out = Command::new(bin)
        .args(["--threads", "2", "score", "--weights", "synthetic", "--quiet", "--model"])
        .arg(head)
        .args(videos)
        .env("RELAXVQA_LOG", "error")
        .output()
        .expect("relaxvqa score");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    t0.elapsed().as_secs_f64()
}

fn submit(base: &str, file: &Path) -> String {
    let bytes = std::fs::read(file).expect("video");
    let r = ureq::post(&format!("{base}/v1/jobs")).set("Content-Type", "video/mp4").send_bytes(&bytes).expect("submit");
    let v: Value = r.into_json().expect("json");
    v["id"].as_str().expect("id").to_owned()
}

fn wait_done(base: &str, id: &str) {
    loop {
        let v: Value = ureq::get(&format!("{base}/v1/jobs/{id}")).call().expect("get").into_json().expect("json");
        match v["status"].as_str() {
            Some("done") => return,
            Some("failed") | Some("cancelled") => panic!("{v}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
