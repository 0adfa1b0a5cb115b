//! The durable job table, behind one trait with two implementations:
//!
//! - [`SqliteStore`] (the default): one SQLite database in the data dir,
//!   owned by one process (the data dir's lock); a crash's running jobs go
//!   back to the queue at the next start;
//! - [`PostgresStore`] (`--database-url postgres://...`): one table shared
//!   by any number of replicas, claimed with `FOR UPDATE SKIP LOCKED` under
//!   a lease that the running replica renews; a job whose lease runs out
//!   (its replica died or stalled) goes back to the queue, and the attempt
//!   number that claimed a job is the fencing token every later write of
//!   that run must carry.
//!
//! Every status change is one statement guarded by the status it leaves
//! and the attempt that owns it, so a job is claimed by one worker at a
//! time and completes at most once.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

mod postgres;
mod sqlite;

pub use self::postgres::PostgresStore;
pub use self::sqlite::SqliteStore;

pub use crate::error::StoreError;

/// The result of a job-table call.
pub type StoreResult<T> = Result<T, StoreError>;

/// What the service asks of its job table; see the module comment for the
/// two implementations and what each guarantees.
pub trait JobStore: Send + Sync {
    /// At start: what a crash left `running` goes back to the queue (or
    /// fails after `max_interrupted` crashes). Only for a table this process
    /// owns alone; a shared table recovers through leases instead.
    /// Returns (requeued, failed).
    fn recover(&self, max_interrupted: u32) -> StoreResult<(usize, usize)>;
    /// Inserts a queued job when fewer than `max_active` are queued or
    /// running (counted over the whole table); `false` when full.
    fn insert_if_room(&self, job: &NewJob, max_active: usize) -> StoreResult<bool>;
    /// Queued plus running jobs.
    fn active(&self) -> StoreResult<usize>;
    /// Jobs by status.
    fn counts(&self) -> StoreResult<Vec<(Status, u64)>>;
    /// Claims the oldest job that is queued (or whose lease ran out): it
    /// becomes `running` under a new attempt number.
    fn claim(&self) -> StoreResult<Option<Job>>;
    /// Extends the lease of a running job; `false` when `attempt` no longer
    /// owns it (cancelled, or taken over after the lease ran out).
    fn renew(&self, id: &str, attempt: u32) -> StoreResult<bool>;
    /// Records the result of `attempt`; `false` (nothing written) when that
    /// attempt no longer owns the job.
    fn finish_done(&self, id: &str, attempt: u32, result: &str) -> StoreResult<bool>;
    /// Records the failure of `attempt`; `false` as for `finish_done`.
    fn finish_failed(&self, id: &str, attempt: u32, error: &str, kind: &str) -> StoreResult<bool>;
    /// Puts a job `attempt` runs back in the queue (the service is stopping).
    fn requeue(&self, id: &str, attempt: u32) -> StoreResult<bool>;
    /// Cancels a queued or running job.
    fn cancel(&self, id: &str) -> StoreResult<Cancel>;
    /// One job.
    fn get(&self, id: &str) -> StoreResult<Option<Job>>;
    /// The input files of queued and running uploads: every other file in
    /// the uploads folder may go.
    fn live_uploads(&self) -> StoreResult<Vec<PathBuf>>;
}

/// A job's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// Scored; the result and the report are kept.
    Done,
    /// The video could not be scored; `error` says why.
    Failed,
    /// Cancelled by `DELETE /v1/jobs/{id}`.
    Cancelled,
}

impl Status {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// All statuses, in lifecycle order.
    pub const ALL: [Status; 5] = [Status::Queued, Status::Running, Status::Done, Status::Failed, Status::Cancelled];

    pub(crate) fn parse(s: &str) -> Status {
        Status::ALL.into_iter().find(|v| v.as_str() == s).unwrap_or(Status::Failed)
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

/// One row of the jobs table.
#[derive(Clone, Debug)]
pub struct Job {
    /// The id.
    pub id: String,
    /// The status.
    pub status: Status,
    /// Unix seconds.
    pub created: f64,
    /// Unix seconds of the last start.
    pub started: Option<f64>,
    /// Unix seconds.
    pub finished: Option<f64>,
    /// The video file.
    pub input: PathBuf,
    /// What clients see the input called: `upload ID`, or the path under
    /// the media root as the client gave it.
    pub name: String,
    /// Whether `input` is an upload of ours (removed when the job ends).
    pub upload: bool,
    /// A media-root file's identity (`DEV:INO:CTIME_NS`) as checked at submit: the
    /// worker reads the file only while it is still that one.
    pub identity: Option<String>,
    /// The timeline window, seconds.
    pub segments: f64,
    /// The library's `Score` as JSON, when done.
    pub result: Option<String>,
    /// The one-line error, when failed.
    pub error: Option<String>,
    /// The error's class (`decode`, `model`, ...), when failed.
    pub error_kind: Option<String>,
    /// Times a worker started it: also the fencing token of the current
    /// run (a result is written only with the attempt that claimed it).
    pub attempts: u32,
    /// Times the service died while it ran.
    pub interrupted: u32,
}

/// A new job.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// The id.
    pub id: String,
    /// The video file.
    pub input: PathBuf,
    /// What clients see it called.
    pub name: String,
    /// Whether `input` is an upload of ours.
    pub upload: bool,
    /// The timeline window, seconds.
    pub segments: f64,
    /// A media-root file's identity (`DEV:INO:CTIME_NS`) as checked at submit.
    pub identity: Option<String>,
}

/// What `DELETE` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Was queued, now cancelled.
    Queued,
    /// Was running, now cancelled (the worker must be told).
    Running,
    /// Had already ended with this status.
    Final(Status),
    /// No such job.
    Missing,
}

impl Cancel {
    /// What `DELETE` does to a job now in `status` (`None`: no such job).
    pub fn of(status: Option<Status>) -> Self {
        match status {
            None => Cancel::Missing,
            Some(s) if s.is_final() => Cancel::Final(s),
            Some(Status::Running) => Cancel::Running,
            Some(_) => Cancel::Queued,
        }
    }

    /// Whether the job is to be marked cancelled.
    pub fn cancels(self) -> bool {
        matches!(self, Cancel::Queued | Cancel::Running)
    }
}

/// Now, in Unix seconds.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
