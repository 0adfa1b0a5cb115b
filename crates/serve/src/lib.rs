//! # relaxvqa-serve: `relaxvqa serve`
//!
//! An HTTP service that scores videos with one model loaded once, and
//! loses no job: jobs live in a SQLite database in the data dir, uploads
//! are files there until their job ends, and a job interrupted by a crash
//! runs again at the next start (exactly once to completion).
//!
//! - [`config`]: the arguments and the checked settings;
//! - [`server`]: start, listen, stop;
//! - [`routes`]: the API (`/v1/jobs`, `/v1/score`, probes, `/metrics`,
//!   `/openapi.json`), documented in [`openapi`];
//! - [`store`]: the job table; [`workers`]: the threads that score;
//! - [`ingest`]: every video a request brings, stored or resolved and
//!   probed as untrusted input; [`upload`]: request bodies; [`media`]:
//!   media-root files opened once, beneath the root; [`redact`]: no server
//!   path in answers; [`auth`]: tokens.
//!
//! One process owns a data dir (an exclusive lock on `DATA_DIR/lock`).

#![warn(missing_docs)]

pub mod app;
pub mod auth;
pub mod config;
pub mod doc;
pub mod error;
mod ids;
pub mod ingest;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod queue;
pub mod redact;
pub mod routes;
pub mod server;
pub mod store;
pub mod upload;
pub mod workers;

use std::process::ExitCode;

pub use config::{Config, ServeArgs};
pub use error::ServeError;
pub use server::Server;

/// Runs `relaxvqa serve` until SIGTERM or Ctrl-C (or until the model fails
/// to load): prints `listening on http://ADDR` on stdout once it listens.
pub fn run(args: ServeArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let config = Config::from_args(&args, threads)?;
    let server = Server::start(config)?;
    println!("listening on http://{}", server.addr());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut stopped = server.stopped();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        let sigterm = term.recv();
        #[cfg(not(unix))]
        let sigterm = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
            _ = sigterm => tracing::info!("terminated"),
            _ = stopped.changed() => {}
        }
        anyhow::Ok(())
    })?;
    let error = server.model_error().map(str::to_owned);
    server.stop();
    match error {
        Some(e) => Err(anyhow::anyhow!("loading the model: {e}")),
        None => Ok(ExitCode::SUCCESS),
    }
}
