//! The one way a video enters the service, whichever route it comes by:
//! an upload is streamed to the data dir (at most `--max-uploads` at a
//! time, the rest refused before their bodies are read), a `{"path": ...}`
//! is resolved under `--media-root`; then either is probed as an
//! **untrusted** input, so a playlist, a manifest or a container off the
//! accepted list is refused at once (415), and a file that is not a video we
//! can read or that goes over a limit (frame size, streams, duration,
//! sampled frames) is refused too (422), before any job exists. A path is
//! opened once, beneath the root, and probed through that descriptor; the
//! job records the file's identity, and the worker reads it only if it is
//! still that file (`crate::jobs::media`). See `docs/security.md`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use relaxvqa::{ErrorKind, Input};

use crate::error::ApiError;
use crate::http::upload::{body_to_bytes, body_to_file, drain, TempFile};
use crate::http::wire::PathRequest;
use crate::jobs::app::App;
use crate::jobs::media::{open_media, FileId};

/// A video accepted for a job.
pub struct Ingested {
    /// The file on the server.
    pub file: PathBuf,
    /// What clients see it called: `upload ID`, or the path as they gave it.
    pub name: String,
    /// The upload, removed if the job is not created.
    pub upload: Option<TempFile>,
    /// A media-root file's identity, which the worker checks before reading.
    pub id: Option<FileId>,
}

/// Takes the request's video for job `id`: stores or resolves it, then
/// probes it as an untrusted input.
pub async fn ingest(app: &Arc<App>, id: &str, req: Request) -> Result<Ingested, ApiError> {
    let ctype = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mime = ctype.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let idle = app.config.idle_timeout;
    // Held until the probe is over: uploads stored or probed at once are bounded.
    let mut _permit = None;
    let ingested = if mime == "application/json" || mime.ends_with("+json") {
        let Some(root) = app.config.media_root.clone() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this service was started without --media-root: upload the video (application/octet-stream) instead",
            ));
        };
        let bytes = body_to_bytes(req.into_body(), 64 << 10, idle).await?;
        let r: PathRequest = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON (expected {{\"path\": \"...\"}}): {e}")))?;
        let client_path = r.path.clone();
        let (name, limits) = (client_path.clone(), app.config.limits.clone());
        // Opened and probed on one blocking thread: the probe reads the
        // descriptor that was checked, not the name again.
        let (path, id, probed) = tokio::task::spawn_blocking(move || {
            let m = open_media(&root, &r.path)?;
            let input = Input::reader(name, std::io::BufReader::with_capacity(1 << 16, m.file));
            Ok::<_, ApiError>((m.path, m.id, relaxvqa::probe(input, &limits)))
        })
        .await
        .map_err(ApiError::internal)??;
        let v = Ingested { file: path, name: client_path, upload: None, id: Some(id) };
        check_probe(app, &v, probed)?;
        return Ok(v);
    } else if mime.is_empty() || mime == "application/octet-stream" || mime.starts_with("video/") {
        // Refused before a byte of the body is read: a slow client cannot
        // hold more than `--max-uploads` files open.
        let Ok(permit) = Arc::clone(&app.uploads).try_acquire_owned() else {
            drain(req.into_body()).await;
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{} uploads are in progress already; try again later", app.config.max_uploads),
            );
            e.retry_after = Some(2);
            return Err(e);
        };
        _permit = Some(permit);
        let dir = app.config.uploads_dir();
        let part =
            body_to_file(req.into_body(), &dir.join(format!("{id}.part")), app.config.max_upload_bytes, idle).await?;
        let stored = part.rename(dir.join(id)).await?;
        Ingested { file: stored.path().to_owned(), name: format!("upload {id}"), upload: Some(stored), id: None }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type {ctype:?}: send the video as application/octet-stream or video/*, or JSON {{\"path\": ...}}"),
        ));
    };
    if let Err(e) = probe(app, &ingested).await {
        // Removed before the answer, so a client that reads the refusal
        // never finds the upload still there.
        if let Some(upload) = ingested.upload {
            upload.discard().await;
        }
        return Err(e);
    }
    Ok(ingested)
}

/// Opens the stored upload as the worker will (untrusted, under the
/// service's limits) and checks it: see [`check_probe`].
async fn probe(app: &Arc<App>, v: &Ingested) -> Result<(), ApiError> {
    let (file, limits) = (v.file.clone(), app.config.limits.clone());
    let info = tokio::task::spawn_blocking(move || relaxvqa::probe(Input::path(file).untrusted(), &limits))
        .await
        .map_err(ApiError::internal)?;
    check_probe(app, v, info)
}

/// 415 for a refused container, 422 for anything else that cannot be
/// scored (not media, no video stream, over a limit: the message names the
/// limit and the flag that raises it); server paths (the stored file, the
/// data dir, the media root) never appear in the answer.
fn check_probe<T>(app: &Arc<App>, v: &Ingested, info: relaxvqa::Result<Option<T>>) -> Result<(), ApiError> {
    let redact = app.redactor.with(&v.file.display().to_string(), &v.name);
    let public = |text: &str| redact.text(text);
    match info {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ApiError::internal("probing a file gave no information")),
        Err(e) if e.kind() == ErrorKind::Refused => {
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, public(&e.to_string())))
        }
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, public(&e.to_string()))),
    }
}
