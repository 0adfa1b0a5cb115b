//! `relaxvqa`: no-reference video quality (ReLaX-VQA) from the command line.
//! A thin binary over the `relaxvqa` library: parse arguments, run a
//! command, print its result, turn it into an exit code.

mod args;
mod eval;
mod extract;
mod info;
mod models;
mod output;
mod report;
mod score;
mod serve;
mod synth;
mod train;

use std::process::ExitCode;

use clap::Parser;

/// Tells glibc's allocator to serve large blocks from the heap instead of
/// fresh `mmap`s. The head's first layer is a 36 MB tensor, and training
/// makes several such temporaries per step; with glibc's default (blocks
/// above 32 MB always mapped and unmapped) every one of them costs page
/// faults and kernel zeroing, which measured more than half of a training
/// run's time (system 6.5 s of 12.7 s wall; 0.4 s with this setting).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_blocks_in_heap() {
    // SAFETY: mallopt only changes allocator tunables; it is called first
    // thing in main, before any other thread exists, as glibc requires for
    // these parameters, and takes plain integers.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30) };
    if ok == 1 {
        // Freed heap memory is kept for reuse rather than trimmed at once.
        // SAFETY: as above.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) };
    }
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_large_blocks_in_heap();
    let cli = args::Cli::parse();
    init_logging(cli.verbose);
    if cli.verbose < 2 {
        // FFmpeg's own log lines would repeat our one-line errors in its words.
        relaxvqa::quiet_ffmpeg_log();
    }
    if let Some(n) = cli.threads {
        // Training and evaluation run on rayon's global pool; a model owns
        // its own pools, sized from the same flag.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("relaxvqa: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: args::Cli) -> anyhow::Result<ExitCode> {
    let threads = cli.threads.map(|n| n.max(1));
    match cli.command {
        args::Command::Extract(a) => extract::run(a, threads),
        args::Command::Info(a) => info::run(a),
        args::Command::Score(a) => score::run(a, threads),
        args::Command::Models(a) => models::run(a),
        args::Command::Report(a) => report::run(a, threads),
        args::Command::Train(a) => train::run(a),
        args::Command::Eval(a) => eval::run(a),
        args::Command::SynthDataset(a) => synth::run(a),
        args::Command::Serve(a) => serve::run(a, threads),
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELAXVQA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_logs())
        .try_init();
}

/// Colour in log lines only for a person at a terminal: never in a file or
/// a pipe, and never when `NO_COLOR` is set to anything (no-color.org).
fn colour_logs() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The error and its causes on one line, each said once: a cause already in
/// the message (an operating-system error that a library also put in its
/// own text) is left out, and a cause that starts with the name the message
/// ends with (`--model x` then `x: ...`) does not repeat it.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let mut s = cause.to_string();
        if s.is_empty() || msg.contains(&s) {
            continue;
        }
        if let Some(last) = msg.rsplit(' ').next().filter(|l| !l.is_empty()) {
            if let Some(rest) = s.strip_prefix(&format!("{last}: ")) {
                s = rest.to_owned();
            }
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn causes_are_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory (os error 2)");
        let e = anyhow::Error::new(io).context("out/x.csv: No such file or directory (os error 2)");
        assert_eq!(one_line(&e), "out/x.csv: No such file or directory (os error 2)");
        let e = anyhow::anyhow!("x: neither a head file nor a published head").context("--model x");
        assert_eq!(one_line(&e), "--model x: neither a head file nor a published head");
    }
}
