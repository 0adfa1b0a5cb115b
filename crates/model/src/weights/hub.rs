//! Files from the Hugging Face Hub, cached and verified.
//!
//! hf-hub does the download into the standard cache; it does not check what
//! it downloaded, so this module first asks the Hub itself (a `HEAD` of the
//! file's `resolve` URL, as `huggingface_hub` does) for the file's commit and
//! its `X-Linked-Etag` (the SHA-256 of a Git LFS file), checks the bytes
//! against it after the download, and records size and hash so that later
//! runs verify the cached bytes without the network.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};

use super::cache::{self, FileRecord};
use super::config::WeightsConfig;
use super::digest::{sha256_hex, Expected};
use super::error::WeightsError;
use super::network::HubFile;

/// The user agent of this program's Hub requests.
const USER_AGENT: &str = concat!("relaxvqa/", env!("CARGO_PKG_VERSION"));
/// Relative redirects followed for the metadata request (the Hub answers a
/// renamed repository with one).
const MAX_REDIRECTS: usize = 5;

/// A weights file whose bytes have been read and checked.
#[derive(Clone, Debug)]
pub struct VerifiedFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// Its contents.
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Whether the bytes were checked against a known digest (false for a
    /// file placed by hand with nothing to check it against).
    pub verified: bool,
}

/// What the Hub says about a file before it is downloaded.
#[derive(Clone, Debug)]
struct RemoteMeta {
    /// The digest its ETag promises, if it is one.
    expected: Option<Expected>,
    /// Size in bytes (`X-Linked-Size` or `Content-Length`).
    size: Option<u64>,
}

/// The Hub's `resolve` URL of a file.
pub fn resolve_url(endpoint: &str, hub: &HubFile) -> String {
    format!("{}/{}/resolve/{}/{}", endpoint.trim_end_matches('/'), hub.repo, hub.revision.replace('/', "%2F"), hub.file)
}

/// Records in the cache what a verified file is (repository, commit, size,
/// SHA-256), so later runs verify it without the network.
fn write_record(record_path: &std::path::Path, hub: &HubFile, commit: String, bytes: &[u8], sha256: &str) {
    let rec = FileRecord {
        repo: hub.repo.clone(),
        commit,
        file: hub.file.clone(),
        size: bytes.len() as u64,
        sha256: sha256.to_owned(),
    };
    cache::write_record(record_path, &rec);
}

/// A cached file that is not what was expected: removed with its record
/// (so the next run downloads it again), and the error that says so.
fn bad_hash(path: PathBuf, record_path: &std::path::Path, expected: &Expected, actual: String) -> WeightsError {
    let removed = cache::remove_cached(&path);
    cache::remove_record(record_path);
    WeightsError::BadHash { path, algorithm: expected.algorithm(), expected: expected.shown(), actual, removed }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_path_buf(), source })
}

/// The file from the Hugging Face cache, checked against the record of its
/// download or the SHA-256 its blob is named by; `None` when not cached.
///
/// A cached file that fails the check is removed (with its record) and
/// reported as [`WeightsError::BadHash`]. A file placed by hand, with nothing
/// to check it against, is accepted with a warning.
pub fn cached_hub_file(hub: &HubFile, cfg: &WeightsConfig) -> Result<Option<VerifiedFile>, WeightsError> {
    let Some(path) = cache::cached_file(&cfg.hf_cache, hub) else {
        return Ok(None);
    };
    let bytes = read(&path)?;
    let sha256 = sha256_hex(&bytes);
    let commit = cache::snapshot_of(&path);
    let record_path = cache::record_path(&cfg.record_dir, hub, &commit);
    let record = cache::read_record(&record_path, hub);
    let expected = record
        .as_ref()
        .map(|r| Expected::Sha256(r.sha256.clone()))
        .or_else(|| cache::sha256_of_blob_name(&path).map(Expected::Sha256));
    let Some(expected) = expected else {
        tracing::warn!(
            "{}: no record of a verified download and no hash in its name; using it unverified",
            path.display()
        );
        return Ok(Some(VerifiedFile { path, bytes, sha256, verified: false }));
    };
    if let Err(actual) = expected.check(&bytes, &sha256) {
        return Err(bad_hash(path, &record_path, &expected, actual));
    }
    if record.is_none() {
        write_record(&record_path, hub, commit, &bytes, &sha256);
    }
    tracing::debug!("{}: verified from the cache", path.display());
    Ok(Some(VerifiedFile { path, bytes, sha256, verified: true }))
}

