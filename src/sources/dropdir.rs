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
//!    system, atomic), where TOKEN names the inode;
//! 3. submit it; the job record carries TOKEN and is durable on return;
//! 4. delete the claim.
//!
//! After a crash, a claim whose TOKEN a job already carries was submitted
//! (step 3 done, 4 not): it is deleted; any other claim is submitted. The
//! directory is always left empty (taken or rejected), so the path unit
//! never loops into `unit-start-limit-hit`.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::core::{CoreError, JobTicket, NewJob, Origin, Spooler};
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

#[derive(Debug, thiserror::Error)]
pub enum DropDirError {
    #[error("drop directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot watch drop directory {path}: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Where the drop directory and its siblings are.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Where users drop files.
    pub incoming: PathBuf,
    /// Files that could not be taken, each with a `.reason` file.
    pub rejected: PathBuf,
    /// Files being taken (see the module documentation).
    pub claimed: PathBuf,
}

impl Layout {
    /// `rejected/` and `claimed/` sit beside `incoming`, on the same file
    /// system, so moving a file there is an atomic rename.
    pub fn beside(incoming: &Path) -> Layout {
        let parent = incoming.parent().unwrap_or(Path::new("/"));
        Layout {
            incoming: incoming.to_path_buf(),
            rejected: parent.join("rejected"),
            claimed: parent.join("claimed"),
        }
    }
}

/// The running drop-directory source.
pub struct DropDir {
    layout: Layout,
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl DropDir {
    /// Creates the directories if needed, finishes claims left by a crash,
    /// drains what arrived while the daemon was down, and starts watching.
    pub async fn start(layout: Layout, spooler: Spooler) -> Result<DropDir, DropDirError> {
        create_dirs(&layout)?;
        let wake = Arc::new(Notify::new());
        let watcher = watch(&layout.incoming, Arc::clone(&wake))?;
        let supervisor = spooler.supervisor().clone();
        let intake = Intake {
            layout: layout.clone(),
            spooler,
        };
        intake.finish_claims().await;
        intake.scan().await;
        let task = supervisor.spawn("drop-directory scanner", intake.run(wake));
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

fn create_dirs(layout: &Layout) -> Result<(), DropDirError> {
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
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|source| DropDirError::Io {
                path: dir.clone(),
                source,
            })?;
        // DirBuilder's mode passes through the umask; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(mode));
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
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| brings_work(&e.kind)) {
            wake.notify_one();
        }
    })
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
    match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    }
}

/// The scanner: turns files into jobs.
struct Intake {
    layout: Layout,
    spooler: Spooler,
}

/// What one directory entry turned out to be.
enum Entry {
    /// Still being written (a dotfile), or nothing to do.
    Skip,
    /// A printer subdirectory to scan.
    PrinterDir(String),
    /// A candidate file for `printer` (None: default queue).
    File,
    Reject(String),
}

impl Intake {
    async fn run(self, wake: Arc<Notify>) {
        loop {
            let _ = tokio::time::timeout(RESCAN_EVERY, wake.notified()).await;
            self.finish_claims().await;
            self.scan().await;
        }
    }

    /// One pass over the drop directory and its printer subdirectories.
    async fn scan(&self) {
        for (path, name) in list(&self.layout.incoming) {
            match self.classify(&path, &name, true) {
                Entry::Skip => {}
                Entry::Reject(why) => self.reject(&path, &name, &why),
                Entry::File => self.take(&path, &name, None).await,
                Entry::PrinterDir(printer) => {
                    for (inner, inner_name) in list(&path) {
                        match self.classify(&inner, &inner_name, false) {
                            Entry::Skip | Entry::PrinterDir(_) => {}
                            Entry::Reject(why) => self.reject(&inner, &inner_name, &why),
                            Entry::File => self.take(&inner, &inner_name, Some(&printer)).await,
                        }
                    }
                    // Empty now: remove it so the directory can be empty.
                    // rmdir is atomic: a writer's dotfile keeps it alive.
                    let _ = fs::remove_dir(&path);
                }
            }
        }
    }

