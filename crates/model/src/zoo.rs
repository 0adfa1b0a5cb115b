//! The model zoo: the quality heads the ReLaX-VQA authors published, as data,
//! and their download into a local cache.
//!
//! Users want `relaxvqa score clip.mp4` to give the score of the authors'
//! model without finding and converting files by hand. Every head of
//! `spec/published-models.md` is listed here with its git blob id, its scaler
//! and imputer, its output scale and its published SRCC. Downloads are pinned
//! to one commit of the authors' repository and verified by the git blob id
//! (`sha1("blob <size>\0" + bytes)`) before anything is written to the cache;
//! the cache sits beside the backbone records
//! (`$RELAXVQA_CACHE_DIR/zoo/<commit>/<path>`).

#![warn(missing_docs)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::Device;
use sha1::{Digest, Sha1};

use crate::head::{Head, HeadError, HeadFile, OutputScale};
use crate::weights::WeightsConfig;

/// The authors' repository on GitHub.
pub const ZOO_REPOSITORY: &str = "xinyiW915/ReLaX-VQA";
/// The commit every download is pinned to (2025-03-06).
pub const ZOO_COMMIT: &str = "fc7eb62491b9508c79ff4eba26cff65c4b5a4f4c";
/// Where the files are served: `<endpoint>/<commit>/<path>`.
pub const DEFAULT_ZOO_ENDPOINT: &str = "https://raw.githubusercontent.com/xinyiW915/ReLaX-VQA";
/// Environment variable overriding [`DEFAULT_ZOO_ENDPOINT`] (mirrors, tests).
pub const ZOO_ENDPOINT_VAR: &str = "RELAXVQA_ZOO_ENDPOINT";
/// The head `relaxvqa score` uses when none is named: fine-tuned on
/// KoNViD-1k, selected by RMSE, with the KoNViD-1k imputer and scaler.
pub const DEFAULT_HEAD: &str = "konvid-1k";

/// One file of the authors' repository at [`ZOO_COMMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZooFile {
    /// Path inside the repository.
    pub path: &'static str,
    /// Git blob id (40 lowercase hex digits) the bytes must hash to.
    pub blob_id: &'static str,
}

/// A dataset's imputer and scaler, fitted on all its features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZooPreprocessing {
    /// Dataset name as the authors spell it (`konvid_1k`, ...).
    pub dataset: &'static str,
    /// The joblib pickle of the `SimpleImputer`.
    pub imputer: ZooFile,
    /// The joblib pickle of the `MinMaxScaler`.
    pub scaler: ZooFile,
}

/// One published head and how to use it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZooHead {
    /// Our name for it (what `--model` takes).
    pub name: &'static str,
    /// The `.pth` state dict.
    pub file: ZooFile,
    /// What it was trained on.
    pub trained_on: &'static str,
    /// The imputer and scaler its inputs need.
    pub preprocessing: ZooPreprocessing,
    /// The scale of its raw output.
    pub output_scale: OutputScale,
    /// The median SRCC the authors report.
    pub published_srcc: f64,
    /// The dataset that SRCC was measured on.
    pub srcc_on: &'static str,
    /// Why the head should be used with care, if it should (shown on use).
    pub warning: Option<&'static str>,
}

const fn file(path: &'static str, blob_id: &'static str) -> ZooFile {
    ZooFile { path, blob_id }
}

/// The KoNViD-1k imputer and scaler.
pub const KONVID_1K: ZooPreprocessing = ZooPreprocessing {
    dataset: "konvid_1k",
    imputer: file("model/scaler/konvid_1k_imputer.pkl", "cc4b9bbd915371b9473ec192810436415e6c31d0"),
    scaler: file("model/scaler/konvid_1k_scaler.pkl", "3267c2ac498a6942007487706effa68660c7a31a"),
};
/// The YouTube-UGC imputer and scaler.
pub const YOUTUBE_UGC: ZooPreprocessing = ZooPreprocessing {
    dataset: "youtube_ugc",
    imputer: file("model/scaler/youtube_ugc_imputer.pkl", "ef01ebe85a15d90321cc5c2c702bfb267be82716"),
    scaler: file("model/scaler/youtube_ugc_scaler.pkl", "1f4389fd77c730cf04c2d109abd58d60381e1788"),
};
/// The LIVE-VQC imputer and scaler.
pub const LIVE_VQC: ZooPreprocessing = ZooPreprocessing {
    dataset: "live_vqc",
    imputer: file("model/scaler/live_vqc_imputer.pkl", "f092df54fe370c8f2ee70a24e7e79657e092ff44"),
    scaler: file("model/scaler/live_vqc_scaler.pkl", "7c9ce3540bddd67a146b6107e18e193c1f9f9d38"),
};
/// The CVD2014 imputer and scaler.
pub const CVD_2014: ZooPreprocessing = ZooPreprocessing {
    dataset: "cvd_2014",
    imputer: file("model/scaler/cvd_2014_imputer.pkl", "b30f12c949872db9d8a0468039206c006f62ba8e"),
    scaler: file("model/scaler/cvd_2014_scaler.pkl", "0f2c1f194ad51afd9742b624af36d9243ec865b9"),
};

