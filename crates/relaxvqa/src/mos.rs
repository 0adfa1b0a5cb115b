//! Subjective scores (MOS) for training and evaluation: the authors'
//! metadata CSVs, our `index.csv`, or any CSV with a name and a MOS column,
//! matched with feature rows by name or file stem.

use std::collections::HashMap;
use std::path::Path;

use crate::files::{read_feature_rows, stem, FeatureRows};
use crate::{Error, Result};

/// One row of a MOS list.
#[derive(Clone, Debug)]
pub struct MosRow {
    /// The MOS.
    pub mos: f64,
    /// The group label (e.g. source content), when a group column was named.
    pub group: Option<String>,
}

/// A MOS list keyed by name and by file stem.
#[derive(Clone, Debug, Default)]
pub struct MosTable {
    by_key: HashMap<String, MosRow>,
}

impl MosTable {
    /// The row of `name` (or of its file stem).
    pub fn get(&self, name: &str) -> Option<&MosRow> {
        self.by_key.get(name).or_else(|| self.by_key.get(&stem(Path::new(name))))
    }
}

/// Reads a MOS CSV: the name column (`name_column`, else the first of
/// name, vid, video, path, file, filename, flickr_id), the MOS column
/// (`mos_column`, else mos, dmos, score) and optionally a group column.
pub fn read_mos(
    path: &Path,
    name_column: Option<&str>,
    mos_column: Option<&str>,
    group_column: Option<&str>,
) -> Result<MosTable> {
    if path.is_dir() {
        return Err(Error::invalid(format!("{}: expected a CSV file of scores, found a folder", path.display())));
    }
    let csv_err = |e: csv::Error| Error::invalid(format!("{}: {e}", path.display()));
    let mut rdr = csv::ReaderBuilder::new().from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::Io { path: path.to_owned(), source: io },
        other => Error::invalid(format!("{}: {other:?}", path.display())),
    })?;
    let headers: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(|h| h.trim().to_owned()).collect();
    let pick = |c: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(c));
    let choose = |given: Option<&str>, defaults: &[&str], what: &str| -> Result<usize> {
        match given {
            Some(c) => pick(c).ok_or_else(|| {
                Error::invalid(format!("{}: no column named {c} (columns: {})", path.display(), headers.join(", ")))
            }),
            None => defaults.iter().find_map(|c| pick(c)).ok_or_else(|| {
                Error::invalid(format!(
                    "{}: no {what} column ({}); columns: {}",
                    path.display(),
                    defaults.join(", "),
                    headers.join(", ")
                ))
            }),
        }
    };
    let name_col = choose(name_column, &["name", "vid", "video", "path", "file", "filename", "flickr_id"], "name")?;
    let mos_col = choose(mos_column, &["mos", "dmos", "score"], "MOS")?;
    let group_col = group_column.map(|g| choose(Some(g), &[], "group")).transpose()?;
    let mut by_key = HashMap::new();
    for (line, rec) in rdr.records().enumerate() {
        let line = line + 2;
        let rec = rec.map_err(|e| Error::invalid(format!("{}: row {line}: {e}", path.display())))?;
        let name = rec.get(name_col).unwrap_or("").trim();
        let mos_text = rec.get(mos_col).unwrap_or("").trim();
        if name.is_empty() {
            return Err(Error::invalid(format!("{}: row {line}: empty name", path.display())));
        }
        let mos: f64 = mos_text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            Error::invalid(format!("{}: row {line}: MOS {mos_text:?} is not a number", path.display()))
        })?;
        let group = group_col.map(|c| rec.get(c).unwrap_or("").trim().to_owned());
        let key_stem = stem(Path::new(name));
        if !key_stem.is_empty() && key_stem != name {
            by_key.entry(key_stem).or_insert(MosRow { mos, group: group.clone() });
        }
        by_key.insert(name.to_owned(), MosRow { mos, group });
    }
    if by_key.is_empty() {
        return Err(Error::invalid(format!("{}: no rows", path.display())));
    }
    Ok(MosTable { by_key })
}

/// Feature rows matched with their MOS (rows without one dropped).
#[derive(Clone, Debug)]
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
    /// Names of feature rows that had no MOS (left out).
    pub unmatched: Vec<String>,
}

/// Matches feature rows with MOS rows by name (or the name's stem); rows
/// without a MOS are left out (listed in [`Labelled::unmatched`]); none
/// matching is an error.
pub fn label(features: FeatureRows, mos: &MosTable, features_path: &Path, mos_path: &Path) -> Result<Labelled> {
    let mut out = Labelled {
        names: Vec::new(),
        x: Vec::new(),
        dim: features.dim,
        y: Vec::new(),
        groups: None,
        group_names: Vec::new(),
        unmatched: Vec::new(),
    };
    let mut groups = Vec::new();
    let mut group_index: HashMap<String, usize> = HashMap::new();
    for (i, name) in features.names.iter().enumerate() {
        let Some(row) = mos.get(name) else {
            out.unmatched.push(name.clone());
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
    if out.y.is_empty() {
        return Err(Error::invalid(format!(
            "no feature row of {} has a MOS in {} (names are matched with the name column or its file stem)",
            features_path.display(),
            mos_path.display()
        )));
    }
    if groups.len() == out.y.len() {
        out.groups = Some(groups);
    }
    Ok(out)
}

/// Reads the feature rows at `features` (a combined matrix, an extract
/// folder or one feature file) and the MOS CSV at `mos` (columns as
/// [`read_mos`] takes them), and matches them: the data `train` and `eval`
/// start from.
pub fn read_labelled(
    features: &Path,
    mos: &Path,
    name_column: Option<&str>,
    mos_column: Option<&str>,
    group_column: Option<&str>,
) -> Result<Labelled> {
    let rows = read_feature_rows(features)?;
    let table = read_mos(mos, name_column, mos_column, group_column)?;
    label(rows, &table, features, mos)
}

impl Labelled {
    /// The warning about feature rows left out for want of a MOS (naming
    /// the first five), or `None` when every row has one.
    pub fn unmatched_warning(&self, features: &Path, mos: &Path) -> Option<String> {
        let shown: Vec<&str> = self.unmatched.iter().take(5).map(String::as_str).collect();
        (!shown.is_empty()).then(|| {
            format!(
                "{} feature row(s) of {} have no MOS in {} and are left out ({}{})",
                self.unmatched.len(),
                features.display(),
                mos.display(),
                shown.join(", "),
                if self.unmatched.len() > 5 { ", ..." } else { "" }
            )
        })
    }
}