/// Downloads the file into the Hugging Face cache (hf-hub), checks it
/// against the digest the Hub advertises and records it.
///
/// `hint` (which files a user can place by hand instead) ends network
/// errors. A download whose bytes do not match is removed and reported as
/// [`WeightsError::BadHash`]; a missing file as
/// [`WeightsError::RemoteFileMissing`].
pub fn download_hub_file(hub: &HubFile, cfg: &WeightsConfig, hint: &str) -> Result<VerifiedFile, WeightsError> {
    let meta = remote_metadata(hub, cfg, hint)?;
    let download_err = |source: hf_hub::api::sync::ApiError| WeightsError::Download {
        repo: hub.repo.clone(),
        file: hub.file.clone(),
        source: Box::new(source),
        hint: hint.to_owned(),
    };
    let api = ApiBuilder::from_cache(Cache::new(cfg.hf_cache.clone()))
        .with_endpoint(cfg.endpoint.trim_end_matches('/').to_owned())
        .with_token(cfg.token.clone())
        .with_progress(cfg.progress)
        .with_retries(cfg.retries)
        .with_user_agent("relaxvqa", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(download_err)?;
    let repo = Repo::with_revision(hub.repo.clone(), RepoType::Model, hub.revision.clone());
    tracing::info!("downloading {} from {}", hub.file, resolve_url(&cfg.endpoint, hub));
    let path = api.repo(repo).download(&hub.file).map_err(download_err)?;
    let bytes = read(&path)?;
    let sha256 = sha256_hex(&bytes);
    let commit = cache::snapshot_of(&path);
    let record_path = cache::record_path(&cfg.record_dir, hub, &commit);
    let size_ok = meta.size.is_none_or(|s| s == bytes.len() as u64);
    let Some(expected) = meta.expected else {
        tracing::warn!(
            "{}: the Hub gave no digest for {} in {}; using the download unverified",
            path.display(),
            hub.file,
            hub.repo
        );
        return Ok(VerifiedFile { path, bytes, sha256, verified: false });
    };
    let check = expected.check(&bytes, &sha256).and_then(|()| if size_ok { Ok(()) } else { Err(sha256.clone()) });
    if let Err(actual) = check {
        return Err(bad_hash(path, &record_path, &expected, actual));
    }
    write_record(&record_path, hub, commit, &bytes, &sha256);
    tracing::info!("{}: downloaded and verified (SHA-256 {sha256})", path.display());
    Ok(VerifiedFile { path, bytes, sha256, verified: true })
}

/// The Hub's metadata of a file: a `HEAD` of its `resolve` URL, following
/// relative redirects only (an absolute one leads to the storage backend,
/// and the metadata is in the redirect itself).
fn remote_metadata(hub: &HubFile, cfg: &WeightsConfig, hint: &str) -> Result<RemoteMeta, WeightsError> {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .try_proxy_from_env(true)
        .timeout_connect(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .build();
    let mut url = resolve_url(&cfg.endpoint, hub);
    let mut last_status = 0;
    for _ in 0..=MAX_REDIRECTS {
        let mut request = agent.head(&url).set("User-Agent", USER_AGENT).set("Accept-Encoding", "identity");
        if let Some(token) = &cfg.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => return Err(status_error(status, &r, hub, &url)),
            Err(e) => return Err(WeightsError::Network { url, source: Box::new(e), hint: hint.to_owned() }),
        };
        last_status = response.status();
        if (300..400).contains(&last_status) {
            if let Some(next) = response.header("Location").and_then(|l| relative_target(&url, l)) {
                url = next;
                continue;
            }
        }
        let header = |name: &str| response.header(name).map(str::to_owned);
        let etag = header("X-Linked-Etag").or_else(|| header("ETag"));
        if header("X-Repo-Commit").is_none() {
            return Err(WeightsError::MissingHeader { url, header: "X-Repo-Commit" });
        }
        let Some(etag) = etag else {
            return Err(WeightsError::MissingHeader { url, header: "ETag" });
        };
        let size = header("X-Linked-Size").or_else(|| header("Content-Length")).and_then(|s| s.trim().parse().ok());
        // Drain whatever body came (none for HEAD) so the connection is reusable.
        let _ = response.into_reader().take(1 << 16).read_to_end(&mut Vec::new());
        return Ok(RemoteMeta { expected: Expected::from_etag(&etag), size });
    }
    // Too many relative redirects.
    Err(WeightsError::HttpStatus { url, status: last_status })
}

/// The absolute URL of a relative `Location`, or `None` for an absolute one.
fn relative_target(url: &str, location: &str) -> Option<String> {
    if !location.starts_with('/') || location.starts_with("//") {
        return None;
    }
    let scheme_end = url.find("://")? + 3;
    let origin_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
    Some(format!("{}{location}", &url[..origin_end]))
}

/// The error for an HTTP error status of the metadata request.
fn status_error(status: u16, response: &ureq::Response, hub: &HubFile, url: &str) -> WeightsError {
    let error_code = response.header("X-Error-Code").map(str::to_owned);
    match status {
        404 if error_code.as_deref() == Some("RepoNotFound") => {
            WeightsError::RemoteDenied { repo: hub.repo.clone(), url: url.to_owned(), status, error_code }
        }
        404 => WeightsError::RemoteFileMissing {
            repo: hub.repo.clone(),
            revision: hub.revision.clone(),
            file: hub.file.clone(),
            url: url.to_owned(),
            error_code,
        },
        401 | 403 => WeightsError::RemoteDenied { repo: hub.repo.clone(), url: url.to_owned(), status, error_code },
        _ => WeightsError::HttpStatus { url: url.to_owned(), status },
    }
}