/// Every published preprocessing set.
pub const PREPROCESSING: [ZooPreprocessing; 4] = [KONVID_1K, YOUTUBE_UGC, LIVE_VQC, CVD_2014];

const LSVQ_WARNING: &str = "the LSVQ-trained head's own scaler was not published; it is paired with the KoNViD-1k \
imputer and scaler as the authors' demo does, which is a mismatch: treat its scores with care";

#[allow(clippy::too_many_arguments)]
const fn head(
    name: &'static str,
    path: &'static str,
    blob_id: &'static str,
    trained_on: &'static str,
    preprocessing: ZooPreprocessing,
    output_scale: OutputScale,
    published_srcc: f64,
    srcc_on: &'static str,
) -> ZooHead {
    ZooHead {
        name,
        file: file(path, blob_id),
        trained_on,
        preprocessing,
        output_scale,
        published_srcc,
        srcc_on,
        warning: None,
    }
}

/// Every head of `spec/published-models.md`, the default first.
pub const HEADS: [ZooHead; 13] = [
    head(
        "konvid-1k",
        "model/fine_tune_model/konvid_1k_relaxvqa_byrmse_fine_tuned_model.pth",
        "d2e4a4c8a47a8eab0d7f1cd503f5a5a38daa9f81",
        "LSVQ, fine-tuned on KoNViD-1k (by RMSE)",
        KONVID_1K,
        OutputScale::Mos1To5,
        0.872,
        "KoNViD-1k",
    ),
    head(
        "konvid-1k-krcc",
        "model/fine_tune_model/konvid_1k_relaxvqa_bykrcc_fine_tuned_model.pth",
        "77dd4bdcfc702fb3f9c00a71855406d909dbe6c0",
        "LSVQ, fine-tuned on KoNViD-1k (by KRCC)",
        KONVID_1K,
        OutputScale::Mos1To5,
        0.869,
        "KoNViD-1k",
    ),
    head(
        "youtube-ugc",
        "model/fine_tune_model/youtube_ugc_relaxvqa_byrmse_fine_tuned_model.pth",
        "571ebe9172f5c70d5cd4a3874ed6f470c283afe3",
        "LSVQ, fine-tuned on YouTube-UGC (by RMSE)",
        YOUTUBE_UGC,
        OutputScale::Mos1To5,
        0.847,
        "YouTube-UGC",
    ),
    head(
        "youtube-ugc-krcc",
        "model/fine_tune_model/youtube_ugc_relaxvqa_bykrcc_fine_tuned_model.pth",
        "c0c924119693c1529ffdbc6335616c27f9f5f9fa",
        "LSVQ, fine-tuned on YouTube-UGC (by KRCC)",
        YOUTUBE_UGC,
        OutputScale::Mos1To5,
        0.846,
        "YouTube-UGC",
    ),
    head(
        "live-vqc",
        "model/fine_tune_model/live_vqc_relaxvqa_byrmse_fine_tuned_model.pth",
        "2f7df32a6df0eb514040da05a20b0788cae0b620",
        "LSVQ, fine-tuned on LIVE-VQC (by RMSE)",
        LIVE_VQC,
        OutputScale::Mos0To100,
        0.847,
        "LIVE-VQC",
    ),
    head(
        "live-vqc-krcc",
        "model/fine_tune_model/live_vqc_relaxvqa_bykrcc_fine_tuned_model.pth",
        "473061693d4640acf19398ffb853edce80d8daec",
        "LSVQ, fine-tuned on LIVE-VQC (by KRCC)",
        LIVE_VQC,
        OutputScale::Mos0To100,
        0.837,
        "LIVE-VQC",
    ),
    head(
        "cvd2014",
        "model/fine_tune_model/cvd_2014_relaxvqa_byrmse_fine_tuned_model.pth",
        "e489366c122498553e83fbb5889903d98ae0c0d8",
        "LSVQ, fine-tuned on CVD2014 (by RMSE)",
        CVD_2014,
        OutputScale::Mos0To100,
        0.897,
        "CVD2014",
    ),
    head(
        "cvd2014-krcc",
        "model/fine_tune_model/cvd_2014_relaxvqa_bykrcc_fine_tuned_model.pth",
        "2a650ed997dada22d27e78077f5be10e92dbe46a",
        "LSVQ, fine-tuned on CVD2014 (by KRCC)",
        CVD_2014,
        OutputScale::Mos0To100,
        0.890,
        "CVD2014",
    ),
    head(
        "konvid-1k-trained",
        "model/konvid_1k_ugc_relaxvqa_byrmse_trained_median_model_param.pth",
        "6c0365f9ae384af57d6c45c740a191778997bc18",
        "KoNViD-1k (median of 21 splits)",
        KONVID_1K,
        OutputScale::Mos1To5,
        0.854,
        "KoNViD-1k",
    ),
    head(
        "live-vqc-trained",
        "model/live_vqc_ugc_relaxvqa_byrmse_trained_median_model_param.pth",
        "5e56de10af98605d32dd1ffd7f4b64bd012df691",
        "LIVE-VQC",
        LIVE_VQC,
        OutputScale::Mos0To100,
        0.765,
        "LIVE-VQC",
    ),
    head(
        "youtube-ugc-trained",
        "model/youtube_ugc_relaxvqa_byrmse_trained_median_model_param.pth",
        "caadf2fd9a62c00b04ebde4cef7119263f0ee845",
        "YouTube-UGC",
        YOUTUBE_UGC,
        OutputScale::Mos1To5,
        0.801,
        "YouTube-UGC",
    ),
    head(
        "cvd2014-trained",
        "model/cvd_2014_relaxvqa_byrmse_trained_median_model_param.pth",
        "d529b4f0c3d4d66cd8cfef9291869a66a29321bf",
        "CVD2014",
        CVD_2014,
        OutputScale::Mos0To100,
        0.864,
        "CVD2014",
    ),
    ZooHead {
        warning: Some(LSVQ_WARNING),
        ..head(
            "lsvq-trained",
            "model/lsvq_train_relaxvqa_byrmse_trained_median_model_param_onLSVQ_TEST.pth",
            "9efbb650857d14a9e1441421e93b52038ea36fdd",
            "LSVQ-train (no matching scaler published)",
            KONVID_1K,
            OutputScale::Mos0To100,
            0.869,
            "LSVQ-test",
        )
    },
];

