//! The drop directory: **where a job enters when a file is dropped.**
//!
//! Local users print by placing a file in the drop directory (default
//! `/var/spool/printspoold/incoming`); `incoming/NAME/` targets printer
//! NAME. systemd's `printspoold.path` (`DirectoryNotEmpty=`) starts the
//! daemon when a file lands while it is down (daemon(7) "Path-Based
//! Activation"); while it runs, inotify (the `notify` crate) wakes the
//! scanner.
//!
//! The writer's protocol: write under a name starting with `.`, then
//! rename it into place. Dotfiles are never taken (they are still being
//! written), so a file is taken only once it is complete.
//!
//! How a file becomes exactly one job, even across SIGKILL:
//! 1. open it with `O_NOFOLLOW | O_NONBLOCK` and check it is a regular,
//!    singly linked file within the size limit (anything else goes to
//!    `rejected/` with a `.reason` file);
//! 2. claim it: rename it into `claimed/PRINTER/TOKEN.NAME` (same file
//!    system, atomic), where TOKEN names the inode, and check that the
//!    claimed name is the inode that was opened;
//! 3. submit it; the job record carries TOKEN and is durable on return;
//! 4. delete the claim.
//!
//! After a crash, a claim whose TOKEN a job already carries was submitted
//! (step 3 done, 4 not): it is deleted; any other claim is submitted. The
//! directory is always left empty (taken or rejected), so the path unit
//! never loops into `unit-start-limit-hit`.
//!
//! # Hostile users
//!
//! Everyone may write `incoming/`, so every name in it may change between
//! any two system calls: a printer directory may become a symlink to the
//! spool's `jobs/`, a file a directory. Hence:
//! - every operation is relative to a directory descriptor opened with
//!   `O_DIRECTORY | O_NOFOLLOW` and held for the whole walk ([`Dirs`] for
//!   `incoming/`, `claimed/` and `rejected/`; one per printer directory):
//!   no path is ever resolved again, so no symlink can redirect a walk;
//! - a file is opened with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`, checked on
//!   its descriptor, and after the claim the claimed name is checked to be
//!   that same inode (dev + ino) before anything is submitted;
//! - an entry is moved (claimed or rejected) only by renaming it over a
//!   fresh empty file ([`move_non_directory`]): rename(2) refuses to put a
//!   directory over a file (`ENOTDIR`), so a directory swapped in at the
//!   last moment is never moved out of `incoming/`. Directories leave only
//!   by `unlinkat(AT_REMOVEDIR)` once empty; anything not a regular file
//!   (symlink, FIFO, socket, device) is rejected as itself, never
//!   followed: rename moves the link, not what it points to.
//!
//! The system calls come from [`rustix`]: safe wrappers (no `unsafe` here)
//! over the raw Linux calls, maintained by the Bytecode Alliance, and
//! already in the dependency tree through zbus.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::{RecursiveMode, Watcher};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::core::{Assurance, CoreError, JobTicket, NewJob, Origin, Spooler};
use crate::identity;
use crate::logging::sanitize;

/// A dotfile untouched this long was abandoned by its writer: it goes to
/// `rejected/` so the directory can become empty again.
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);
/// Rescan this often even without inotify events (missed events, dotfiles
/// that turn stale).
const RESCAN_EVERY: Duration = Duration::from_secs(30);
/// An empty regular file gets this long to receive its content before it
/// is rejected as empty.
const EMPTY_GRACE: Duration = Duration::from_secs(10);
/// Claims of the default queue live under this name (printer names never
/// start with a dot).
const DEFAULT_CLAIMS: &str = ".default";
/// Directories nested deeper than this inside `incoming/` are left alone
/// (and logged): emptying them would need a descriptor per level.
const MAX_NESTING: usize = 4;
/// Bytes of a dropped name kept in claim and rejection names (a name may
/// be 255 bytes, and a prefix must fit too).
const NAME_BYTES_KEPT: usize = 160;

