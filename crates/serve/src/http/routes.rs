//! The HTTP routes. Each handler carries its OpenAPI description
//! (`#[utoipa::path]`); `crate::http::openapi` gathers them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use relaxvqa::score::parse_duration;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::http::ingest::ingest;
use crate::http::wire::{JobDoc, PathRequest};
use crate::jobs::app::{new_id, valid_id, App};
use crate::jobs::store::{Cancel, NewJob, Status};

/// Every route, as (method, path): the router below and the OpenAPI
/// document must both have exactly these (tested).
pub const ROUTES: [(&str, &str); 9] = [
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("delete", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/report"),
    ("post", "/v1/score"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// The router of every route (without the middleware).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/jobs", post(submit))
        .route("/v1/jobs/{id}", get(job).delete(cancel))
        .route("/v1/jobs/{id}/report", get(job_report))
        .route("/v1/score", post(score))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(app)
}

/// Query of `POST /v1/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Timeline window (e.g. 2s, 500ms); default `--segments-default`.
    pub segments: Option<String>,
}

/// Query of `POST /v1/score`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScoreQuery {
    /// Timeline window (e.g. 2s, 500ms); default `--segments-default`.
    pub segments: Option<String>,
    /// How long to wait for the result (e.g. 30s; default 30 s).
    pub wait: Option<String>,
}

fn queue_full(max: usize) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("the queue is full ({max} jobs queued or running); try again later"),
    );
    e.retry_after = Some(5);
    e
}

/// Takes a request's video (upload or media-root path) and queues it.
async fn enqueue(app: &Arc<App>, segments: Option<&str>, req: Request) -> Result<JobDoc, ApiError> {
    let window = match segments {
        Some(s) => parse_duration(s).map_err(|e| ApiError::bad_request(format!("segments {e}")))?,
        None => app.config.segments_default,
    };
    let max = app.config.max_queue;
    if app.db(|s| s.active()).await? >= max {
        crate::http::upload::drain(req.into_body()).await;
        return Err(queue_full(max));
    }
    let id = new_id()?;
    let video = ingest(app, &id, req).await?;
    let job = NewJob {
        id: id.clone(),
        input: video.file.clone(),
        name: video.name.clone(),
        upload: video.upload.is_some(),
        segments: window,
        identity: video.id.map(|i| i.to_string()),
    };
    // A refused insert drops the upload, which removes its file.
    if !app.db(move |s| s.insert_if_room(&job, max)).await? {
        return Err(queue_full(max));
    }
    if let Some(upload) = video.upload {
        // The job owns its upload now.
        upload.keep();
    }
    // The document as queued, read before a worker is woken.
    let job = app.db(move |s| s.get(&id)).await?.ok_or_else(|| ApiError::internal("the new job vanished"))?;
    app.queue.notify();
    Ok(JobDoc::of(&job))
}

fn accepted(doc: JobDoc) -> Response {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{}", doc.id)) {
        h.insert(header::LOCATION, v);
    }
    (StatusCode::ACCEPTED, h, Json(doc)).into_response()
}

/// Submit a video: its bytes, or `{"path": ...}` under `--media-root`.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", params(SubmitQuery),
    request_body(description = "The video's bytes, or a file under --media-root", content(
        (crate::http::wire::VideoBody = "application/octet-stream"),
        (crate::http::wire::VideoBody = "video/mp4"),
        (PathRequest = "application/json"))),
    responses(
        (status = 202, description = "Queued; Location: /v1/jobs/{id}", body = JobDoc),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 403, description = "Path outside the media root, or no media root", body = ErrorBody),
        (status = 413, description = "Upload over --max-upload-bytes", body = ErrorBody),
        (status = 415, description = "Unsupported content type, or a container refused for untrusted input (playlists, manifests, formats off the accepted list)", body = ErrorBody),
        (status = 422, description = "Not a video the service can read (not media, no video stream, frames too large)", body = ErrorBody),
        (status = 429, description = "Queue full; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many uploads in progress (--max-uploads); see Retry-After", body = ErrorBody)))]
pub async fn submit(
    State(app): State<Arc<App>>,
    Query(q): Query<SubmitQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    Ok(accepted(enqueue(&app, q.segments.as_deref(), req).await?))
}

/// Submit a video and wait (bounded) for its result.
#[utoipa::path(post, path = "/v1/score", tag = "jobs", params(ScoreQuery),
    request_body(description = "The video's bytes, or a file under --media-root", content(
        (crate::http::wire::VideoBody = "application/octet-stream"),
        (crate::http::wire::VideoBody = "video/mp4"),
        (PathRequest = "application/json"))),
    responses(
        (status = 200, description = "The job ended (done, failed or cancelled)", body = JobDoc),
        (status = 202, description = "Still queued or running after the wait; poll Location", body = JobDoc),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 403, description = "Path outside the media root, or no media root", body = ErrorBody),
        (status = 413, description = "Upload over --max-upload-bytes", body = ErrorBody),
        (status = 415, description = "Unsupported content type, or a container refused for untrusted input (playlists, manifests, formats off the accepted list)", body = ErrorBody),
        (status = 422, description = "Not a video the service can read (not media, no video stream, frames too large)", body = ErrorBody),
        (status = 429, description = "Queue full; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many uploads in progress (--max-uploads); see Retry-After", body = ErrorBody)))]
