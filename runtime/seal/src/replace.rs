//! Replacing a file so that a reader sees the old one or the whole new one.

use std::fs::{File, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with what `write` writes: into a fresh temporary file
/// beside it (given `mode` before anything is written), flushed to disk,
/// then renamed over `path`. A reader, or a crash, sees the old file or the
/// whole new one, never part of one; on error `path` is unchanged and the
/// temporary file is removed.
pub fn replace_file(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.as_file().set_permissions(Permissions::from_mode(mode))?;
    write(temp.as_file_mut())?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_replaced_file_is_whole_has_its_mode_and_a_failed_write_leaves_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        replace_file(&path, 0o600, |f| f.write_all(b"first")).expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        replace_file(&path, 0o644, |f| f.write_all(b"second")).expect("replace");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o644);

        let failed = replace_file(&path, 0o600, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"second", "the old file stays whole");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "no temporary file is left");
    }
}