#[derive(Debug, thiserror::Error)]
pub enum DropDirError {
    #[error("drop directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drop directory {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    #[error("cannot watch drop directory {path}: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Where the drop directory and its siblings are.
#[derive(Debug, Clone)]
pub struct DropDirLayout {
    /// Where users drop files.
    pub incoming: PathBuf,
    /// Files that could not be taken, each with a `.reason` file.
    pub rejected: PathBuf,
    /// Files being taken (see the module documentation).
    pub claimed: PathBuf,
}

impl DropDirLayout {
    /// `rejected/` and `claimed/` sit beside `incoming`, on the same file
    /// system, so moving a file there is an atomic rename.
    pub fn beside(incoming: &Path) -> DropDirLayout {
        let parent = incoming.parent().unwrap_or(Path::new("/"));
        DropDirLayout {
            incoming: incoming.to_path_buf(),
            rejected: parent.join("rejected"),
            claimed: parent.join("claimed"),
        }
    }
}

/// The running drop-directory source.
pub struct DropDir {
    layout: DropDirLayout,
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl DropDir {
    /// Creates the directories if needed, finishes claims left by a crash,
    /// drains what arrived while the daemon was down, and starts watching.
    pub async fn start(layout: DropDirLayout, spooler: Spooler) -> Result<DropDir, DropDirError> {
        create_dirs(&layout)?;
        let dirs = Dirs::open(&layout)?;
        let wake = Arc::new(Notify::new());
        let watcher = watch(&layout.incoming, Arc::clone(&wake))?;
        let supervisor = spooler.supervisor().clone();
        let mut scanner = DropDirScanner {
            layout: layout.clone(),
            spooler,
            dirs,
            last_complaint: None,
        };
        scanner.finish_claims().await;
        scanner.scan().await;
        let task = supervisor.spawn("drop-directory scanner", scanner.run(wake));
        Ok(DropDir {
            layout,
            _watcher: watcher,
            task,
        })
    }

    /// True when nothing waits in the drop directory. While a writer is
    /// still writing (a dotfile), the daemon does not exit on idle: the path
    /// unit would only start it again at once.
    pub fn is_empty(&self) -> bool {
        is_empty_dir(&self.layout.incoming)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

fn create_dirs(layout: &DropDirLayout) -> Result<(), DropDirError> {
    use std::os::unix::fs::DirBuilderExt;
    // Production directories come from tmpfiles.d with their own modes;
    // these are for a developer's run without installation. incoming is
    // world-writable and sticky, write-only: users drop, nobody lists.
    for (dir, mode) in [
        (&layout.incoming, 0o1733),
        (&layout.rejected, 0o700),
        (&layout.claimed, 0o700),
    ] {
        if dir.is_dir() {
            continue;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|source| DropDirError::Io {
                path: dir.clone(),
                source,
            })?;
        // DirBuilder's mode passes through the umask; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode));
    }
    Ok(())
}

fn watch(dir: &Path, wake: Arc<Notify>) -> Result<notify::RecommendedWatcher, DropDirError> {
    let map = |source| DropDirError::Watch {
        path: dir.to_path_buf(),
        source,
    };
    // The callback runs on notify's own thread; it only wakes the scanner,
    // which reads the directory itself (events are hints, not the truth).
    // Never follow symlinks: a user's `incoming/x -> /` would make the
    // watcher walk and watch the whole file system.
    let mut watcher = notify::RecommendedWatcher::new(
        move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| brings_work(&e.kind)) {
                wake.notify_one();
            }
        },
        notify::Config::default().with_follow_symlinks(false),
    )
    .map_err(map)?;
    watcher.watch(dir, RecursiveMode::Recursive).map_err(map)?;
    Ok(watcher)
}

/// Only a new name (a file created or renamed in) or a finished write can
/// bring work. Our own scan opens and reads the directory, which inotify
/// also reports: waking on those would scan forever.
fn brings_work(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

fn is_empty_dir(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    }
}

// ---------------------------------------------------------------------------
// Directory descriptors.

/// `O_DIRECTORY | O_NOFOLLOW`: a directory, never reached through a
/// symlink in its last component, pinned whatever its name becomes.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens the directory `name` inside `parent`.
fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(parent, name, dir_flags(), Mode::empty())
}

/// The three directories the scanner works in, opened once and checked
/// again before every scan.
struct Dirs {
    incoming: OwnedFd,
    claimed: OwnedFd,
    rejected: OwnedFd,
}

/// Which of the [`Dirs`], for its checks.
#[derive(Clone, Copy)]
enum DirRole {
    /// Anyone may write it: it must be sticky then, and ours.
    Incoming,
    /// Only the daemon may write it.
    Private,
}

impl Dirs {
    fn open(layout: &DropDirLayout) -> Result<Dirs, DropDirError> {
        Ok(Dirs {
            incoming: open_checked(&layout.incoming, DirRole::Incoming)?,
            claimed: open_checked(&layout.claimed, DirRole::Private)?,
            rejected: open_checked(&layout.rejected, DirRole::Private)?,
        })
    }

    /// Re-opens a directory whose path now names another one (an admin
    /// recreated it), and checks each again (owner, mode).
    fn revalidate(&mut self, layout: &DropDirLayout) -> Result<(), DropDirError> {
        for (fd, path, role) in [
            (&mut self.incoming, &layout.incoming, DirRole::Incoming),
            (&mut self.claimed, &layout.claimed, DirRole::Private),
            (&mut self.rejected, &layout.rejected, DirRole::Private),
        ] {
            let held = rustix::fs::fstat(&*fd).map_err(|e| io_error(path, e))?;
            let named = rustix::fs::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io_error(path, e))?;
            if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino) {
                tracing::warn!(dir = %path.display(), "drop directory was replaced; opening it again");
                *fd = open_checked(path, role)?;
            } else {
                check_dir(path, &held, role)?;
            }
        }
        Ok(())
    }
}

