//! The state every handler and worker shares.

use std::sync::{Arc, OnceLock};

use relaxvqa::Model;

use crate::config::Config;
use crate::jobs::metrics::Metrics;
use crate::jobs::queue::Queue;
use crate::jobs::store::{JobStore, StoreError};
use crate::redact::Redactor;

/// The service's shared state.
pub struct App {
    /// The checked settings.
    pub config: Config,
    /// The job table: SQLite in the data dir, or a shared PostgreSQL one.
    pub store: Box<dyn JobStore>,
    /// The metrics.
    pub metrics: Metrics,
    /// The model, once loaded (after the listener is up).
    pub model: OnceLock<Model>,
    /// Why the model could not be loaded.
    pub model_error: OnceLock<String>,
    /// Idle workers and running jobs.
    pub queue: Queue,
    /// The OpenAPI document (`GET /openapi.json`), built once at start.
    pub openapi: utoipa::openapi::OpenApi,
    /// Woken whenever a job ends (for `POST /v1/score`'s wait).
    pub finished: tokio::sync::Notify,
    /// Permits of the uploads received at once (`--max-uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// What answers say instead of server paths.
    pub redactor: Redactor,
    /// The head as job documents name it: the published head's source, or
    /// a head file's name and SHA-256 (never its path); set with the model.
    pub model_source: OnceLock<String>,
}

impl App {
    /// Runs a database call off the async threads.
    pub async fn db<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&dyn JobStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        let app = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || f(app.store.as_ref()))
            .await
            .map_err(crate::error::ApiError::internal)?
            .map_err(Into::into)
    }
}

/// A new job id: 128 random bits, hex.
pub fn new_id() -> Result<String, crate::error::ApiError> {
    crate::ids::random_hex::<16>().map_err(crate::error::ApiError::internal)
}

/// Whether `id` has the form of a job id (anything else is never looked up).
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}
