//! The workers: threads that claim queued jobs from the database and score
//! them with the shared model, and the registry of running jobs through
//! which `DELETE`, the job time-out and shutdown stop them.
//!
//! Every job's video is opened as an untrusted input (the container
//! allow-list, no nested opens: `crate::ingest`), and everything a job
//! records for clients goes through the [`crate::redact::Redactor`]. A
//! result or failure that cannot be written is retried until it is (or
//! the service stops, and the next start requeues the job): a claimed job
//! is never left `running` by a database error.
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

use crate::app::App;
use crate::queue::{Running, StopReason};
use crate::store::{Job, Status, Store};

/// Starts the worker threads (and the time-out watchdog when a job time
/// limit is set).
pub fn spawn(app: &Arc<App>) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for i in 0..app.config.workers {
        let app = Arc::clone(app);
        handles.push(std::thread::Builder::new().name(format!("relaxvqa-worker-{i}")).spawn(move || worker(&app))?);
    }
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

fn worker(app: &App) {
    while !app.queue.stopping() {
        if app.model.get().is_none() {
            app.queue.wait(Duration::from_millis(200));
            continue;
        }
        match app.store.claim() {
            Ok(Some(job)) => run_job(app, job),
            Ok(None) => app.queue.wait(Duration::from_secs(1)),
            Err(e) => {
                tracing::error!("claiming a job: {e}");
                app.queue.wait(Duration::from_secs(1));
            }
        }
    }
}

fn run_job(app: &App, job: Job) {
    let Some(model) = app.model.get() else { return };
    let running = Arc::new(Running { token: CancelToken::new(), reason: AtomicU8::new(0), started: Instant::now() });
    app.queue.running().insert(job.id.clone(), Arc::clone(&running));
    // A DELETE or a shutdown between the claim and the registration above
    // found nothing to stop: look again now that the job can be found.
    if app.queue.stopping() {
        running.stop(StopReason::Shutdown);
    } else if !matches!(app.store.get(&job.id), Ok(Some(j)) if j.status == Status::Running) {
        running.stop(StopReason::User);
    }
    tracing::info!("job {}: scoring {} ({}, attempt {})", job.id, job.input.display(), job.name, job.attempts);
    let opts = ReportOptions {
        window: job.segments,
        extract: ExtractOptions {
            cancel: running.token.clone(),
            decode_threads: if app.config.workers > 1 { 1 } else { 0 },
            ..Default::default()
        },
        ..Default::default()
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // Boxed: the library's error is large (clippy::result_large_err).
        report(model, Input::path(&job.input).untrusted(), &opts).map_err(Box::new)
    }));
    app.queue.running().remove(&job.id);
    let seconds = running.started.elapsed().as_secs_f64();
    // The input is named as the client named it, never by its server path.
    let redact = app.redactor.with(&job.input.display().to_string(), &job.name);
    let public = |text: &str| redact.text(text);
    let status = match outcome {
        Ok(Ok((html, mut score))) => {
            let html = public(&html);
            score.provenance.input = job.name.clone();
            score.warnings = score.warnings.iter().map(|w| public(w)).collect();
            if let Some(source) = app.model_source.get() {
                score.model_source = source.clone();
            }
            let sampled = score.provenance.sampled_frames;
            match finish_done(app, &job.id, &html, &score) {
                Ok(true) => {
                    app.metrics.scored(seconds, sampled);
                    Some(Status::Done)
                }
                Ok(false) => None,
                Err(e) => {
                    tracing::error!("job {}: storing the result: {e}", job.id);
                    fail(app, &job.id, "internal error: the result could not be stored", "internal")
                }
            }
        }
        Ok(Err(e)) if e.kind() == ErrorKind::Cancelled => match running.reason() {
            StopReason::Shutdown => {
                if persist(app, &job.id, "requeue", |s| s.requeue(&job.id)).is_some() {
                    tracing::info!("job {}: back in the queue (the service stops)", job.id);
                }
                // Waiters answer with the job as queued.
                app.finished.notify_waiters();
                return;
            }
            StopReason::Timeout => {
                let limit = app.config.job_timeout.map(|d| d.as_secs_f64()).unwrap_or(0.0);
                fail(app, &job.id, &format!("timed out: still running after {limit} s (--job-timeout)"), "timeout")
            }
            // Cancelled by DELETE: the database says so already.
            StopReason::User | StopReason::None => Some(Status::Cancelled),
        },
        Ok(Err(e)) => {
            let kind = serde_json::to_value(e.kind()).ok().and_then(|v| v.as_str().map(str::to_owned));
            fail(app, &job.id, &public(&e.to_string()), kind.as_deref().unwrap_or("internal"))
        }
        Err(_) => fail(app, &job.id, "internal error (a worker panicked); please report it", "internal"),
    };
    if let Some(s) = status {
        app.metrics.finished(s);
        tracing::info!("job {}: {} after {seconds:.1} s", job.id, s.as_str());
    }
    if job.upload {
        // The job has ended (or was cancelled): its upload is no longer needed.
        if let Err(e) = std::fs::remove_file(&job.input) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", job.input.display());
            }
        }
    }
    app.finished.notify_waiters();
}

fn fail(app: &App, id: &str, message: &str, kind: &str) -> Option<Status> {
    persist(app, id, "recording the failure", |s| s.finish_failed(id, message, kind))
        .and_then(|recorded| recorded.then_some(Status::Failed))
}

/// Runs a status change of a claimed job until the database takes it,
/// waiting longer after each failure (at most 5 s). `None` only when the
/// service stops first: the job is still `running` in the database, and
/// the next start puts it back in the queue.
fn persist(app: &App, id: &str, what: &str, mut write: impl FnMut(&Store) -> rusqlite::Result<bool>) -> Option<bool> {
    let mut pause = Duration::from_millis(50);
    loop {
        match write(&app.store) {
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
fn finish_done(app: &App, id: &str, html: &str, score: &relaxvqa::Score) -> Result<bool, String> {
    let json = serde_json::to_string(score).map_err(|e| e.to_string())?;
    let path = app.config.report_path(id);
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, html).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    let done = persist(app, id, "storing the result", |s| s.finish_done(id, &json))
        .ok_or("the service stopped before the result was stored")?;
    if !done {
        let _ = std::fs::remove_file(&path);
    }
    Ok(done)
}