pub async fn score(
    State(app): State<Arc<App>>,
    Query(q): Query<ScoreQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    // Leave the request time-out room to answer.
    let most = app.config.request_timeout.saturating_sub(Duration::from_secs(5)).max(Duration::from_secs(1));
    let wait = match q.wait.as_deref() {
        // A wait longer than a Duration holds (1e300s) is the longest wait.
        Some(w) => {
            Duration::try_from_secs_f64(parse_duration(w).map_err(|e| ApiError::bad_request(format!("wait {e}")))?)
                .unwrap_or(most)
        }
        None => Duration::from_secs(30),
    }
    .min(most);
    let doc = enqueue(&app, q.segments.as_deref(), req).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let id = doc.id.clone();
    loop {
        let notified = app.finished.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let id2 = id.clone();
        let job = app.db(move |s| s.get(&id2)).await?.ok_or_else(|| ApiError::no_job(&id))?;
        if app.queue.stopping() && !job.status.is_final() {
            // The service stops: no result will come from this process.
            return Ok(accepted(JobDoc::of(&job)));
        }
        if job.status.is_final() {
            return Ok((StatusCode::OK, Json(JobDoc::of(&job))).into_response());
        }
        // Jobs that end on another replica wake nobody here: look again
        // every second.
        let step = (tokio::time::Instant::now() + Duration::from_secs(1)).min(deadline);
        if tokio::time::timeout_at(step, notified).await.is_err() && tokio::time::Instant::now() >= deadline {
            return Ok(accepted(JobDoc::of(&job)));
        }
    }
}

async fn load(app: &Arc<App>, id: String) -> Result<crate::jobs::store::Job, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::no_job(&id));
    }
    let id2 = id.clone();
    app.db(move |s| s.get(&id2)).await?.ok_or_else(|| ApiError::no_job(&id))
}

/// A job: its status and, when done, its score.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobDoc),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn job(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<JobDoc>, ApiError> {
    Ok(Json(JobDoc::of(&load(&app, id).await?)))
}

/// Cancel a queued or running job.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "Cancelled (or already cancelled)", body = JobDoc),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already ended", body = ErrorBody)))]
pub async fn cancel(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<JobDoc>, ApiError> {
    let job = load(&app, id.clone()).await?;
    let id2 = id.clone();
    match app.db(move |s| s.cancel(&id2)).await? {
        Cancel::Missing => return Err(ApiError::no_job(&id)),
        Cancel::Final(Status::Cancelled) => {}
        Cancel::Final(s) => {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("job {id} has already ended ({})", s.as_str())))
        }
        Cancel::Running => {
            // The worker sees the token, stops and removes the upload.
            app.queue.stop_job(&id, crate::jobs::queue::StopReason::User);
        }
        Cancel::Queued => {
            if job.upload {
                let _ = tokio::fs::remove_file(&job.input).await;
            }
            app.metrics.finished(Status::Cancelled);
            app.finished.notify_waiters();
        }
    }
    Ok(Json(JobDoc::of(&load(&app, id).await?)))
}

/// The HTML report of a done job.
#[utoipa::path(get, path = "/v1/jobs/{id}/report", tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The self-contained HTML page", content_type = "text/html", body = String),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not done", body = ErrorBody)))]
pub async fn job_report(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = load(&app, id).await?;
    if job.status != Status::Done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job {} is {}: a report exists once it is done", job.id, job.status.as_str()),
        ));
    }
    let path = app.config.report_path(&job.id, job.attempts);
    let html = match tokio::fs::read_to_string(&path).await {
        Ok(html) => html,
        // A report written before reports were named by their attempt.
        Err(_) => {
            let legacy = app.config.reports_dir().join(format!("{}.html", job.id));
            tokio::fs::read_to_string(&legacy)
                .await
                .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?
        }
    };
    Ok(Html(html).into_response())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "probes", security(()), responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the model is loaded (and, with a shared queue, its database
/// answers: a replica that cannot reach it takes no traffic).
#[utoipa::path(get, path = "/readyz", tag = "probes", security(()), responses(
    (status = 200, description = "The model is loaded", body = String),
    (status = 503, description = "Still loading (or failed to load), or the shared job database does not answer", body = ErrorBody)))]
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.model.get().is_some() {
        if app.config.shared() {
            // A failure is logged with its cause (ApiError::internal); the
            // probe's answer says only what is wrong.
            if app.db(|s| s.active()).await.is_err() {
                return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the shared job database does not answer")
                    .into_response();
            }
        }
        return "ready\n".into_response();
    }
    let msg = match app.model_error.get() {
        Some(e) => format!("the model failed to load: {e}"),
        None => "loading the model".to_owned(),
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg).into_response()
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "probes", responses(
    (status = 200, description = "Prometheus text", content_type = "text/plain", body = String),
    (status = 401, description = "Missing or wrong token", body = ErrorBody)))]
pub async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let app2 = Arc::clone(&app);
    let text =
        tokio::task::spawn_blocking(move || app2.metrics.render(app2.store.as_ref(), app2.queue.running().len()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// This document: the whole API in OpenAPI 3.1.
#[utoipa::path(get, path = "/openapi.json", tag = "probes", responses(
    (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
    (status = 401, description = "Missing or wrong token", body = ErrorBody)))]
pub async fn openapi(State(app): State<Arc<App>>) -> Response {
    Json(&app.openapi).into_response()
}
