//! Running a whole dataset: a CSV list, a folder, or several files; one
//! output per video, a combined feature matrix, an index and a failures
//! file. Resumable (an output made from the same video and weights is kept)
//! and tolerant (a video that fails, even by a panic, is recorded and the
//! batch goes on). The same parts serve a distributed run: workers write
//! per-video files with [`crate::files::write_features`], the driver
//! finishes with [`write_reports`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::extract::ExtractOptions;
use crate::files::{is_complete, write_features, write_matrix, Identity};
use crate::{Error, Input, Model, RawVideo, Result};

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

/// Names rows uniquely (file stems, `-2`, `-3`, ... on clashes) and drops
/// rows that repeat a path already listed (returned apart, so the caller
/// can say so: a video is extracted once).
pub fn entries(rows: Vec<ListRow>) -> (Vec<Entry>, Vec<PathBuf>) {
    let mut used = HashSet::new();
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    let mut out = Vec::new();
    for (path, extra) in rows {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            duplicates.push(path);
            continue;
        }
        let stem: String = path
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .chars()
                    .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' })
                    .collect()
            })
            .unwrap_or_else(|| "video".into());
        let mut name = stem.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{stem}-{n}");
            n += 1;
        }
        out.push(Entry { name, path, extra });
    }
    (out, duplicates)
}

/// What became of one video of a batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Extracted now.
    Done {
        /// Seconds it took.
        seconds: f64,
        /// Frames decoded.
        frames: u64,
        /// What a user should know.
        warnings: Vec<String>,
    },
    /// An earlier output from the same video and weights was kept.
    Skipped,
    /// It failed; the message says why.
    Failed {
        /// One line.
        error: String,
    },
}

/// The per-video output file of an entry.
pub fn output_of(out_dir: &Path, e: &Entry) -> PathBuf {
    out_dir.join(format!("{}.safetensors", e.name))
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

/// A batch extraction: entries and where their outputs go.
#[derive(Clone, Debug)]
pub struct ExtractBatch {
    /// Where per-video outputs, the matrix, the index and failures go.
    pub out_dir: PathBuf,
    /// The videos, in list order.
    pub entries: Vec<Entry>,
    /// Names of the list's other columns (index columns).
    pub extra_columns: Vec<String>,
    /// Recompute outputs that already exist.
    pub force: bool,
    /// Videos at once.
    pub jobs: usize,
    /// Store features as f32.
    pub as_f32: bool,
    /// Raw-video parameters for every entry.
    pub raw: Option<RawVideo>,
}

/// What a batch did.
#[derive(Clone, Debug, Serialize)]
pub struct BatchSummary {
    /// One outcome per entry, in list order.
    pub outcomes: Vec<Outcome>,
    /// The combined matrix and its rows.
    pub combined: Combined,
}

impl BatchSummary {
    /// Videos extracted now.
    pub fn done(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Done { .. })).count()
    }
    /// Videos kept from an earlier run.
    pub fn skipped(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Skipped)).count()
    }
    /// Videos that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Failed { .. })).count()
    }
}

/// The combined matrix of a batch.
#[derive(Clone, Debug, Serialize)]
pub struct Combined {
    /// `features.safetensors`.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: usize,
    /// `features.npy`.
    pub npy: PathBuf,
}

impl ExtractBatch {
    /// The identity an entry's output must have to be kept.
    pub fn identity(&self, e: &Entry, weights: &str) -> Identity {
        Identity::of_file(&e.path, weights)
    }

