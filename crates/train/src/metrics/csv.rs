//! Reads predictions to score from a CSV file with a header and the columns
//! `mos` and `pred` (and optionally `name`), in any order, so that scores
//! from this crate or any other tool can be evaluated the same way.
//!
//! The `csv` crate reads the records (RFC 4180: commas, double-quoted fields
//! with `""` escapes and embedded newlines, LF or CRLF line ends); an
//! optional UTF-8 byte-order mark is skipped, and malformed quoting, which
//! that crate accepts silently, is refused with the line it is on.

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
    /// The CSV reader refused the text for a reason not named above.
    #[error("line {line}: {message}")]
    Malformed {
        /// 1-based line of the record (0 when unknown).
        line: usize,
        /// The reader's explanation.
        message: String,
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

/// Rejects the malformed quoting the `csv` crate reads leniently: text after
/// a closing quote (which it would join to the field) and a quote never
/// closed (which would take the rest of the file into one field, rows
/// silently lost). Quotes count only at the start of a field, as in RFC 4180.
fn check_quotes(text: &str) -> Result<(), CsvError> {
    let mut line = 1;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if at_field_start => {
                let start = line;
                loop {
                    match chars.next() {
                        None => return Err(CsvError::UnterminatedQuote { line: start }),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                        }
                        Some('"') => break,
                        Some('\n') => line += 1,
                        Some(_) => {}
                    }
                }
                if let Some(&found) = chars.peek().filter(|c| !matches!(c, ',' | '\n' | '\r')) {
                    return Err(CsvError::TextAfterQuote { line, found });
                }
                at_field_start = false;
            }
            '\n' => {
                line += 1;
                at_field_start = true;
            }
            ',' | '\r' => at_field_start = true,
            _ => at_field_start = false,
        }
    }
    Ok(())
}

/// Splits CSV text into records with the line each starts on; lines that are
/// empty or hold only spaces are skipped.
fn records(text: &str) -> Result<Vec<(usize, ::csv::StringRecord)>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_quotes(text)?;
    let mut reader = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| CsvError::Malformed {
            line: e.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX)),
            message: e.to_string(),
        })?;
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue;
        }
        let line = rec.position().map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        out.push((line, rec));
    }
    Ok(out)
}

/// Parses predictions CSV text (see [`read_predictions_csv`]). Column names
/// are matched case-insensitively after trimming; numbers may carry spaces.
pub fn parse_predictions_csv(text: &str) -> Result<Predictions, CsvError> {
    let mut recs = records(text)?.into_iter();
    let (_, header) = recs.next().ok_or(CsvError::Empty)?;
    let names: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) && ["mos", "pred", "name"].contains(&n.as_str()) {
            return Err(CsvError::DuplicateColumn(n.clone()));
        }
    }
    let find = |col: &'static str| names.iter().position(|n| n == col);
    let found = || header.iter().collect::<Vec<_>>().join(", ");
    let mos_col = find("mos").ok_or_else(|| CsvError::MissingColumn("mos", found()))?;
    let pred_col = find("pred").ok_or_else(|| CsvError::MissingColumn("pred", found()))?;
    let name_col = find("name");
    let mut out = Predictions { names: name_col.map(|_| Vec::new()), mos: Vec::new(), pred: Vec::new() };
    for (line, rec) in recs {
        if rec.len() != names.len() {
            return Err(CsvError::FieldCount { line, expected: names.len(), found: rec.len() });
        }
        // Every index is below `names.len()`, which the row has just matched.
        let number = |col: usize, column: &'static str| {
            let s = rec[col].trim();
            s.parse::<f64>().map_err(|_| CsvError::BadNumber { line, column, value: s.to_owned() })
        };
        out.mos.push(number(mos_col, "mos")?);
        out.pred.push(number(pred_col, "pred")?);
        if let (Some(c), Some(list)) = (name_col, out.names.as_mut()) {
            list.push(rec[c].to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_quoted_newlines_and_blank_lines() {
        let err = parse_predictions_csv("mos,pred,name\n1,2,\"a\nb\"\n\n   \n3,x,c\n").expect_err("bad number");
        assert!(matches!(err, CsvError::BadNumber { line: 6, column: "pred", .. }), "{err}");
        let err = parse_predictions_csv("mos,pred,name\n1,2,\"a\n\"\"b\"\"\nc\"x\n").expect_err("text after quote");
        assert!(matches!(err, CsvError::TextAfterQuote { line: 4, found: 'x' }), "{err}");
        let p = parse_predictions_csv("mos,pred,name\r\n1,2,a\"b\r\n").expect("quote inside a field is literal");
        assert_eq!(p.names, Some(vec!["a\"b".to_owned()]));
    }
}
