//! The job table of one service: a SQLite database in the data dir (WAL,
//! synchronous=FULL), owned by the process that holds the data dir's lock.
//! Every status change is one statement guarded by the status it leaves
//! (`UPDATE ... WHERE status = 'running'`) and the attempt that claimed the
//! job, so a job is claimed by one worker and completes at most once,
//! across crashes too.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, Cancel, Job, JobStore, NewJob, Status, StoreResult};

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
const ADDED_COLUMNS: [(&str, &str); 2] = [("name", "TEXT"), ("identity", "TEXT")];

const COLUMNS: &str =
    "id, status, created, started, finished, input, upload, segments, result, error, error_kind, attempts, interrupted, name, identity";

/// The job table in a SQLite file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating) `path` in WAL mode.
    pub fn open(path: &Path) -> StoreResult<Self> {
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
}

impl JobStore for SqliteStore {
    /// After a start: jobs left `running` by a crash go back to `queued`,
    /// except those interrupted `max_interrupted` times, which fail (a video
    /// that kills the service must not kill it forever). Returns (requeued,
    /// failed).
    fn recover(&self, max_interrupted: u32) -> StoreResult<(usize, usize)> {
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
    fn insert_if_room(&self, job: &NewJob, max_active: usize) -> StoreResult<bool> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let active: i64 =
            tx.query_row("SELECT COUNT(*) FROM jobs WHERE status IN ('queued','running')", [], |r| r.get(0))?;
        if active as usize >= max_active {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO jobs (id, status, created, input, upload, segments, name, identity)
             VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![job.id, now(), job.input.to_string_lossy(), job.upload, job.segments, job.name, job.identity],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Queued plus running jobs.
    fn active(&self) -> StoreResult<usize> {
        let n: i64 =
            self.conn()
                .query_row("SELECT COUNT(*) FROM jobs WHERE status IN ('queued','running')", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Jobs by status.
    fn counts(&self) -> StoreResult<Vec<(Status, u64)>> {
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
    fn claim(&self) -> StoreResult<Option<Job>> {
        let c = self.conn();
        Ok(c.query_row(
            &format!(
                "UPDATE jobs SET status = 'running', started = ?1, attempts = attempts + 1
                 WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) AND status = 'queued'
                 RETURNING {COLUMNS}"
            ),
            params![now()],
            row_to_job,
        )
        .optional()?)
    }

    /// No lease to extend (this process owns the table): only whether the
    /// attempt still runs the job.
    fn renew(&self, id: &str, attempt: u32) -> StoreResult<bool> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM jobs WHERE id = ?1 AND attempts = ?2 AND status = 'running'",
            params![id, attempt],
            |r| r.get(0),
        )?;
        Ok(n == 1)
    }

    fn finish_done(&self, id: &str, attempt: u32, result: &str) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'done', finished = ?2, result = ?3
             WHERE id = ?1 AND status = 'running' AND attempts = ?4",
            params![id, now(), result, attempt],
        )?;
        Ok(n == 1)
    }

    fn finish_failed(&self, id: &str, attempt: u32, error: &str, kind: &str) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'failed', finished = ?2, error = ?3, error_kind = ?4
             WHERE id = ?1 AND status = 'running' AND attempts = ?5",
            params![id, now(), error, kind, attempt],
        )?;
        Ok(n == 1)
    }

    fn requeue(&self, id: &str, attempt: u32) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'queued', started = NULL WHERE id = ?1 AND status = 'running' AND attempts = ?2",
            params![id, attempt],
        )?;
        Ok(n == 1)
    }

    /// Cancels a queued or running job.
    fn cancel(&self, id: &str) -> StoreResult<Cancel> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let status: Option<String> =
            tx.query_row("SELECT status FROM jobs WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        let out = Cancel::of(status.as_deref().map(Status::parse));
        if out.cancels() {
            tx.execute(
                "UPDATE jobs SET status = 'cancelled', finished = ?2 WHERE id = ?1 AND status IN ('queued','running')",
                params![id, now()],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        Ok(self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), params![id], row_to_job)
            .optional()?)
    }

    fn live_uploads(&self) -> StoreResult<Vec<PathBuf>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT input FROM jobs WHERE upload = 1 AND status IN ('queued','running')")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.map(|r| r.map(PathBuf::from)).collect::<rusqlite::Result<_>>()?)
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
        identity: r.get(14)?,
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
            identity: None,
        }
    }

    #[test]
    fn a_job_is_claimed_once_and_completes_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("jobs.db")).unwrap();
        assert!(s.insert_if_room(&job("a"), 2).unwrap());
        assert!(s.insert_if_room(&job("b"), 2).unwrap());
        assert!(!s.insert_if_room(&job("c"), 2).unwrap(), "queue full");
        let a = s.claim().unwrap().unwrap();
        assert_eq!((a.id.as_str(), a.status, a.attempts), ("a", Status::Running, 1));
        assert!(s.finish_done("a", 1, "{}").unwrap());
        assert!(!s.finish_done("a", 1, "{}").unwrap(), "a second completion is refused");
        assert_eq!(s.claim().unwrap().unwrap().id, "b");
        assert!(s.claim().unwrap().is_none());
        assert_eq!(s.live_uploads().unwrap(), vec![PathBuf::from("/x/b")]);
    }

    #[test]
    fn recovery_requeues_and_gives_up_on_a_job_that_kills_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("jobs.db")).unwrap();
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
        let s = SqliteStore::open(&dir.path().join("jobs.db")).unwrap();
        s.insert_if_room(&job("a"), 9).unwrap();
        s.insert_if_room(&job("b"), 9).unwrap();
        s.claim().unwrap();
        assert_eq!(s.cancel("a").unwrap(), Cancel::Running);
        assert!(!s.finish_done("a", 1, "{}").unwrap(), "a cancelled job takes no result");
        assert_eq!(s.cancel("b").unwrap(), Cancel::Queued);
        assert_eq!(s.cancel("b").unwrap(), Cancel::Final(Status::Cancelled));
        assert_eq!(s.cancel("zz").unwrap(), Cancel::Missing);
        assert!(s.claim().unwrap().is_none());
    }
}
