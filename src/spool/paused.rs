//! Which queues an administrator paused, so that Pause-Printer survives a
//! restart: `dir/paused-printers`, one queue name a line.
//!
//! The file is replaced whole like every spool file (temp, fdatasync,
//! rename, `fsync(dir)`), so a crash shows the old list or the new one.
//! Pause-Printer is answered only once the new list is on disk: a pause
//! acknowledged and then lost would print the backlog the administrator
//! meant to hold. A queue that leaves the configuration keeps its line, so
//! it comes back paused.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::SpoolError;
use super::error::IoContext;
use super::staging::{TempFile, write_new_file_synced};
use super::sync_dir;

/// The paused queues, in memory and on disk.
#[derive(Debug)]
pub(crate) struct PausedPrinters {
    path: PathBuf,
    /// Held across the write, so two changes reach the disk in the order
    /// they reach memory.
    names: Mutex<BTreeSet<String>>,
}

impl PausedPrinters {
    /// Reads `path`; a missing file means no queue is paused.
    pub fn load(path: &Path) -> Result<PausedPrinters, SpoolError> {
        let names = match read_list(path)? {
            Some(text) => text
                .lines()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect(),
            None => BTreeSet::new(),
        };
        Ok(PausedPrinters {
            path: path.to_path_buf(),
            names: Mutex::new(names),
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains(name)
    }

    /// Records `name` as paused or not, durably, then runs `apply` (the
    /// in-memory change) before the next change can start. When the disk
    /// write fails, nothing changes and `apply` does not run.
    pub fn set(
        &self,
        name: &str,
        paused: bool,
        temp: PathBuf,
        apply: impl FnOnce(),
    ) -> Result<(), SpoolError> {
        let mut names = self.lock();
        let mut next = names.clone();
        let changed = if paused {
            next.insert(name.to_string())
        } else {
            next.remove(name)
        };
        if changed {
            self.write(&next, temp)?;
            *names = next;
        }
        apply();
        Ok(())
    }

    fn write(&self, names: &BTreeSet<String>, temp: PathBuf) -> Result<(), SpoolError> {
        let mut text = String::new();
        for name in names {
            text.push_str(name);
            text.push('\n');
        }
        let temp = TempFile::new(temp);
        write_new_file_synced(temp.path(), text.as_bytes())?;
        std::fs::rename(temp.path(), &self.path).context("move the paused list to", &self.path)?;
        temp.disarm();
        sync_dir(super::parent_dir(&self.path))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        match self.names.lock() {
            Ok(names) => names,
            Err(_) => crate::supervisor::abort_on_poisoned_lock("the paused-printers list"),
        }
    }
}

/// The file's text, `None` when there is none. Opened without following a
/// symbolic link and without blocking (a FIFO would hang start-up), and
/// only read when it is a regular file.
fn read_list(path: &Path) -> Result<Option<String>, SpoolError> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SpoolError::io("open", path, e)),
    };
    let meta = file.metadata().context("stat", path)?;
    if !meta.is_file() {
        return Err(SpoolError::Corrupt {
            path: path.to_path_buf(),
            reason: "not a regular file".to_string(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).context("read", path)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn changes_survive_a_reload_and_apply_runs_after_the_write() {
        let dir = TempDir::new("paused");
        let path = dir.path().join("paused-printers");
        let paused = PausedPrinters::load(&path).unwrap();
        assert!(!paused.contains("office"));

        let mut applied = false;
        paused
            .set("office", true, dir.path().join("t1"), || {
                applied = path.exists()
            })
            .unwrap();
        assert!(applied, "apply ran before the file was written");
        paused
            .set("lab", true, dir.path().join("t2"), || {})
            .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "lab\noffice\n");

        let again = PausedPrinters::load(&path).unwrap();
        assert!(again.contains("office") && again.contains("lab"));
        again
            .set("office", false, dir.path().join("t3"), || {})
            .unwrap();
        assert!(!PausedPrinters::load(&path).unwrap().contains("office"));
        assert!(!dir.path().join("t3").exists(), "temp file left behind");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = TempDir::new("paused-fifo");
        let path = dir.path().join("paused-printers");
        crate::test_support::mkfifo(&path);
        let error = PausedPrinters::load(&path).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = TempDir::new("paused-fail");
        let path = dir.path().join("paused-printers");
        let paused = PausedPrinters::load(&path).unwrap();
        let mut applied = false;
        let missing = dir.path().join("no-such-dir/temp");
        assert!(
            paused
                .set("office", true, missing, || applied = true)
                .is_err()
        );
        assert!(!applied);
        assert!(!paused.contains("office"));
    }
}
