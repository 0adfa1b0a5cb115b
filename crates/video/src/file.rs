//! Opening a local file that someone else named, as an untrusted input is
//! opened: without following a symbolic link in its last component and
//! without blocking (a FIFO or a device would hold the caller in `open()`
//! or `read()` for ever), and only when what was opened is a regular file.
//! The checks are made on the opened descriptor, never on the name again,
//! so nothing can be swapped between the check and the read.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::VideoError;

/// Opens `path` for reading as an untrusted input: a symbolic link, a
/// FIFO, a socket, a device or a directory is refused.
pub fn open_regular(path: &Path) -> Result<File, VideoError> {
    let unreadable = |cause: std::io::Error| VideoError::Unreadable { path: path.to_owned(), cause };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VideoError::NotFound { path: path.to_owned() },
            _ if e.raw_os_error() == Some(libc::ELOOP) => {
                unreadable(std::io::Error::other("it is a symbolic link, which an untrusted input may not be"))
            }
            _ => unreadable(e),
        })?;
    check_regular(&file).map_err(unreadable)?;
    Ok(file)
}

/// Whether an open file is a regular file (what it is now, not what its
/// name pointed at before).
pub fn check_regular(file: &File) -> std::io::Result<()> {
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file (a FIFO, a socket or a device)"
    };
    Err(std::io::Error::other(format!("it is {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link, a FIFO and a directory are refused at once (the FIFO has no
    /// writer: a blocking open would never return).
    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.mp4");
        std::fs::write(&file, b"x").unwrap();
        assert!(open_regular(&file).is_ok());
        std::os::unix::fs::symlink(&file, dir.path().join("link.mp4")).unwrap();
        let fifo = dir.path().join("fifo.mp4");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        for (name, why) in [("link.mp4", "symbolic link"), ("fifo.mp4", "FIFO"), ("", "directory")] {
            let e = open_regular(&dir.path().join(name)).unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        assert!(matches!(open_regular(&dir.path().join("missing")), Err(VideoError::NotFound { .. })));
    }
}
