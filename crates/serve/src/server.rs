//! Starting and stopping the service: take the data dir's lock (one owner
//! per data dir, with SQLite; replicas of a shared PostgreSQL queue share
//! the data dir instead), bind the listener first (so `/healthz` answers at
//! once), recover the job table, start the workers,
//! load the model in the background; on stop, refuse new connections,
//! put the running jobs back in the queue and let in-flight requests end
//! (for a bounded time).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use relaxvqa::{Model, ModelOptions};
use tokio::sync::watch;
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::error::ServeError;
use crate::jobs::app::App;
use crate::jobs::metrics::Metrics;
use crate::jobs::queue::Queue;
use crate::jobs::store::{JobStore, PostgresStore, SqliteStore};

/// How long in-flight requests may go on after a stop.
const DRAIN: Duration = Duration::from_secs(10);

/// A running service.
pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Arc<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The data dir's lock (exclusive with SQLite, shared by replicas), held
    /// (and released by the kernel, on a crash too) for as long as this
    /// service runs; dropped after the threads.
    _lock: std::fs::File,
}

impl Server {
    /// Binds, recovers the job table and starts serving; the model loads
    /// in the background (see `/readyz`).
    pub fn start(config: Config) -> Result<Self, ServeError> {
        // Before anything of the data dir is read or changed: a second
        // process on a live dir must touch nothing of the first one's.
        let lock = lock_data_dir(&config)?;
        for d in [config.uploads_dir(), config.reports_dir()] {
            std::fs::create_dir_all(&d).map_err(ServeError::io(&d))?;
        }
        let store: Box<dyn JobStore> = match &config.database_url {
            Some(url) => Box::new(PostgresStore::open(url, config.lease, config.max_interrupted)?),
            None => Box::new(SqliteStore::open(&config.db_path())?),
        };
        let (requeued, failed) = store.recover(config.max_interrupted)?;
        if requeued + failed > 0 {
            tracing::warn!("{requeued} interrupted job(s) back in the queue, {failed} given up");
        }
        sweep(&config, store.as_ref())?;
        let metrics = Metrics::new().map_err(|e| ServeError::Config(format!("metrics: {e}")))?;
        let std_listener = std::net::TcpListener::bind(config.listen)
            .map_err(|source| ServeError::Listen { addr: config.listen.to_string(), source })?;
        let addr = std_listener.local_addr().map_err(ServeError::io(std::path::Path::new("listener")))?;
        std_listener.set_nonblocking(true).map_err(ServeError::io(std::path::Path::new("listener")))?;
        let redactor = crate::redact::Redactor::new(&config);
        let uploads = Arc::new(tokio::sync::Semaphore::new(config.max_uploads));
        let app = Arc::new(App {
            redactor,
            uploads,
            model_source: OnceLock::new(),
            config,
            store,
            metrics,
            model: OnceLock::new(),
            model_error: OnceLock::new(),
            queue: Queue::default(),
            openapi: crate::http::openapi::document(),
            finished: tokio::sync::Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let stop = Arc::new(stop);
        let workers =
            crate::jobs::workers::spawn(&app).map_err(ServeError::io(std::path::Path::new("worker threads")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("relaxvqa-http")
            .build()
            .map_err(ServeError::io(std::path::Path::new("runtime")))?;
        let serve_app = Arc::clone(&app);
        let thread = std::thread::Builder::new()
            .name("relaxvqa-serve".into())
            .spawn(move || {
                runtime.block_on(serve(std_listener, Arc::clone(&serve_app), stop_rx));
                for w in workers {
                    let _ = w.join();
                }
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(ServeError::io(std::path::Path::new("server thread")))?;
        load_model(&app, &stop)?;
        Ok(Self { addr, app, stop, thread: Some(thread), _lock: lock })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why the model could not be loaded, if it could not.
    pub fn model_error(&self) -> Option<&str> {
        self.app.model_error.get().map(String::as_str)
    }

    /// A receiver that changes when the service stops by itself (the model
    /// failed to load).
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Blocks until SIGTERM or Ctrl-C, or until the service stops by itself
    /// (the model failed to load; [`Server::model_error`] then says why):
    /// what the command line's `relaxvqa serve` waits for before [`Server::stop`].
    pub fn wait_for_shutdown(&self) -> Result<(), ServeError> {
        let mut stopped = self.stopped();
        let signals = std::path::Path::new("signal handlers");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServeError::io(signals))?;
        rt.block_on(async {
            #[cfg(unix)]
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(ServeError::io(signals))?;
            #[cfg(unix)]
            let sigterm = term.recv();
            #[cfg(not(unix))]
            let sigterm = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
                _ = sigterm => tracing::info!("terminated"),
                _ = stopped.changed() => {}
            }
            Ok(())
        })
    }

    /// Stops gracefully (as on SIGTERM) and waits: running jobs go back to
    /// the queue, to run at the next start.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Takes the data dir's lock, or says who holds it: exclusive for a service
/// on its own SQLite queue (one owner), shared for the replicas of a shared
/// queue (any number of them, but never beside a single-machine service,
/// whose start-up sweep would remove their uploads). On a network
/// filesystem this holds on each machine as far as its locks reach.
fn lock_data_dir(config: &Config) -> Result<std::fs::File, ServeError> {
    let path = config.lock_path();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(ServeError::io(&path))?;
    let taken = if config.shared() { file.try_lock_shared() } else { file.try_lock() };
    match taken {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::Config(format!(
            "--data-dir {}: {} (it holds {}); stop that one or choose another folder",
            config.data_dir.display(),
            if config.shared() {
                "a relaxvqa serve without --database-url is using it"
            } else {
                "another relaxvqa serve is using it"
            },
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(ServeError::io(&path)(e)),
    }
}

/// Removes what a crash may have left: partial uploads, uploads of ended
/// jobs, half-written reports. With a shared queue, other replicas write
/// in the same folders at this moment (an upload whose job is not in the
/// table yet): only files untouched for an hour go.
fn sweep(config: &Config, store: &dyn JobStore) -> Result<(), ServeError> {
    let live = store.live_uploads()?;
    let quiet = |e: &std::fs::DirEntry| {
        let age = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        !config.shared() || age.is_some_and(|a| a > Duration::from_secs(3600))
    };
    for dir in [config.uploads_dir(), config.reports_dir()] {
        let entries = std::fs::read_dir(&dir).map_err(ServeError::io(&dir))?;
        for e in entries.flatten().filter(|e| quiet(e)) {
            let p = e.path();
            let stale = if dir == config.uploads_dir() {
                !live.contains(&p)
            } else {
                p.extension().is_some_and(|x| x == "tmp")
            };
            if stale {
                tracing::info!("removing {}", p.display());
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    Ok(())
}

fn load_model(app: &Arc<App>, stop: &Arc<watch::Sender<bool>>) -> Result<(), ServeError> {
    let (app, stop) = (Arc::clone(app), Arc::clone(stop));
    std::thread::Builder::new()
        .name("relaxvqa-load".into())
        .spawn(move || {
            let c = &app.config;
            let opts = ModelOptions {
                weights: c.weights.clone(),
                head: Some(c.model.clone()),
                threads: c.threads,
                batch_size: c.batch_size,
                max_pixels: c.limits.max_pixels,
            };
            match Model::load(opts) {
                Ok(m) => {
                    if let Some(w) = m.head().and_then(|h| h.warning.as_ref()) {
                        tracing::warn!("{w}");
                    }
                    let source = m.head().map(|h| public_source(&c.model, &h.source)).unwrap_or_default();
                    let _ = app.model_source.set(source);
                    let _ = app.model.set(m);
                    tracing::info!("model loaded; ready");
                    app.queue.notify();
                }
                Err(e) => {
                    tracing::error!("loading the model: {e}");
                    let _ = app.model_error.set(e.to_string());
                    let _ = stop.send(true);
                }
            }
        })
        .map(drop)
        .map_err(ServeError::io(std::path::Path::new("model loading thread")))
}

/// How job documents name the head: a head file by its name and SHA-256
/// (its recorded source may name files of the machine that made it), a
/// published head by its public source.
fn public_source(spec: &str, library_source: &str) -> String {
    use sha2::Digest as _;
    let path = std::path::Path::new(spec);
    if !path.is_file() {
        return library_source.to_owned();
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match std::fs::read(path) {
        Ok(bytes) => {
            let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            format!("head file {name} (sha256 {hex})")
        }
        Err(_) => format!("head file {name}"),
    }
}

async fn serve(listener: std::net::TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("listener: {e}");
            app.queue.stop_all();
            return;
        }
    };
    let router = crate::http::routes::router(Arc::clone(&app))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), crate::http::auth::require_token))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, app.config.request_timeout));
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder.timer(TokioTimer::new()).header_read_timeout(app.config.idle_timeout);
                let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!("connection: {e}");
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tracing::info!("stopping: no new connections; running jobs go back to the queue");
    app.queue.stop_all();
    app.finished.notify_waiters();
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running after {DRAIN:?}; closing them");
    }
}
