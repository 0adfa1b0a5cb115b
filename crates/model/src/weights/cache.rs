//! The Hugging Face cache layout, read without the network, and this
//! program's records of verified files.
//!
//! The Hub cache (`huggingface_hub`'s and hf-hub's shared layout) is
//! `models--owner--name/{refs/<revision>, snapshots/<commit>/<file>,
//! blobs/<etag>}`, each snapshot file a link to its blob. A record is a small
//! JSON file in our own folder, `<record_dir>/hub/models--owner--name/<commit>/<file>.json`,
//! holding the size and SHA-256 a download was verified against, so later
//! runs verify the cached bytes offline. Nothing of ours goes into the shared
//! Hub cache.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::digest::is_hex;
use super::network::HubFile;

/// The cache folder name of a model repository.
pub(crate) fn repo_folder(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

/// The cached copy of `hub`'s file, if any: the snapshot that
/// `refs/<revision>` names; else the snapshot named `<revision>` (a commit);
/// else, for files placed by hand, the newest snapshot folder holding it.
pub(crate) fn cached_file(hf_cache: &Path, hub: &HubFile) -> Option<PathBuf> {
    let repo_dir = hf_cache.join(repo_folder(&hub.repo));
    let snapshots = repo_dir.join("snapshots");
    let in_snapshot = |commit: &str| {
        let p = snapshots.join(commit).join(&hub.file);
        p.is_file().then_some(p)
    };
    if let Ok(commit) = std::fs::read_to_string(repo_dir.join("refs").join(&hub.revision)) {
        if let Some(p) = in_snapshot(commit.trim()) {
            return Some(p);
        }
    }
    if let Some(p) = in_snapshot(&hub.revision) {
        return Some(p);
    }
    std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.path().join(&hub.file);
            let modified = p.metadata().ok()?.modified().ok()?;
            p.is_file().then_some((modified, p))
        })
        .max()
        .map(|(_, p)| p)
}

/// The snapshot (commit) folder name a cached file sits in.
pub(crate) fn snapshot_of(path: &Path) -> String {
    path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The blob a snapshot entry links to, if it is a link into `blobs/`.
pub(crate) fn linked_blob(path: &Path) -> Option<PathBuf> {
    std::fs::symlink_metadata(path).ok()?.file_type().is_symlink().then(|| std::fs::canonicalize(path).ok()).flatten()
}

/// The SHA-256 a blob's name promises (blobs of Git LFS files are named by
/// their SHA-256).
pub(crate) fn sha256_of_blob_name(path: &Path) -> Option<String> {
    let blob = linked_blob(path)?;
    let name = blob.file_name()?.to_str()?.to_ascii_lowercase();
    is_hex(&name, 64).then_some(name)
}

/// Removes a cached file: the snapshot entry and the blob it links to.
/// Errors are logged, not returned: this is clean-up after a failure that is
/// being reported already.
pub(crate) fn remove_cached(path: &Path) -> bool {
    let blob = linked_blob(path);
    let mut removed = true;
    for p in std::iter::once(path.to_path_buf()).chain(blob) {
        if let Err(e) = std::fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not remove {}: {e}", p.display());
                removed = false;
            }
        }
    }
    removed
}

/// What was verified about a downloaded file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    /// Repository id.
    pub repo: String,
    /// Commit the file was downloaded at.
    pub commit: String,
    /// File name in the repository.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

/// Where the record of `hub`'s file at `commit` lives.
pub(crate) fn record_path(record_dir: &Path, hub: &HubFile, commit: &str) -> PathBuf {
    record_dir.join("hub").join(repo_folder(&hub.repo)).join(commit).join(format!("{}.json", hub.file))
}

/// The record at `path`, if there is a readable one for this repository and
/// file (an unreadable one is logged and ignored: it is only a cache).
pub(crate) fn read_record(path: &Path, hub: &HubFile) -> Option<FileRecord> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<FileRecord>(&text) {
        Ok(r) if r.repo == hub.repo && r.file == hub.file && is_hex(&r.sha256, 64) => Some(r),
        Ok(_) => {
            tracing::warn!("ignoring {}: it records another file", path.display());
            None
        }
        Err(e) => {
            tracing::warn!("ignoring unreadable record {}: {e}", path.display());
            None
        }
    }
}

/// Writes a record atomically ([`relaxvqa_formats::atomic`]); failure is
/// logged only, as the next run can verify against the Hub again.
pub(crate) fn write_record(path: &Path, record: &FileRecord) {
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        }
        let json = serde_json::to_string_pretty(record)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        relaxvqa_formats::atomic::write_atomic(path, json.as_bytes())
    })();
    if let Err(e) = result {
        // The message names the file (the record's, or its folder's).
        tracing::warn!("could not record the verified download: {e}");
    }
}

/// Removes a record whose file turned out bad (best effort).
pub(crate) fn remove_record(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("could not remove {}: {e}", path.display());
        }
    }
}
