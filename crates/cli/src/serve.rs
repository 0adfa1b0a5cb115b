//! `relaxvqa serve`: starts the service, says where it listens, and runs
//! until SIGTERM or Ctrl-C (or until the model fails to load).

use std::io::Write as _;
use std::process::ExitCode;

use relaxvqa_serve::{Config, ServeArgs, Server};

/// Runs the service to its end: prints `listening on http://ADDR` on stdout
/// once it listens (scripts and tests wait for that line).
pub fn run(args: ServeArgs, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let server = Server::start(Config::from_args(&args, threads)?)?;
    println!("listening on http://{}", server.addr());
    let _ = std::io::stdout().flush();
    server.wait_for_shutdown()?;
    let error = server.model_error().map(str::to_owned);
    server.stop();
    match error {
        Some(e) => Err(anyhow::anyhow!("loading the model: {e}")),
        None => Ok(ExitCode::SUCCESS),
    }
}
