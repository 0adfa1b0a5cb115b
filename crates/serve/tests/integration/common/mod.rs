//! Helpers of the service's end-to-end tests: an in-process server on
//! 127.0.0.1 with an OS-assigned port (stopped on drop), a small HTTP
//! client, and test clips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use relaxvqa_serve::{Config, ServeArgs, Server};
use serde_json::Value;

/// The synthetic head file, written once per process.
pub fn head() -> String {
    relaxvqa::testing::head()
}

/// Arguments for a test server: synthetic weights, the synthetic head, any
/// free port on 127.0.0.1.
pub fn args(data_dir: &Path) -> ServeArgs {
    let mut a = ServeArgs::new(data_dir);
    a.listen = "127.0.0.1:0".parse().unwrap();
    a.weights = "synthetic".into();
    a.model = head();
    a
}

/// A server running in this process.
pub struct TestServer {
    pub server: Option<Server>,
    pub base: String,
    pub token: Option<String>,
    pub data_dir: PathBuf,
}

impl TestServer {
    /// Starts it (2 compute threads) and waits until the model is loaded.
    pub fn start(a: ServeArgs) -> Self {
        let token = a.token_file.as_ref().map(|f| std::fs::read_to_string(f).unwrap().trim().to_owned());
        let config = Config::from_args(&a, Some(2)).expect("config");
        let data_dir = config.data_dir.clone();
        let server = Server::start(config).expect("server starts");
        let base = format!("http://{}", server.addr());
        let s = Self { server: Some(server), base, token, data_dir };
        s.wait_ready(Duration::from_secs(60));
        s
    }

    pub fn wait_ready(&self, limit: Duration) {
        let t0 = Instant::now();
        loop {
            if self.get_open("/readyz").0 == 200 {
                return;
            }
            assert!(t0.elapsed() < limit, "not ready after {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self, r: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(t) => r.set("Authorization", &format!("Bearer {t}")),
            None => r,
        }
    }

    /// GET without a token.
    pub fn get_open(&self, path: &str) -> Reply {
        reply(agent().get(&self.url(path)).call())
    }

    pub fn get(&self, path: &str) -> Reply {
        reply(self.auth(agent().get(&self.url(path))).call())
    }

    pub fn delete(&self, path: &str) -> Reply {
        reply(self.auth(agent().delete(&self.url(path))).call())
    }

    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Reply {
        reply(self.auth(agent().post(&self.url(path))).set("Content-Type", "application/octet-stream").send_bytes(body))
    }

    pub fn post_json(&self, path: &str, body: &str) -> Reply {
        reply(self.auth(agent().post(&self.url(path))).set("Content-Type", "application/json").send_string(body))
    }

    /// Submits a file's bytes; returns the job id.
    pub fn submit_file(&self, file: &Path) -> String {
        let r = self.post_bytes("/v1/jobs", &std::fs::read(file).unwrap());
        assert_eq!(r.0, 202, "{r:?}");
        r.1["id"].as_str().unwrap().to_owned()
    }

    /// Polls a job until it has ended (bounded).
    pub fn wait_final(&self, id: &str, limit: Duration) -> Value {
        wait_final(|| self.get(&format!("/v1/jobs/{id}")), limit)
    }

    pub fn uploads(&self) -> Vec<PathBuf> {
        files_in(&self.data_dir.join("uploads"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

/// Polls until the job document says it ended.
pub fn wait_final(mut get: impl FnMut() -> Reply, limit: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let (code, doc, _) = get();
        assert_eq!(code, 200, "{doc}");
        if ["done", "failed", "cancelled"].contains(&doc["status"].as_str().unwrap_or("")) {
            return doc;
        }
        assert!(t0.elapsed() < limit, "job not finished after {limit:?}: {doc}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Status, JSON body (or the text as a JSON string), headers of interest.
pub type Reply = (u16, Value, Headers);

#[derive(Debug, Default)]
pub struct Headers {
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub www_authenticate: Option<String>,
    pub content_type: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build()
}

fn reply(r: Result<ureq::Response, ureq::Error>) -> Reply {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let h = Headers {
        location: resp.header("Location").map(str::to_owned),
        retry_after: resp.header("Retry-After").map(str::to_owned),
        www_authenticate: resp.header("WWW-Authenticate").map(str::to_owned),
        content_type: resp.header("Content-Type").map(str::to_owned),
    };
    let code = resp.status();
    let text = resp.into_string().unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, v, h)
}

/// A tiny clip (64x64, 12 frames at 24 fps), for tests that need many fast
/// jobs.
pub fn tiny_clip(dir: &Path) -> PathBuf {
    relaxvqa_fixtures::test_clip(dir, "tiny.mp4", 12, 0)
}
