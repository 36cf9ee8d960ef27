//! daemon(7) SysV step 12: a race-free PID file.
//!
//! "Race-free" means the file is only rewritten when it is verified, at the
//! same time, that the PID it holds no longer exists or belongs to a
//! foreign process. Two mechanisms give that:
//!
//! 1. An exclusive `flock()` held for the daemon's whole life. Whoever holds
//!    it is the running instance; the kernel drops it when the daemon dies,
//!    however it dies, so a crash never leaves a stale lock behind.
//! 2. For a daemon that does not lock (an older version), the recorded PID
//!    is checked: alive and running our executable means "already running";
//!    dead, or reused by another program, means the file is stale.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Named in messages.
const PROGRAM: &str = "printspoold";

/// How often to reopen when the file keeps being replaced under us.
const MAX_ATTEMPTS: usize = 5;

/// Longest content read back: a PID and a newline fit many times over.
const MAX_CONTENT: usize = 64;

/// Why the PID file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("{}", already_running_message(*.pid, .path))]
    AlreadyRunning { pid: Option<u32>, path: PathBuf },
    #[error("pid file {path} is a symbolic link; refusing to follow it")]
    Symlink { path: PathBuf },
    #[error("cannot open pid file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot lock pid file {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot write pid file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("pid file {path} keeps being replaced while we try to lock it")]
    Unstable { path: PathBuf },
}

fn already_running_message(pid: Option<u32>, path: &Path) -> String {
    match pid {
        Some(pid) => format!(
            "{PROGRAM} is already running as PID {pid} (pid file {})",
            path.display()
        ),
        None => format!(
            "{PROGRAM} is already running (pid file {} is locked)",
            path.display()
        ),
    }
}

impl PidFileError {
    /// Whether the file system refused us, which maps to LSB status 4.
    pub fn is_permission_denied(&self) -> bool {
        match self {
            PidFileError::Open { source, .. }
            | PidFileError::Lock { source, .. }
            | PidFileError::Write { source, .. } => {
                source.kind() == io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
}

/// The PID file, locked. Dropping it removes the file, but only if the path
/// still names our file and it still holds our PID (an administrator may
/// have replaced it). Keep it for the daemon's whole life.
#[derive(Debug)]
pub struct PidFileGuard {
    file: File,
    path: PathBuf,
    pid: u32,
}

impl PidFileGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for PidFileGuard {
    fn drop(&mut self) {
        if !names_this_file(&self.path, &self.file) || read_pid(&self.file) != Some(self.pid) {
            return;
        }
        // Can fail after step 13 when the directory is root's; the next
        // start finds a dead PID in it and replaces the file.
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::debug!("cannot remove pid file {}: {error}", self.path.display());
        }
    }
}

/// Writes `pid` to `path`, race-free, and returns the lock that keeps it
/// ours.
///
/// Opens with `O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW`, mode 0644, takes
/// an exclusive non-blocking lock, and then either finds a live instance
/// ([`PidFileError::AlreadyRunning`]) or truncates, writes and fsyncs.
pub fn write_pid_file(path: &Path, pid: u32) -> Result<PidFileGuard, PidFileError> {
    for _ in 0..MAX_ATTEMPTS {
        let file = open_pid_file(path)?;
        lock_or_report_owner(&file, path)?;
        // A previous owner may have unlinked the file between our open()
        // and flock(): a lock on an unlinked file protects nothing.
        if !names_this_file(path, &file) {
            continue;
        }
        if let Some(old) = read_pid(&file)
            && old != pid
            && is_live_instance(old)
        {
            return Err(PidFileError::AlreadyRunning {
                pid: Some(old),
                path: path.to_owned(),
            });
        }
        record_pid(&file, pid).map_err(|source| PidFileError::Write {
            path: path.to_owned(),
            source,
        })?;
        return Ok(PidFileGuard {
            file,
            path: path.to_owned(),
            pid,
        });
    }
    Err(PidFileError::Unstable {
        path: path.to_owned(),
    })
}

fn open_pid_file(path: &Path) -> Result<File, PidFileError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        // Never follow a link someone planted to make us clobber a file.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .mode(0o644)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) => PidFileError::Symlink {
                path: path.to_owned(),
            },
            _ => PidFileError::Open {
                path: path.to_owned(),
                source,
            },
        })
}

/// Takes the exclusive lock: flock(LOCK_EX | LOCK_NB), which is what std's
/// `try_lock` is documented to do on Linux.
fn lock_or_report_owner(file: &File, path: &Path) -> Result<(), PidFileError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(PidFileError::AlreadyRunning {
            pid: read_pid(file),
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(PidFileError::Lock {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Whether `path` currently names the file we hold open.
fn names_this_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(at_path), Ok(ours)) => at_path.dev() == ours.dev() && at_path.ino() == ours.ino(),
        _ => false,
    }
}

/// The PID recorded in the file, if it holds one.
fn read_pid(file: &File) -> Option<u32> {
    let mut buffer = [0u8; MAX_CONTENT];
    let len = file.read_at(&mut buffer, 0).ok()?;
    let text = std::str::from_utf8(&buffer[..len]).ok()?;
    text.trim().parse().ok().filter(|pid| *pid > 0)
}

fn record_pid(file: &File, pid: u32) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(format!("{pid}\n").as_bytes(), 0)?;
    file.sync_all()
}

