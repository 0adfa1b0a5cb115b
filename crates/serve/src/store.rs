//! The durable job table: one SQLite database in the data dir (WAL,
//! synchronous=FULL). Every status change is one statement guarded by the
//! status it leaves (`UPDATE ... WHERE status = 'running'`), so a job is
//! claimed by one worker and completes at most once, across crashes too.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::ServeError;

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

    fn parse(s: &str) -> Status {
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
    /// The timeline window, seconds.
    pub segments: f64,
    /// The library's `Score` as JSON, when done.
    pub result: Option<String>,
    /// The one-line error, when failed.
    pub error: Option<String>,
    /// The error's class (`decode`, `model`, ...), when failed.
    pub error_kind: Option<String>,
    /// Times a worker started it.
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

/// Now, in Unix seconds.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),
    created     REAL NOT NULL,
    started     REAL,
    finished    REAL,
    input       TEXT NOT NULL,
    upload      INTEGER NOT NULL,
    segments    REAL NOT NULL,
    result      TEXT,
    error       TEXT,
    error_kind  TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    interrupted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
";

/// Columns added after the first release, with their definitions: added to
/// an older database when it is opened.
const ADDED_COLUMNS: [(&str, &str); 1] = [("name", "TEXT")];

const COLUMNS: &str =
    "id, status, created, started, finished, input, upload, segments, result, error, error_kind, attempts, interrupted, name";

/// The job database.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating) `path` in WAL mode.
    pub fn open(path: &Path) -> Result<Self, ServeError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let have: Vec<String> = {
            let mut st = conn.prepare("SELECT name FROM pragma_table_info('jobs')")?;
            let names = st.query_map([], |r| r.get::<_, String>(0))?;
            names.collect::<rusqlite::Result<_>>()?
        };
        for (column, definition) in ADDED_COLUMNS {
            if !have.iter().any(|h| h == column) {
                conn.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {definition}"))?;
            }
        }
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every
        // change is one statement or a transaction): go on with it.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a start: jobs left `running` by a crash go back to `queued`,
    /// except those interrupted `max_interrupted` times, which fail (a video
    /// that kills the service must not kill it forever). Returns (requeued,
    /// failed).
    pub fn recover(&self, max_interrupted: u32) -> rusqlite::Result<(usize, usize)> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute("UPDATE jobs SET interrupted = interrupted + 1 WHERE status = 'running'", [])?;
        let failed = tx.execute(
            "UPDATE jobs SET status = 'failed', finished = ?1, error_kind = 'internal',
                 error = 'the service stopped while scoring this video ' || interrupted || ' times; not tried again'
             WHERE status = 'running' AND interrupted >= ?2",
            params![now(), max_interrupted],
        )?;
        let requeued = tx.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'", [])?;
        tx.commit()?;
        Ok((requeued, failed))
    }

    /// Inserts a queued job when fewer than `max_active` are queued or
    /// running; `false` when the queue is full.
    pub fn insert_if_room(&self, job: &NewJob, max_active: usize) -> rusqlite::Result<bool> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let active: i64 =
            tx.query_row("SELECT COUNT(*) FROM jobs WHERE status IN ('queued','running')", [], |r| r.get(0))?;
        if active as usize >= max_active {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO jobs (id, status, created, input, upload, segments, name)
             VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6)",
            params![job.id, now(), job.input.to_string_lossy(), job.upload, job.segments, job.name],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Queued plus running jobs.
    pub fn active(&self) -> rusqlite::Result<usize> {
        let n: i64 =
            self.conn()
                .query_row("SELECT COUNT(*) FROM jobs WHERE status IN ('queued','running')", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Jobs by status.
    pub fn counts(&self) -> rusqlite::Result<Vec<(Status, u64)>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let found: Vec<(String, i64)> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(Status::ALL
            .iter()
            .map(|s| (*s, found.iter().find(|(n, _)| n == s.as_str()).map(|(_, c)| *c as u64).unwrap_or(0)))
            .collect())
    }

    /// Claims the oldest queued job for a worker: it becomes `running`, its
    /// attempts counted, in one statement.
    pub fn claim(&self) -> rusqlite::Result<Option<Job>> {
        let c = self.conn();
        c.query_row(
            &format!(
                "UPDATE jobs SET status = 'running', started = ?1, attempts = attempts + 1
                 WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) AND status = 'queued'
                 RETURNING {COLUMNS}"
            ),
            params![now()],
            row_to_job,
        )
        .optional()
    }

    /// Records a running job's result; `false` when it is no longer running
    /// (cancelled meanwhile): nothing is written.
    pub fn finish_done(&self, id: &str, result: &str) -> rusqlite::Result<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'done', finished = ?2, result = ?3 WHERE id = ?1 AND status = 'running'",
            params![id, now(), result],
        )?;
        Ok(n == 1)
    }

    /// Records a running job's failure; `false` when it is no longer running.
    pub fn finish_failed(&self, id: &str, error: &str, kind: &str) -> rusqlite::Result<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'failed', finished = ?2, error = ?3, error_kind = ?4
             WHERE id = ?1 AND status = 'running'",
            params![id, now(), error, kind],
        )?;
        Ok(n == 1)
    }

    /// Puts a running job back in the queue (the service is stopping).
    pub fn requeue(&self, id: &str) -> rusqlite::Result<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'queued', started = NULL WHERE id = ?1 AND status = 'running'",
            params![id],
        )?;
        Ok(n == 1)
    }

    /// Cancels a queued or running job.
    pub fn cancel(&self, id: &str) -> rusqlite::Result<Cancel> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let status: Option<String> =
            tx.query_row("SELECT status FROM jobs WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        let out = match status.as_deref().map(Status::parse) {
            None => Cancel::Missing,
            Some(s) if s.is_final() => Cancel::Final(s),
            Some(s) => {
                tx.execute(
                    "UPDATE jobs SET status = 'cancelled', finished = ?2 WHERE id = ?1 AND status IN ('queued','running')",
                    params![id, now()],
                )?;
                if s == Status::Running {
                    Cancel::Running
                } else {
                    Cancel::Queued
                }
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// One job.
    pub fn get(&self, id: &str) -> rusqlite::Result<Option<Job>> {
        self.conn().query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), params![id], row_to_job).optional()
    }

    /// The input files of queued and running uploads: every other file in
    /// the uploads folder may go.
    pub fn live_uploads(&self) -> rusqlite::Result<Vec<PathBuf>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT input FROM jobs WHERE upload = 1 AND status IN ('queued','running')")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(PathBuf::from)).collect()
    }
}

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let id: String = r.get(0)?;
    let upload: bool = r.get(6)?;
    let input = PathBuf::from(r.get::<_, String>(5)?);
    // Jobs of a database older than the column: uploads by their job, files
    // by their name alone.
    let name = r.get::<_, Option<String>>(13)?.unwrap_or_else(|| {
        if upload {
            format!("upload {id}")
        } else {
            input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        }
    });
    Ok(Job {
        id,
        status: Status::parse(&r.get::<_, String>(1)?),
        created: r.get(2)?,
        started: r.get(3)?,
        finished: r.get(4)?,
        input,
        name,
        upload,
        segments: r.get(7)?,
        result: r.get(8)?,
        error: r.get(9)?,
        error_kind: r.get(10)?,
        attempts: r.get(11)?,
        interrupted: r.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> NewJob {
        NewJob {
            id: id.into(),
            input: PathBuf::from(format!("/x/{id}")),
            name: format!("upload {id}"),
            upload: true,
            segments: 1.0,
        }
    }

    #[test]
    fn a_job_is_claimed_once_and_completes_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.db")).unwrap();
        assert!(s.insert_if_room(&job("a"), 2).unwrap());
        assert!(s.insert_if_room(&job("b"), 2).unwrap());
        assert!(!s.insert_if_room(&job("c"), 2).unwrap(), "queue full");
        let a = s.claim().unwrap().unwrap();
        assert_eq!((a.id.as_str(), a.status, a.attempts), ("a", Status::Running, 1));
        assert!(s.finish_done("a", "{}").unwrap());
        assert!(!s.finish_done("a", "{}").unwrap(), "a second completion is refused");
        assert_eq!(s.claim().unwrap().unwrap().id, "b");
        assert!(s.claim().unwrap().is_none());
        assert_eq!(s.live_uploads().unwrap(), vec![PathBuf::from("/x/b")]);
    }

    #[test]
    fn recovery_requeues_and_gives_up_on_a_job_that_kills_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.db")).unwrap();
        s.insert_if_room(&job("a"), 9).unwrap();
        for round in 1..=3 {
            let a = s.claim().unwrap().unwrap();
            assert_eq!(a.attempts, round);
            let (requeued, failed) = s.recover(3).unwrap();
            assert_eq!((requeued, failed), if round < 3 { (1, 0) } else { (0, 1) });
        }
        let a = s.get("a").unwrap().unwrap();
        assert_eq!(a.status, Status::Failed);
        assert!(a.error.unwrap().contains("3 times"));
    }

    #[test]
    fn cancel_states() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("jobs.db")).unwrap();
        s.insert_if_room(&job("a"), 9).unwrap();
        s.insert_if_room(&job("b"), 9).unwrap();
        s.claim().unwrap();
        assert_eq!(s.cancel("a").unwrap(), Cancel::Running);
        assert!(!s.finish_done("a", "{}").unwrap(), "a cancelled job takes no result");
        assert_eq!(s.cancel("b").unwrap(), Cancel::Queued);
        assert_eq!(s.cancel("b").unwrap(), Cancel::Final(Status::Cancelled));
        assert_eq!(s.cancel("zz").unwrap(), Cancel::Missing);
        assert!(s.claim().unwrap().is_none());
    }
}