fn open_checked(path: &Path, role: DirRole) -> Result<OwnedFd, DropDirError> {
    let fd = rustix::fs::open(path, dir_flags(), Mode::empty()).map_err(|e| io_error(path, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_error(path, e))?;
    check_dir(path, &stat, role)?;
    Ok(fd)
}

/// The security model (README, "Path activation"): the daemon owns these
/// directories; only `incoming/` may be writable by others, and then only
/// with the sticky bit, so users cannot rename each other's entries.
fn check_dir(path: &Path, stat: &Stat, role: DirRole) -> Result<(), DropDirError> {
    let unsafe_dir = |reason: String| DropDirError::Unsafe {
        path: path.to_path_buf(),
        reason,
    };
    let meta = EntryStat::of(stat);
    let me = rustix::process::geteuid().as_raw();
    // The owner of a directory may rename anything in it, sticky or not:
    // only the daemon's user, root, or the spool's owner (tmpfiles.d makes
    // both `printspoold`, and a daemon run as root keeps them) may own it.
    let parent_owner = path
        .parent()
        .and_then(|parent| rustix::fs::statat(rustix::fs::CWD, parent, AtFlags::empty()).ok())
        .map(|parent| EntryStat::of(&parent).uid);
    if meta.uid != me && meta.uid != 0 && Some(meta.uid) != parent_owner {
        return Err(unsafe_dir(format!(
            "owned by uid {}, not by the daemon's user (uid {me}), root or the spool's owner",
            meta.uid
        )));
    }
    let writable_by_others = meta.mode & 0o022 != 0;
    match role {
        DirRole::Private if writable_by_others => Err(unsafe_dir(format!(
            "mode {:o} lets others write it; it must be private (0700)",
            meta.mode & 0o7777
        ))),
        DirRole::Incoming if writable_by_others && meta.mode & 0o1000 == 0 => {
            Err(unsafe_dir(format!(
                "mode {:o} lets others write it without the sticky bit (use 1733)",
                meta.mode & 0o7777
            )))
        }
        _ => Ok(()),
    }
}

fn io_error(path: &Path, e: Errno) -> DropDirError {
    DropDirError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// What a `stat` says, in fixed-width types.
#[derive(Debug, Clone, Copy)]
struct EntryStat {
    kind: FileType,
    dev: u64,
    ino: u64,
    mode: u32,
    nlink: u64,
    uid: u32,
    len: u64,
    mtime: i64,
    ctime: i64,
    ctime_nsec: i64,
}

impl EntryStat {
    // The field types of `struct stat` differ between architectures.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of(stat: &Stat) -> EntryStat {
        EntryStat {
            kind: FileType::from_raw_mode(stat.st_mode as _),
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            mode: stat.st_mode as u32,
            nlink: stat.st_nlink as u64,
            uid: stat.st_uid as u32,
            len: u64::try_from(stat.st_size).unwrap_or(0),
            mtime: stat.st_mtime as i64,
            ctime: stat.st_ctime as i64,
            ctime_nsec: stat.st_ctime_nsec as i64,
        }
    }

    fn same_inode(&self, other: &EntryStat) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    fn older_than(&self, age: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        now.saturating_sub(self.mtime) > age.as_secs() as i64
    }

    fn describe(&self) -> &'static str {
        match self.kind {
            FileType::Fifo => "a FIFO",
            FileType::Socket => "a socket",
            FileType::BlockDevice | FileType::CharacterDevice => "a device",
            FileType::Symlink => "a symbolic link",
            FileType::Directory => "a directory",
            FileType::RegularFile => "a regular file",
            FileType::Unknown => "a special file",
        }
    }
}

fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<EntryStat, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(|s| EntryStat::of(&s))
}

/// The names in a directory (not `.` and `..`), in name order, read
/// through a fresh descriptor of the same directory.
fn list(dir: BorrowedFd<'_>) -> Vec<CString> {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return Vec::new();
    };
    let mut names: Vec<CString> = entries
        .flatten()
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| !matches!(name.to_bytes(), b"." | b".."))
        .collect();
    // Oldest-looking first is not knowable cheaply; name order is stable.
    names.sort();
    names
}

/// A name as text, for logs, job names and reason files (never for a path).
fn shown(name: &CStr) -> String {
    sanitize(&String::from_utf8_lossy(name.to_bytes()), 255)
}

/// A name to build our own file names from: no control characters, within
/// [`NAME_BYTES_KEPT`] bytes (and `/` cannot occur in a directory entry).
fn kept_name(name: &CStr) -> String {
    let mut text = sanitize(&String::from_utf8_lossy(name.to_bytes()), 255);
    while text.len() > NAME_BYTES_KEPT {
        text.pop();
    }
    text
}

