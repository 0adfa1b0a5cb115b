//! Running a whole dataset: a CSV list, a folder, or several files.
//!
//! - [`ExtractBatch`]: one feature file per video, a combined matrix, an
//!   index and a failures file;
//! - [`ScoreBatch`]: one row per video in a scores CSV, appended as results
//!   arrive.
//!
//! Both are resumable (an output made from the same video with the same
//! settings is kept; the key is in the output itself, so a run started by
//! one front end is resumed by any other) and tolerant (a video that
//! fails, even by a panic, is recorded and the batch goes on). A
//! distributed run (Python, Ray) uses the same types: the driver plans and
//! records, workers run one [`ExtractTask`] or [`ScoreTask`] each.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::{Error, Result};

mod extract;
mod score;
mod scores_csv;

pub use extract::{
    output_of, write_reports, BatchSummary, Combined, ExtractBatch, ExtractResult, ExtractTask, Outcome,
};
pub use score::{ScoreBatch, ScoreBatchOptions, ScoreItem, ScoreOutcome, ScoreResult, ScoreTask};
pub use scores_csv::{read_rows, ScoreRow, COLUMNS};

/// File extensions taken from a folder.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mkv", "mov", "avi", "webm", "m4v", "flv", "ts", "mts", "m2ts", "mpg", "mpeg", "wmv", "3gp", "ogv", "y4m",
    "yuv",
];

/// One video of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Output name (unique within the batch).
    pub name: String,
    /// The video file.
    pub path: PathBuf,
    /// Other columns of the list, carried into the index.
    pub extra: Vec<(String, String)>,
}

/// A list row: the video path and its other columns, by name.
pub type ListRow = (PathBuf, Vec<(String, String)>);

/// How to read a CSV list of videos.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// The column holding the paths (default: the first of path, file,
    /// filename, video, vid, name).
    pub path_column: Option<String>,
    /// Folder that relative entries are resolved against (default: the
    /// CSV's own folder).
    pub video_dir: Option<PathBuf>,
    /// Extension appended to entries that have none (the authors' metadata
    /// has bare names).
    pub ext: Option<String>,
}

/// The videos of a folder (by extension), sorted by name.
pub fn videos_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| VIDEO_EXTENSIONS.contains(&x.to_string_lossy().to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a CSV list: the path column and every other column (their names
/// are returned too, for the index).
pub fn read_list(list: &Path, opts: &ListOptions) -> Result<(Vec<ListRow>, Vec<String>)> {
    if list.is_dir() {
        return Err(Error::invalid(format!(
            "{}: --list takes a CSV file; give a folder of videos as the VIDEO argument",
            list.display()
        )));
    }
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_path(list).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::Io { path: list.to_owned(), source: io },
        other => Error::invalid(format!("{}: {other:?}", list.display())),
    })?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::invalid(format!("{}: no header row ({e})", list.display())))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let pick = |c: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(c));
    let col = match &opts.path_column {
        Some(c) => pick(c).ok_or_else(|| {
            Error::invalid(format!("{}: no column named {c} (columns: {})", list.display(), headers.join(", ")))
        })?,
        None => ["path", "file", "filename", "video", "vid", "name"].iter().find_map(|c| pick(c)).ok_or_else(|| {
            Error::invalid(format!(
                "{}: no path column (path, file, filename, video, vid or name); say which with --path-column",
                list.display()
            ))
        })?,
    };
    let base = opts.video_dir.clone().unwrap_or_else(|| list.parent().unwrap_or(Path::new(".")).to_owned());
    let extra_columns: Vec<String> =
        headers.iter().enumerate().filter(|&(i, _)| i != col).map(|(_, h)| h.clone()).collect();
    let mut rows = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::invalid(format!("{}: row {}: {e}", list.display(), line + 2)))?;
        let value = rec.get(col).unwrap_or("").trim();
        if value.is_empty() {
            return Err(Error::invalid(format!("{}: row {}: empty path", list.display(), line + 2)));
        }
        let mut p = PathBuf::from(value);
        if let (Some(ext), None) = (&opts.ext, p.extension()) {
            p.set_extension(ext.trim_start_matches('.'));
        }
        if p.is_relative() {
            p = base.join(p);
        }
        let extra = rec
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != col)
            .map(|(i, v)| (headers[i].clone(), v.to_owned()))
            .collect();
        rows.push((p, extra));
    }
    Ok((rows, extra_columns))
}

