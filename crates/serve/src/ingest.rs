//! The one way a video enters the service, whichever route it comes by:
//! an upload is streamed to the data dir (at most `--max-uploads` at a
//! time, the rest refused before their bodies are read), a `{"path": ...}`
//! is resolved under `--media-root`; then either is probed as an
//! **untrusted** input, so a playlist, a manifest or a container off the
//! accepted list is refused at once (415) and a file that is not a video we
//! can read is refused too (422), before any job exists. The worker opens
//! the same file with the same policy. See `docs/security.md`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use relaxvqa::{ErrorKind, Input};

use crate::app::App;
use crate::doc::PathRequest;
use crate::error::ApiError;
use crate::upload::{body_to_bytes, body_to_file, drain, resolve_media, TempFile};

/// A video accepted for a job.
pub struct Ingested {
    /// The file on the server.
    pub file: PathBuf,
    /// What clients see it called: `upload ID`, or the path as they gave it.
    pub name: String,
    /// The upload, removed if the job is not created.
    pub upload: Option<TempFile>,
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
        let file =
            tokio::task::spawn_blocking(move || resolve_media(&root, &r.path)).await.map_err(ApiError::internal)??;
        Ingested { file, name: client_path, upload: None }
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
        Ingested { file: stored.path().to_owned(), name: format!("upload {id}"), upload: Some(stored) }
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

/// Opens the video as the worker will (untrusted) and checks what the
/// container says against the limits: 415 for a refused container, 422
/// for anything else that cannot be scored.
async fn probe(app: &Arc<App>, v: &Ingested) -> Result<(), ApiError> {
    let file = v.file.clone();
    let info = tokio::task::spawn_blocking(move || relaxvqa::probe(&Input::path(file).untrusted()))
        .await
        .map_err(ApiError::internal)?;
    let redact = app.redactor.with(&v.file.display().to_string(), &v.name);
    match info {
        Ok(Some(info)) => {
            let pixels = u64::from(info.width) * u64::from(info.height);
            let most = app.config.max_pixels;
            if pixels > most {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{}: frames of {}x{} are over the limit of {most} pixels", v.name, info.width, info.height),
                ));
            }
            Ok(())
        }
        Ok(None) => Err(ApiError::internal("probing a file gave no information")),
        Err(e) if e.kind() == ErrorKind::Refused => {
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, redact.text(&e.to_string())))
        }
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, redact.text(&e.to_string()))),
    }
}
