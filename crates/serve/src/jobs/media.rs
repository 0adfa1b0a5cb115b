//! Files a client names under `--media-root`: opened once, beneath the
//! root, without following any symbolic link and without blocking, and
//! checked on the descriptor that was opened (a regular file). The job
//! records the file's identity (device and inode); the worker opens the
//! name again the same way and reads it only when it is still that file, so
//! a file swapped after submit (for a link out of the root, a FIFO, another
//! file) fails its job instead of being read. The decoder is handed the
//! open file, never the name.
//!
//! The walk opens one component at a time with `O_NOFOLLOW` from the
//! root's descriptor (what `openat2`'s `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS` does in one call on kernels that have it, done the
//! portable way): a link anywhere in the path, `..`, or a path that leaves
//! the root is refused.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use axum::http::StatusCode;
use rustix::fs::{openat, Mode, OFlags, CWD};

use crate::error::ApiError;

/// A file's identity: its device, inode and inode change time. The same
/// device and inode is the same file, unless the file was removed and its
/// inode number handed to a new one (filesystems reuse them at once); the
/// change time, in nanoseconds, tells those apart (and changes whenever
/// the file is written to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    ctime_ns: i128,
}

impl FileId {
    /// The identity of an open file.
    pub fn of(file: &File) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        let ctime_ns = i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec());
        Ok(Self { dev: m.dev(), ino: m.ino(), ctime_ns })
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.dev, self.ino, self.ctime_ns)
    }
}

impl std::str::FromStr for FileId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("file identity {s:?}: expected DEV:INO:CTIME_NS");
        let mut parts = s.splitn(3, ':');
        let mut next = || parts.next().ok_or_else(bad);
        let (d, i, c) = (next()?, next()?, next()?);
        Ok(Self {
            dev: d.parse().map_err(|_| bad())?,
            ino: i.parse().map_err(|_| bad())?,
            ctime_ns: c.parse().map_err(|_| bad())?,
        })
    }
}

/// A media file opened for a job: the open file, its path under the root
/// (what the job records) and its identity.
#[derive(Debug)]
pub struct MediaFile {
    /// The open file (a regular file, opened without following links).
    pub file: File,
    /// Its path: the canonical root joined with the client's components.
    pub path: PathBuf,
    /// Its device and inode.
    pub id: FileId,
}

/// Opens the client's `path` under the canonical `root`: 403 for `..`, a
/// path outside the root or a symbolic link anywhere on the way; 400 for a
/// missing file or anything that is not a regular file (a folder, a FIFO, a
/// device), found without blocking.
pub fn open_media(root: &Path, path: &str) -> Result<MediaFile, ApiError> {
    let forbidden = |why: &str| ApiError::new(StatusCode::FORBIDDEN, format!("path {path:?}: {why}"));
    let bad = |why: String| ApiError::bad_request(format!("path {path:?}: {why}"));
    if path.is_empty() || path.contains('\0') {
        return Err(ApiError::bad_request("path: give a file name under the media root"));
    }
    let p = Path::new(path);
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(forbidden("'..' is not allowed"));
    }
    let relative =
        if p.is_absolute() { p.strip_prefix(root).map_err(|_| forbidden("outside the media root"))? } else { p };
    let parts: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err(bad("not a file".into()));
    };
    let walk_error = |e: rustix::io::Errno| -> ApiError {
        if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
            forbidden("goes through a symbolic link (or a non-folder), which the media root does not follow")
        } else if e == rustix::io::Errno::NOENT {
            bad("no such file under the media root".into())
        } else {
            bad(format!("cannot open it under the media root ({e})"))
        }
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut dir: OwnedFd = openat(CWD, root, dir_flags, Mode::empty()).map_err(|e| bad(format!("media root: {e}")))?;
    for part in dirs {
        dir = openat(&dir, *part, dir_flags, Mode::empty()).map_err(walk_error)?;
    }
    // Non-blocking: a FIFO with no writer would hold a plain open for ever.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = openat(&dir, *last, flags, Mode::empty()).map_err(walk_error)?;
    let file = File::from(fd);
    if !file.metadata().map_err(ApiError::internal)?.file_type().is_file() {
        return Err(bad("not a regular file (a folder, a FIFO, a socket or a device)".into()));
    }
    let id = FileId::of(&file).map_err(ApiError::internal)?;
    Ok(MediaFile { file, path: root.join(relative), id })
}

/// Opens a queued path job's file again, as [`open_media`] did at submit,
/// and checks it is still the file that was checked then.
pub fn reopen_media(root: &Path, path: &Path, id: FileId) -> Result<File, String> {
    let relative = path.strip_prefix(root).map_err(|_| "the file is no longer under the media root".to_owned())?;
    let name = relative.to_str().ok_or("the file's name is not UTF-8")?;
    let m = open_media(root, name).map_err(|e| e.message)?;
    if m.id != id {
        return Err(
            "the file was replaced after the job was submitted (it is not the file that was checked): submit it again"
                .to_owned(),
        );
    }
    Ok(m.file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_stay_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.mp4"), b"x").unwrap();
        std::fs::write(dir.path().join("secret.mp4"), b"x").unwrap();
        let root = root.canonicalize().unwrap();
        let a = open_media(&root, "sub/a.mp4").unwrap();
        assert_eq!(a.path, root.join("sub/a.mp4"));
        let abs = root.join("sub/a.mp4");
        assert!(open_media(&root, abs.to_str().unwrap()).is_ok());
        let status = |p: &str| open_media(&root, p).unwrap_err().status;
        assert_eq!(status("../secret.mp4"), StatusCode::FORBIDDEN);
        assert_eq!(status("sub/../../secret.mp4"), StatusCode::FORBIDDEN);
        assert_eq!(status(dir.path().join("secret.mp4").to_str().unwrap()), StatusCode::FORBIDDEN);
        assert_eq!(status("/etc/passwd"), StatusCode::FORBIDDEN);
        assert_eq!(status("missing.mp4"), StatusCode::BAD_REQUEST);
        assert_eq!(status("sub"), StatusCode::BAD_REQUEST);
        std::os::unix::fs::symlink(dir.path().join("secret.mp4"), root.join("link.mp4")).unwrap();
        assert_eq!(status("link.mp4"), StatusCode::FORBIDDEN);
        // A link to a folder, inside the root or not, is not followed either.
        std::os::unix::fs::symlink(root.join("sub"), root.join("sublink")).unwrap();
        assert_eq!(status("sublink/a.mp4"), StatusCode::FORBIDDEN);
        // The same file again is accepted; a replaced one is not.
        assert!(reopen_media(&root, &a.path, a.id).is_ok());
        // Removed and written again: most filesystems give the new file
        // the freed inode number at once; the change time still differs.
        drop(a.file);
        std::fs::remove_file(root.join("sub/a.mp4")).unwrap();
        std::fs::write(root.join("sub/a.mp4"), b"x").unwrap();
        let e = reopen_media(&root, &a.path, a.id).unwrap_err();
        assert!(e.contains("replaced"), "{e}");
        assert_eq!("7:42:1000".parse::<FileId>().unwrap().to_string(), "7:42:1000");
        assert!("7:42".parse::<FileId>().is_err());
    }
}
