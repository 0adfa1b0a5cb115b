//! The job table shared by replicas: one PostgreSQL table, as production
//! job queues keep theirs (River, Oban, graphile-worker):
//!
//! - a claim takes the oldest queued job, or a running one whose lease ran
//!   out, in one statement (`UPDATE ... WHERE seq = (SELECT ... FOR UPDATE
//!   SKIP LOCKED) RETURNING`), so two replicas never take the same job and
//!   never wait on each other;
//! - the claim sets `lease_until` and counts the attempt; the replica
//!   renews the lease while the job runs, and every later write of that run
//!   names its attempt (the fencing token): a replica that stalled past its
//!   lease finds its job taken and its result refused;
//! - a job whose lease ran out `max_interrupted` times fails instead of
//!   being taken again (a video that kills replicas must not kill them all);
//! - times are the database's clock (`clock_timestamp()`), so replicas with
//!   skewed clocks agree on whose lease ran out;
//! - the schema is migrated at start under an advisory lock, so replicas
//!   that start at the same moment migrate once.
//!
//! The client is the `postgres` crate (the synchronous face of
//! `tokio-postgres`): every call of the store runs on a worker thread or in
//! `spawn_blocking`, never on the async threads, as with SQLite.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::postgres::{Client, NoTls, Row};

use super::{Cancel, Job, JobStore, NewJob, Status, StoreError, StoreResult};

/// The schema, one migration per version, applied in order and recorded in
/// `relaxvqa_migrations`. Never edit a released entry: add one.
const MIGRATIONS: [(i32, &str, &str); 2] = [
    (
        1,
        "jobs table with leases",
        "CREATE TABLE relaxvqa_jobs (
        seq          BIGSERIAL PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        status       TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),
        created      DOUBLE PRECISION NOT NULL,
        started      DOUBLE PRECISION,
        finished     DOUBLE PRECISION,
        input        TEXT NOT NULL,
        name         TEXT NOT NULL,
        upload       BOOLEAN NOT NULL,
        segments     DOUBLE PRECISION NOT NULL,
        result       TEXT,
        error        TEXT,
        error_kind   TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        interrupted  INTEGER NOT NULL DEFAULT 0,
        lease_until  DOUBLE PRECISION,
        owner        TEXT
    );
    CREATE INDEX relaxvqa_jobs_status ON relaxvqa_jobs (status, seq);",
    ),
    (2, "media-root file identity", "ALTER TABLE relaxvqa_jobs ADD COLUMN identity TEXT"),
];

/// The advisory lock key of migrations and of the queue-size check
/// (`relaxvqa` in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x72_65_6c_61_78_76_71_61;
const INSERT_LOCK: i64 = MIGRATION_LOCK + 1;

/// Now on the database's clock, in Unix seconds.
const NOW: &str = "extract(epoch from clock_timestamp())::double precision";

const COLUMNS: &str =
    "id, status, created, started, finished, input, upload, segments, result, error, error_kind, attempts, interrupted, name, identity";

/// Idle connections kept for reuse.
const POOL: usize = 8;

