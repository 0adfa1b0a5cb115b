//! Output helpers: JSON printing, progress bars, exit statuses.

use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Exit status when some inputs of a batch failed and others succeeded.
pub const EXIT_PARTIAL: u8 = 3;

/// The exit status of a batch of `total` inputs of which `failed` failed:
/// 0 when none, 1 when all, 3 when some.
pub fn batch_exit(total: usize, failed: usize) -> ExitCode {
    match failed {
        0 => ExitCode::SUCCESS,
        f if f >= total => ExitCode::FAILURE,
        _ => ExitCode::from(EXIT_PARTIAL),
    }
}

/// Prints a JSON value on stdout, pretty.
pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// A progress bar on stderr for `len` items (hidden when `quiet` or when
/// stderr is not a terminal), showing items done, items per minute and the
/// time left.
pub fn bar(len: u64, unit: &'static str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{per_min}}, {{eta}} left) {{msg}}"
    );
    let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()).with_key(
        "per_min",
        |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}/min", s.per_sec() * 60.0);
        },
    );
    pb.set_style(style);
    pb
}

/// A library progress callback that moves `pb` by samples.
pub fn sample_progress(pb: &ProgressBar) -> relaxvqa::ProgressFn {
    let pb = pb.clone();
    Arc::new(move |p: relaxvqa::Progress| {
        if let Some(t) = p.total {
            pb.set_length(t as u64);
        }
        pb.set_position(p.done as u64);
    })
}

/// A failure's line naming its file: most library errors name it already;
/// `path: ` goes in front when not.
pub fn naming(path: &str, error: &str) -> String {
    if error.contains(path) {
        error.to_owned()
    } else {
        format!("{path}: {error}")
    }
}
