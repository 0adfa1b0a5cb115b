//! The registry of running jobs and the wake-up of idle workers: what
//! `DELETE`, the job time-out and shutdown use to stop a job, shared by the
//! workers and the handlers (so neither imports the other for it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use relaxvqa::CancelToken;

/// Why a running job was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    /// Not stopped.
    None = 0,
    /// `DELETE /v1/jobs/{id}`: the job stays cancelled.
    User = 1,
    /// The service is stopping: the job goes back to the queue.
    Shutdown = 2,
    /// It ran past `--job-timeout`: the job fails.
    Timeout = 3,
    /// Its lease was lost (a shared queue gave the job to another replica
    /// after this one stalled, or it was cancelled there): this run writes
    /// nothing more.
    Lost = 4,
}

/// A running job's handle.
pub struct Running {
    /// The attempt that claimed the job: every write of this run names it.
    pub(crate) attempt: u32,
    pub(crate) token: CancelToken,
    pub(crate) reason: AtomicU8,
    pub(crate) started: Instant,
}

impl Running {
    pub(crate) fn stop(&self, reason: StopReason) {
        // The first reason wins: a user's cancel is not turned into a requeue.
        let _ = self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
        self.token.cancel();
    }

    pub(crate) fn reason(&self) -> StopReason {
        match self.reason.load(Ordering::SeqCst) {
            1 => StopReason::User,
            2 => StopReason::Shutdown,
            3 => StopReason::Timeout,
            4 => StopReason::Lost,
            _ => StopReason::None,
        }
    }
}

/// Wakes idle workers, and holds the running jobs.
#[derive(Default)]
pub struct Queue {
    wake: Mutex<u64>,
    cv: Condvar,
    running: Mutex<HashMap<String, Arc<Running>>>,
    stopping: AtomicBool,
}

impl Queue {
    /// Wakes the idle workers (a job was queued, the model is loaded, or
    /// the service stops).
    pub fn notify(&self) {
        let mut g = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        *g = g.wrapping_add(1);
        self.cv.notify_all();
    }

    pub(crate) fn wait(&self, timeout: Duration) {
        let g = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        let seen = *g;
        let _ = self.cv.wait_timeout_while(g, timeout, |g| *g == seen && !self.stopping());
    }

    pub(crate) fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Running>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the service is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Stops a running job; `false` when this process is not running it.
    pub fn stop_job(&self, id: &str, reason: StopReason) -> bool {
        match self.running().get(id) {
            Some(r) => {
                r.stop(reason);
                true
            }
            None => false,
        }
    }

    /// Stops taking jobs and stops the running ones (they go back to the
    /// queue).
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for r in self.running().values() {
            r.stop(StopReason::Shutdown);
        }
        self.notify();
    }

    /// Stops the jobs running for longer than `limit`.
    pub(crate) fn expire(&self, limit: Duration) {
        for (id, r) in self.running().iter() {
            if r.started.elapsed() > limit && r.reason() == StopReason::None {
                tracing::warn!("job {id}: over the time limit of {limit:?}; stopping it");
                r.stop(StopReason::Timeout);
            }
        }
    }
}
