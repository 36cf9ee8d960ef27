//! The start-up check of the spool directory itself: it holds every
//! user's documents, so it must be a real directory (not a symbolic link
//! someone could point elsewhere), owned by the daemon's user, and not
//! writable by group or others (who could otherwise rename `journal/` away
//! or plant files in it). Anything else is a configuration mistake the
//! daemon refuses to run with (LSB exit 6, "not configured").

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::SpoolError;
use super::error::IoContext;

/// Checks `root` (not following a symbolic link) for the daemon whose
/// effective user is `euid`.
pub(crate) fn check_private_root(root: &Path, euid: u32) -> Result<(), SpoolError> {
    let meta = std::fs::symlink_metadata(root).context("look at the spool directory", root)?;
    let unsafe_dir = |problem: String| SpoolError::UnsafeDir {
        path: root.to_path_buf(),
        problem,
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(unsafe_dir(
            "is a symbolic link; give the real directory (--spool-dir or spool_dir)".to_string(),
        ));
    }
    if !kind.is_dir() {
        return Err(unsafe_dir("is not a directory".to_string()));
    }
    if meta.uid() != euid {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not by the daemon's user (uid {euid}); chown it",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "is writable by {} (mode {mode:04o}); chmod go-w it",
            match (mode & 0o020 != 0, mode & 0o002 != 0) {
                (true, true) => "group and others",
                (true, false) => "its group",
                _ => "others",
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn euid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn private_directories_pass() {
        let dir = TempDir::new("dircheck-ok");
        for mode in [0o700, 0o711, 0o755, 0o1700] {
            set_mode(dir.path(), mode);
            check_private_root(dir.path(), euid()).unwrap();
        }
    }

    #[test]
    fn writable_foreign_linked_or_not_a_directory_is_refused() {
        let dir = TempDir::new("dircheck-bad");
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();

        set_mode(&spool, 0o777);
        let error = check_private_root(&spool, euid()).unwrap_err().to_string();
        assert!(
            error.contains("writable by group and others (mode 0777)"),
            "{error}"
        );
        set_mode(&spool, 0o1703);
        let error = check_private_root(&spool, euid()).unwrap_err().to_string();
        assert!(error.contains("writable by others"), "{error}");
        set_mode(&spool, 0o770);
        let error = check_private_root(&spool, euid()).unwrap_err().to_string();
        assert!(error.contains("writable by its group"), "{error}");
        set_mode(&spool, 0o700);

        let error = check_private_root(&spool, euid() + 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not by the daemon's user"), "{error}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&spool, &link).unwrap();
        let error = check_private_root(&link, euid()).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");

        let file = dir.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let error = check_private_root(&file, euid()).unwrap_err().to_string();
        assert!(error.contains("not a directory"), "{error}");
        assert!(
            check_private_root(&file, euid())
                .unwrap_err()
                .is_unsafe_dir()
        );
    }
}
