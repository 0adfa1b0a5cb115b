//! Atomic file writes: the whole new content or the old file, never a part.
//!
//! The bytes go to a temporary file in the target's own folder (so the final
//! rename stays on one file system), are flushed and synced, and the file is
//! then renamed onto the target. A failure at any step removes the temporary
//! file, and the error names the target (never the temporary name, which
//! means nothing to a user) together with the cause.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// Writes `bytes` to `path` atomically (see the [module](self) documentation).
///
/// Errors keep the kind of the underlying [`io::Error`]; the message is
/// `<path>: <cause>`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes `path` atomically with what `write` produces, for outputs too large
/// to hold in memory: `write` receives a buffered writer into the temporary
/// file. When `write` fails, nothing is written to `path` and its error is
/// returned (message prefixed with `<path>: `, kind kept).
pub fn write_atomic_with<F>(path: &Path, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let named = |e: io::Error| with_target(path, e);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(named(io::Error::new(io::ErrorKind::InvalidInput, "not a file path")));
    }
    let mut tmp = NamedTempFile::new_in(dir).map_err(named)?;
    // Writes go to the `File` itself: `NamedTempFile`'s own `Write` would put
    // the temporary name in its errors. Dropping `tmp` on an early return
    // deletes the temporary file.
    fill(tmp.as_file_mut(), write).map_err(named)?;
    tmp.persist(path).map_err(|e| named(e.error))?;
    Ok(())
}

/// Runs `write` through a buffer into `file`, then flushes and syncs it.
fn fill<F>(file: &mut File, write: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut buffered = BufWriter::with_capacity(1 << 20, &mut *file);
    write(&mut buffered)?;
    buffered.flush()?;
    drop(buffered);
    file.sync_all()
}

/// `e` with a message naming `path`. `tempfile` appends ` at path "<temporary
/// name>"` to the errors it creates; that part is dropped.
fn with_target(path: &Path, e: io::Error) -> io::Error {
    let cause = e.to_string();
    let cause = cause.split_once(" at path ").map_or(cause.as_str(), |(c, _)| c);
    io::Error::new(e.kind(), format!("{}: {cause}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder whose own name holds no `.tmp`.
    fn test_dir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("atomic-test-").tempdir().expect("tmp dir")
    }

    /// Names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("list dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces_leaving_no_temporary_file() {
        let dir = test_dir();
        let target = dir.path().join("out.bin");
        write_atomic(&target, b"first").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"first");
        write_atomic(&target, b"second, longer").expect("overwrite");
        assert_eq!(std::fs::read(&target).expect("read"), b"second, longer");
        write_atomic_with(&target, |w| {
            for i in 0..3u8 {
                w.write_all(&[b'a' + i; 4])?;
            }
            Ok(())
        })
        .expect("streamed write");
        assert_eq!(std::fs::read(&target).expect("read"), b"aaaabbbbcccc");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_target() {
        let dir = test_dir();
        let target = dir.path().join("missing").join("out.bin");
        let err = write_atomic(&target, b"x").expect_err("missing folder");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let msg = err.to_string();
        println!("example message: {msg}");
        assert!(msg.starts_with(&format!("{}: ", target.display())), "{msg}");
        assert!(!msg.contains(".tmp"), "{msg}");
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file_and_no_temporary() {
        let dir = test_dir();
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").expect("seed");
        let err = write_atomic_with(&target, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::new(io::ErrorKind::InvalidData, "encoder gave up"))
        })
        .expect_err("writer error");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), format!("{}: encoder gave up", target.display()));
        assert_eq!(std::fs::read(&target).expect("read"), b"old");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_folder_as_target_is_an_error_and_leaves_nothing() {
        let dir = test_dir();
        let target = dir.path().join("sub");
        std::fs::create_dir(&target).expect("sub dir");
        let err = write_atomic(&target, b"x").expect_err("a folder is in the way");
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}: ", target.display())), "{msg}");
        assert!(!msg.contains(".tmp"), "{msg}");
        assert_eq!(names(dir.path()), ["sub"]);
        let err = write_atomic(Path::new("/"), b"x").expect_err("root");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
