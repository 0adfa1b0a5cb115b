//! The workers: threads that claim queued jobs from the database and score
//! them with the shared model, and the registry of running jobs through
//! which `DELETE`, the job time-out and shutdown stop them.
//!
//! Every job's video is opened as an untrusted input (the container
//! allow-list, no nested opens: `crate::http::ingest`), and everything a job
//! records for clients goes through the [`crate::redact::Redactor`]. A
//! result or failure that cannot be written is retried until it is (or
//! the service stops, and the next start requeues the job): a claimed job
//! is never left `running` by a database error.
//!
//! Every write of a run names the attempt that claimed the job (the
//! fencing token of a shared queue), and a renewal thread extends the
//! leases of the running jobs every third of `--lease`: a job that is no
//! longer this run's (cancelled on another replica, or taken over after
//! this one stalled) is stopped, and its upload left to whoever has it.
//!
//! A job is scored with [`relaxvqa::report::report`] rather than
//! `Model::score`: the same extraction and the same whole-video score, plus
//! the timeline and the thumbnails of the HTML report, which is written to
//! the data dir at job time (a few hundred kB of thumbnails in memory while
//! the job runs; no second pass over the video when the report is asked
//! for).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::{Duration, Instant};

use relaxvqa::report::{report, ReportOptions};
use relaxvqa::{CancelToken, ErrorKind, ExtractOptions, Input};

use crate::jobs::app::App;
use crate::jobs::media::{reopen_media, FileId};
use crate::jobs::queue::{Running, StopReason};
use crate::jobs::store::{Job, JobStore, Status, StoreResult};

/// Starts the worker threads (and the time-out watchdog when a job time
/// limit is set).
pub fn spawn(app: &Arc<App>) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for i in 0..app.config.workers {
        let app = Arc::clone(app);
        handles.push(std::thread::Builder::new().name(format!("relaxvqa-worker-{i}")).spawn(move || worker(&app))?);
    }
    let renewal = Arc::clone(app);
    handles.push(std::thread::Builder::new().name("relaxvqa-leases".into()).spawn(move || renew(&renewal))?);
    if let Some(limit) = app.config.job_timeout {
        let app = Arc::clone(app);
        handles.push(std::thread::Builder::new().name("relaxvqa-watchdog".into()).spawn(move || {
            while !app.queue.stopping() {
                app.queue.expire(limit);
                app.queue.wait(Duration::from_millis(500));
            }
        })?);
    }
    Ok(handles)
}

/// Renews the leases of this process's running jobs every third of the
/// lease; stops a job whose lease is no longer its own.
fn renew(app: &App) {
    let every = app.config.lease / 3;
    let mut next = Instant::now() + every;
    while !app.queue.stopping() {
        // Woken early by any job news; renews only when it is time.
        app.queue.wait(next.saturating_duration_since(Instant::now()));
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + every;
        let running: Vec<(String, Arc<Running>)> =
            app.queue.running().iter().map(|(id, r)| (id.clone(), Arc::clone(r))).collect();
        for (id, r) in running {
            match app.store.renew(&id, r.attempt) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("job {id}: attempt {} no longer holds it; stopping", r.attempt);
                    r.stop(StopReason::Lost);
                }
                // The lease may run out meanwhile: then another replica
                // takes the job over and this run's writes are refused.
                Err(e) => tracing::error!("job {id}: renewing its lease: {e}"),
            }
        }
    }
}

fn worker(app: &App) {
    while !app.queue.stopping() {
        if app.model.get().is_none() {
            app.queue.wait(Duration::from_millis(200));
            continue;
        }
        match app.store.claim() {
            Ok(Some(job)) => run_job(app, job),
            // A shared queue gets jobs from other replicas too, which
            // wake nobody here: look again within half a second.
            Ok(None) => app.queue.wait(Duration::from_millis(if app.config.shared() { 500 } else { 1000 })),
            Err(e) => {
                tracing::error!("claiming a job: {e}");
                app.queue.wait(Duration::from_secs(1));
            }
        }
    }
}

