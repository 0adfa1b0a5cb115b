//! `relaxvqa serve`'s arguments (clap; the `///` comments are the help
//! text) and the checked [`Config`] they become before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use relaxvqa::head::DEFAULT_HEAD;
use relaxvqa::score::parse_duration;

use crate::error::ServeError;

/// `relaxvqa serve`: a quality-scoring HTTP service with a durable job queue.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Folder of the job database, the uploads and the reports (created).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Backbone weights: hub (default), synthetic (tests only), a folder or
    /// file, or resnet50=SRC,vit=SRC.
    #[arg(long, default_value = "hub", value_name = "SRC")]
    pub weights: String,
    /// The head: a zoo name or a head file.
    #[arg(long, default_value = DEFAULT_HEAD, value_name = "NAME|FILE")]
    pub model: String,
    /// Allow `POST /v1/jobs {"path": ...}` for files under this folder (and
    /// nowhere else, symbolic links included).
    #[arg(long, value_name = "DIR")]
    pub media_root: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` (the file's first line) on
    /// every route but /healthz and /readyz.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Refuse new jobs (429) while this many are queued or running.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_queue: usize,
    /// Uploads received at once; more are refused (503, Retry-After) before
    /// their bodies are read.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_uploads: usize,
    /// Refuse uploads larger than this (413), in bytes.
    #[arg(long, default_value_t = 2 << 30, value_name = "N")]
    pub max_upload_bytes: u64,
    /// Jobs scored at once, sharing the model (decoders use one thread
    /// each when more than one).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Timeline window of a job that gives no `?segments=`.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub segments_default: String,
    /// Fail a job that runs longer than this (e.g. 10m; opening and reading
    /// its video included). Default: 60 s plus 3 s per sampled frame that
    /// --max-sampled-frames allows (4,560 s for the default 1,500); `none`
    /// for no limit.
    #[arg(long, value_name = "DURATION")]
    pub job_timeout: Option<String>,
    /// Refuse videos whose frames have more pixels than this (422 at submit;
    /// the decoder itself refuses to allocate a larger frame, whatever the
    /// container says and whenever the size changes). Default 8K UHD.
    #[arg(long, default_value_t = relaxvqa::DEFAULT_MAX_PIXELS, value_name = "N")]
    pub max_pixels: u64,
    /// Refuse containers with more streams than this (FFmpeg allows 1,000,
    /// each costing memory while probing).
    #[arg(long, default_value_t = relaxvqa::limits::DEFAULT_MAX_STREAMS, value_name = "N")]
    pub max_streams: u32,
    /// Refuse videos longer than this (422 at submit from the container, or
    /// from its packets when it does not say; the job fails when decoding
    /// finds more).
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub max_duration: String,
    /// Refuse videos with more sampled frames than this (about two a
    /// second; the networks' work grows with them): at submit and while
    /// decoding.
    #[arg(long, default_value_t = relaxvqa::limits::DEFAULT_MAX_SAMPLED_FRAMES, value_name = "N")]
    pub max_sampled_frames: u64,
    /// Longest a request may take, upload included.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub request_timeout: String,
    /// Longest a client may stay silent while sending headers or a body.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub idle_timeout: String,
    /// Images per network batch.
    #[arg(long, default_value_t = relaxvqa::DEFAULT_BATCH_SIZE, value_name = "N")]
    pub batch_size: usize,
    /// Keep the jobs in this PostgreSQL database (postgres://USER@HOST/DB)
    /// instead of SQLite in the data dir, so that several replicas share
    /// one queue (and one --data-dir, on storage they all see).
    #[arg(long, env = "RELAXVQA_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// With --database-url: how long a claimed job stays with its replica
    /// without a renewal (renewed every third of it while it runs); after
    /// that another replica takes it over.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub lease: String,
    /// Times a job may be started and lost (the service, or its replica,
    /// died while scoring it) before it fails instead of being tried again.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_attempts: u32,
}

impl ServeArgs {
    /// The defaults of every flag, with this data dir (for embedding the
    /// service in a program or a test).
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.into(),
            weights: "hub".into(),
            model: DEFAULT_HEAD.into(),
            media_root: None,
            token_file: None,
            max_queue: 64,
            max_uploads: 8,
            max_upload_bytes: 2 << 30,
            workers: 1,
            segments_default: "1s".into(),
            job_timeout: None,
            max_pixels: relaxvqa::DEFAULT_MAX_PIXELS,
            max_streams: relaxvqa::limits::DEFAULT_MAX_STREAMS,
            max_duration: "10m".into(),
            max_sampled_frames: relaxvqa::limits::DEFAULT_MAX_SAMPLED_FRAMES,
            request_timeout: "15m".into(),
            idle_timeout: "30s".into(),
            batch_size: relaxvqa::DEFAULT_BATCH_SIZE,
            database_url: None,
            lease: "30s".into(),
            max_attempts: 3,
        }
    }
}

/// The service's settings, checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The data dir (created, canonical).
    pub data_dir: PathBuf,
    /// Backbone weights.
    pub weights: String,
    /// The head.
    pub model: String,
    /// Canonical media root, when given.
    pub media_root: Option<PathBuf>,
    /// The bearer token, when required.
    pub token: Option<String>,
    /// Queued + running jobs allowed.
    pub max_queue: usize,
    /// Uploads received at once.
    pub max_uploads: usize,
    /// Largest upload, bytes.
    pub max_upload_bytes: u64,
    /// What a submitted video may make the decoder spend: frame size,
    /// streams, duration, sampled frames (`docs/security.md`, "Limits").
    pub limits: relaxvqa::Limits,
    /// Worker threads.
    pub workers: usize,
    /// Compute threads of the model (default: all cores).
    pub threads: Option<usize>,
    /// Default timeline window, seconds.
    pub segments_default: f64,
    /// Per-job time limit (derived from the limits unless given).
    pub job_timeout: Option<Duration>,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// Silence allowed while a client sends.
    pub idle_timeout: Duration,
    /// Images per network batch.
    pub batch_size: usize,
    /// Times a job may be interrupted by a crash before it fails.
    pub max_interrupted: u32,
    /// The shared job database, when not SQLite in the data dir.
    pub database_url: Option<String>,
    /// How long a claim holds a job without renewal (shared database).
    pub lease: Duration,
}

fn duration(flag: &str, s: &str) -> Result<Duration, ServeError> {
    let seconds = parse_duration(s).map_err(|e| ServeError::Config(format!("{flag}: {e}")))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| ServeError::Config(format!("{flag}: {s} is longer than this system can wait")))
}

/// `--job-timeout`'s default: 60 s to open, probe and load, plus 3 s per
/// sampled frame the limits allow (a sampled 1080p frame takes 1.0-1.5 s
/// of both networks and the flow on two cores: twice that is the margin).
pub fn default_job_timeout(max_sampled_frames: u64) -> Duration {
    Duration::from_secs(60u64.saturating_add(max_sampled_frames.saturating_mul(3)))
}

impl Config {
    /// Checks the arguments: folders exist (the data dir is created), the
    /// token file holds a token, numbers are positive.
    pub fn from_args(a: &ServeArgs, threads: Option<usize>) -> Result<Self, ServeError> {
        std::fs::create_dir_all(&a.data_dir).map_err(ServeError::io(&a.data_dir))?;
        let data_dir = a.data_dir.canonicalize().map_err(ServeError::io(&a.data_dir))?;
        let media_root = a
            .media_root
            .as_ref()
            .map(|m| {
                let c = m.canonicalize().map_err(ServeError::io(m))?;
                if !c.is_dir() {
                    return Err(ServeError::Config(format!("--media-root {}: not a folder", m.display())));
                }
                Ok(c)
            })
            .transpose()?;
        let token = a
            .token_file
            .as_ref()
            .map(|f| {
                let text = std::fs::read_to_string(f).map_err(ServeError::io(f))?;
                let t = text.lines().next().unwrap_or("").trim().to_owned();
                if t.len() < 8 {
                    return Err(ServeError::Config(format!(
                        "--token-file {}: the first line must hold a token of at least 8 characters",
                        f.display()
                    )));
                }
                Ok(t)
            })
            .transpose()?;
        if a.workers == 0 || a.max_queue == 0 || a.batch_size == 0 || a.max_uploads == 0 || a.max_attempts == 0 {
            return Err(ServeError::Config(
                "--workers, --max-queue, --max-uploads, --batch-size and --max-attempts must be at least 1".into(),
            ));
        }
        let lease = duration("--lease", &a.lease)?;
        if lease < Duration::from_secs(1) {
            return Err(ServeError::Config(format!("--lease {}: give at least 1s", a.lease)));
        }
        let database_url = a.database_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(u) = &database_url {
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://") || u.contains('=')) {
                return Err(ServeError::Config(
                    "--database-url: expected postgres://USER@HOST:PORT/DATABASE (or libpq key=value pairs)".into(),
                ));
            }
        }
        let segments_default =
            parse_duration(&a.segments_default).map_err(|e| ServeError::Config(format!("--segments-default: {e}")))?;
        if a.max_pixels == 0 || a.max_streams == 0 || a.max_sampled_frames == 0 {
            return Err(ServeError::Config(
                "--max-pixels, --max-streams and --max-sampled-frames must be at least 1: a service takes no video without limits".into(),
            ));
        }
        let limits = relaxvqa::Limits {
            max_pixels: Some(a.max_pixels),
            max_streams: Some(a.max_streams),
            max_duration_s: Some(duration("--max-duration", &a.max_duration)?.as_secs_f64()),
            max_sampled_frames: Some(a.max_sampled_frames),
        };
        let job_timeout = match a.job_timeout.as_deref().map(str::trim) {
            Some("none") => None,
            Some(s) => Some(duration("--job-timeout", s)?),
            None => Some(default_job_timeout(a.max_sampled_frames)),
        };
        Ok(Self {
            listen: a.listen,
            data_dir,
            weights: a.weights.clone(),
            model: a.model.clone(),
            media_root,
            token,
            max_queue: a.max_queue,
            max_uploads: a.max_uploads,
            max_upload_bytes: a.max_upload_bytes,
            limits,
            workers: a.workers,
            threads,
            segments_default,
            job_timeout,
            request_timeout: duration("--request-timeout", &a.request_timeout)?,
            idle_timeout: duration("--idle-timeout", &a.idle_timeout)?,
            batch_size: a.batch_size,
            max_interrupted: a.max_attempts,
            database_url,
            lease,
        })
    }

    /// The lock that makes one process the owner of the data dir.
    pub fn lock_path(&self) -> PathBuf {
        self.data_dir.join("lock")
    }

    /// The job database.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("jobs.db")
    }

    /// Uploaded videos, until their job ends.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    /// Reports of done jobs.
    pub fn reports_dir(&self) -> PathBuf {
        self.data_dir.join("reports")
    }

    /// The report of a job's `attempt`: named by the attempt, so that a
    /// replica that lost its job can never overwrite (or remove) the report
    /// of the run that took it over.
    pub fn report_path(&self, id: &str, attempt: u32) -> PathBuf {
        self.reports_dir().join(format!("{id}.{attempt}.html"))
    }

    /// Whether the jobs live in a database that other replicas share.
    pub fn shared(&self) -> bool {
        self.database_url.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A duration no `Duration` can hold is a configuration error, not a panic.
    #[test]
    fn durations_too_long_for_the_system_are_refused() {
        assert_eq!(duration("--job-timeout", "2s").unwrap(), Duration::from_secs(2));
        let e = duration("--job-timeout", "1e300s").unwrap_err().to_string();
        assert!(e.starts_with("--job-timeout: 1e300s is longer"), "{e}");
    }
}
