//! Reading training and evaluation inputs: feature matrices written by
//! `relaxvqa extract` (a combined `features.safetensors`, a folder of
//! per-video files, or one per-video file) and MOS lists (the authors'
//! metadata CSVs, our `index.csv`, or any CSV with a name and a MOS column),
//! matched by name or file stem.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Feature rows with their names, row-major.
pub struct Features {
    /// One name per row (the video's output name or file stem).
    pub names: Vec<String>,
    /// `names.len() * dim` values.
    pub x: Vec<f64>,
    /// Values per row.
    pub dim: usize,
}

/// Decodes a safetensors tensor's bytes as f64 (f64 or f32 stored).
pub(crate) fn tensor_f64(t: &safetensors::tensor::TensorView<'_>, path: &Path, name: &str) -> anyhow::Result<Vec<f64>> {
    Ok(match t.dtype() {
        safetensors::Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        safetensors::Dtype::F32 => {
            t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect()
        }
        d => bail!("{}: {name} has dtype {d:?}, expected F64 or F32", path.display()),
    })
}

/// The stem of a path as a row name.
fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads one safetensors file: a combined matrix (`features` plus `names`
/// metadata) or a per-video file (`video.features`, named by its stem).
fn read_file(path: &Path) -> anyhow::Result<Features> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    if let Ok(t) = st.tensor("features") {
        let shape = t.shape().to_vec();
        if shape.len() != 2 {
            bail!("{}: features has shape {shape:?}, expected [rows, columns]", path.display());
        }
        let names_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("names"))
            .with_context(|| format!("{}: no `names` metadata for the feature rows", path.display()))?;
        let names: Vec<String> = serde_json::from_str(names_json)
            .with_context(|| format!("{}: `names` metadata is not a JSON list of strings", path.display()))?;
        if names.len() != shape[0] {
            bail!("{}: {} names for {} feature rows", path.display(), names.len(), shape[0]);
        }
        let x = tensor_f64(&t, path, "features")?;
        return Ok(Features { names, x, dim: shape[1] });
    }
    let t = st.tensor("video.features").with_context(|| {
        format!("{}: neither a feature matrix (`features`) nor a feature file (`video.features`)", path.display())
    })?;
    let x = tensor_f64(&t, path, "video.features")?;
    Ok(Features { names: vec![stem(path)], dim: x.len(), x })
}

