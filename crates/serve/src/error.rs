//! The service's errors: [`ServeError`] for starting and running it,
//! [`StoreError`] for the job table, and [`ApiError`], an HTTP status with a
//! one-line JSON message, for answers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why the service could not start or went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// An argument is not what it must be; the message says what to do.
    #[error("{0}")]
    Config(String),
    /// A file or folder of the data dir (or the token file) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The job database failed.
    #[error("{0}")]
    Db(#[from] StoreError),
    /// The listener could not be bound or failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Why the job table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("job database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no (or could not be reached).
    #[error("job database: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The database holds what this version cannot use.
    #[error("job database: {0}")]
    Schema(String),
}

impl ServeError {
    /// An [`ServeError::Io`] on `path`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| ServeError::Io { path: path.to_owned(), source }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line saying what is wrong and, where it helps, what to do.
    pub error: String,
}

/// An error answer: a status, a message and, for 429, a `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The one-line message.
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found for a job id.
    pub fn no_job(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no job {id}"))
    }

    /// 500: a failure of the service itself. The cause is logged with a
    /// reference; the answer carries only the reference (causes name
    /// server files).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        let reference = crate::ids::random_hex::<4>().unwrap_or_else(|_| "00000000".to_owned());
        tracing::error!("internal error {reference}: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (reference {reference} in the service log); please try again"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(ErrorBody { error: self.message })).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