fn c_name(text: &str) -> Option<CString> {
    CString::new(text).ok()
}

/// Creates `name` in `dir` as a new empty private file.
fn create_new(dir: BorrowedFd<'_>, name: &CStr) -> Result<File, Errno> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map(File::from)
}

/// Why a move did not happen.
#[derive(Debug)]
enum MoveError {
    /// The name is a directory now (swapped in): it stays where it is.
    BecameDirectory,
    /// The name is gone.
    Gone,
    /// The target name is taken (another claim of the same file).
    TargetExists,
    Other(Errno),
}

/// Renames the non-directory `from_dir/from` to `to_dir/to`, by renaming it
/// over a fresh empty file: rename(2) fails with `ENOTDIR` when the source
/// is a directory and the target is not, so a directory swapped in at the
/// last moment stays put. The entry moves as itself: a symlink moves, what
/// it points to does not.
fn move_non_directory(
    from_dir: BorrowedFd<'_>,
    from: &CStr,
    to_dir: BorrowedFd<'_>,
    to: &CStr,
) -> Result<(), MoveError> {
    match create_new(to_dir, to) {
        Ok(_) => {}
        Err(Errno::EXIST) => return Err(MoveError::TargetExists),
        Err(e) => return Err(MoveError::Other(e)),
    }
    match rustix::fs::renameat(from_dir, from, to_dir, to) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = rustix::fs::unlinkat(to_dir, to, AtFlags::empty());
            Err(match e {
                Errno::NOTDIR | Errno::ISDIR => MoveError::BecameDirectory,
                Errno::NOENT => MoveError::Gone,
                other => MoveError::Other(other),
            })
        }
    }
}

// ---------------------------------------------------------------------------
// The scanner.

/// The scanner: turns files into jobs.
struct DropDirScanner {
    layout: DropDirLayout,
    spooler: Spooler,
    dirs: Dirs,
    /// The last reason the scan could not run, so it is logged once.
    last_complaint: Option<String>,
}

/// Where an entry was found: a directory descriptor and, for messages,
/// its place under `incoming/`.
#[derive(Clone, Copy)]
struct Place<'a> {
    dir: BorrowedFd<'a>,
    /// `""` for `incoming/` itself, else `PRINTER/` (already escaped).
    prefix: &'a str,
}

impl DropDirScanner {
    async fn run(mut self, wake: Arc<Notify>) {
        loop {
            let _ = tokio::time::timeout(RESCAN_EVERY, wake.notified()).await;
            self.finish_claims().await;
            self.scan().await;
        }
    }

    /// One pass over the drop directory and its printer subdirectories.
    async fn scan(&mut self) {
        if let Err(e) = self.dirs.revalidate(&self.layout) {
            let complaint = e.to_string();
            if self.last_complaint.as_ref() != Some(&complaint) {
                tracing::error!("not taking dropped files: {complaint}");
                self.last_complaint = Some(complaint);
            }
            return;
        }
        self.last_complaint = None;
        let incoming = self.dirs.incoming.as_fd();
        let top = Place {
            dir: incoming,
            prefix: "",
        };
        for name in list(incoming) {
            let Ok(meta) = stat_at(incoming, &name) else {
                continue; // gone meanwhile
            };
            if name.to_bytes().starts_with(b".") {
                self.dotfile(top, &name, &meta, 0);
                continue;
            }
            match meta.kind {
                FileType::RegularFile => self.take(top, &name, None).await,
                FileType::Directory => match self.printer_named(&name) {
                    Some(printer) => self.walk_printer_dir(&name, &printer).await,
                    None => {
                        let why = format!("no printer named \"{}\"", shown(&name));
                        self.empty_dir(top, &name, &why, 0);
                    }
                },
                _ => self.reject(top, &name, &not_taken(&meta)),
            }
        }
    }

    fn printer_named(&self, name: &CStr) -> Option<String> {
        let name = name.to_str().ok()?;
        self.spooler.printer(name).map(|_| name.to_string())
    }

    /// A dotfile is being written: left alone, unless abandoned.
    fn dotfile(&self, place: Place<'_>, name: &CStr, meta: &EntryStat, depth: usize) {
        if !meta.older_than(ABANDONED_AFTER) {
            return;
        }
        let why = format!(
            "abandoned: \"{}\" was not renamed into place within {} minutes",
            shown(name),
            ABANDONED_AFTER.as_secs() / 60
        );
        if meta.kind == FileType::Directory {
            self.empty_dir(place, name, &why, depth);
        } else {
            self.reject(place, name, &why);
        }
    }