fn run_job(app: &App, job: Job) {
    let Some(model) = app.model.get() else { return };
    let attempt = job.attempts;
    let running =
        Arc::new(Running { attempt, token: CancelToken::new(), reason: AtomicU8::new(0), started: Instant::now() });
    app.queue.running().insert(job.id.clone(), Arc::clone(&running));
    // A DELETE or a shutdown between the claim and the registration above
    // found nothing to stop: look again now that the job can be found.
    if app.queue.stopping() {
        running.stop(StopReason::Shutdown);
    } else {
        match app.store.renew(&job.id, attempt) {
            Ok(true) => {}
            Ok(false) => running.stop(StopReason::User),
            // Not a cancel: the job is still this run's as far as anyone
            // knows, and the lease thread looks again.
            Err(e) => tracing::error!("job {}: checking it after the claim: {e}", job.id),
        }
    }
    // Client text in logs goes through Debug: a newline in a file name
    // cannot forge a log line.
    tracing::info!(job = %job.id, input = ?job.input, name = ?job.name, attempt = job.attempts, "scoring");
    let opts = ReportOptions {
        window: job.segments,
        extract: ExtractOptions {
            cancel: running.token.clone(),
            decode_threads: if app.config.workers > 1 { 1 } else { 0 },
            limits: app.config.limits.clone(),
            ..Default::default()
        },
        // The page and the JSON name the head the same way.
        model_source: app.model_source.get().cloned(),
        ..Default::default()
    };
    let outcome = match open_job_input(app, &job) {
        Err(why) => Ok(Err(Box::new(relaxvqa::Error::Invalid(format!("{}: {why}", job.name))))),
        Ok(file) => std::panic::catch_unwind(AssertUnwindSafe(|| {
            // The decoder reads the file opened and checked here, never the
            // name again, and knows it by the client's name only (messages,
            // provenance, page). Boxed: the library's error is large
            // (clippy::result_large_err).
            let input = Input::reader(job.name.clone(), std::io::BufReader::with_capacity(1 << 16, file));
            report(model, input, &opts).map_err(Box::new)
        })),
    };
    app.queue.running().remove(&job.id);
    let seconds = running.started.elapsed().as_secs_f64();
    // The input is named as the client named it, never by its server path.
    let redact = app.redactor.with(&job.input.display().to_string(), &job.name);
    let public = |text: &str| redact.text(text);
    let status = match outcome {
        Ok(Ok((html, mut score))) => {
            let html = public(&html);
            score.warnings = score.warnings.iter().map(|w| public(w)).collect();
            let sampled = score.provenance.sampled_frames;
            match finish_done(app, &job.id, attempt, &html, &score) {
                Ok(true) => {
                    app.metrics.scored(seconds, sampled);
                    Some(Status::Done)
                }
                Ok(false) => refused(app, &job),
                Err(e) => {
                    tracing::error!("job {}: storing the result: {e}", job.id);
                    fail(app, &job, "internal error: the result could not be stored", "internal")
                }
            }
        }
        Ok(Err(e)) if e.kind() == ErrorKind::Cancelled => match running.reason() {
            StopReason::Shutdown => {
                if persist(app, &job.id, "requeue", |s| s.requeue(&job.id, attempt)).is_some() {
                    tracing::info!("job {}: back in the queue (the service stops)", job.id);
                }
                // Waiters answer with the job as queued.
                app.finished.notify_waiters();
                return;
            }
            StopReason::Timeout => {
                let limit = app.config.job_timeout.map(|d| d.as_secs_f64()).unwrap_or(0.0);
                fail(app, &job, &format!("timed out: still running after {limit} s (--job-timeout)"), "timeout")
            }
            // Cancelled by DELETE: the database says so already.
            StopReason::User | StopReason::None => Some(Status::Cancelled),
            StopReason::Lost => refused(app, &job),
        },
        Ok(Err(e)) => {
            let kind = serde_json::to_value(e.kind()).ok().and_then(|v| v.as_str().map(str::to_owned));
            fail(app, &job, &public(&e.to_string()), kind.as_deref().unwrap_or("internal"))
        }
        Err(_) => fail(app, &job, "internal error (a worker panicked); please report it", "internal"),
    };
    if let Some(s) = status {
        app.metrics.finished(s);
        tracing::info!("job {}: {} after {seconds:.1} s", job.id, s.as_str());
    }
    // The job is over here, and its upload no longer needed, unless another
    // replica runs it now.
    if job.upload && status.is_some() {
        // The job has ended (or was cancelled): its upload is no longer needed.
        if let Err(e) = std::fs::remove_file(&job.input) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", job.input.display());
            }
        }
    }
    app.finished.notify_waiters();
}

