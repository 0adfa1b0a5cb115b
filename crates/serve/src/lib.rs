//! # relaxvqa-serve: `relaxvqa serve`
//!
//! An HTTP service that scores videos with one model loaded once, and
//! loses no job: jobs live in a SQLite database in the data dir (or one
//! PostgreSQL table shared by replicas), uploads are files there until
//! their job ends, and a job interrupted by a crash runs again at the next
//! start (exactly once to completion).
//!
//! - [`config`]: the arguments and the checked settings;
//! - [`server`]: start, listen, wait for a signal, stop;
//! - [`http`]: what a client sees: the routes, the wire types and the
//!   OpenAPI document, tokens, request bodies, and the ingest of every
//!   video a request brings (stored or resolved, probed as untrusted);
//! - [`jobs`]: what runs behind them: the job table ([`jobs::store`]), the
//!   queue, the worker threads, media-root files opened once beneath the
//!   root, the metrics, and the state they share ([`jobs::app`]);
//! - [`error`]: the service's errors; [`redact`]: no server path in answers.
//!
//! `http` names `jobs`, never the other way round. One process owns a data
//! dir (an exclusive lock on `DATA_DIR/lock`). The command line's
//! `relaxvqa serve` starts a [`Server`], prints where it listens, and waits
//! for [`Server::wait_for_shutdown`].

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod http;
mod ids;
pub mod jobs;
pub mod redact;
pub mod server;

pub use config::{Config, ServeArgs};
pub use error::ServeError;
pub use server::Server;