    /// Walks `incoming/PRINTER/` through one descriptor, opened once.
    async fn walk_printer_dir(&self, name: &CStr, printer: &str) {
        let incoming = self.dirs.incoming.as_fd();
        let dir = match open_dir_at(incoming, name) {
            Ok(dir) => dir,
            // Swapped for a symlink or a file since the listing: the next
            // scan sees what it is now.
            Err(_) => return,
        };
        let prefix = format!("{}/", shown(name));
        if let Err(why) = self.check_printer_dir(&dir, printer) {
            let top = Place {
                dir: incoming,
                prefix: "",
            };
            return self.empty_dir(top, name, &why, 0);
        }
        let place = Place {
            dir: dir.as_fd(),
            prefix: &prefix,
        };
        for entry in list(dir.as_fd()) {
            let Ok(meta) = stat_at(dir.as_fd(), &entry) else {
                continue;
            };
            if entry.to_bytes().starts_with(b".") {
                self.dotfile(place, &entry, &meta, 1);
                continue;
            }
            match meta.kind {
                FileType::RegularFile => self.take(place, &entry, Some(printer)).await,
                FileType::Directory => {
                    let why = "directories inside a printer directory are not taken";
                    self.empty_dir(place, &entry, why, 1);
                }
                _ => self.reject(place, &entry, &not_taken(&meta)),
            }
        }
        // Empty now: remove it so the directory can be empty. rmdir is
        // atomic: a writer's dotfile keeps it alive, and whatever the name
        // points at now, only an empty directory goes.
        let _ = rustix::fs::unlinkat(incoming, name, AtFlags::REMOVEDIR);
    }

    /// A printer directory may be made by anyone (README, security model),
    /// but it must be on the drop directory's file system (claims are
    /// renames), and only its owner may change it: not writable by others
    /// unless sticky, like `incoming/` itself.
    fn check_printer_dir(&self, dir: &OwnedFd, printer: &str) -> Result<(), String> {
        let meta = rustix::fs::fstat(dir)
            .map(|s| EntryStat::of(&s))
            .map_err(|e| format!("cannot stat the directory for printer {printer}: {e}"))?;
        let incoming = rustix::fs::fstat(&self.dirs.incoming)
            .map(|s| EntryStat::of(&s))
            .map_err(|e| format!("cannot stat the drop directory: {e}"))?;
        if meta.dev != incoming.dev {
            return Err(format!(
                "the directory for printer {printer} is on another file system"
            ));
        }
        if meta.mode & 0o022 != 0 && meta.mode & 0o1000 == 0 {
            return Err(format!(
                "the directory for printer {printer} (mode {:o}) is writable by others \
                 without the sticky bit",
                meta.mode & 0o7777
            ));
        }
        Ok(())
    }

    /// Rejects everything in the directory `name` (with `why`) and removes
    /// it once empty. Directories never leave `incoming/` by rename.
    fn empty_dir(&self, place: Place<'_>, name: &CStr, why: &str, depth: usize) {
        let shown_path = format!("{}{}", place.prefix, shown(name));
        if depth >= MAX_NESTING {
            tracing::warn!(dir = %shown_path, "drop directory: directories nested this deep are left alone");
            return;
        }
        let Ok(dir) = open_dir_at(place.dir, name) else {
            return; // not a directory any more: the next scan looks again
        };
        let prefix = format!("{shown_path}/");
        let inner = Place {
            dir: dir.as_fd(),
            prefix: &prefix,
        };
        for entry in list(dir.as_fd()) {
            let Ok(meta) = stat_at(dir.as_fd(), &entry) else {
                continue;
            };
            if meta.kind == FileType::Directory {
                self.empty_dir(inner, &entry, why, depth + 1);
            } else if entry.to_bytes().starts_with(b".") && !meta.older_than(ABANDONED_AFTER) {
                // Still being written; rejected once renamed into place.
            } else {
                self.reject(inner, &entry, why);
            }
        }
        let _ = rustix::fs::unlinkat(place.dir, name, AtFlags::REMOVEDIR);
    }

