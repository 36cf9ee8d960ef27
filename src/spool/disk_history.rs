//! The spool's on-disk history ([`DiskHistory`]): finished jobs seen from
//! outside the daemon, what `printspoold cleanup` reads and purges
//! (daemon(7) "Timer-Based Activation": a timer starts the clean-up as its
//! own short-lived service).
//!
//! Cleanup reads the history segments only ([`HistoryStore`]), never the
//! journal: the live jobs are the daemon's alone. It is safe while the
//! daemon runs because:
//! - the daemon never changes a sealed segment: it only reads them and
//!   creates new ones under new names. Cleanup replaces a segment by a
//!   rewritten copy (temp, fdatasync, `rename(2)` over the same name: a
//!   reader sees the old file or the new one, both whole) or unlinks it;
//! - a job in history is finished: nothing prints it or writes it again,
//!   so its `docs/<id>.doc` can go once no segment names it;
//! - `cleanup.lock` keeps two clean-ups from running at once;
//! - ids are never reused: the segment with the highest `last` is never
//!   unlinked, only rewritten (empty if need be), so the next id the
//!   daemon computes from segment names cannot go down.
//!
//! # Purging, crash-safely
//!
//! 1. The ids to purge are written to `cleanup-purge` (temp, fdatasync,
//!    rename, fsync of the spool directory): the decision is durable.
//! 2. Each segment holding some of them is rewritten without them, or
//!    unlinked when nothing is left; then `fsync(history/)`.
//! 3. Their `docs/<id>.doc` are unlinked; `fsync(docs/)`.
//! 4. `cleanup-purge` is removed.
//!
//! A crash anywhere leaves `cleanup-purge`, and the next run finishes it
//! first ([`DiskHistory::finish_interrupted_purge`]): no document is left
//! behind that nothing names, and none is unlinked while a segment still
//! names it (a document is unlinked only once no segment holds its id).
//!
//! # Stray files
//!
//! Files in `tmp/` older than [`STRAY_AFTER`] (a slow upload refreshes
//! its temp file's time as it writes). A file in `docs/` is never judged
//! a stray by cleanup on its own: the documents of live jobs are named
//! only in the journal, which cleanup does not read, so "no history entry
//! names it" does not mean "nobody does". A held job can sit in the queue
//! for weeks with its document in `docs/`. Only documents of jobs cleanup
//! itself purged (this run, or an interrupted one through
//! `cleanup-purge`) are removed; a document no live job and no history
//! entry names is the daemon's to remove at start, where it knows the
//! live set.
//!
//! Every path here is built from a job id parsed from a file name or a
//! segment, never from anything a client sent, and only regular files are
//! ever removed: anything else is left for a human, with a warning.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::IoContext;
use super::history::{HistoryStore, OnDamage, RewriteError};
use super::lock::SpoolLock;
use super::{SpoolError, sync_dir};

/// Files in `tmp/` older than this are left-overs.
pub const STRAY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The durable list of ids a purge is removing (see the module doc).
const PURGE_INTENT: &str = "cleanup-purge";

/// One finished job in history.
#[derive(Debug, Clone)]
pub struct HistoryRecord {
    pub id: u32,
    /// The core's record (opaque here).
    pub meta: Vec<u8>,
    /// What purging it frees: its entry in its segment plus its document
    /// (inline in the entry, or `docs/<id>.doc`).
    pub bytes: u64,
}

/// What [`DiskHistory::purge`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Ids no longer in any segment.
    pub purged: usize,
    /// Segments rewritten or unlinked.
    pub segments_changed: usize,
    /// Segments that failed a check and were left as they are (their
    /// jobs stay, documents included).
    pub segments_damaged: usize,
}

/// The spool's finished jobs on disk, opened for cleanup.
#[derive(Debug)]
pub struct DiskHistory {
    root: PathBuf,
    docs: PathBuf,
    tmp: PathBuf,
    store: HistoryStore,
    serial: std::sync::atomic::AtomicU64,
    _lock: SpoolLock,
}

