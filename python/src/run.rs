//! Running the library's work off the interpreter. The work runs on a thread
//! of its own; the calling thread waits for it without the GIL, in steps of
//! [`POLL`], and between steps (with the GIL) forwards progress to the
//! Python callback, passes on a cancelled [`CancelToken`] of the caller's and
//! checks for signals. On Ctrl-C (or an exception from the progress
//! callback) it cancels the work, waits for it to stop (promptly: the
//! library checks its token between frames and between network batches) and
//! raises.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::prelude::*;
use relaxvqa::{CancelToken, Progress, ProgressFn};

use crate::errors::{raise, to_py};

/// How long the calling thread waits without the GIL between checks.
const POLL: Duration = Duration::from_millis(100);

/// The latest progress of a run, written by the library's thread and read by
/// the calling thread.
#[derive(Clone, Default)]
pub(crate) struct ProgressSlot(Arc<Mutex<Option<Progress>>>);

impl ProgressSlot {
    /// The callback to give the library.
    pub fn callback(&self) -> ProgressFn {
        let slot = Arc::clone(&self.0);
        Arc::new(move |p| *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(p))
    }

    fn take(&self) -> Option<Progress> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// What the calling thread watches while the work runs.
pub(crate) struct Watch<'py> {
    /// The token the work was given; cancelled on Ctrl-C.
    pub cancel: CancelToken,
    /// The caller's token, passed on to `cancel` when it is cancelled.
    pub caller: Option<CancelToken>,
    /// Progress to forward to `callback(done, total)`.
    pub progress: Option<(ProgressSlot, Bound<'py, PyAny>)>,
    /// Wait for the work to stop before raising KeyboardInterrupt (false
    /// for work that cannot be cancelled, such as loading weights: it is
    /// left to finish in the background and its result dropped).
    pub wait_on_interrupt: bool,
}

type Outcome<T> = std::thread::Result<relaxvqa::Result<T>>;

/// Runs `work` on a thread of its own and waits for it as described above.
pub(crate) fn run<T: Send + 'static>(
    py: Python<'_>,
    watch: Watch<'_>,
    work: impl FnOnce() -> relaxvqa::Result<T> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = sync_channel::<Outcome<T>>(1);
    let handle = std::thread::Builder::new()
        .name("relaxvqa-python".into())
        .spawn(move || {
            let outcome = catch_unwind(AssertUnwindSafe(work));
            // The receiver is gone only when the caller stopped waiting.
            let _ = tx.send(outcome);
        })
        .map_err(|e| raise(py, "Error", format!("cannot start a worker thread: {e}")))?;
    let mut rx = rx;
    loop {
        // The receiver is not `Sync`: it goes into the wait and comes back.
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(POLL);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(outcome) => {
                let _ = handle.join();
                forward_progress(&watch)?;
                return finish(py, outcome);
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                return Err(panicked(py));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if watch.caller.as_ref().is_some_and(CancelToken::is_cancelled) {
            watch.cancel.cancel();
        }
        let interrupted = forward_progress(&watch).and_then(|()| py.check_signals());
        if let Err(e) = interrupted {
            watch.cancel.cancel();
            if watch.wait_on_interrupt {
                wait(py, rx, handle);
            }
            return Err(e);
        }
    }
}

/// Calls the progress callback with the latest progress, if any came.
fn forward_progress(watch: &Watch<'_>) -> PyResult<()> {
    if let Some((slot, callback)) = &watch.progress {
        if let Some(p) = slot.take() {
            callback.call1((p.done, p.total))?;
        }
    }
    Ok(())
}

/// Waits (without the GIL) for the work to stop; its result is dropped.
fn wait<T: Send>(py: Python<'_>, rx: Receiver<Outcome<T>>, handle: JoinHandle<()>) {
    py.detach(move || {
        let _ = rx.recv();
        let _ = handle.join();
    });
}

fn finish<T>(py: Python<'_>, outcome: Outcome<T>) -> PyResult<T> {
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py(py, e)),
        Err(_) => Err(panicked(py)),
    }
}

fn panicked(py: Python<'_>) -> PyErr {
    raise(py, "Error", "internal error (a worker panicked); please report it".into())
}
