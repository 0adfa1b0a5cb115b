//! Quality heads by name: a published head of the zoo (fetched and cached
//! on first use) or a head file of ours (from `models convert` or
//! training), with what to say about where it came from.

use std::path::Path;

use candle_core::Device;
use relaxvqa_model::head::load_head_file;
pub use relaxvqa_model::head::{Head, OutputScale};
use relaxvqa_model::zoo::{self, Zoo};

use crate::{Error, Result};

/// Whether `path` is a PyTorch checkpoint (a zip archive, or a legacy
/// pickle): what the authors publish their heads as.
fn is_torch_checkpoint(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    let pickle = magic[0] == 0x80 && (2..=5).contains(&magic[1]);
    read.is_ok() && path.extension().is_none_or(|e| e != "safetensors") && (magic == *b"PK\x03\x04" || pickle)
}

/// The head used when none is named: the authors' KoNViD-1k head.
pub const DEFAULT_HEAD: &str = zoo::DEFAULT_HEAD;

/// A head ready to score, and what to say about it.
pub struct LoadedHead {
    /// The head (imputer, scaler, MLP).
    pub head: Head,
    /// The zoo name, or the file's stem.
    pub name: String,
    /// Where it came from (the authors' file and blob id, or the head file).
    pub source: String,
    /// Something the user should know (a published head without its own
    /// scaler, say).
    pub warning: Option<String>,
}

impl LoadedHead {
    /// Resolves `spec`: an existing file (or a name ending in
    /// `.safetensors`) is a head file of ours; anything else must be a zoo
    /// name, fetched into the cache when missing.
    pub fn load(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_file() && is_torch_checkpoint(path) {
            return Err(Error::invalid(format!(
                "{spec}: a PyTorch checkpoint (the authors' head format), not a head file: convert it once, \
                 with its imputer and scaler, by `relaxvqa models convert --head {spec} --imputer IMPUTER.pkl \
                 --scaler SCALER.pkl --scale 1-5 -o head.safetensors`, and pass head.safetensors"
            )));
        }
        if path.is_file() || spec.ends_with(".safetensors") {
            let hf = load_head_file(path).map_err(Error::head(spec))?;
            let source = if hf.source.is_empty() { path.display().to_string() } else { hf.source.clone() };
            let head = hf.into_head(&Device::Cpu).map_err(Error::head(spec))?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| spec.to_owned());
            return Ok(Self { head, name, source, warning: None });
        }
        let Some(h) = zoo::find_head(spec) else {
            return Err(Error::invalid(format!(
                "{spec}: neither a head file nor a published head (known: {}; see `relaxvqa models list`)",
                zoo::head_names().join(", ")
            )));
        };
        let head = Zoo::from_env()
            .load_head(h, &Device::Cpu)
            .map_err(|source| Error::Zoo { context: h.name.to_owned(), source: Box::new(source) })?;
        Ok(Self {
            head,
            name: h.name.to_owned(),
            source: zoo::source(h),
            warning: h.warning.map(|w| format!("{}: {w}", h.name)),
        })
    }

    /// The scale the head's raw output is on.
    pub fn output_scale(&self) -> OutputScale {
        self.head.output_scale()
    }

    /// What identifies this head in resumable outputs: its name and source.
    pub fn identity(&self) -> String {
        format!("{} ({})", self.name, self.source)
    }

    /// Scores one feature vector on `scale`; a non-finite score is an error
    /// naming `what`.
    pub fn score(&self, features: &[f64], scale: OutputScale, what: &str) -> Result<f64> {
        check_features(features, what)?;
        let raw = self.head.score(features).map_err(Error::head(what))?;
        finite(convert(self.output_scale(), raw, scale)?, what)
    }

    /// Scores several vectors at once (one batch through the MLP).
    pub fn score_rows(&self, rows: &[&[f64]], scale: OutputScale, what: &str) -> Result<Vec<f64>> {
        for r in rows {
            check_features(r, what)?;
        }
        let raw = self.head.score_batch(rows).map_err(Error::head(what))?;
        raw.into_iter().map(|y| finite(convert(self.output_scale(), y, scale)?, what)).collect()
    }
}

impl std::fmt::Debug for LoadedHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedHead").field("name", &self.name).field("source", &self.source).finish()
    }
}

/// A feature vector a head may score: every frame block finite; each pair
/// block all finite, or all NaN (a video without a frame pair, which the
/// imputer fills); no infinity anywhere.
pub fn check_features(features: &[f64], what: &str) -> Result<()> {
    use relaxvqa_features::layout::{Over, BLOCKS, FEATURE_LEN};
    if features.len() != FEATURE_LEN {
        return Ok(()); // the head reports a width mismatch itself
    }
    for b in BLOCKS {
        let v = &features[b.offset..b.offset + b.len];
        let ok = v.iter().all(|x| x.is_finite()) || (b.over == Over::Pairs && v.iter().all(|x| x.is_nan()));
        if !ok {
            return Err(Error::invalid(format!(
                "{what}: the features are not finite numbers ({} holds NaN or infinity); they cannot be scored",
                b.name
            )));
        }
    }
    Ok(())
}

fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NotFinite(what.to_owned()))
    }
}

/// Parses a scale name: `1-5`, `0-100` or `raw` (and the `mos_1_5` forms).
pub fn parse_scale(s: &str) -> Result<OutputScale> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1-5" | "mos_1_5" | "1_5" => Ok(OutputScale::Mos1To5),
        "0-100" | "mos_0_100" | "0_100" => Ok(OutputScale::Mos0To100),
        "raw" => Ok(OutputScale::Raw),
        _ => Err(Error::invalid(format!("scale {s}: expected 1-5, 0-100 or raw"))),
    }
}

/// A human name for a scale (`MOS 1-5`).
pub fn scale_label(s: OutputScale) -> &'static str {
    match s {
        OutputScale::Mos1To5 => "MOS 1-5",
        OutputScale::Mos0To100 => "MOS 0-100",
        _ => "raw",
    }
}

/// Converts a raw head output to another scale.
pub fn convert(from: OutputScale, y: f64, to: OutputScale) -> Result<f64> {
    from.convert(y, to).ok_or_else(|| {
        Error::invalid(format!("cannot convert a {} head's scores to {}", scale_label(from), scale_label(to)))
    })
}