    /// Indices of the entries that need work (not complete from the same
    /// video and weights, or all with `force`).
    pub fn todo(&self, weights: &str) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                self.force || !is_complete(&output_of(&self.out_dir, e), &self.identity(e, weights))
            })
            .collect()
    }

    /// Checks the output folder can be made and written, before any work.
    pub fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(&self.out_dir).map_err(Error::io(&self.out_dir))?;
        crate::files::check_dir_writable(&self.out_dir)
    }

    /// Extracts one entry into its output file.
    pub fn extract_one(&self, model: &Model, e: &Entry, opts: &ExtractOptions) -> Result<Outcome> {
        let mut input = Input::path(&e.path);
        if let Some(raw) = &self.raw {
            input = input.raw(raw.clone());
        }
        let identity = self.identity(e, model.weights());
        let f = model.extract(input, opts)?;
        write_features(&output_of(&self.out_dir, e), &f, &identity, self.as_f32)?;
        Ok(Outcome::Done { seconds: f.timings.total, frames: f.frames_decoded, warnings: f.warnings })
    }

    /// Runs the batch with `model`: extracts what needs it (`jobs` videos
    /// at once), then writes the reports. `event` hears each video as it
    /// starts (`None`) and ends (`Some(outcome)`). With `model` `None`
    /// nothing may need work (everything is complete), else an error.
    pub fn run(
        &self,
        model: &Model,
        opts: &ExtractOptions,
        mut event: impl FnMut(&Entry, Option<&Outcome>) + Send,
    ) -> Result<BatchSummary> {
        self.prepare()?;
        let todo = self.todo(model.weights());
        let mut outcomes: Vec<Outcome> = vec![Outcome::Skipped; self.entries.len()];
        let mut opts = opts.clone();
        if self.jobs > 1 {
            opts.decode_threads = 1;
        }
        let slots: Vec<usize> = todo.clone();
        let results = Mutex::new(Vec::new());
        let events = Mutex::new(&mut event);
        run_each(
            &slots,
            self.jobs,
            |&i| self.entries[i].path.display().to_string(),
            |&i| {
                let e = &self.entries[i];
                if let Ok(mut ev) = events.lock() {
                    (*ev)(e, None);
                }
                self.extract_one(model, e, &opts)
            },
            || opts.cancel.is_cancelled(),
            |k, r| {
                let i = slots[k];
                let o = match r {
                    Ok(o) => o,
                    Err(err) => Outcome::Failed { error: err.to_string() },
                };
                if let Ok(mut ev) = events.lock() {
                    (*ev)(&self.entries[i], Some(&o));
                }
                if let Ok(mut r) = results.lock() {
                    r.push((i, o));
                }
            },
        );
        for (i, o) in results.into_inner().map_err(|_| Error::Panicked("batch".into()))? {
            outcomes[i] = o;
        }
        if opts.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let combined = write_reports(&self.out_dir, &self.entries, &self.extra_columns, &outcomes, model.weights())?;
        Ok(BatchSummary { outcomes, combined })
    }
}

/// Writes `failures.csv`, `index.csv` and the combined matrix of every
/// complete output (from `weights`), streaming. Each file is written
/// whole or not at all; a file that cannot be written does not stop the
/// others, and the first error is returned after all were tried.
pub fn write_reports(
    out_dir: &Path,
    entries: &[Entry],
    extra_columns: &[String],
    outcomes: &[Outcome],
    weights: &str,
) -> Result<Combined> {
    let csv_err = |e: csv::Error| Error::invalid(e.to_string());
    let mut index = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["name".to_owned(), "path".to_owned(), "status".to_owned(), "output".to_owned()];
    header.extend(extra_columns.iter().cloned());
    index.write_record(&header).map_err(csv_err)?;
    let mut failures = csv::Writer::from_writer(Vec::new());
    failures.write_record(["name", "path", "error"]).map_err(csv_err)?;
    let mut rows = Vec::new();
    for (e, o) in entries.iter().zip(outcomes) {
        let out = output_of(out_dir, e);
        let status = match o {
            Outcome::Failed { error } => {
                failures
                    .write_record([e.name.as_str(), &e.path.display().to_string(), error.as_str()])
                    .map_err(csv_err)?;
                "failed"
            }
            _ if is_complete(&out, &Identity::of_file(&e.path, weights)) => {
                rows.push((e.name.clone(), out.clone()));
                if matches!(o, Outcome::Skipped) {
                    "skipped"
                } else {
                    "done"
                }
            }
            _ => "missing",
        };
        let mut row = vec![e.name.clone(), e.path.display().to_string(), status.to_owned(), out.display().to_string()];
        row.extend(
            extra_columns
                .iter()
                .map(|c| e.extra.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()).unwrap_or_default()),
        );
        index.write_record(&row).map_err(csv_err)?;
    }
    let mut first_error = None;
    for (name, w) in [("failures.csv", failures), ("index.csv", index)] {
        let path = out_dir.join(name);
        let r = w
            .into_inner()
            .map_err(|e| Error::invalid(e.to_string()))
            .and_then(|bytes| relaxvqa_formats::atomic::write_atomic(&path, &bytes).map_err(Error::io(&path)));
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    let combined = write_matrix(out_dir, &rows);
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Combined { path: combined?, rows: rows.len(), npy: out_dir.join("features.npy") })
}