/// The job table in PostgreSQL.
pub struct PostgresStore {
    config: ::postgres::Config,
    idle: Mutex<Vec<Client>>,
    /// Seconds a claim or a renewal holds a job.
    lease: f64,
    /// This replica's name in `owner` (host and process id).
    owner: String,
    /// Lost leases after which a job fails.
    max_interrupted: u32,
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL or `key=value` string; a
    /// connect time-out of 5 s unless it says otherwise) and migrates the
    /// schema. `lease`: how long a claim holds a job without renewal.
    pub fn open(url: &str, lease: Duration, max_interrupted: u32) -> StoreResult<Self> {
        let mut config: ::postgres::Config =
            url.parse().map_err(|e| StoreError::Schema(format!("--database-url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("relaxvqa-serve");
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let store = Self {
            config,
            idle: Mutex::new(Vec::new()),
            lease: lease.as_secs_f64(),
            owner: format!("{host}:{}", std::process::id()),
            max_interrupted,
        };
        store.with(migrate)?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection (a new one when none is idle); a
    /// connection that broke is not returned to the pool.
    fn with<T>(&self, f: impl FnOnce(&mut Client) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut client = match idle {
            Some(c) if !c.is_closed() => c,
            _ => self.config.connect(NoTls)?,
        };
        let out = f(&mut client);
        if !client.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < POOL {
                idle.push(client);
            }
        }
        out
    }
}

/// Applies the migrations this database lacks, holding an advisory lock so
/// that replicas starting together apply each once; refuses a database
/// migrated by a newer version.
fn migrate(c: &mut Client) -> StoreResult<()> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS relaxvqa_migrations (
            version     INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            applied     TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )?;
    let have: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM relaxvqa_migrations", &[])?.get(0);
    let known = MIGRATIONS.len() as i32;
    if have > known {
        return Err(StoreError::Schema(format!(
            "the database is at schema version {have}, this relaxvqa knows versions up to {known}: upgrade this replica"
        )));
    }
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO relaxvqa_migrations (version, description) VALUES ($1, $2)", &[version, description])?;
        tracing::info!("job database: migrated to schema version {version} ({description})");
    }
    tx.commit()?;
    Ok(())
}

fn row_to_job(r: &Row) -> Job {
    let attempts: i32 = r.get(11);
    let interrupted: i32 = r.get(12);
    Job {
        id: r.get(0),
        status: Status::parse(r.get(1)),
        created: r.get(2),
        started: r.get(3),
        finished: r.get(4),
        input: PathBuf::from(r.get::<_, String>(5)),
        upload: r.get(6),
        segments: r.get(7),
        result: r.get(8),
        error: r.get(9),
        error_kind: r.get(10),
        attempts: u32::try_from(attempts).unwrap_or(0),
        interrupted: u32::try_from(interrupted).unwrap_or(0),
        name: r.get(13),
        identity: r.get(14),
    }
}

/// An attempt number as the column's type.
fn token(attempt: u32) -> i32 {
    i32::try_from(attempt).unwrap_or(i32::MAX)
}

impl JobStore for PostgresStore {
    /// Nothing to do: a replica never owns the table alone, and the jobs
    /// of one that died come back when their leases run out.
    fn recover(&self, _max_interrupted: u32) -> StoreResult<(usize, usize)> {
        Ok((0, 0))
    }

