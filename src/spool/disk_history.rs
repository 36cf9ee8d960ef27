//! The spool's on-disk history ([`DiskHistory`]): finished jobs seen from
//! outside the daemon, what `printspoold cleanup` reads and purges (daemon(7) "Timer-Based Activation": a timer starts
//! the clean-up as its own short-lived service).
//!
//! Cleanup is safe while the daemon runs because of three facts:
//! - a record in a final state (completed, canceled, aborted) is never
//!   written again by the daemon, so deleting one races with nothing;
//! - every file being written lives in `tmp/` or, for a moment, as a
//!   document in `jobs/` before its record: only such files older than
//!   [`STRAY_AFTER`] count as stray;
//! - `cleanup.lock` keeps two clean-ups from running at once, and ids are
//!   never reused: `next-id` is written past every purged id first.
//!
//! The running daemon notices purged records (see
//! [`Spool::forget_if_purged`](super::Spool::forget_if_purged)) and drops
//! them from its history.
//!
//! Every path here is built from a job id parsed from a file name, never
//! from anything a client sent. Records are opened with `O_NOFOLLOW |
//! O_NONBLOCK` and read only if regular (a FIFO in `jobs/` must not hang
//! the timer's service), and only regular files are ever removed: anything
//! else is recovery's to quarantine.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use super::layout::{JobFile, SpoolLayout, decode_record};
use super::lock::SpoolLock;
use super::recover::{read_next_id, read_small_file};
use super::{SpoolError, persist_next_id, sync_dir};

/// Files in `tmp/`, and documents without a record, older than this are
/// left-overs (a slow upload refreshes its temp file's time as it writes).
pub const STRAY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// One readable record.
#[derive(Debug, Clone)]
pub struct HistoryRecord {
    pub id: u32,
    /// The core's record (opaque here).
    pub meta: Vec<u8>,
    /// Record plus document, on disk.
    pub bytes: u64,
}

/// The spool's finished jobs on disk, opened for cleanup.
#[derive(Debug)]
pub struct DiskHistory {
    layout: SpoolLayout,
    _lock: SpoolLock,
}

impl DiskHistory {
    /// Opens `dir` for cleanup; fails with [`SpoolError::Locked`] when another cleanup
    /// holds `cleanup.lock`.
    pub fn open(dir: &Path) -> Result<DiskHistory, SpoolError> {
        let layout = SpoolLayout::new(dir);
        let lock = SpoolLock::acquire(&dir.join("cleanup.lock"))?;
        Ok(DiskHistory {
            layout,
            _lock: lock,
        })
    }

    /// Whether a daemon holds the spool now (tries its lock, then lets go).
    pub fn daemon_running(&self) -> bool {
        matches!(
            SpoolLock::acquire(&self.layout.lock_file()),
            Err(SpoolError::Locked { .. })
        )
    }

    /// Every record that decodes, in id order. Unreadable ones are the
    /// daemon's recovery's business, not cleanup's.
    pub fn records(&self) -> Result<Vec<HistoryRecord>, SpoolError> {
        let mut records = Vec::new();
        for id in self.job_ids()?.0 {
            let path = self.layout.record(id);
            let Ok(bytes) = read_small_file(&path) else {
                continue;
            };
            let Ok(record) = decode_record(&bytes) else {
                continue;
            };
            let document = record.document.as_ref().map_or(0, |d| d.len);
            records.push(HistoryRecord {
                id,
                meta: record.meta,
                bytes: bytes.len() as u64 + document,
            });
        }
        Ok(records)
    }

    /// Deletes the jobs `ids` (record first, then document), after making
    /// sure `next-id` is past all of them so no id is handed out twice.
    pub fn purge(&self, ids: &[u32]) -> Result<(), SpoolError> {
        let Some(&highest) = ids.iter().max() else {
            return Ok(());
        };
        let next = highest.saturating_add(1);
        if read_next_id(&self.layout.next_id_file()).is_none_or(|current| current < next) {
            let temp = self
                .layout
                .tmp
                .join(format!("next-id-cleanup-{}", std::process::id()));
            persist_next_id(&self.layout, &temp, next)?;
        }
        for &id in ids {
            remove_regular_file(&self.layout.record(id))?;
            remove_regular_file(&self.layout.document(id))?;
        }
        sync_dir(&self.layout.jobs)
    }

    /// Removes documents without a record and temp files, older than `age`.
    /// Returns how many files and bytes went.
    pub fn remove_strays(&self, age: Duration) -> Result<(usize, u64), SpoolError> {
        let (records, documents) = self.job_ids()?;
        let mut removed = (0, 0);
        let orphans = documents
            .difference(&records)
            .map(|&id| self.layout.document(id));
        let temps: Vec<_> = fs::read_dir(&self.layout.tmp)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for path in orphans.chain(temps) {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age);
            if old && meta.is_file() {
                remove_regular_file(&path)?;
                removed.0 += 1;
                removed.1 += meta.len();
            }
        }
        Ok(removed)
    }

    fn job_ids(&self) -> Result<(BTreeSet<u32>, BTreeSet<u32>), SpoolError> {
        let mut records = BTreeSet::new();
        let mut documents = BTreeSet::new();
        let entries = match fs::read_dir(&self.layout.jobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((records, documents)),
            Err(e) => return Err(SpoolError::io("list", &self.layout.jobs, e)),
        };
        for entry in entries.flatten() {
            match JobFile::classify(&entry.file_name()) {
                Some(JobFile::Record(id)) => {
                    records.insert(id);
                }
                Some(JobFile::Document(id)) => {
                    documents.insert(id);
                }
                None => {}
            }
        }
        Ok((records, documents))
    }
}

/// Removes `path` if it is a regular file; anything else (a directory, a
/// FIFO, a symlink) is left for recovery's `corrupt/`, with a warning.
/// Between the check and the unlink only the daemon writes `jobs/`, and
/// unlink never follows a symlink nor removes a directory.
fn remove_regular_file(path: &Path) -> Result<(), SpoolError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io("stat", path, e)),
        Ok(meta) if !meta.is_file() => {
            tracing::warn!("cleanup: leaving {}: not a regular file", path.display());
            Ok(())
        }
        Ok(_) => match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(SpoolError::io("remove", path, e))
            }
            _ => Ok(()),
        },
    }
}