/// The head called `name` (case-insensitive; `_` and `-` alike).
pub fn find_head(name: &str) -> Option<&'static ZooHead> {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    let want = norm(name);
    HEADS.iter().find(|h| h.name == want)
}

/// The names of every head, for messages.
pub fn head_names() -> Vec<&'static str> {
    HEADS.iter().map(|h| h.name).collect()
}

/// Git's blob id of `bytes`: `sha1("blob <len>\0" + bytes)`, lowercase hex.
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What can go wrong fetching or loading a zoo head.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZooError {
    /// No head of that name.
    #[error("no published head named {name:?}; known heads: {known}")]
    UnknownHead {
        /// The name asked for.
        name: String,
        /// Every known name.
        known: String,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The request failed before an answer (DNS, connection, TLS, reading).
    #[error("{url}: download failed: {message}")]
    Network {
        /// The URL requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// The bytes are not the published file.
    #[error("{url}: git blob id is {found}, expected {expected}: not the published file; nothing was cached")]
    BlobMismatch {
        /// The URL requested.
        url: String,
        /// The published id.
        expected: String,
        /// The id of what arrived.
        found: String,
    },
    /// A file is not cached and downloads are off.
    #[error("{path}: not cached and downloads are off (HF_HUB_OFFLINE); run `relaxvqa models fetch` while online")]
    Offline {
        /// Where the file would be.
        path: PathBuf,
    },
    /// Reading or writing the cache failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The downloaded files do not make a head.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// Writing a file into the cache failed (the message names the file and
    /// the cause).
    #[error(transparent)]
    Write(std::io::Error),
}

/// The local files of a fetched head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedHead {
    /// The `.pth` state dict.
    pub weights: PathBuf,
    /// The imputer pickle.
    pub imputer: PathBuf,
    /// The scaler pickle.
    pub scaler: PathBuf,
}

/// Where zoo files come from and where they are cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zoo {
    /// Base URL; a file is at `<endpoint>/<commit>/<path>`.
    pub endpoint: String,
    /// Cache root; a file is at `<cache>/<commit>/<path>`.
    pub cache: PathBuf,
    /// Never download.
    pub offline: bool,
}

impl Zoo {
    /// The zoo the environment describes: [`ZOO_ENDPOINT_VAR`] or the
    /// authors' repository, cached in `zoo/` under the weight records folder
    /// (`RELAXVQA_CACHE_DIR`, else `~/.cache/relaxvqa`), offline when
    /// `HF_HUB_OFFLINE` says so.
    pub fn from_env() -> Self {
        let cfg = WeightsConfig::from_env();
        let endpoint = std::env::var(ZOO_ENDPOINT_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ZOO_ENDPOINT.to_owned());
        Self::new(&endpoint, &cfg.record_dir.join("zoo"), cfg.offline)
    }

