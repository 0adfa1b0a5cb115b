//! Reads predictions to score from a CSV file with a header and the columns
//! `mos` and `pred` (and optionally `name`), in any order, so that scores
//! from this crate or any other tool can be evaluated the same way.
//!
//! The parser is hand-written (RFC 4180: commas, double-quoted fields with
//! `""` escapes and embedded newlines, LF or CRLF line ends, an optional
//! UTF-8 byte-order mark) to keep the crate free of a CSV dependency.

use std::path::{Path, PathBuf};

/// Why a predictions CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file has no header line.
    #[error("empty CSV: a header with columns `mos` and `pred` is required")]
    Empty,
    /// A required column is absent from the header.
    #[error("the header has no `{0}` column (found: {1})")]
    MissingColumn(&'static str, String),
    /// A column name appears twice in the header.
    #[error("column `{0}` appears more than once in the header")]
    DuplicateColumn(String),
    /// A row has a different number of fields from the header.
    #[error("line {line}: {found} fields, the header has {expected}")]
    FieldCount {
        /// 1-based line where the row starts.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A `mos` or `pred` field is not a number.
    #[error("line {line}: `{column}` value {value:?} is not a number")]
    BadNumber {
        /// 1-based line where the row starts.
        line: usize,
        /// The column.
        column: &'static str,
        /// The field as written.
        value: String,
    },
    /// A quoted field runs to the end of the file.
    #[error("line {line}: quoted field is never closed")]
    UnterminatedQuote {
        /// 1-based line where the field starts.
        line: usize,
    },
    /// A closing quote is followed by something other than a comma or line end.
    #[error("line {line}: unexpected character {found:?} after a closing quote")]
    TextAfterQuote {
        /// 1-based line of the character.
        line: usize,
        /// The character.
        found: char,
    },
}

/// The contents of a predictions CSV, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// The `name` column, when the file has one.
    pub names: Option<Vec<String>>,
    /// The `mos` column.
    pub mos: Vec<f64>,
    /// The `pred` column.
    pub pred: Vec<f64>,
}

/// One parsed record and the line it starts on.
struct Record {
    line: usize,
    fields: Vec<String>,
}

/// Splits CSV text into records (blank lines skipped).
fn records(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut record_line = 1;
    let mut at_field_start = true;
    let finish = |out: &mut Vec<Record>, fields: &mut Vec<String>, field: &mut String, record_line: usize| {
        fields.push(std::mem::take(field));
        let f = std::mem::take(fields);
        if !(f.len() == 1 && f[0].trim().is_empty()) {
            out.push(Record { line: record_line, fields: f });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                let start = line;
                loop {
                    match chars.next() {
                        None => return Err(CsvError::UnterminatedQuote { line: start }),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(&found) => return Err(CsvError::TextAfterQuote { line, found }),
                }
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                finish(&mut out, &mut fields, &mut field, record_line);
                line += 1;
                record_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if !fields.is_empty() || !field.is_empty() {
        finish(&mut out, &mut fields, &mut field, record_line);
    }
    Ok(out)
}

/// Parses predictions CSV text (see [`read_predictions_csv`]). Column names
/// are matched case-insensitively after trimming; numbers may carry spaces.
pub fn parse_predictions_csv(text: &str) -> Result<Predictions, CsvError> {
    let mut recs = records(text)?.into_iter();
    let header = recs.next().ok_or(CsvError::Empty)?;
    let names: Vec<String> = header.fields.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) && ["mos", "pred", "name"].contains(&n.as_str()) {
            return Err(CsvError::DuplicateColumn(n.clone()));
        }
    }
    let find = |col: &'static str| names.iter().position(|n| n == col);
    let found = || header.fields.join(", ");
    let mos_col = find("mos").ok_or_else(|| CsvError::MissingColumn("mos", found()))?;
    let pred_col = find("pred").ok_or_else(|| CsvError::MissingColumn("pred", found()))?;
    let name_col = find("name");
    let mut out = Predictions { names: name_col.map(|_| Vec::new()), mos: Vec::new(), pred: Vec::new() };
    for rec in recs {
        if rec.fields.len() != names.len() {
            return Err(CsvError::FieldCount { line: rec.line, expected: names.len(), found: rec.fields.len() });
        }
        let number = |col: usize, column: &'static str| {
            let s = rec.fields[col].trim();
            s.parse::<f64>().map_err(|_| CsvError::BadNumber { line: rec.line, column, value: s.to_owned() })
        };
        out.mos.push(number(mos_col, "mos")?);
        out.pred.push(number(pred_col, "pred")?);
        if let (Some(c), Some(list)) = (name_col, out.names.as_mut()) {
            list.push(rec.fields[c].clone());
        }
    }
    Ok(out)
}

/// Reads a predictions CSV: a header naming `mos` and `pred` (and optionally
/// `name`) in any order, other columns ignored, one row per video.
pub fn read_predictions_csv(path: impl AsRef<Path>) -> Result<Predictions, CsvError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CsvError::Io { path: path.to_owned(), source })?;
    parse_predictions_csv(&text)
}
