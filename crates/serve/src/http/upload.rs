//! Request bodies: a video streamed to a file of the data dir (never held
//! whole in memory; refused with 413 as soon as it passes the limit, the
//! partial file removed on every way out, a dropped request included), and
//! a small JSON body read with a cap.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// The next data chunk of `body`, or `None` at its end; an error when the
/// client stays silent for `idle` or the connection fails.
async fn next_chunk(body: &mut Body, idle: Duration) -> Result<Option<Bytes>, ApiError> {
    loop {
        let frame =
            tokio::time::timeout(idle, std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx))).await.map_err(
                |_| ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("the body stalled for {} s", idle.as_secs())),
            )?;
        match frame {
            None => return Ok(None),
            Some(Err(e)) => return Err(ApiError::bad_request(format!("reading the body: {e}"))),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// What a refused upload may still send before its answer (see [`drain`]).
const REFUSED_BODY_BYTES: u64 = 1 << 20;

/// How long a refused upload's remaining bytes are read for.
const REFUSED_BODY_WAIT: Duration = Duration::from_millis(500);

fn too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the limit of {limit} bytes"))
}

/// A file of the data dir that exists only for the request writing it:
/// removed when dropped (an error, a refused upload, a client that went
/// away, a request time-out) unless [`TempFile::keep`] was called.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// The file.
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Renames the file to `to`, still removed on drop.
    pub async fn rename(mut self, to: PathBuf) -> Result<TempFile, ApiError> {
        let from = self.path.take().unwrap_or_default();
        if let Err(e) = tokio::fs::rename(&from, &to).await {
            self.path = Some(from);
            return Err(ApiError::internal(format!("renaming an upload to {}: {e}", to.display())));
        }
        Ok(TempFile { path: Some(to) })
    }

    /// Removes the file now, waiting for the removal (a drop only starts it).
    pub async fn discard(mut self) {
        if let Some(p) = self.path.take() {
            if let Err(e) = tokio::fs::remove_file(&p).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("removing {}: {e}", p.display());
                }
            }
        }
    }

    /// Keeps the file (its job now owns it).
    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            remove_off_runtime(p);
        }
    }
}

/// Removes a file without blocking the async threads when called on them.
pub fn remove_off_runtime(path: PathBuf) {
    let remove = move || {
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", path.display());
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => drop(h.spawn_blocking(remove)),
        Err(_) => remove(),
    }
}

/// Streams `body` into `path` (created), at most `limit` bytes, and syncs
/// it to disk. The file is removed on any error, and whenever the returned
/// [`TempFile`] (or this future, before it ends) is dropped.
pub async fn body_to_file(mut body: Body, path: &Path, limit: u64, idle: Duration) -> Result<TempFile, ApiError> {
    if body.size_hint().lower() > limit {
        return Err(too_large(limit));
    }
    let mut file = tokio::fs::File::create(path).await.map_err(ApiError::internal)?;
    let temp = TempFile { path: Some(path.to_owned()) };
    match write_body(&mut body, &mut file, limit, idle).await {
        Ok(()) => Ok(temp),
        Err(e) => {
            // Removed before the answer goes out: a client that reads the
            // refusal never finds the partial file still there.
            drop(file);
            temp.discard().await;
            Err(e)
        }
    }
}

async fn write_body(body: &mut Body, file: &mut tokio::fs::File, limit: u64, idle: Duration) -> Result<(), ApiError> {
    let mut written = 0u64;
    while let Some(chunk) = next_chunk(body, idle).await? {
        written += chunk.len() as u64;
        if written > limit {
            // The client may still be sending: read a little more of it, as
            // for a body refused unread, so that the connection is not reset
            // under the client before it reads the 413.
            drain_from(body).await;
            return Err(too_large(limit));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.sync_all().await.map_err(ApiError::internal)
}

/// Reads and drops what a client still sends of a body that is refused
/// unread, at most `REFUSED_BODY_BYTES` for at most
/// `REFUSED_BODY_WAIT`: answering and closing with the body unread would
/// reset the connection under a client that is still sending, which then
/// sees an error instead of the answer. A body announced larger than that
/// is not read at all.
pub async fn drain(mut body: Body) {
    drain_from(&mut body).await;
}

/// [`drain`] on a body already partly read.
async fn drain_from(body: &mut Body) {
    let most = REFUSED_BODY_BYTES;
    if body.size_hint().lower() > most {
        return;
    }
    let _ = tokio::time::timeout(REFUSED_BODY_WAIT, async {
        let mut read = 0u64;
        while let Some(Ok(frame)) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            if let Ok(data) = frame.into_data() {
                read += data.len() as u64;
                if read > most {
                    break;
                }
            }
        }
    })
    .await;
}

/// Reads a small body whole (JSON requests), at most `limit` bytes.
pub async fn body_to_bytes(mut body: Body, limit: usize, idle: Duration) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = next_chunk(&mut body, idle).await? {
        if out.len() + chunk.len() > limit {
            return Err(too_large(limit as u64));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