/// Reads features from a combined matrix file, a per-video feature file, or
/// a folder (its `features.safetensors` when present, else every
/// `.safetensors` file in it, sorted by name).
pub fn read_features(path: &Path) -> anyhow::Result<Features> {
    if !path.is_dir() {
        return read_file(path);
    }
    let combined = path.join("features.safetensors");
    if combined.is_file() {
        return read_file(&combined);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading folder {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no .safetensors feature files in the folder", path.display());
    }
    let mut out = Features { names: Vec::new(), x: Vec::new(), dim: 0 };
    for f in files {
        let one = read_file(&f)?;
        if out.dim != 0 && one.dim != out.dim {
            bail!("{}: {} features per row, the other files have {}", f.display(), one.dim, out.dim);
        }
        out.dim = one.dim;
        out.names.extend(one.names);
        out.x.extend(one.x);
    }
    Ok(out)
}

/// One row of a MOS list.
pub struct MosRow {
    /// The MOS.
    pub mos: f64,
    /// The group label (e.g. source content), when a group column was named.
    pub group: Option<String>,
}

/// A MOS list keyed by name and by file stem.
pub struct MosTable {
    by_key: HashMap<String, MosRow>,
}

/// Reads a MOS CSV: the name column (`name_column`, else the first of
/// name, vid, video, path, file, filename, flickr_id), the MOS column
/// (`mos_column`, else mos, MOS, dmos, score) and optionally a group column.
pub fn read_mos(
    path: &Path,
    name_column: Option<&str>,
    mos_column: Option<&str>,
    group_column: Option<&str>,
) -> anyhow::Result<MosTable> {
    if path.is_dir() {
        anyhow::bail!("{}: expected a CSV file of scores, found a folder", path.display());
    }
    let mut rdr = csv::ReaderBuilder::new().from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header row", path.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let pick = |c: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(c));
    let choose = |given: Option<&str>, defaults: &[&str], what: &str| -> anyhow::Result<usize> {
        match given {
            Some(c) => pick(c)
                .with_context(|| format!("{}: no column named {c} (columns: {})", path.display(), headers.join(", "))),
            None => defaults.iter().find_map(|c| pick(c)).with_context(|| {
                format!(
                    "{}: no {what} column ({}); columns: {}",
                    path.display(),
                    defaults.join(", "),
                    headers.join(", ")
                )
            }),
        }
    };
    let name_col = choose(name_column, &["name", "vid", "video", "path", "file", "filename", "flickr_id"], "name")?;
    let mos_col = choose(mos_column, &["mos", "dmos", "score"], "MOS")?;
    let group_col = group_column.map(|g| choose(Some(g), &[], "group")).transpose()?;
    let mut by_key = HashMap::new();
    for (line, rec) in rdr.records().enumerate() {
        let line = line + 2;
        let rec = rec.with_context(|| format!("{}: row {line}", path.display()))?;
        let name = rec.get(name_col).unwrap_or("").trim();
        let mos_text = rec.get(mos_col).unwrap_or("").trim();
        if name.is_empty() {
            bail!("{}: row {line}: empty name", path.display());
        }
        let mos: f64 = mos_text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| format!("{}: row {line}: MOS {mos_text:?} is not a number", path.display()))?;
        let group = group_col.map(|c| rec.get(c).unwrap_or("").trim().to_owned());
        let key_stem = stem(Path::new(name));
        if !key_stem.is_empty() && key_stem != name {
            by_key.entry(key_stem).or_insert(MosRow { mos, group: group.clone() });
        }
        by_key.insert(name.to_owned(), MosRow { mos, group });
    }
    if by_key.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(MosTable { by_key })
}

/// Feature rows matched with their MOS (rows without one dropped).
pub struct Labelled {
    /// Row names.
    pub names: Vec<String>,
    /// Row-major features.
    pub x: Vec<f64>,
    /// Values per row.
    pub dim: usize,
    /// MOS per row.
    pub y: Vec<f64>,
    /// Group index per row, when grouping.
    pub groups: Option<Vec<usize>>,
    /// Group labels, indexed by the values of `groups`.
    pub group_names: Vec<String>,
}

/// Matches feature rows with MOS rows by name (or the name's stem); rows
/// without a MOS are dropped with a warning on stderr; none matching is an
/// error.
pub fn label(features: Features, mos: &MosTable, features_path: &Path, mos_path: &Path) -> anyhow::Result<Labelled> {
    let mut out = Labelled {
        names: Vec::new(),
        x: Vec::new(),
        dim: features.dim,
        y: Vec::new(),
        groups: None,
        group_names: Vec::new(),
    };
    let mut groups = Vec::new();
    let mut group_index: HashMap<String, usize> = HashMap::new();
    let mut missing = Vec::new();
    for (i, name) in features.names.iter().enumerate() {
        let row = mos.by_key.get(name).or_else(|| mos.by_key.get(&stem(Path::new(name))));
        let Some(row) = row else {
            missing.push(name.clone());
            continue;
        };
        out.names.push(name.clone());
        out.x.extend_from_slice(&features.x[i * features.dim..(i + 1) * features.dim]);
        out.y.push(row.mos);
        if let Some(g) = &row.group {
            let next = group_index.len();
            let k = *group_index.entry(g.clone()).or_insert_with(|| {
                out.group_names.push(g.clone());
                next
            });
            groups.push(k);
        }
    }
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
        eprintln!(
            "relaxvqa: warning: {} feature row(s) of {} have no MOS in {} and are left out ({}{})",
            missing.len(),
            features_path.display(),
            mos_path.display(),
            shown.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    if out.y.is_empty() {
        bail!(
            "no feature row of {} has a MOS in {} (names are matched with the name column or its file stem)",
            features_path.display(),
            mos_path.display()
        );
    }
    if groups.len() == out.y.len() {
        out.groups = Some(groups);
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().with_context(|| format!("{}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let r = std::fs::write(&tmp, bytes)
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display())));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