impl DiskHistory {
    /// Opens `dir` for cleanup; fails with [`SpoolError::Locked`] when
    /// another cleanup holds `cleanup.lock`.
    pub fn open(dir: &Path) -> Result<DiskHistory, SpoolError> {
        let lock = SpoolLock::acquire(&dir.join("cleanup.lock"))?;
        // Damaged segments are reported, not moved: the daemon owns
        // `corrupt/` and may be running.
        let store = HistoryStore::open(dir, OnDamage::Report)?;
        Ok(DiskHistory {
            root: dir.to_path_buf(),
            docs: dir.join("docs"),
            tmp: dir.join("tmp"),
            store,
            serial: std::sync::atomic::AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Whether a daemon holds the spool now (tries its lock, then lets go).
    pub fn daemon_running(&self) -> bool {
        matches!(
            SpoolLock::acquire(&self.root.join("lock")),
            Err(SpoolError::Locked { .. })
        )
    }

    /// Finishes a purge a previous run was cut short in (the ids in
    /// `cleanup-purge`). Returns how many ids it named.
    pub fn finish_interrupted_purge(&self) -> Result<usize, SpoolError> {
        let path = self.root.join(PURGE_INTENT);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(SpoolError::io("read", &path, e)),
        };
        // Written whole and renamed: a line that does not parse is not ours.
        let ids: BTreeSet<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
        tracing::info!(
            "cleanup: finishing an interrupted purge of {} jobs",
            ids.len()
        );
        self.purge_listed(&ids, &mut |_| {})?;
        Ok(ids.len())
    }

    /// Visits every finished job in history (streaming), and returns the
    /// spool's size as the size cap counts it: history segments plus
    /// `docs/` (the documents of live and finished jobs kept as files).
    /// The journal is not counted: its segments have a fixed size, and
    /// cleanup cannot shrink them. Damaged segments are skipped (reported).
    pub fn records(&self, mut visit: impl FnMut(&HistoryRecord)) -> Result<u64, SpoolError> {
        self.store.scan(|_, entry| {
            let document = match &entry.document {
                super::history::HistoryDocument::File(info) => info.len,
                _ => 0,
            };
            visit(&HistoryRecord {
                id: entry.id,
                meta: entry.meta.clone(),
                bytes: entry.stored_bytes + document,
            });
        })?;
        Ok(regular_files_bytes(self.store.dir())? + regular_files_bytes(&self.docs)?)
    }

    /// Purges the jobs `ids` from history and their documents (see the
    /// module doc for the order); `on_purged` sees each purged job.
    pub fn purge(
        &self,
        ids: &BTreeSet<u32>,
        mut on_purged: impl FnMut(&HistoryRecord),
    ) -> Result<PurgeOutcome, SpoolError> {
        if ids.is_empty() {
            return Ok(PurgeOutcome::default());
        }
        self.write_intent(ids)?;
        self.purge_listed(ids, &mut on_purged)
    }

    fn purge_listed(
        &self,
        ids: &BTreeSet<u32>,
        on_purged: &mut dyn FnMut(&HistoryRecord),
    ) -> Result<PurgeOutcome, SpoolError> {
        let mut outcome = PurgeOutcome::default();
        let names = self.store.segment_names()?;
        let highest_last = names.iter().map(|n| n.last).max();
        let mut dropped_ids = BTreeSet::new();
        for name in &names {
            if ids.range(name.first..=name.last).next().is_none() {
                continue;
            }
            let keep_if_empty = Some(name.last) == highest_last;
            match self
                .store
                .rewrite_without(name, |id| ids.contains(&id), keep_if_empty)
            {
                Ok(dropped) => {
                    if !dropped.is_empty() {
                        outcome.segments_changed += 1;
                    }
                    for entry in dropped {
                        dropped_ids.insert(entry.id);
                        on_purged(&HistoryRecord {
                            id: entry.id,
                            meta: entry.meta,
                            bytes: entry.stored_bytes,
                        });
                    }
                }
                Err(RewriteError::Damaged { .. }) => outcome.segments_damaged += 1,
                Err(RewriteError::Spool(e)) if is_not_found(&e) => {}
                Err(RewriteError::Spool(e)) => return Err(e),
            }
        }
        sync_dir(self.store.dir())?;
        // Ids not dropped now were dropped by an interrupted run, or are
        // held by a damaged segment: their document goes only if no
        // segment holds them.
        let mut gone = dropped_ids;
        for &id in ids {
            if !gone.contains(&id) && !self.store.contains(id)? {
                gone.insert(id);
            }
        }
        for &id in &gone {
            remove_regular_file(&self.docs.join(format!("{id}.doc")))?;
        }
        if self.docs.is_dir() {
            sync_dir(&self.docs)?;
        }
        outcome.purged = gone.len();
        remove_regular_file(&self.root.join(PURGE_INTENT))?;
        Ok(outcome)
    }

    /// Unlinks the empty segments a purge kept because each was the
    /// highest then, except the highest now. Returns how many went.
    pub fn remove_empty_segments(&self) -> Result<usize, SpoolError> {
        let names = self.store.segment_names()?;
        let highest_last = names.iter().map(|n| n.last).max();
        let mut removed = 0;
        for name in names.iter().filter(|n| Some(n.last) != highest_last) {
            if self.store.remove_if_empty(name)? {
                removed += 1;
            }
        }
        if removed > 0 {
            sync_dir(self.store.dir())?;
        }
        Ok(removed)
    }

    fn write_intent(&self, ids: &BTreeSet<u32>) -> Result<(), SpoolError> {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = self
            .tmp
            .join(format!("cleanup-purge-{}-{serial}", std::process::id()));
        let mut text = String::with_capacity(ids.len() * 8);
        for id in ids {
            text.push_str(&id.to_string());
            text.push('\n');
        }
        let written = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })();
        let target = self.root.join(PURGE_INTENT);
        let result = written
            .context("write", &temp)
            .and_then(|()| fs::rename(&temp, &target).context("move to", &target));
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        sync_dir(&self.root)
    }

    /// Removes files in `tmp/` older than `age`. Returns how many files
    /// and bytes went.
    pub fn remove_strays(&self, age: Duration) -> Result<(usize, u64), SpoolError> {
        let mut removed = (0, 0);
        let temps: Vec<_> = fs::read_dir(&self.tmp)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for path in temps {
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
}

fn is_not_found(e: &SpoolError) -> bool {
    matches!(e, SpoolError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// The bytes of the regular files directly in `dir` (0 if it is missing).
fn regular_files_bytes(dir: &Path) -> Result<u64, SpoolError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(SpoolError::io("list", dir, e)),
    };
    Ok(entries
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum())
}

/// Removes `path` if it is a regular file; anything else (a directory, a
/// FIFO, a symlink) is left for a human, with a warning. Unlink never
/// follows a symlink nor removes a directory.
fn remove_regular_file(path: &Path) -> Result<(), SpoolError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io("stat", path, e)),
        Ok(meta) if !meta.is_file() => {
            tracing::warn!("cleanup: leaving {}: not a regular file", path.display());
            Ok(())
        }
        Ok(_) => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SpoolError::io("remove", path, e)),
            _ => Ok(()),
        },
    }
}