    /// Takes one regular file: open safely, claim, check, submit, delete
    /// the claim.
    async fn take(&self, place: Place<'_>, name: &CStr, printer: Option<&str>) {
        let file = match open_no_follow(place.dir, name) {
            Ok(file) => file,
            Err(OpenError::Gone) => return,
            Err(OpenError::Refused(why)) => return self.reject(place, name, &why),
        };
        let meta = match rustix::fs::fstat(&file) {
            Ok(stat) => EntryStat::of(&stat),
            Err(e) => return self.reject(place, name, &format!("cannot stat: {e}")),
        };
        if meta.kind == FileType::RegularFile && meta.len == 0 && !meta.older_than(EMPTY_GRACE) {
            // Probably created in place and not written yet (the protocol
            // says rename into place, but be kind to `echo > file`).
            return;
        }
        if let Err(why) = self.check_file(&meta) {
            return self.reject(place, name, &why);
        }
        // The inode and its change time name this file uniquely (an inode
        // number alone is reused once a file is deleted).
        let token = format!(
            "{}-{}-{}-{}",
            meta.dev, meta.ino, meta.ctime, meta.ctime_nsec
        );
        let Some(claims) = self.claim_dir(printer) else {
            return;
        };
        let job_name = shown(name);
        let Some(claim) = c_name(&format!("{token}.{}", kept_name(name))) else {
            return;
        };
        match move_non_directory(place.dir, name, claims.as_fd(), &claim) {
            Ok(()) => {}
            Err(MoveError::BecameDirectory | MoveError::Gone) => return,
            Err(e) => {
                tracing::error!(file = %format!("{}{job_name}", place.prefix), "cannot claim the file, leaving it for the next scan: {e:?}");
                return;
            }
        }
        let claimed = Place {
            dir: claims.as_fd(),
            prefix: "",
        };
        // Between the open and the rename the name may have been given to
        // another file: submit only the inode that was opened and checked.
        match stat_at(claims.as_fd(), &claim) {
            Ok(now) if now.same_inode(&meta) => {}
            _ => {
                let why = "replaced by another file while being taken";
                return self.reject_as(claimed, &claim, &job_name, why);
            }
        }
        self.submit(file, &meta, claimed, &claim, &token, &job_name, printer)
            .await;
    }

    /// `claimed/PRINTER` (or `claimed/.default`), created if needed.
    fn claim_dir(&self, printer: Option<&str>) -> Option<OwnedFd> {
        let name = printer.unwrap_or(DEFAULT_CLAIMS);
        let c = c_name(name)?;
        let claimed = self.dirs.claimed.as_fd();
        match rustix::fs::mkdirat(claimed, &c, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => {
                tracing::error!(
                    "cannot create {}/{name}: {e}",
                    self.layout.claimed.display()
                );
                return None;
            }
        }
        match open_dir_at(claimed, &c) {
            Ok(dir) => Some(dir),
            Err(e) => {
                tracing::error!("cannot open {}/{name}: {e}", self.layout.claimed.display());
                None
            }
        }
    }

    fn check_file(&self, meta: &EntryStat) -> Result<(), String> {
        if meta.kind != FileType::RegularFile {
            return Err(not_taken(meta));
        }
        if meta.nlink > 1 {
            // A hard link could name someone else's file.
            return Err("hard-linked files are not taken; drop a copy".to_string());
        }
        let limit = self.spooler.max_document_bytes();
        if meta.len > limit {
            return Err(format!(
                "{} bytes is over the limit of {limit} bytes",
                meta.len
            ));
        }
        if meta.len == 0 {
            return Err("the file is empty".to_string());
        }
        Ok(())
    }