/// The videos a batch runs, as every front end names them: a CSV list,
/// files and folders.
#[derive(Clone, Debug, Default)]
pub struct Videos {
    /// A CSV list of videos (read with `list_options`).
    pub list: Option<PathBuf>,
    /// Video files and folders of videos (by extension, sorted by name).
    pub inputs: Vec<PathBuf>,
    /// How to read the list.
    pub list_options: ListOptions,
}

impl Videos {
    /// The rows (list rows first) and the list's other column names.
    pub fn rows(&self) -> Result<(Vec<ListRow>, Vec<String>)> {
        collect_rows(self.list.as_deref(), &self.inputs, &self.list_options)
    }
}

/// The videos of a run as the command line takes them: the CSV list's rows
/// (with its other columns, whose names are returned too), then each file
/// given, and each folder's videos. Every front end reads its inputs so.
pub fn collect_rows(
    list: Option<&Path>,
    inputs: &[PathBuf],
    opts: &ListOptions,
) -> Result<(Vec<ListRow>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut extra_columns = Vec::new();
    if let Some(list) = list {
        let (r, cols) = read_list(list, opts)?;
        rows.extend(r);
        extra_columns = cols;
    }
    for input in inputs {
        if input.is_dir() {
            rows.extend(videos_in(input)?.into_iter().map(|p| (p, Vec::new())));
        } else {
            rows.push((input.clone(), Vec::new()));
        }
    }
    Ok((rows, extra_columns))
}

/// Names rows uniquely with [`unique_names`] and drops rows that repeat a
/// path already listed (returned apart, so the caller can say so: a video
/// is extracted once).
pub fn entries(rows: Vec<ListRow>) -> (Vec<Entry>, Vec<PathBuf>) {
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    let mut kept = Vec::new();
    for (path, extra) in rows {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            kept.push((path, extra));
        } else {
            duplicates.push(path);
        }
    }
    let stems = kept.iter().map(|(p, _)| stem_of(p)).collect::<Vec<_>>();
    let out =
        unique_names(stems).into_iter().zip(kept).map(|(name, (path, extra))| Entry { name, path, extra }).collect();
    (out, duplicates)
}

/// A file's stem as an output name: characters other than letters, digits,
/// `-`, `_` and `.` become `_`.
pub(crate) fn stem_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
                .collect()
        })
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| "video".into())
}

/// Names a batch's combined outputs take (`features.safetensors`,
/// `features.npy`, `features.names.txt`, `index.csv`, `failures.csv`): no
/// video's output may be called so.
const RESERVED_NAMES: [&str; 3] = ["features", "index", "failures"];

/// Unique output names for a run's inputs, in order: each stem as it is,
/// then `stem-2`, `stem-3`, ... when it repeats. Names are compared without
/// case (two names differing only by case are one file on macOS and
/// Windows), and a stem that is one of the batch's own files (`features`,
/// `index`, `failures`) is never used as it is, so a video called
/// `features.mp4` cannot overwrite the combined matrix.
pub(crate) fn unique_names(stems: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut used: HashSet<String> = RESERVED_NAMES.iter().map(|s| s.to_string()).collect();
    stems
        .into_iter()
        .map(|stem| {
            let mut name = stem.clone();
            let mut n = 2;
            while !used.insert(name.to_lowercase()) {
                name = format!("{stem}-{n}");
                n += 1;
            }
            name
        })
        .collect()
}
/// Runs `f` on every item, on up to `jobs` threads, and hands each result
/// to `done` as it arrives (in completion order). A panic in `f` becomes
/// that item's [`Error::Panicked`]; the other items go on. Items not yet
/// started when `cancel` returns true are not run.
pub fn run_each<I: Sync, T: Send>(
    items: &[I],
    jobs: usize,
    name: impl Fn(&I) -> String + Sync,
    f: impl Fn(&I) -> Result<T> + Sync,
    cancelled: impl Fn() -> bool + Sync,
    done: impl FnMut(usize, Result<T>) + Send,
) {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(done);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if cancelled() {
                    break;
                }
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(k) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item)))
                    .unwrap_or_else(|_| Err(Error::Panicked(name(item))));
                if let Ok(mut d) = done.lock() {
                    (d)(k, r);
                }
            });
        }
    });
}
