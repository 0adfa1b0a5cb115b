//! The JSON documents of the API: a job as clients see it, and the bodies
//! they send. The result fields of a done job are the library's `Score`
//! (its schema too), stored as JSON and read back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use relaxvqa::Score;

use crate::jobs::store::{Job, Status};

/// `POST /v1/jobs` with `Content-Type: application/json`: a file under
/// `--media-root`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathRequest {
    /// The file, relative to the media root (or absolute, inside it).
    pub path: String,
}

/// A video file's bytes (`application/octet-stream` or `video/*`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct VideoBody(pub Vec<u8>);

/// A job.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct JobDoc {
    /// The job's id.
    pub id: String,
    /// queued, running, done, failed or cancelled.
    pub status: Status,
    /// When it was submitted (Unix seconds).
    pub created: f64,
    /// When a worker last started it (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<f64>,
    /// When it ended (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<f64>,
    /// Times a worker started it (more than 1 after an interruption).
    pub attempts: u32,
    /// The timeline window, seconds.
    pub window: f64,
    /// Done: the score document (`relaxvqa score --json`'s and Python's
    /// `Score.to_dict()`'s fields, the library's `Score`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub result: Option<Score>,
    /// Done: where the HTML report is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Failed: the one-line reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed: its class (decode, model, weights, timeout, internal, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
}

impl JobDoc {
    /// The document of a stored job.
    pub fn of(job: &Job) -> Self {
        let mut d = JobDoc {
            id: job.id.clone(),
            status: job.status,
            created: job.created,
            started: job.started,
            finished: job.finished,
            attempts: job.attempts,
            window: job.segments,
            result: None,
            report: None,
            error: job.error.clone(),
            error_kind: job.error_kind.clone(),
        };
        if job.status == Status::Done {
            match job.result.as_deref().map(serde_json::from_str::<Score>) {
                Some(Ok(s)) => {
                    d.result = Some(s);
                    d.report = Some(format!("/v1/jobs/{}/report", job.id));
                }
                Some(Err(e)) => d.error = Some(format!("the stored result cannot be read: {e}")),
                None => d.error = Some("the stored result is missing".into()),
            }
        }
        d
    }
}