    /// Spools the claimed file as a job owned by the file's owner.
    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &self,
        file: File,
        meta: &EntryStat,
        claimed: Place<'_>,
        claim: &CStr,
        token: &str,
        name: &str,
        printer: Option<&str>,
    ) {
        let owner = identity::user_name(meta.uid).unwrap_or_else(|| format!("uid{}", meta.uid));
        let new = NewJob {
            printer: printer
                .map(str::to_string)
                .unwrap_or_else(|| self.spooler.default_printer()),
            owner: sanitize(&owner, 255),
            name: sanitize(name, 255),
            origin: Origin::DropDir,
            // The kernel says who owns the file.
            identity: Assurance::Verified,
            ticket: JobTicket::default(),
            tcp_peer: None,
        };
        match self.spool(file, new, token).await {
            Ok(id) => {
                tracing::info!(file = %name, job = id, "dropped file taken as a job");
                if let Err(e) = rustix::fs::unlinkat(claimed.dir, claim, AtFlags::empty()) {
                    tracing::warn!(claim = %shown(claim), "job {id} is spooled but the claim could not be removed: {e}");
                }
            }
            Err(SubmitError::Refused(why)) => self.reject_as(claimed, claim, name, &why),
            Err(SubmitError::Retry(why)) => {
                // Spool trouble (disk full): the claim stays and is retried.
                tracing::error!(file = %name, "could not spool the file, will retry: {why}");
            }
        }
    }

    async fn spool(&self, file: File, new: NewJob, token: &str) -> Result<u32, SubmitError> {
        let mut staging = self
            .spooler
            .stage_document()
            .await
            .map_err(SubmitError::from_core)?;
        let mut reader = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| SubmitError::Refused(format!("unreadable: {e}")))?;
            if n == 0 {
                break;
            }
            staging
                .write(&buf[..n])
                .await
                .map_err(|e| SubmitError::from_core(e.into()))?;
        }
        let staged = staging
            .finish()
            .await
            .map_err(|e| SubmitError::from_core(e.into()))?;
        let job = self
            .spooler
            .submit_claimed(new, staged, token.to_string())
            .await
            .map_err(SubmitError::from_core)?;
        Ok(job.id)
    }

    /// After a crash: claims already spooled are deleted, the rest spooled.
    async fn finish_claims(&self) {
        let claimed = self.dirs.claimed.as_fd();
        for dir_name in list(claimed) {
            let Ok(dir) = open_dir_at(claimed, &dir_name) else {
                continue;
            };
            let printer = match dir_name.to_str() {
                Ok(DEFAULT_CLAIMS) => None,
                Ok(name) => Some(name.to_string()),
                Err(_) => continue,
            };
            for claim in list(dir.as_fd()) {
                self.finish_claim(dir.as_fd(), &claim, printer.as_deref())
                    .await;
            }
        }
    }

    async fn finish_claim(&self, dir: BorrowedFd<'_>, claim: &CStr, printer: Option<&str>) {
        let place = Place { dir, prefix: "" };
        let Some((token, name)) = claim.to_str().ok().and_then(|c| c.split_once('.')) else {
            return;
        };
        if self.spooler.has_claim(token) {
            let _ = rustix::fs::unlinkat(dir, claim, AtFlags::empty());
            return;
        }
        let file = match open_no_follow(dir, claim) {
            Ok(file) => file,
            Err(OpenError::Gone) => return,
            Err(OpenError::Refused(why)) => return self.reject_as(place, claim, name, &why),
        };
        let Ok(meta) = rustix::fs::fstat(&file).map(|s| EntryStat::of(&s)) else {
            return;
        };
        if !token_names(token, &meta) {
            // The empty file a claim is renamed over (see
            // `move_non_directory`), left by a crash before the rename:
            // the dropped file itself is still in incoming/.
            if meta.kind == FileType::RegularFile && meta.len == 0 {
                let _ = rustix::fs::unlinkat(dir, claim, AtFlags::empty());
            } else {
                self.reject_as(place, claim, name, "does not match its claim");
            }
            return;
        }
        self.submit(file, &meta, place, claim, token, name, printer)
            .await;
    }

    /// Moves the entry `name` in `place` to `rejected/` with a `.reason`
    /// file, and logs it.
    fn reject(&self, place: Place<'_>, name: &CStr, why: &str) {
        let shown_name = format!("{}{}", place.prefix, shown(name));
        self.reject_as(place, name, &shown_name, why);
    }

    /// [`DropDirScanner::reject`], naming the entry `shown_name` in the log and
    /// the reason file.
    fn reject_as(&self, place: Place<'_>, name: &CStr, shown_name: &str, why: &str) {
        let rejected = self.dirs.rejected.as_fd();
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let base = format!("{stamp}-{}", kept_name(name));
        let why = sanitize(why, 4096);
        for attempt in 0..8u32 {
            let target = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}.{attempt}")
            };
            let Some(c_target) = c_name(&target) else {
                return;
            };
            match move_non_directory(place.dir, name, rejected, &c_target) {
                Ok(()) => {
                    let _ = write_reason(rejected, &target, shown_name, &why);
                    let moved_to = format!(
                        "{}/{}",
                        self.layout.rejected.display(),
                        sanitize(&target, 255)
                    );
                    tracing::warn!(file = %shown_name, moved_to = %moved_to, "rejected dropped file: {why}");
                    return;
                }
                Err(MoveError::TargetExists) => continue,
                Err(MoveError::Gone) => return,
                Err(MoveError::BecameDirectory) => {
                    tracing::warn!(file = %shown_name, "rejected ({why}), but it is a directory now; left for the next scan");
                    return;
                }
                Err(MoveError::Other(e)) => {
                    tracing::error!(file = %shown_name, "rejected ({why}) but could not move it to {}: {e}", self.layout.rejected.display());
                    return;
                }
            }
        }
    }
}

/// Why an entry that is not a regular file is not taken.
fn not_taken(meta: &EntryStat) -> String {
    match meta.kind {
        FileType::Symlink => "symbolic links are not taken; drop the file itself".to_string(),
        _ => format!("not a regular file ({})", meta.describe()),
    }
}

/// Whether `token` (`DEV-INO-...`) names the inode `meta` describes.
fn token_names(token: &str, meta: &EntryStat) -> bool {
    let mut parts = token.splitn(3, '-');
    let dev = parts.next().and_then(|d| d.parse::<u64>().ok());
    let ino = parts.next().and_then(|i| i.parse::<u64>().ok());
    dev == Some(meta.dev) && ino == Some(meta.ino)
}

enum SubmitError {
    /// The file cannot become a job: reject it.
    Refused(String),
    /// The spooler cannot take it now: keep the claim, retry later.
    Retry(String),
}

