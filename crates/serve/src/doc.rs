//! The JSON documents of the API: a job as clients see it, and the bodies
//! they send. The result fields of a done job are the library's `Score`
//! (as `relaxvqa score --json` prints them), stored as JSON and read back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{Job, Status};

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

/// The score of one time window.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SegmentDoc {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// Sampled frames in the window.
    pub frames: u64,
    /// Of which have a pair.
    pub pairs: u64,
    /// The window's score.
    pub score: f64,
}

/// What was scored, with which weights, by which version.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvenanceDoc {
    /// The input's name (the file scored).
    pub input: String,
    /// The backbone weights, as given to the service.
    pub weights: String,
    /// The relaxvqa version.
    pub version: String,
    /// Frames decoded.
    pub frames: u64,
    /// Sampled frames.
    pub sampled_frames: u64,
    /// Frame pairs.
    pub pairs: u64,
    /// The sampling interval k.
    pub frame_interval: u64,
}

/// A stored result: the library's `Score`.
#[derive(Clone, Debug, Deserialize)]
struct StoredScore {
    score: f64,
    scale: String,
    segments: Option<Vec<SegmentDoc>>,
    warnings: Vec<String>,
    model: String,
    model_source: String,
    provenance: ProvenanceDoc,
}

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
    /// Done: the whole video's score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Done: the scale of every score (raw, 1-5, 0-100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// Done: per-window scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentDoc>>,
    /// Done: what a user should know about the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// Done: the head that scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Done: where the head came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_source: Option<String>,
    /// Done: what was scored, how, by which version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<ProvenanceDoc>,
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
            score: None,
            scale: None,
            segments: None,
            warnings: None,
            model: None,
            model_source: None,
            provenance: None,
            report: None,
            error: job.error.clone(),
            error_kind: job.error_kind.clone(),
        };
        if job.status == Status::Done {
            match job.result.as_deref().map(serde_json::from_str::<StoredScore>) {
                Some(Ok(s)) => {
                    d.score = Some(s.score);
                    d.scale = Some(s.scale);
                    d.segments = s.segments;
                    d.warnings = Some(s.warnings);
                    d.model = Some(s.model);
                    d.model_source = Some(s.model_source);
                    d.provenance = Some(s.provenance);
                    d.report = Some(format!("/v1/jobs/{}/report", job.id));
                }
                Some(Err(e)) => d.error = Some(format!("the stored result cannot be read: {e}")),
                None => d.error = Some("the stored result is missing".into()),
            }
        }
        d
    }
}