/// The job's video, opened for reading: an upload of ours as an untrusted
/// file (no link followed, nothing but a regular file), a media-root file
/// beneath the root and only while it is the file checked at submit.
fn open_job_input(app: &App, job: &Job) -> Result<std::fs::File, String> {
    if job.upload {
        return relaxvqa::open_untrusted_file(&job.input).map_err(|e| e.to_string());
    }
    let root = app.config.media_root.as_deref().ok_or("the service now runs without --media-root")?;
    let id: FileId = job.identity.as_deref().ok_or("the job records no file identity: submit it again")?.parse()?;
    reopen_media(root, &job.input, id)
}

fn fail(app: &App, job: &Job, message: &str, kind: &str) -> Option<Status> {
    match persist(app, &job.id, "recording the failure", |s| s.finish_failed(&job.id, job.attempts, message, kind))? {
        true => Some(Status::Failed),
        false => refused(app, job),
    }
}

/// A write of this run was refused: the job is no longer its own. Says how
/// it ended when it did (cancelled: the upload may go), or `None` when
/// another run holds it now (this one leaves everything to that one).
fn refused(app: &App, job: &Job) -> Option<Status> {
    let now = persist(app, &job.id, "reading the job", |s| s.get(&job.id)).flatten();
    match now {
        Some(j) if j.status == Status::Cancelled => Some(Status::Cancelled),
        Some(j) => {
            tracing::warn!(
                "job {}: attempt {} lost it (now {}, attempt {}); its result is discarded",
                job.id,
                job.attempts,
                j.status.as_str(),
                j.attempts
            );
            app.metrics.stale();
            None
        }
        None => None,
    }
}

/// Runs a status change of a claimed job until the database takes it,
/// waiting longer after each failure (at most 5 s). `None` only when the
/// service stops first: the job is still `running` in the database, and
/// the next start puts it back in the queue.
fn persist<T>(app: &App, id: &str, what: &str, mut write: impl FnMut(&dyn JobStore) -> StoreResult<T>) -> Option<T> {
    let mut pause = Duration::from_millis(50);
    loop {
        match write(app.store.as_ref()) {
            Ok(done) => return Some(done),
            Err(e) => {
                tracing::error!("job {id}: {what}: {e}; trying again in {pause:?}");
                if app.queue.stopping() {
                    return None;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Writes the report (atomically), then records the result; the report is
/// removed again when the job was cancelled meanwhile.
fn finish_done(app: &App, id: &str, attempt: u32, html: &str, score: &relaxvqa::Score) -> Result<bool, String> {
    let json = serde_json::to_string(score).map_err(|e| e.to_string())?;
    let path = app.config.report_path(id, attempt);
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, html).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    let done = persist(app, id, "storing the result", |s| s.finish_done(id, attempt, &json))
        .ok_or("the service stopped before the result was stored")?;
    if !done {
        let _ = std::fs::remove_file(&path);
    }
    Ok(done)
}
