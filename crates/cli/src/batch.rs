//! Batch extraction: a CSV list, a folder, or several files; one output per
//! video, a combined feature matrix, an index and a failures file; resumable
//! (complete outputs are skipped) and tolerant (a failed video is recorded
//! and the batch goes on).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context};
use relaxvqa_features::{write_safetensors, DumpTensor, ExtractOptions, TensorData, FEATURE_LEN};
use serde_json::json;

use crate::args::{Dump, ExtractArgs};
use crate::extract::{decode_options, extract_video, load_backbones, warnings, write_features};

/// File extensions taken from a folder.
const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mkv", "mov", "avi", "webm", "m4v", "flv", "ts", "mts", "m2ts", "mpg", "mpeg", "wmv", "3gp", "ogv", "y4m",
    "yuv",
];

/// One video of a batch.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Output name (unique within the batch).
    pub name: String,
    /// The video file.
    pub path: PathBuf,
    /// Other columns of the list, carried into the index.
    pub extra: Vec<(String, String)>,
}

/// What became of one video.
enum Outcome {
    Done { seconds: f64, frames: u64, warnings: Vec<String> },
    Skipped,
    Failed(String),
}

/// Runs batch extraction.
pub fn run(a: ExtractArgs) -> anyhow::Result<ExitCode> {
    if a.dump == Dump::All {
        bail!("--dump all is for one video at a time (it keeps every intermediate); drop it in batch mode");
    }
    let out_dir = a.out_dir.clone().context("batch mode needs --out-dir DIR")?;
    let (entries, extra_columns) = entries(&a)?;
    if entries.is_empty() {
        bail!("no videos to process");
    }
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let output_of = |e: &Entry| out_dir.join(format!("{}.safetensors", e.name));
    let todo: Vec<usize> = (0..entries.len()).filter(|&i| a.force || !is_complete(&output_of(&entries[i]))).collect();
    let outcomes: Mutex<Vec<Option<Outcome>>> =
        Mutex::new((0..entries.len()).map(|_| Some(Outcome::Skipped)).collect());
    if !todo.is_empty() {
        let nets = load_backbones(&a.weights)?;
        let jobs = a.jobs.clamp(1, todo.len());
        let decode = decode_options(&a.raw, if jobs > 1 { 1 } else { 0 })?;
        let opts = ExtractOptions { batch_size: a.batch_size, dump: false, per_sample: false };
        let pb = crate::output::bar(todo.len() as u64, "videos", a.quiet || a.json);
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = todo.get(k) else { break };
                    let e = &entries[i];
                    pb.set_message(e.name.clone());
                    let r = extract_video(&e.path, &decode, &nets, &opts, &mut |_| {})
                        .and_then(|out| write_features(&output_of(e), &out, &a.weights, a.f32, &e.path).map(|()| out));
                    let outcome = match r {
                        Ok(out) => Outcome::Done {
                            seconds: out.timings.total,
                            frames: out.frames_decoded,
                            warnings: warnings(&out),
                        },
                        Err(err) => {
                            // Most errors name the file already; name it when not.
                            let msg = format!("{err:#}");
                            let path = e.path.display().to_string();
                            let line = if msg.contains(&path) { msg } else { format!("{path}: {msg}") };
                            pb.suspend(|| eprintln!("relaxvqa: error: {line}"));
                            Outcome::Failed(format!("{err:#}"))
                        }
                    };
                    if let Ok(mut o) = outcomes.lock() {
                        o[i] = Some(outcome);
                    }
                    pb.inc(1);
                });
            }
        });
        pb.finish_and_clear();
    }
    let outcomes: Vec<Outcome> =
        outcomes.into_inner().map_err(|_| anyhow::anyhow!("a worker panicked"))?.into_iter().flatten().collect();
    let combined = write_reports(&out_dir, &entries, &extra_columns, &outcomes, &output_of)?;
    let failed = outcomes.iter().filter(|o| matches!(o, Outcome::Failed(_))).count();
    let skipped = outcomes.iter().filter(|o| matches!(o, Outcome::Skipped)).count();
    let done = outcomes.len() - failed - skipped;
    if a.json {
        let videos: Vec<_> = entries
            .iter()
            .zip(&outcomes)
            .map(|(e, o)| match o {
                Outcome::Done { seconds, frames, warnings } => {
                    json!({"name": e.name, "path": e.path, "status": "done", "seconds": seconds, "frames": frames, "warnings": warnings})
                }
                Outcome::Skipped => json!({"name": e.name, "path": e.path, "status": "skipped"}),
                Outcome::Failed(m) => json!({"name": e.name, "path": e.path, "status": "failed", "error": m}),
            })
            .collect();
        crate::output::print_json(&json!({
            "schema": "relaxvqa.extract-batch/1",
            "out_dir": out_dir,
            "done": done, "skipped": skipped, "failed": failed,
            "combined": combined,
            "videos": videos,
        }))?;
    } else {
        println!(
            "{} videos: {done} extracted, {skipped} already done, {failed} failed -> {}",
            entries.len(),
            out_dir.display()
        );
        if failed > 0 {
            println!("failures listed in {}", out_dir.join("failures.csv").display());
        }
    }
    Ok(if failed > 0 { ExitCode::from(crate::EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}

/// The videos of the batch, in order, and the extra column names.
fn entries(a: &ExtractArgs) -> anyhow::Result<(Vec<Entry>, Vec<String>)> {
    let mut raw: Vec<ListRow> = Vec::new();
    let mut extra_columns = Vec::new();
    if let Some(list) = &a.list {
        let (rows, cols) = read_list(list, a.video_dir.as_deref(), a.path_column.as_deref(), a.ext.as_deref())?;
        raw.extend(rows);
        extra_columns = cols;
    }
    for input in &a.inputs {
        if input.is_dir() {
            raw.extend(videos_in(input)?.into_iter().map(|p| (p, Vec::new())));
        } else {
            raw.push((input.clone(), Vec::new()));
        }
    }
    let mut used = std::collections::HashSet::new();
    let entries = raw
        .into_iter()
        .map(|(path, extra)| {
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
            Entry { name, path, extra }
        })
        .collect();
    Ok((entries, extra_columns))
}

/// The video files of a folder (by extension), sorted by name.
pub(crate) fn videos_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
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

/// A list row: the video path and its other columns, by name.
pub(crate) type ListRow = (PathBuf, Vec<(String, String)>);

/// Reads a CSV list: the path column (resolved against `video_dir`, else the
/// CSV's folder) and every other column.
pub(crate) fn read_list(
    list: &Path,
    video_dir: Option<&Path>,
    column: Option<&str>,
    ext: Option<&str>,
) -> anyhow::Result<(Vec<ListRow>, Vec<String>)> {
    if list.is_dir() {
        anyhow::bail!("{}: --list takes a CSV file; give a folder of videos as the VIDEO argument", list.display());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(list)
        .with_context(|| format!("reading {}", list.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header row", list.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let pick = |c: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(c));
    let col = match column {
        Some(c) => pick(c)
            .with_context(|| format!("{}: no column named {c} (columns: {})", list.display(), headers.join(", ")))?,
        None => {
            ["path", "file", "filename", "video", "vid", "name"].iter().find_map(|c| pick(c)).with_context(|| {
                format!(
                    "{}: no path column (path, file, filename, video, vid or name); say which with --path-column",
                    list.display()
                )
            })?
        }
    };
    let base = video_dir.unwrap_or_else(|| list.parent().unwrap_or(Path::new(".")));
    let extra_columns: Vec<String> =
        headers.iter().enumerate().filter(|&(i, _)| i != col).map(|(_, h)| h.clone()).collect();
    let mut rows = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", list.display(), line + 2))?;
        let value = rec.get(col).unwrap_or("").trim();
        if value.is_empty() {
            bail!("{}: row {}: empty path", list.display(), line + 2);
        }
        let mut p = PathBuf::from(value);
        if let (Some(ext), None) = (ext, p.extension()) {
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

/// True when `path` is a finished feature file (a full `video.features`).
pub fn is_complete(path: &Path) -> bool {
    read_features(path).is_ok()
}

/// The feature vector of a feature file.
pub fn read_features(path: &Path) -> anyhow::Result<Vec<f64>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let t = st.tensor("video.features").with_context(|| format!("{}: no video.features", path.display()))?;
    let v = crate::train::data::tensor_f64(&t, path, "video.features")?;
    if v.len() != FEATURE_LEN {
        bail!("{}: video.features has {} values, not {FEATURE_LEN}", path.display(), v.len());
    }
    Ok(v)
}

/// Writes `index.csv`, `failures.csv`, and the combined matrix of every
/// complete output (`features.safetensors` and `features.npy` with
/// `features.names.txt`); returns the combined file's path and row count.
fn write_reports(
    out_dir: &Path,
    entries: &[Entry],
    extra_columns: &[String],
    outcomes: &[Outcome],
    output_of: &dyn Fn(&Entry) -> PathBuf,
) -> anyhow::Result<serde_json::Value> {
    let mut index = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["name".to_owned(), "path".to_owned(), "status".to_owned(), "output".to_owned()];
    header.extend(extra_columns.iter().cloned());
    index.write_record(&header)?;
    let mut failures = csv::Writer::from_writer(Vec::new());
    failures.write_record(["name", "path", "error"])?;
    let mut names = Vec::new();
    let mut matrix = Vec::new();
    for (e, o) in entries.iter().zip(outcomes) {
        let out = output_of(e);
        let status = match o {
            Outcome::Failed(m) => {
                failures.write_record([e.name.as_str(), &e.path.display().to_string(), m.as_str()])?;
                "failed"
            }
            _ => match read_features(&out) {
                Ok(v) => {
                    names.push(e.name.clone());
                    matrix.extend(v);
                    if matches!(o, Outcome::Skipped) {
                        "skipped"
                    } else {
                        "done"
                    }
                }
                Err(_) => "missing",
            },
        };
        let mut row = vec![e.name.clone(), e.path.display().to_string(), status.to_owned(), out.display().to_string()];
        let extra: std::collections::HashMap<&str, &str> =
            e.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        row.extend(extra_columns.iter().map(|c| extra.get(c.as_str()).copied().unwrap_or("").to_owned()));
        index.write_record(&row)?;
    }
    write_file(&out_dir.join("index.csv"), &index.into_inner()?)?;
    write_file(&out_dir.join("failures.csv"), &failures.into_inner()?)?;
    let n = names.len();
    let combined = out_dir.join("features.safetensors");
    let tensors = std::collections::BTreeMap::from([(
        "features".to_owned(),
        DumpTensor::new(vec![n, FEATURE_LEN], TensorData::F64(matrix.clone())),
    )]);
    let meta = std::collections::HashMap::from([
        ("format".to_owned(), "relaxvqa-feature-matrix".to_owned()),
        ("names".to_owned(), serde_json::to_string(&names)?),
    ]);
    write_safetensors(&combined, &tensors, Some(meta))?;
    write_file(&out_dir.join("features.npy"), &npy_f64(&matrix, n, FEATURE_LEN))?;
    write_file(
        &out_dir.join("features.names.txt"),
        names.iter().map(|s| format!("{s}\n")).collect::<String>().as_bytes(),
    )?;
    Ok(json!({"path": combined, "rows": n, "npy": out_dir.join("features.npy")}))
}

/// A NumPy `.npy` (version 1.0) of a C-order f64 matrix.
fn npy_f64(data: &[f64], rows: usize, cols: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in data {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Writes a file through a temporary sibling and a rename.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned() {
        let b = npy_f64(&[1.0, 2.0], 1, 2);
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b.len(), 10 + hlen + 16);
    }
}
