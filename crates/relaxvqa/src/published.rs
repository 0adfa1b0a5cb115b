//! The authors' published heads (the zoo): what there is, fetching a head
//! into the cache, and turning a head with its imputer and scaler into one
//! head file of ours, so that users never handle the authors' pickles.

use std::path::{Path, PathBuf};

use relaxvqa_model::head::{save_head_file, HeadFile};
use relaxvqa_model::zoo::{self, Zoo, ZooHead};
use serde::Serialize;

use crate::head::OutputScale;
use crate::{Error, Result};

/// Where the published heads come from (repository and commit).
pub const REPOSITORY: (&str, &str) = (zoo::ZOO_REPOSITORY, zoo::ZOO_COMMIT);

/// A published head as `relaxvqa models list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedHead {
    /// Its name (`Model::load` takes it).
    pub name: &'static str,
    /// The head used when none is named.
    pub default: bool,
    /// The dataset it was trained on.
    pub trained_on: &'static str,
    /// The scale of its output (`mos_1_5`, ...).
    pub output_scale: &'static str,
    /// The SRCC the authors report for it.
    pub published_srcc: f64,
    /// Where that SRCC was measured.
    pub srcc_on: &'static str,
    /// The dataset whose imputer and scaler it uses.
    pub preprocessing: &'static str,
    /// The file in the authors' repository.
    pub path: &'static str,
    /// Its git blob id (checked after download).
    pub blob_id: &'static str,
    /// Where it is downloaded from.
    pub url: String,
    /// Whether it is in the cache.
    pub cached: bool,
    /// What a user should know about it.
    pub warning: Option<&'static str>,
}

/// Every published head, and the cache folder they are fetched into.
pub fn list() -> (Vec<PublishedHead>, PathBuf) {
    let z = Zoo::from_env();
    let heads = zoo::HEADS
        .iter()
        .map(|h| PublishedHead {
            name: h.name,
            default: h.name == zoo::DEFAULT_HEAD,
            trained_on: h.trained_on,
            output_scale: h.output_scale.as_str(),
            published_srcc: h.published_srcc,
            srcc_on: h.srcc_on,
            preprocessing: h.preprocessing.dataset,
            path: h.file.path,
            blob_id: h.file.blob_id,
            url: z.url(&h.file),
            cached: z.head_is_cached(h),
            warning: h.warning,
        })
        .collect();
    (heads, z.cache)
}

/// The published heads `names` stands for (`all` for every one); an error
/// naming an unknown one.
pub fn find(names: &[String]) -> Result<Vec<&'static str>> {
    if names.iter().any(|n| n.eq_ignore_ascii_case("all")) {
        return Ok(zoo::HEADS.iter().map(|h| h.name).collect());
    }
    names.iter().map(|n| Ok(head(n)?.name)).collect()
}

fn head(name: &str) -> Result<&'static ZooHead> {
    zoo::find_head(name).ok_or_else(|| {
        Error::invalid(format!("no published head named {name:?}; known: {}", zoo::head_names().join(", ")))
    })
}

fn zoo_error(name: &str) -> impl FnOnce(zoo::ZooError) -> Error + '_ {
    move |source| Error::Zoo { context: name.to_owned(), source: Box::new(source) }
}

/// Fetches head `name` into the cache (checked against its blob id) and,
/// with `output`, writes it as one head file there. Returns the cached
/// weights file.
pub fn fetch(name: &str, output: Option<&Path>) -> Result<PathBuf> {
    let h = head(name)?;
    let z = Zoo::from_env();
    let fetched = z.fetch_head(h).map_err(zoo_error(name))?;
    if let Some(out) = output {
        let hf = z.head_file(h).map_err(zoo_error(name))?;
        save_head_file(out, &hf).map_err(Error::head(out.display().to_string()))?;
    }
    Ok(fetched.weights)
}

/// What a conversion wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Converted {
    /// Features the head takes.
    pub input_width: usize,
    /// Whether an imputer was included.
    pub imputer: bool,
    /// Whether a scaler was included.
    pub scaler: bool,
}

/// Converts the authors' `.pth` head with its joblib imputer and scaler
/// into one head file at `output`, recording `source` (default: the three
/// files' names).
pub fn convert(
    head: &Path,
    imputer: Option<&Path>,
    scaler: Option<&Path>,
    scale: OutputScale,
    source: Option<String>,
    output: &Path,
) -> Result<Converted> {
    let source = source.unwrap_or_else(|| {
        let p = |o: Option<&Path>| o.map(|p| p.display().to_string()).unwrap_or_else(|| "none".into());
        format!("head {}, imputer {}, scaler {}", head.display(), p(imputer), p(scaler))
    });
    let hf = HeadFile::from_published(head, imputer, scaler, scale, source)
        .map_err(Error::head(format!("converting {}", head.display())))?;
    save_head_file(output, &hf).map_err(Error::head(output.display().to_string()))?;
    Ok(Converted { input_width: hf.input_width, imputer: hf.imputer.is_some(), scaler: hf.scaler.is_some() })
}

/// A published head's warning, if it has one.
pub fn warning(name: &str) -> Option<&'static str> {
    zoo::find_head(name).and_then(|h| h.warning)
}
