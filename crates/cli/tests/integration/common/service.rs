//! A `relaxvqa serve` process for the end-to-end tests: started on
//! 127.0.0.1 and an OS-assigned port, ready within 60 s, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::relaxvqa;

/// A `relaxvqa serve` process, killed on drop.
pub struct Serve {
    pub child: Child,
    pub base: String,
}

impl Serve {
    pub fn start(data: &Path, head: &Path) -> Self {
        Self::start_with(data, head, &["--threads", "2"], &[])
    }

    /// With `global` flags before `serve` and `extra` flags after it.
    pub fn start_with(data: &Path, head: &Path, global: &[&str], extra: &[&str]) -> Self {
        Self::start_logged(data, head, global, extra, None)
    }

    /// [`Serve::start_with`], logging at info level to `log` when given.
    pub fn start_logged(data: &Path, head: &Path, global: &[&str], extra: &[&str], log: Option<&Path>) -> Self {
        let mut cmd = relaxvqa();
        if let Some(log) = log {
            cmd.env("RELAXVQA_LOG", "info").stderr(std::fs::File::create(log).expect("creating the log file"));
        }
        let mut child = cmd
            .args(global)
            .args(["serve", "--listen", "127.0.0.1:0", "--weights", "synthetic"])
            .arg("--data-dir")
            .arg(data)
            .arg("--model")
            .arg(head)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting relaxvqa serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("the listening line");
        let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected: {line:?}"));
        let s = Self { child, base: addr.to_owned() };
        let t0 = Instant::now();
        while get(&format!("{}/readyz", s.base)).0 != 200 {
            assert!(t0.elapsed() < Duration::from_secs(60), "not ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    pub fn job(&self, id: &str) -> Value {
        let (code, doc) = get(&format!("{}/v1/jobs/{id}", self.base));
        assert_eq!(code, 200, "{doc}");
        doc
    }

    pub fn submit(&self, file: &Path) -> String {
        let r = ureq::post(&format!("{}/v1/jobs", self.base))
            .set("Content-Type", "video/mp4")
            .send_bytes(&std::fs::read(file).unwrap())
            .expect("submit");
        assert_eq!(r.status(), 202);
        let v: Value = r.into_json().unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    pub fn wait_final(&self, id: &str, limit: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let doc = self.job(id);
            if ["done", "failed", "cancelled"].contains(&doc["status"].as_str().unwrap_or("")) {
                return doc;
            }
            assert!(t0.elapsed() < limit, "not finished after {limit:?}: {doc}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_status(&self, id: &str, status: &str, limit: Duration) {
        let t0 = Instant::now();
        while self.job(id)["status"] != status {
            assert!(t0.elapsed() < limit, "job {id} never {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    pub fn terminate(mut self) {
        let st = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(st.success());
        let t0 = Instant::now();
        loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                assert!(code.success(), "exit after SIGTERM: {code}");
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "still running 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Serve {
    /// One sample of the Prometheus text (`name{labels}` as written), or 0.
    pub fn metric(&self, sample: &str) -> f64 {
        let (code, text) = get(&format!("{}/metrics", self.base));
        assert_eq!(code, 200);
        let text = text.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
            .unwrap_or(0.0)
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let st = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -{signal}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn get(url: &str) -> (u16, Value) {
    let resp = match ureq::get(url).timeout(Duration::from_secs(30)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let code = resp.status();
    let text = resp.into_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub fn uploads(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("uploads")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}
