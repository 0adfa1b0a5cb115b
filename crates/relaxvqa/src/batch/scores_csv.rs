//! The scores CSV of a scoring run (`score --output`): one row per input,
//! appended as results arrive (never rewritten per video), resumable. A
//! row is reused only when it was made by the same head, weights, scale and
//! timeline window from the same file (path, size, modification time);
//! other rows of earlier runs are dropped once, at the start.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::files::Identity;
use crate::{Error, Result};

/// The CSV's columns, in order.
pub const COLUMNS: [&str; 12] = [
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
    "segment_seconds",
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
    /// The timeline window in seconds (empty: no timeline).
    pub segment_seconds: String,
}

impl ScoreRow {
    fn fields(&self) -> [&str; 12] {
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
            &self.segment_seconds,
        ]
    }

    /// Sets the input-identity columns from a file identity.
    pub(crate) fn with_identity(mut self, id: &Identity) -> Self {
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

/// The `segments` column: `start-end:score` per window, `;`-separated.
pub(crate) fn segments_column(windows: impl IntoIterator<Item = (f64, f64, f64)>) -> String {
    windows.into_iter().map(|(a, b, s)| format!("{a}-{b}:{s}")).collect::<Vec<_>>().join(";")
}

/// A scores CSV open for appending.
pub(crate) struct ScoresCsv {
    path: PathBuf,
    out: std::fs::File,
}

/// What identifies the rows a run may reuse.
#[derive(Clone, Debug)]
pub(crate) struct RunKey {
    /// Head name.
    pub model: String,
    /// Head source.
    pub model_source: String,
    /// Backbone weights (for video inputs; feature inputs record "").
    pub weights: String,
    /// Scale name.
    pub scale: String,
    /// The timeline window, as the `segment_seconds` column writes it.
    pub segment_seconds: String,
}

impl ScoresCsv {
    /// Opens `path` for a run. Without `force`, the scored rows of earlier
    /// runs made with the same head and scale are kept (returned by name;
    /// the caller checks each against its input's identity with
    /// [`row_matches`]); every other row is dropped, by rewriting the file
    /// once (also when its header is not ours, so that appended rows line
    /// up with the header). With `force` the file starts empty.
    pub(crate) fn open(path: &Path, force: bool, key: &RunKey) -> Result<(Self, HashMap<String, ScoreRow>)> {
        crate::files::check_writable(path)?;
        let previous = if force || !path.exists() { Vec::new() } else { read_rows(path)? };
        let kept: Vec<ScoreRow> = previous
            .iter()
            .filter(|r| {
                r.is_scored()
                    && r.model == key.model
                    && r.model_source == key.model_source
                    && r.scale == key.scale
                    && r.segment_seconds == key.segment_seconds
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
    pub(crate) fn append(&mut self, row: &ScoreRow) -> Result<()> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        w.write_record(row.fields()).map_err(|e| Error::invalid(e.to_string()))?;
        let bytes = w.into_inner().map_err(|e| Error::invalid(e.to_string()))?;
        self.out.write_all(&bytes).and_then(|()| self.out.flush()).map_err(Error::io(&self.path))
    }
}

/// True when an earlier `row` can stand for an input of `identity` scored
/// with `weights` (the video's size and time unchanged).
pub(crate) fn row_matches(row: &ScoreRow, identity: &Identity) -> bool {
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
            segment_seconds: get("segment_seconds"),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::unique_names;
    use crate::ErrorKind;

    /// The error of `r`, as a one-line message and its class.
    fn err<T>(r: Result<T>) -> (String, ErrorKind) {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => (e.to_string(), e.kind()),
        }
    }

    /// Writes `text` to `path`.
    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).expect("write a test file");
    }

    fn key() -> RunKey {
        RunKey {
            model: "konvid-1k".into(),
            model_source: "authors' file".into(),
            weights: "hub".into(),
            scale: "mos_1_5".into(),
            segment_seconds: String::new(),
        }
    }

    /// A scored row made by [`key`]'s head and scale.
    fn row(name: &str, score: &str) -> ScoreRow {
        ScoreRow {
            name: name.into(),
            path: format!("/videos/{name}.mp4"),
            score: score.into(),
            scale: "mos_1_5".into(),
            model: "konvid-1k".into(),
            segments: "0-1:3.5".into(),
            error: String::new(),
            model_source: "authors' file".into(),
            weights: "hub".into(),
            input_size: "1234".into(),
            input_mtime_ns: "1700000000000000000".into(),
            segment_seconds: String::new(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A stem seen again gets `-2`, then `-3`; other stems keep their name.
    #[test]
    fn unique_names_suffixes_repeated_stems_in_order() {
        let names = unique_names(strings(&["a", "b", "a", "a", "b"]));
        assert_eq!(names, strings(&["a", "b", "a-2", "a-3", "b-2"]));
    }

    /// A generated suffix never reuses a name already taken by a real stem.
    #[test]
    fn unique_names_skip_names_already_taken() {
        let names = unique_names(strings(&["a-2", "a", "a"]));
        assert_eq!(names, strings(&["a-2", "a", "a-3"]));
        let set: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len(), "names must be distinct: {names:?}");
    }

    /// `segments` is `start-end:score` per window, joined by `;` (empty for none).
    #[test]
    fn segments_column_formats_windows() {
        assert_eq!(segments_column([(0.0, 2.0, 3.5), (2.0, 4.5, 4.25)]), "0-2:3.5;2-4.5:4.25");
        assert_eq!(segments_column([(1.5, 3.0, -0.125)]), "1.5-3:-0.125");
        assert_eq!(segments_column(std::iter::empty()), "");
    }

    /// A new file gets the header row in [`COLUMNS`] order, and appended rows
    /// (commas, quotes and line breaks included) read back unchanged.
    #[test]
    fn appended_rows_read_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let (mut csv, kept) = ScoresCsv::open(&path, false, &key()).unwrap();
        assert!(kept.is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(COLUMNS.join(",").as_str()));
        let a = row("a", "3.25");
        let b = ScoreRow {
            score: String::new(),
            segments: String::new(),
            error: "cannot open \"b.mp4\", line 1,\nline 2".into(),
            ..row("b", "")
        };
        csv.append(&a).unwrap();
        csv.append(&b).unwrap();
        // Flushed on append: readable while the writer is still open.
        assert_eq!(read_rows(&path).unwrap(), vec![a, b]);
    }

    /// Without `force`, only scored rows of the same head, head source and
    /// scale are kept (returned by name) and the others are dropped from the
    /// file; the weights are left to `row_matches`.
    #[test]
    fn reopening_keeps_only_scored_rows_of_the_same_head_and_scale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let keep = row("keep", "3.5");
        let other_weights = ScoreRow { weights: "synthetic".into(), ..row("other_weights", "2.5") };
        let rows = [
            keep.clone(),
            ScoreRow { error: "decode failed".into(), ..row("failed", "") },
            ScoreRow { score: "NaN".into(), ..row("nan", "") },
            ScoreRow { model: "lsvq".into(), ..row("other_model", "3") },
            ScoreRow { model_source: "my.safetensors".into(), ..row("other_source", "3") },
            ScoreRow { scale: "mos_0_100".into(), ..row("other_scale", "60") },
            other_weights.clone(),
        ];
        {
            let (mut csv, _) = ScoresCsv::open(&path, true, &key()).unwrap();
            for r in &rows {
                csv.append(r).unwrap();
            }
        }
        assert_eq!(read_rows(&path).unwrap().len(), rows.len());
        let (mut csv, kept) = ScoresCsv::open(&path, false, &key()).unwrap();
        let mut names: Vec<&str> = kept.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["keep", "other_weights"]);
        assert_eq!(kept["keep"], keep);
        assert_eq!(read_rows(&path).unwrap(), vec![keep.clone(), other_weights.clone()], "dropped from the file");
        let new = row("new", "4");
        csv.append(&new).unwrap();
        assert_eq!(read_rows(&path).unwrap(), vec![keep, other_weights, new], "appended after the kept rows");
    }

    /// With `force` the file starts empty (header only) and nothing is kept.
    #[test]
    fn force_starts_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        {
            let (mut csv, _) = ScoresCsv::open(&path, false, &key()).unwrap();
            csv.append(&row("a", "3")).unwrap();
        }
        let (_csv, kept) = ScoresCsv::open(&path, true, &key()).unwrap();
        assert!(kept.is_empty());
        assert!(read_rows(&path).unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1, "the header only");
    }

    /// The output's folder is checked before any work: a missing folder or
    /// a folder given as the file is an error.
    #[test]
    fn open_refuses_unwritable_outputs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ScoresCsv::open(&dir.path().join("missing/scores.csv"), false, &key()).is_err());
        assert!(ScoresCsv::open(dir.path(), false, &key()).is_err());
    }

    /// Rows are read by header name, in any column order; absent columns
    /// read as empty.
    #[test]
    fn read_rows_goes_by_header_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        write(&path, "score,extra,name\n4.5,x,clip\n");
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows, vec![ScoreRow { name: "clip".into(), score: "4.5".into(), ..ScoreRow::default() }]);
    }

    /// A CSV without name and score columns is refused with a message that
    /// names the file; a missing file is an I/O error.
    #[test]
    fn read_rows_refuses_other_csvs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.csv");
        write(&path, "video,mos\na,3\n");
        let (msg, kind) = err(read_rows(&path));
        assert!(msg.contains("other.csv") && msg.contains("needs name and score columns"), "{msg}");
        assert_eq!(kind, ErrorKind::Input);
        let (msg, kind) = err(read_rows(&dir.path().join("absent.csv")));
        assert_eq!(kind, ErrorKind::Io, "{msg}");
        assert!(msg.contains("absent.csv"), "{msg}");
    }

    /// A row holds a score only when `score` parses as a finite number.
    #[test]
    fn is_scored_needs_a_finite_number() {
        for s in ["3.5", "0", "-1e3", "100"] {
            assert!(row("a", s).is_scored(), "{s}");
        }
        for s in ["", "NaN", "inf", "-inf", "abc", "3,5"] {
            assert!(!row("a", s).is_scored(), "{s}");
        }
    }

    /// `with_identity` copies the size, the time and the weights of an identity.
    #[test]
    fn with_identity_sets_the_identity_columns() {
        let id = Identity { video: "v.mp4".into(), size: Some(42), mtime_ns: Some(-7), weights: "hub".into() };
        let r = ScoreRow::default().with_identity(&id);
        assert_eq!((r.input_size.as_str(), r.input_mtime_ns.as_str(), r.weights.as_str()), ("42", "-7", "hub"));
        let r = row("a", "3").with_identity(&Identity::of_name("stream", "synthetic"));
        assert_eq!((r.input_size.as_str(), r.input_mtime_ns.as_str(), r.weights.as_str()), ("", "", "synthetic"));
    }

    /// A row stands for an input only with the same weights, size and
    /// modification time; the path may differ (a dataset moved).
    #[test]
    fn row_matches_only_the_same_identity() {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("v.mp4");
        write(&video, "0123456789");
        let id = Identity::of_file(&video, "hub");
        assert_eq!(id.size, Some(10));
        let r = row("v", "3.5").with_identity(&id);
        assert!(row_matches(&r, &id));
        let moved = Identity { video: "/elsewhere/v.mp4".into(), ..id.clone() };
        assert!(row_matches(&r, &moved), "the path is not part of the identity");
        assert!(!row_matches(&r, &Identity { weights: "synthetic".into(), ..id.clone() }), "other weights");
        assert!(!row_matches(&r, &Identity { size: Some(11), ..id.clone() }), "other size");
        assert!(!row_matches(&r, &Identity { mtime_ns: id.mtime_ns.map(|t| t + 1), ..id.clone() }), "other time");
        write(&video, "01234567890123");
        assert!(!row_matches(&r, &Identity::of_file(&video, "hub")), "the video changed");
        // A non-file input matches only a row without size and time.
        let stream = Identity::of_name("stream", "hub");
        assert!(!row_matches(&r, &stream));
        assert!(row_matches(&row("s", "3").with_identity(&stream), &stream));
    }

    /// An existing scores CSV whose header is not [`COLUMNS`] (here a
    /// header-only `name,score` file) must still read back the rows a run
    /// appends to it: the appended row's score must be its score.
    #[test]
    fn appending_to_a_file_with_another_header_keeps_columns_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        write(&path, "name,score\n");
        let (mut csv, kept) = ScoresCsv::open(&path, false, &key()).unwrap();
        assert!(kept.is_empty());
        let r = row("v", "3.5");
        csv.append(&r).unwrap();
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].score, "3.5", "the score column holds {:?}", rows[0].score);
        assert_eq!(rows[0], r);
    }
}
