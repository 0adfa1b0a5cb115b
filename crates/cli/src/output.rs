//! Shared output helpers: output-file metadata, JSON printing, progress bars.

use std::collections::HashMap;
use std::path::Path;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Metadata stored in every feature file we write.
pub fn feature_metadata(video: &Path, weights: &str) -> HashMap<String, String> {
    HashMap::from([
        ("format".to_owned(), "relaxvqa-features".to_owned()),
        ("format_version".to_owned(), "1".to_owned()),
        ("video".to_owned(), video.display().to_string()),
        ("weights".to_owned(), weights.to_owned()),
        ("relaxvqa_version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ])
}

/// Prints a JSON value on stdout, pretty.
pub fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
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