    /// A zoo with an explicit endpoint and cache root.
    pub fn new(endpoint: &str, cache: &Path, offline: bool) -> Self {
        Self { endpoint: endpoint.trim().trim_end_matches('/').to_owned(), cache: cache.to_owned(), offline }
    }

    /// The URL of `f` at the pinned commit.
    pub fn url(&self, f: &ZooFile) -> String {
        format!("{}/{ZOO_COMMIT}/{}", self.endpoint, f.path)
    }

    /// Where `f` is cached.
    pub fn cached_path(&self, f: &ZooFile) -> PathBuf {
        let mut p = self.cache.join(ZOO_COMMIT);
        p.extend(f.path.split('/'));
        p
    }

    /// True when `f` is in the cache with the right blob id.
    pub fn is_cached(&self, f: &ZooFile) -> bool {
        std::fs::read(self.cached_path(f)).is_ok_and(|b| git_blob_id(&b) == f.blob_id)
    }

    /// True when every file of `h` is cached and verified.
    pub fn head_is_cached(&self, h: &ZooHead) -> bool {
        [h.file, h.preprocessing.imputer, h.preprocessing.scaler].iter().all(|f| self.is_cached(f))
    }

    /// The cached copy of `f`, downloading and verifying it first when it
    /// is missing or damaged. Nothing is written unless the blob id matches;
    /// the file is written atomically ([`relaxvqa_formats::atomic`]).
    pub fn fetch_file(&self, f: &ZooFile) -> Result<PathBuf, ZooError> {
        let path = self.cached_path(f);
        if self.is_cached(f) {
            return Ok(path);
        }
        if self.offline {
            return Err(ZooError::Offline { path });
        }
        let url = self.url(f);
        tracing::info!("downloading {url}");
        let bytes = download(&url)?;
        let found = git_blob_id(&bytes);
        if found != f.blob_id {
            return Err(ZooError::BlobMismatch { url, expected: f.blob_id.to_owned(), found });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        relaxvqa_formats::atomic::write_atomic(&path, &bytes).map_err(ZooError::Write)?;
        Ok(path)
    }

    /// Fetches the head's weights, imputer and scaler.
    pub fn fetch_head(&self, h: &ZooHead) -> Result<FetchedHead, ZooError> {
        Ok(FetchedHead {
            weights: self.fetch_file(&h.file)?,
            imputer: self.fetch_file(&h.preprocessing.imputer)?,
            scaler: self.fetch_file(&h.preprocessing.scaler)?,
        })
    }

    /// Fetches `h` and gathers it into our head format, with its source
    /// (repository, commit, path, blob id) in the metadata.
    pub fn head_file(&self, h: &ZooHead) -> Result<HeadFile, ZooError> {
        let f = self.fetch_head(h)?;
        Ok(HeadFile::from_published(&f.weights, Some(&f.imputer), Some(&f.scaler), h.output_scale, source(h))?)
    }

    /// Fetches `h` and builds it on `device`.
    pub fn load_head(&self, h: &ZooHead, device: &Device) -> Result<Head, ZooError> {
        let f = self.fetch_head(h)?;
        Ok(Head::from_published(&f.weights, Some(&f.imputer), Some(&f.scaler), h.output_scale, device)?)
    }
}

/// The description of a zoo head's origin stored in converted files.
pub fn source(h: &ZooHead) -> String {
    format!(
        "github.com/{ZOO_REPOSITORY}@{ZOO_COMMIT}: {} (blob {}), {} {}",
        h.file.path, h.file.blob_id, h.preprocessing.imputer.path, h.preprocessing.scaler.path
    )
}

fn download(url: &str) -> Result<Vec<u8>, ZooError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(status, _)) => return Err(ZooError::Status { url: url.to_owned(), status }),
        Err(e) => return Err(ZooError::Network { url: url.to_owned(), message: e.to_string() }),
    };
    let mut bytes = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut bytes)
        .map_err(|e| ZooError::Network { url: url.to_owned(), message: e.to_string() })?;
    Ok(bytes)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ZooError + '_ {
    move |source| ZooError::Io { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_id_of_empty_and_hello() {
        // `git hash-object` of an empty file and of "hello\n".
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        assert_eq!(git_blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn names_are_unique_and_found() {
        let mut names = head_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), HEADS.len());
        assert_eq!(find_head("KONVID_1K").map(|h| h.name), Some(DEFAULT_HEAD));
        assert!(find_head("nope").is_none());
        assert_eq!(HEADS.iter().filter(|h| h.warning.is_some()).count(), 1);
    }
}