    fn classify(&self, path: &Path, name: &str, top: bool) -> Entry {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(_) => return Entry::Skip, // gone meanwhile
        };
        if name.starts_with('.') {
            return if is_abandoned(&meta) {
                Entry::Reject(format!(
                    "abandoned: \"{name}\" was not renamed into place within {} minutes",
                    ABANDONED_AFTER.as_secs() / 60
                ))
            } else {
                Entry::Skip
            };
        }
        let kind = meta.file_type();
        if kind.is_symlink() {
            Entry::Reject("symbolic links are not taken; drop the file itself".to_string())
        } else if kind.is_dir() && top {
            if self.spooler.printer(name).is_some() {
                Entry::PrinterDir(name.to_string())
            } else {
                Entry::Reject(format!("no printer named \"{}\"", sanitize(name, 128)))
            }
        } else if kind.is_dir() {
            Entry::Reject("directories inside a printer directory are not taken".to_string())
        } else if !kind.is_file() {
            Entry::Reject(format!("not a regular file ({})", describe_kind(&meta)))
        } else if meta.len() == 0 && !is_older_than(&meta, EMPTY_GRACE) {
            // Probably created in place and not written yet (the protocol
            // says rename into place, but be kind to `echo > file`).
            Entry::Skip
        } else {
            Entry::File
        }
    }

    /// Takes one regular file: open safely, claim, submit, delete the claim.
    async fn take(&self, path: &Path, name: &str, printer: Option<&str>) {
        let file = match open_no_follow(path) {
            Ok(file) => file,
            Err(why) => return self.reject(path, name, &why),
        };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => return self.reject(path, name, &format!("cannot stat: {e}")),
        };
        if let Err(why) = self.check_file(&meta) {
            return self.reject(path, name, &why);
        }
        // The inode and its change time name this file uniquely (an inode
        // number alone is reused once a file is deleted).
        let token = format!(
            "{}-{}-{}-{}",
            meta.dev(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec()
        );
        let claim_dir = self.layout.claimed.join(printer.unwrap_or(DEFAULT_CLAIMS));
        let claim = claim_dir.join(format!("{token}.{name}"));
        if let Err(e) = fs::create_dir_all(&claim_dir).and_then(|_| fs::rename(path, &claim)) {
            tracing::error!(file = %path.display(), "cannot claim the file, leaving it for the next scan: {e}");
            return;
        }
        self.submit(file, &meta, &claim, &token, name, printer)
            .await;
    }

    fn check_file(&self, meta: &fs::Metadata) -> Result<(), String> {
        if !meta.is_file() {
            return Err(format!("not a regular file ({})", describe_kind(meta)));
        }
        if meta.nlink() > 1 {
            // A hard link could name someone else's file.
            return Err("hard-linked files are not taken; drop a copy".to_string());
        }
        let limit = self.spooler.max_document_bytes();
        if meta.len() > limit {
            return Err(format!(
                "{} bytes is over the limit of {limit} bytes",
                meta.len()
            ));
        }
        if meta.len() == 0 {
            return Err("the file is empty".to_string());
        }
        Ok(())
    }

    /// Spools the claimed file as a job owned by the file's owner.
    async fn submit(
        &self,
        file: File,
        meta: &fs::Metadata,
        claim: &Path,
        token: &str,
        name: &str,
        printer: Option<&str>,
    ) {
        let owner = identity::user_name(meta.uid()).unwrap_or_else(|| format!("uid{}", meta.uid()));
        let new = NewJob {
            printer: printer
                .map(str::to_string)
                .unwrap_or_else(|| self.spooler.default_printer()),
            owner: sanitize(&owner, 255),
            name: sanitize(name, 255),
            origin: Origin::DropDir,
            ticket: JobTicket::default(),
        };
        match self.spool(file, new, token).await {
            Ok(id) => {
                tracing::info!(file = %sanitize(name, 255), job = id, "dropped file taken as a job");
                if let Err(e) = fs::remove_file(claim) {
                    tracing::warn!(file = %claim.display(), "job {id} is spooled but the claim could not be removed: {e}");
                }
            }
            Err(SubmitError::Refused(why)) => self.reject(claim, name, &why),
            Err(SubmitError::Retry(why)) => {
                // Spool trouble (disk full): the claim stays and is retried.
                tracing::error!(file = %sanitize(name, 255), "could not spool the file, will retry: {why}");
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
        for (dir, dir_name) in list(&self.layout.claimed) {
            let printer = (dir_name != DEFAULT_CLAIMS).then_some(dir_name.as_str());
            for (claim, claim_name) in list(&dir) {
                let Some((token, name)) = claim_name.split_once('.') else {
                    continue;
                };
                if self.spooler.has_claim(token) {
                    let _ = fs::remove_file(&claim);
                    continue;
                }
                let file = match open_no_follow(&claim) {
                    Ok(file) => file,
                    Err(why) => {
                        self.reject(&claim, name, &why);
                        continue;
                    }
                };
                let Ok(meta) = file.metadata() else { continue };
                self.submit(file, &meta, &claim, token, name, printer).await;
            }
        }
    }

    /// Moves `path` to `rejected/` with a `.reason` file and logs it.
    fn reject(&self, path: &Path, name: &str, why: &str) {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let safe = sanitize(name, 200).replace('/', "_");
        let target = self.layout.rejected.join(format!("{stamp}-{safe}"));
        match fs::rename(path, &target) {
            Ok(()) => {
                let reason = self.layout.rejected.join(format!("{stamp}-{safe}.reason"));
                let _ = write_reason(&reason, path, why);
                tracing::warn!(file = %path.display(), moved_to = %target.display(), "rejected dropped file: {why}");
            }
            Err(e) => {
                tracing::error!(file = %path.display(), "rejected ({why}) but could not move it to {}: {e}", self.layout.rejected.display());
            }
        }
    }
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
            | CoreError::NotAcceptingJobs(_) => SubmitError::Refused(e.to_string()),
            CoreError::Spool(crate::spool::SpoolError::TooLarge { limit }) => {
                SubmitError::Refused(format!("over the limit of {limit} bytes"))
            }
            other => SubmitError::Retry(other.to_string()),
        }
    }
}

