//! The scores CSV of a scoring run (`score --output`): one row per input,
//! appended as results arrive (never rewritten per video), resumable. A
//! row is reused only when it was made by the same head, weights and scale
//! from the same file (path, size, modification time); other rows of
//! earlier runs are dropped once, at the start.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::Identity;
use crate::{Error, Result};

/// The CSV's columns, in order.
pub const COLUMNS: [&str; 11] = [
    "name",
    "path",
    "score",
    "scale",
    "model",
    "segments",
    "error",
    "model_source",
    "weights",
    "input_size",
    "input_mtime_ns",
];

/// One row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreRow {
    /// The input's name in the run.
    pub name: String,
    /// The input's path.
    pub path: String,
    /// The score (empty when it failed), as written.
    pub score: String,
    /// The scale (`mos_1_5`, ...).
    pub scale: String,
    /// The head's name.
    pub model: String,
    /// `start-end:score` per window, `;`-separated.
    pub segments: String,
    /// Why it failed (empty when scored).
    pub error: String,
    /// Where the head came from.
    pub model_source: String,
    /// The backbone weights.
    pub weights: String,
    /// The input file's size, when it is a file.
    pub input_size: String,
    /// The input file's modification time (ns since the epoch).
    pub input_mtime_ns: String,
}

impl ScoreRow {
    fn fields(&self) -> [&str; 11] {
        [
            &self.name,
            &self.path,
            &self.score,
            &self.scale,
            &self.model,
            &self.segments,
            &self.error,
            &self.model_source,
            &self.weights,
            &self.input_size,
            &self.input_mtime_ns,
        ]
    }

    /// Sets the input-identity columns from a file identity.
    pub fn with_identity(mut self, id: &Identity) -> Self {
        self.input_size = id.size.map(|s| s.to_string()).unwrap_or_default();
        self.input_mtime_ns = id.mtime_ns.map(|t| t.to_string()).unwrap_or_default();
        self.weights = id.weights.clone();
        self
    }

    /// True when the row holds a finite score.
    pub fn is_scored(&self) -> bool {
        self.score.parse::<f64>().is_ok_and(f64::is_finite)
    }
}

/// Unique names for a run's inputs, in order: each stem as it is, then
/// `stem-2`, `stem-3`, ... when it repeats (an input listed twice is scored
/// twice, under two names).
pub fn unique_names(stems: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut used = std::collections::HashSet::new();
    stems
        .into_iter()
        .map(|stem| {
            let mut name = stem.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{stem}-{n}");
                n += 1;
            }
            name
        })
        .collect()
}

/// The `segments` column: `start-end:score` per window, `;`-separated.
pub fn segments_column(windows: impl IntoIterator<Item = (f64, f64, f64)>) -> String {
    windows.into_iter().map(|(a, b, s)| format!("{a}-{b}:{s}")).collect::<Vec<_>>().join(";")
}

/// A scores CSV open for appending.
pub struct ScoresCsv {
    path: PathBuf,
    out: std::fs::File,
}

/// What identifies the rows a run may reuse.
#[derive(Clone, Debug)]
pub struct RunKey {
    /// Head name.
    pub model: String,
    /// Head source.
    pub model_source: String,
    /// Backbone weights (for video inputs; feature inputs record "").
    pub weights: String,
    /// Scale name.
    pub scale: String,
}

impl ScoresCsv {
    /// Opens `path` for a run. Without `force`, the scored rows of earlier
    /// runs made with the same head and scale are kept (returned by name;
    /// the caller checks each against its input's identity with
    /// [`row_matches`]); every other row is dropped, by rewriting the file
    /// once (also when its header is not ours, so that appended rows line
    /// up with the header). With `force` the file starts empty.
    pub fn open(path: &Path, force: bool, key: &RunKey) -> Result<(Self, HashMap<String, ScoreRow>)> {
        crate::files::check_writable(path)?;
        let previous = if force || !path.exists() { Vec::new() } else { read_rows(path)? };
        let kept: Vec<ScoreRow> = previous
            .iter()
            .filter(|r| {
                r.is_scored() && r.model == key.model && r.model_source == key.model_source && r.scale == key.scale
            })
            .cloned()
            .collect();
        if kept.len() != previous.len() || !path.exists() || force || !has_our_header(path) {
            let mut w = csv::Writer::from_writer(Vec::new());
            let csv_err = |e: csv::Error| Error::invalid(format!("{}: {e}", path.display()));
            w.write_record(COLUMNS).map_err(csv_err)?;
            for r in &kept {
                w.write_record(r.fields()).map_err(csv_err)?;
            }
            let bytes = w.into_inner().map_err(|e| Error::invalid(e.to_string()))?;
            relaxvqa_formats::atomic::write_atomic(path, &bytes).map_err(Error::io(path))?;
        }
        let out = std::fs::OpenOptions::new().append(true).open(path).map_err(Error::io(path))?;
        let by_name = kept.into_iter().map(|r| (r.name.clone(), r)).collect();
        Ok((Self { path: path.to_owned(), out }, by_name))
    }

    /// Appends one row and flushes it to the file.
    pub fn append(&mut self, row: &ScoreRow) -> Result<()> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        w.write_record(row.fields()).map_err(|e| Error::invalid(e.to_string()))?;
        let bytes = w.into_inner().map_err(|e| Error::invalid(e.to_string()))?;
        self.out.write_all(&bytes).and_then(|()| self.out.flush()).map_err(Error::io(&self.path))
    }
}

/// True when an earlier `row` can stand for an input of `identity` scored
/// with `weights` (the video's size and time unchanged).
pub fn row_matches(row: &ScoreRow, identity: &Identity) -> bool {
    row.weights == identity.weights
        && row.input_size == identity.size.map(|s| s.to_string()).unwrap_or_default()
        && row.input_mtime_ns == identity.mtime_ns.map(|t| t.to_string()).unwrap_or_default()
}

/// Whether the file's first line is exactly our header ([`COLUMNS`]), so
/// that rows can be appended to it as they are.
fn has_our_header(path: &Path) -> bool {
    csv::Reader::from_path(path)
        .and_then(|mut r| r.headers().map(|h| h.iter().eq(COLUMNS.iter().copied())))
        .unwrap_or(false)
}

/// Reads the rows of a scores CSV.
pub fn read_rows(path: &Path) -> Result<Vec<ScoreRow>> {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::Io { path: path.to_owned(), source: io },
        other => Error::invalid(format!("{}: {other:?}", path.display())),
    })?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{}: no header row ({e})", path.display())))?
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    if col("name").is_none() || col("score").is_none() {
        return Err(Error::invalid(format!(
            "{}: not a relaxvqa score CSV (needs name and score columns); give another --output or remove it",
            path.display()
        )));
    }
    let mut rows = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::invalid(format!("{}: row {}: {e}", path.display(), line + 2)))?;
        let get = |name: &str| col(name).and_then(|i| rec.get(i)).unwrap_or("").trim().to_owned();
        rows.push(ScoreRow {
            name: get("name"),
            path: get("path"),
            score: get("score"),
            scale: get("scale"),
            model: get("model"),
            segments: get("segments"),
            error: get("error"),
            model_source: get("model_source"),
            weights: get("weights"),
            input_size: get("input_size"),
            input_mtime_ns: get("input_mtime_ns"),
        });
    }
    Ok(rows)
}
