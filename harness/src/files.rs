//! Report files appear whole or not at all: written to a temporary file beside the target, then put in its
//! place ([`replace`]). A full disk or a crash leaves no half-written `junit.xml` that a CI reporter would
//! read as a complete (and passing) result, and the error names the file that could not be written.

use std::io::Write;
use std::path::Path;

/// Creates a report directory; the error names it.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("failed to create {}: {e}", dir.display())))
}

/// Puts the complete file `tmp` in place of `path`, atomically: a reader sees the old file or the new one,
/// never neither. When `path` exists the two are exchanged (`renameat2(RENAME_EXCHANGE)`) and the old one,
/// now at `tmp`, is removed: renaming over an existing file makes ext4 start writing the new one's data out
/// (`auto_da_alloc`), ≈ 0.35–0.6 ms each here against ≈ 0.05 ms for the exchange, and a run's ledger is
/// replaced at every resource it records. Where the exchange is not supported, a plain rename.
pub fn replace(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use nix::errno::Errno;
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => match std::fs::remove_file(tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        // Nothing to exchange with yet (ENOENT), or a file system or kernel without exchange.
        Err(Errno::ENOENT | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => std::fs::rename(tmp, path),
        Err(e) => Err(e.into()),
    }
}

/// Writes `bytes` to `path` atomically; on failure nothing is left at `path` that was not there before, and
/// the error says which file failed.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        // No fsync: this guards against partial files (a full disk, a crash of reachlab), not power loss, and a
        // report is cheap to write again. ENOSPC shows at write time on ext4 and tmpfs, which reserve blocks then.
        f.write_all(bytes.as_ref())?;
        replace(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        std::io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junit.xml");
        write_atomic(&p, "one").unwrap();
        write_atomic(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failure_names_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("report.json");
        let e = write_atomic(&p, "x").unwrap_err();
        assert!(e.to_string().contains("report.json"), "{e}");
        assert!(!p.exists());
    }
}