fn open_no_follow(path: &Path) -> Result<File, String> {
    // O_NONBLOCK: a FIFO swapped in after the check must not hang us.
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "symbolic links are not taken; drop the file itself".to_string(),
            Some(libc::EACCES) => {
                "unreadable: permission denied (make the file readable by the printspoold user)"
                    .to_string()
            }
            _ => format!("unreadable: {e}"),
        })
}

fn is_abandoned(meta: &fs::Metadata) -> bool {
    is_older_than(meta, ABANDONED_AFTER)
}

fn is_older_than(meta: &fs::Metadata, age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|elapsed| elapsed > age)
}

fn describe_kind(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Entries of `dir` with names that are valid UTF-8 (others cannot name a
/// job or a printer; they are listed with a lossy name and rejected).
fn list(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut list: Vec<(PathBuf, String)> = entries
        .flatten()
        .map(|e| (e.path(), lossy_name(&e.file_name())))
        .collect();
    // Oldest-looking first is not knowable cheaply; name order is stable.
    list.sort_by(|a, b| a.1.cmp(&b.1));
    list
}

fn lossy_name(name: &OsStr) -> String {
    String::from_utf8_lossy(name.as_bytes()).into_owned()
}

fn write_reason(reason: &Path, original: &Path, why: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(reason)?;
    writeln!(
        file,
        "file: {}",
        sanitize(&original.to_string_lossy(), 4096)
    )?;
    writeln!(file, "reason: {}", sanitize(why, 4096))?;
    Ok(())
}