/// Whether `pid` is a live process running the same program as we are.
fn is_live_instance(pid: u32) -> bool {
    process_exists(pid) && runs_our_executable(pid)
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process could be signalled.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to another user.
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Compares `/proc/<pid>/exe` with ours: the same file, or the same path
/// once the " (deleted)" suffix is dropped (an instance started before a
/// package upgrade replaced the binary). When we may not read its exe link
/// (another user's process and we are not root), the command names decide.
fn runs_our_executable(pid: u32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let theirs = proc_dir.join("exe");
    let ours = Path::new("/proc/self/exe");
    match std::fs::read_link(&theirs) {
        Ok(their_path) => {
            same_file(&theirs, ours)
                || std::fs::read_link(ours).is_ok_and(|our_path| {
                    without_deleted(&their_path) == without_deleted(&our_path)
                })
        }
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            let comm = |dir: &Path| std::fs::read_to_string(dir.join("comm")).ok();
            comm(&proc_dir).is_some_and(|name| Some(name) == comm(Path::new("/proc/self")))
        }
        // Gone meanwhile, or a kernel thread (no executable): not us.
        Err(_) => false,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn without_deleted(path: &Path) -> &Path {
    path.to_str()
        .and_then(|text| text.strip_suffix(" (deleted)"))
        .map_or(path, Path::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn pid_path(dir: &TempDir) -> PathBuf {
        dir.path().join("printspoold.pid")
    }

    fn content(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// The PID of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn creates_the_file_with_our_pid_and_mode_0644() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        let guard = write_pid_file(&path, 4321).unwrap();
        assert_eq!(content(&path), "4321\n");
        assert_eq!(guard.pid(), 4321);
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o644, 0, "mode {mode:o}");
    }

    #[test]
    fn a_dead_pid_is_replaced() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        std::fs::write(&path, format!("{}\n", dead_pid())).unwrap();
        let _guard = write_pid_file(&path, std::process::id()).unwrap();
        assert_eq!(content(&path), format!("{}\n", std::process::id()));
    }

    #[test]
    fn a_live_foreign_program_is_replaced() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::fs::write(&path, format!("{}\n", sleeper.id())).unwrap();

        let result = write_pid_file(&path, std::process::id());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();

        let _guard = result.unwrap();
        assert_eq!(content(&path), format!("{}\n", std::process::id()));
    }

    #[test]
    fn a_live_instance_without_a_lock_is_already_running() {
        // This test process runs our executable: it stands for an older
        // instance that wrote its PID but holds no lock.
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        let me = std::process::id();
        std::fs::write(&path, format!("{me}\n")).unwrap();

        let error = write_pid_file(&path, me + 1).unwrap_err();
        assert!(matches!(error, PidFileError::AlreadyRunning { pid: Some(pid), .. } if pid == me));
        assert_eq!(content(&path), format!("{me}\n"), "file left alone");
    }

    #[test]
    fn a_held_lock_is_already_running() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        let _first = write_pid_file(&path, 1111).unwrap();

        let error = write_pid_file(&path, 2222).unwrap_err();
        assert!(matches!(
            error,
            PidFileError::AlreadyRunning {
                pid: Some(1111),
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            format!(
                "printspoold is already running as PID 1111 (pid file {})",
                path.display()
            )
        );
        assert_eq!(content(&path), "1111\n");
    }

    #[test]
    fn garbage_content_is_replaced() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        std::fs::write(&path, "not a pid\n0\n").unwrap();
        let _guard = write_pid_file(&path, 77).unwrap();
        assert_eq!(content(&path), "77\n");
    }

    #[test]
    fn dropping_the_guard_removes_the_file_and_the_lock() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        drop(write_pid_file(&path, 1111).unwrap());
        assert!(!path.exists());
        // The lock went with it: a new instance starts.
        let _second = write_pid_file(&path, 2222).unwrap();
        assert_eq!(content(&path), "2222\n");
    }

    #[test]
    fn the_guard_leaves_a_file_that_is_no_longer_ours() {
        let dir = TempDir::new("pidfile");
        let path = pid_path(&dir);
        let guard = write_pid_file(&path, 1111).unwrap();
        std::fs::write(&path, "2222\n").unwrap();
        drop(guard);
        assert_eq!(content(&path), "2222\n");

        // Replaced by a new file (another inode) at the same path: also kept.
        let guard = write_pid_file(&path, 2222).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "2222\n").unwrap();
        drop(guard);
        assert!(path.exists());
    }

    #[test]
    fn symbolic_links_are_refused() {
        let dir = TempDir::new("pidfile");
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let path = pid_path(&dir);
        std::os::unix::fs::symlink(&target, &path).unwrap();

        let error = write_pid_file(&path, 1).unwrap_err();
        assert!(matches!(error, PidFileError::Symlink { .. }), "{error}");
        assert_eq!(content(&target), "keep me");
    }

    #[test]
    fn a_missing_directory_is_an_open_error() {
        let dir = TempDir::new("pidfile");
        let path = dir.path().join("missing").join("x.pid");
        let error = write_pid_file(&path, 1).unwrap_err();
        assert!(matches!(error, PidFileError::Open { .. }), "{error}");
        assert!(error.to_string().contains("missing/x.pid"));
    }

    #[test]
    fn deleted_suffix_is_ignored_when_comparing_executables() {
        let old = Path::new("/usr/sbin/printspoold (deleted)");
        assert_eq!(without_deleted(old), Path::new("/usr/sbin/printspoold"));
        assert_eq!(
            without_deleted(Path::new("/bin/sleep")),
            Path::new("/bin/sleep")
        );
    }
}
