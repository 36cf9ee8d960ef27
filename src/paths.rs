//! Where the daemon spools and listens when neither the command line nor
//! the configuration says: chosen so that it runs without privileges or a
//! configuration file.

use std::path::{Path, PathBuf};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Root spools in `/var/spool`; a normal user in the XDG state directory,
/// so the daemon runs without privileges or configuration.
pub fn default_spool_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/spool/printspoold");
    }
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")));
    match state_home {
        Some(dir) => dir.join("printspoold"),
        None => std::env::temp_dir().join(format!("printspoold-{}", unsafe { libc::geteuid() })),
    }
}

/// Root listens on the IPP port of localhost and a socket in /run; a normal
/// user on an unprivileged port of localhost.
pub fn default_listen() -> Vec<String> {
    if is_root() {
        vec![
            "127.0.0.1:631".to_string(),
            "/run/printspoold/ipp.sock".to_string(),
        ]
    } else {
        vec!["127.0.0.1:8631".to_string()]
    }
}
