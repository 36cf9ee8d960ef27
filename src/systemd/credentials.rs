//! Credentials: secrets systemd hands the service as files
//! (`LoadCredential=`, systemd 247; `ImportCredential=`, 254;
//! systemd.exec(5) "Credentials", daemon(7)'s newer recommendation to keep
//! secrets out of unit files and configuration).
//!
//! systemd puts each credential in `$CREDENTIALS_DIRECTORY/NAME`, a
//! read-only, non-swappable directory only the service's user can read.
//! [`read_credential`] takes one by name, defensively: the name is one path
//! component, the file is opened without following a symbolic link, must be
//! a regular file and is bounded in size. The content is a [`Secret`],
//! whose `Debug` never shows it, so a log line cannot leak it by accident.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The variable systemd sets when the unit has any credential.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// The largest credential read: a TLS private key with its chain fits many
/// times over; anything larger is a mistake, not a secret.
pub const MAX_CREDENTIAL_BYTES: u64 = 64 * 1024;

/// A credential's content. Never printed: `Debug` says how long it is only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes, withheld)", self.0.len())
    }
}

/// Why a credential could not be read. Names the credential, never its
/// content.
#[derive(Debug, Error)]
pub enum CredentialError {
    #[error(
        "credential \"{name}\" is wanted but systemd passed none ($CREDENTIALS_DIRECTORY is unset; add LoadCredential={name}:PATH or ImportCredential={name} to printspoold.service)"
    )]
    NoDirectory { name: String },
    #[error("$CREDENTIALS_DIRECTORY={} is not an absolute path", dir.display())]
    RelativeDirectory { dir: PathBuf },
    #[error("credential name \"{}\" must be one file name: no '/', not empty, '.' or '..'", name.escape_debug())]
    BadName { name: String },
    #[error("credential \"{name}\" ({}): {source}", path.display())]
    Open {
        name: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("credential \"{name}\" ({}) is not a regular file", path.display())]
    NotAFile { name: String, path: PathBuf },
    #[error("credential \"{name}\" ({}) is larger than {max} bytes", path.display())]
    TooLarge {
        name: String,
        path: PathBuf,
        max: u64,
    },
}

/// Reads credential `name` from `$CREDENTIALS_DIRECTORY`.
pub fn read_credential(name: &str) -> Result<Secret, CredentialError> {
    let Some(dir) = std::env::var_os(CREDENTIALS_DIRECTORY) else {
        return Err(CredentialError::NoDirectory {
            name: name.to_owned(),
        });
    };
    read_credential_in(Path::new(&dir), name, MAX_CREDENTIAL_BYTES)
}

/// Reads credential `name` from `dir`, at most `max` bytes.
pub fn read_credential_in(dir: &Path, name: &str, max: u64) -> Result<Secret, CredentialError> {
    if !dir.is_absolute() {
        return Err(CredentialError::RelativeDirectory {
            dir: dir.to_path_buf(),
        });
    }
    if !is_valid_name(name) {
        return Err(CredentialError::BadName {
            name: name.to_owned(),
        });
    }
    let path = dir.join(name);
    let open_error = |source| CredentialError::Open {
        name: name.to_owned(),
        path: path.clone(),
        source,
    };
    // O_NOFOLLOW: a symbolic link planted in place of the credential is
    // refused (ELOOP), not followed; O_NONBLOCK: a FIFO cannot hang the
    // start (it is then refused as not a regular file).
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&path)
        .map_err(open_error)?;
    let meta = file.metadata().map_err(open_error)?;
    if !meta.is_file() {
        return Err(CredentialError::NotAFile {
            name: name.to_owned(),
            path,
        });
    }
    let too_large = || CredentialError::TooLarge {
        name: name.to_owned(),
        path: path.clone(),
        max,
    };
    if meta.len() > max {
        return Err(too_large());
    }
    let mut content = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte more than allowed tells a file that grew meanwhile.
    file.take(max + 1)
        .read_to_end(&mut content)
        .map_err(open_error)?;
    if content.len() as u64 > max {
        return Err(too_large());
    }
    Ok(Secret(content))
}

/// One path component, as systemd requires of credential names.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> crate::test_support::TempDir {
        crate::test_support::TempDir::new("credentials")
    }

    #[test]
    fn reads_a_regular_file() {
        let dir = dir();
        std::fs::write(dir.path().join("printspoold.key"), b"s3cret\n").unwrap();
        let secret = read_credential_in(dir.path(), "printspoold.key", 64).unwrap();
        assert_eq!(secret.expose(), b"s3cret\n");
    }

    #[test]
    fn debug_withholds_the_content() {
        let shown = format!("{:?}", Secret(b"s3cret".to_vec()));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("6 bytes"), "{shown}");
    }

    #[test]
    fn refuses_names_that_are_not_one_component() {
        let dir = dir();
        for name in ["", ".", "..", "a/b", "../etc", "a\0b"] {
            let error = read_credential_in(dir.path(), name, 64).unwrap_err();
            assert!(matches!(error, CredentialError::BadName { .. }), "{name:?}");
        }
    }

    #[test]
    fn refuses_a_relative_directory() {
        let error = read_credential_in(Path::new("creds"), "x", 64).unwrap_err();
        assert!(matches!(error, CredentialError::RelativeDirectory { .. }));
    }

    #[test]
    fn does_not_follow_a_symbolic_link() {
        let dir = dir();
        std::fs::write(dir.path().join("target"), b"other").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("link")).unwrap();
        let error = read_credential_in(dir.path(), "link", 64).unwrap_err();
        let CredentialError::Open { source, .. } = error else {
            panic!("{error:?}");
        };
        assert_eq!(source.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn refuses_directories_and_fifos() {
        let dir = dir();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let error = read_credential_in(dir.path(), "sub", 64).unwrap_err();
        assert!(
            matches!(error, CredentialError::NotAFile { .. }),
            "{error:?}"
        );
        crate::test_support::mkfifo(&dir.path().join("fifo"));
        let error = read_credential_in(dir.path(), "fifo", 64).unwrap_err();
        assert!(
            matches!(error, CredentialError::NotAFile { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn refuses_a_file_over_the_bound() {
        let dir = dir();
        std::fs::write(dir.path().join("big"), vec![b'x'; 65]).unwrap();
        let error = read_credential_in(dir.path(), "big", 64).unwrap_err();
        assert!(matches!(error, CredentialError::TooLarge { max: 64, .. }));
        assert!(!error.to_string().contains("xxx"));
        std::fs::write(dir.path().join("fits"), vec![b'x'; 64]).unwrap();
        assert_eq!(
            read_credential_in(dir.path(), "fits", 64)
                .unwrap()
                .expose()
                .len(),
            64
        );
    }

    #[test]
    fn a_missing_credential_names_itself() {
        let dir = dir();
        let error = read_credential_in(dir.path(), "absent", 64).unwrap_err();
        assert!(error.to_string().contains("\"absent\""), "{error}");
    }
}