impl SubmitError {
    fn from_core(e: CoreError) -> SubmitError {
        match e {
            CoreError::UnknownPrinter(_)
            | CoreError::TooLarge { .. }
            | CoreError::NotAcceptingJobs(_)
            | CoreError::TooManyJobs { .. } => SubmitError::Refused(e.to_string()),
            CoreError::Spool(crate::spool::SpoolError::TooLarge { limit }) => {
                SubmitError::Refused(format!("over the limit of {limit} bytes"))
            }
            other => SubmitError::Retry(other.to_string()),
        }
    }
}

enum OpenError {
    Gone,
    Refused(String),
}

/// Opens `name` in `dir` for reading, never following a symlink
/// (`O_NOFOLLOW`), never blocking on a FIFO swapped in after the check
/// (`O_NONBLOCK`), never acquiring a terminal (`O_NOCTTY`).
fn open_no_follow(dir: BorrowedFd<'_>, name: &CStr) -> Result<File, OpenError> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    rustix::fs::openat(dir, name, flags, Mode::empty())
        .map(File::from)
        .map_err(|e| match e {
            Errno::NOENT => OpenError::Gone,
            Errno::LOOP => {
                OpenError::Refused("symbolic links are not taken; drop the file itself".to_string())
            }
            Errno::NXIO => OpenError::Refused("not a regular file (a socket)".to_string()),
            Errno::ACCESS => OpenError::Refused(
                "unreadable: permission denied (make the file readable by the printspoold user)"
                    .to_string(),
            ),
            other => OpenError::Refused(format!("unreadable: {other}")),
        })
}

fn write_reason(
    rejected: BorrowedFd<'_>,
    target: &str,
    original: &str,
    why: &str,
) -> std::io::Result<()> {
    let invalid = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let name = c_name(&format!("{target}.reason")).ok_or_else(invalid)?;
    // Written under a dot name and renamed into place, so whoever reads
    // `rejected/` never sees a reason half written.
    let temp = c_name(&format!(".{target}.reason.partial")).ok_or_else(invalid)?;
    let text = format!(
        "file: {}\nreason: {}\n",
        sanitize(original, 4096),
        sanitize(why, 4096)
    );
    let written = create_new(rejected, &temp)
        .map_err(std::io::Error::from)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| rustix::fs::renameat(rejected, &temp, rejected, &name).map_err(Into::into));
    if written.is_err() {
        let _ = rustix::fs::unlinkat(rejected, &temp, AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn dir_fd(path: &Path) -> OwnedFd {
        rustix::fs::open(path, dir_flags(), Mode::empty()).unwrap()
    }

    fn c(text: &str) -> CString {
        CString::new(text).unwrap()
    }

    #[test]
    fn a_directory_is_never_moved_and_a_symlink_moves_as_itself() {
        let dir = TempDir::new("dropdir-move");
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir_all(from.join("a-directory")).unwrap();
        std::fs::create_dir(&to).unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"stays").unwrap();
        std::os::unix::fs::symlink(&target, from.join("a-link")).unwrap();
        let (from_fd, to_fd) = (dir_fd(&from), dir_fd(&to));

        let moved = move_non_directory(from_fd.as_fd(), &c("a-directory"), to_fd.as_fd(), &c("x"));
        assert!(
            matches!(moved, Err(MoveError::BecameDirectory)),
            "{moved:?}"
        );
        assert!(from.join("a-directory").is_dir());
        assert!(
            std::fs::symlink_metadata(to.join("x")).is_err(),
            "placeholder left"
        );

        move_non_directory(from_fd.as_fd(), &c("a-link"), to_fd.as_fd(), &c("y")).unwrap();
        assert!(
            std::fs::symlink_metadata(to.join("y"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"stays");
        assert!(std::fs::symlink_metadata(&target).unwrap().is_file());

        let gone = move_non_directory(from_fd.as_fd(), &c("a-link"), to_fd.as_fd(), &c("z"));
        assert!(matches!(gone, Err(MoveError::Gone)), "{gone:?}");
    }

    #[test]
    fn a_claim_token_names_its_inode_only() {
        let meta = |dev, ino| EntryStat {
            kind: FileType::RegularFile,
            dev,
            ino,
            mode: 0o100644,
            nlink: 1,
            uid: 0,
            len: 1,
            mtime: 0,
            ctime: 0,
            ctime_nsec: 0,
        };
        assert!(token_names("64768-1234-1700000000-5", &meta(64768, 1234)));
        assert!(!token_names("64768-1234-1700000000-5", &meta(64768, 1235)));
        assert!(!token_names("garbage", &meta(64768, 1234)));
    }

    #[test]
    fn kept_names_are_bounded_and_free_of_control_characters() {
        let long = c(&format!("a\n<0>b{}", "é".repeat(200)));
        let kept = kept_name(&long);
        assert!(kept.len() <= NAME_BYTES_KEPT);
        assert!(!kept.chars().any(char::is_control));
        assert!(kept.contains("<0>b"));
    }
}