    fn insert_if_room(&self, job: &NewJob, max_active: usize) -> StoreResult<bool> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // One insert at a time over all replicas, so that the count
            // below stays true until this job is in.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])?;
            let active: i64 =
                tx.query_one("SELECT COUNT(*) FROM relaxvqa_jobs WHERE status IN ('queued','running')", &[])?.get(0);
            if active as usize >= max_active {
                return Ok(false);
            }
            tx.execute(
                &format!(
                    "INSERT INTO relaxvqa_jobs (id, status, created, input, name, upload, segments, identity)
                     VALUES ($1, 'queued', {NOW}, $2, $3, $4, $5, $6)"
                ),
                &[&job.id, &job.input.to_string_lossy().as_ref(), &job.name, &job.upload, &job.segments, &job.identity],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn active(&self) -> StoreResult<usize> {
        self.with(|c| {
            let n: i64 =
                c.query_one("SELECT COUNT(*) FROM relaxvqa_jobs WHERE status IN ('queued','running')", &[])?.get(0);
            Ok(n as usize)
        })
    }

    fn counts(&self) -> StoreResult<Vec<(Status, u64)>> {
        self.with(|c| {
            let rows = c.query("SELECT status, COUNT(*) FROM relaxvqa_jobs GROUP BY status", &[])?;
            let found: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok(Status::ALL
                .iter()
                .map(|s| (*s, found.iter().find(|(n, _)| n == s.as_str()).map(|(_, c)| *c as u64).unwrap_or(0)))
                .collect())
        })
    }

    fn claim(&self) -> StoreResult<Option<Job>> {
        self.with(|c| {
            let limit = i32::try_from(self.max_interrupted).unwrap_or(i32::MAX);
            // Jobs whose replica died too often: failed, not taken again.
            let given_up = c.execute(
                &format!(
                    "UPDATE relaxvqa_jobs SET status = 'failed', finished = {NOW}, error_kind = 'internal',
                         interrupted = interrupted + 1, lease_until = NULL,
                         error = 'the replica scoring this video stopped ' || (interrupted + 1) ||
                                 ' times before it finished; not tried again'
                     WHERE status = 'running' AND lease_until < {NOW} AND interrupted + 1 >= $1"
                ),
                &[&limit],
            )?;
            if given_up > 0 {
                tracing::warn!("{given_up} job(s) given up: their replicas stopped {limit} times");
            }
            let row = c.query_opt(
                &format!(
                    "UPDATE relaxvqa_jobs SET
                         interrupted = interrupted + CASE WHEN status = 'running' THEN 1 ELSE 0 END,
                         status = 'running', started = {NOW}, attempts = attempts + 1,
                         lease_until = {NOW} + $1, owner = $2
                     WHERE seq = (SELECT seq FROM relaxvqa_jobs
                                  WHERE status = 'queued' OR (status = 'running' AND lease_until < {NOW})
                                  ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING {COLUMNS}"
                ),
                &[&self.lease, &self.owner],
            )?;
            Ok(row.as_ref().map(row_to_job))
        })
    }

    fn renew(&self, id: &str, attempt: u32) -> StoreResult<bool> {
        self.with(|c| {
            let n = c.execute(
                &format!(
                    "UPDATE relaxvqa_jobs SET lease_until = {NOW} + $3
                     WHERE id = $1 AND attempts = $2 AND status = 'running'"
                ),
                &[&id, &token(attempt), &self.lease],
            )?;
            Ok(n == 1)
        })
    }

    fn finish_done(&self, id: &str, attempt: u32, result: &str) -> StoreResult<bool> {
        self.with(|c| {
            let n = c.execute(
                &format!(
                    "UPDATE relaxvqa_jobs SET status = 'done', finished = {NOW}, result = $3, lease_until = NULL
                     WHERE id = $1 AND attempts = $2 AND status = 'running'"
                ),
                &[&id, &token(attempt), &result],
            )?;
            Ok(n == 1)
        })
    }

    fn finish_failed(&self, id: &str, attempt: u32, error: &str, kind: &str) -> StoreResult<bool> {
        self.with(|c| {
            let n = c.execute(
                &format!(
                    "UPDATE relaxvqa_jobs SET status = 'failed', finished = {NOW}, error = $3, error_kind = $4,
                         lease_until = NULL
                     WHERE id = $1 AND attempts = $2 AND status = 'running'"
                ),
                &[&id, &token(attempt), &error, &kind],
            )?;
            Ok(n == 1)
        })
    }

    fn requeue(&self, id: &str, attempt: u32) -> StoreResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE relaxvqa_jobs SET status = 'queued', started = NULL, lease_until = NULL, owner = NULL
                 WHERE id = $1 AND attempts = $2 AND status = 'running'",
                &[&id, &token(attempt)],
            )?;
            Ok(n == 1)
        })
    }

    fn cancel(&self, id: &str) -> StoreResult<Cancel> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let row = tx.query_opt("SELECT status FROM relaxvqa_jobs WHERE id = $1 FOR UPDATE", &[&id])?;
            let out = Cancel::of(row.map(|r| Status::parse(r.get(0))));
            if out.cancels() {
                tx.execute(
                    &format!(
                        "UPDATE relaxvqa_jobs SET status = 'cancelled', finished = {NOW}, lease_until = NULL WHERE id = $1"
                    ),
                    &[&id],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn get(&self, id: &str) -> StoreResult<Option<Job>> {
        self.with(|c| {
            let row = c.query_opt(&format!("SELECT {COLUMNS} FROM relaxvqa_jobs WHERE id = $1"), &[&id])?;
            Ok(row.as_ref().map(row_to_job))
        })
    }

    fn live_uploads(&self) -> StoreResult<Vec<PathBuf>> {
        self.with(|c| {
            let rows =
                c.query("SELECT input FROM relaxvqa_jobs WHERE upload AND status IN ('queued','running')", &[])?;
            Ok(rows.iter().map(|r| PathBuf::from(r.get::<_, String>(0))).collect())
        })
    }
}
