//! Migration from spool layout 1 (`jobs/<id>.job` + `jobs/<id>.doc`, see
//! [`layout`](super::layout)) to layout 2 (journal, `docs/`, `history/`).
//!
//! The spool's `open` drives it, in this order:
//! 1. [`read_v1`]: puts back any document an interrupted migration had
//!    already moved to `docs/`, runs layout 1's own recovery
//!    ([`recover`](super::recover), unchanged: temp files and orphan
//!    documents removed, untrustworthy records to `corrupt/`), and hands
//!    every surviving job to the caller, one at a time, with the next id.
//! 2. The caller writes each job into layout 2: unfinished ones appended
//!    to the journal, finished ones sealed into history; a document is
//!    either read (to go inline) or renamed from `jobs/<id>.doc` to
//!    `docs/<id>.doc`. Then it syncs everything and writes `format`.
//! 3. [`finish_v1`]: removes `jobs/` and `next-id`, only once `format`
//!    says layout 2.
//!
//! A crash before `format` is written leaves layout 1 authoritative: the
//! next start discards `journal/` and `history/` and runs all of it again
//! (step 1 finds the documents already moved). A crash after it leaves
//! only garbage for [`finish_v1`] to remove.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::IoContext;
use super::layout::{JobFile, SpoolLayout};
use super::{DocumentInfo, SpoolError, sync_dir};

/// What `dir/format` holds once a spool is in layout 2.
pub const FORMAT_V2: &str = "printspoold spool 2\n";

/// Ids count up to the largest IPP `integer` and then wrap to 1 (as the
/// spool hands them out).
const MAX_JOB_ID: u32 = i32::MAX as u32;

/// One job of a layout-1 spool that survived its recovery.
#[derive(Debug, Clone)]
pub struct V1Job {
    pub id: u32,
    /// The core's record, exactly as layout 1 stored it.
    pub meta: Vec<u8>,
    /// `jobs/<id>.doc` and its recorded length and SHA-256; `None` for a
    /// job without a document. Its length was checked; its hash was if it
    /// was among the newest (as at every layout-1 start).
    pub document: Option<(PathBuf, DocumentInfo)>,
}

/// What [`read_v1`] found besides the jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Summary {
    pub jobs: usize,
    /// Records and documents recovery removed or moved to `corrupt/`.
    pub discarded: usize,
    /// Greater than every id the layout-1 spool ever used.
    pub next_id: u32,
}

/// Whether `dir` holds a layout-1 spool not yet (completely) migrated:
/// `jobs/` exists and `format` does not say layout 2.
pub fn is_v1(dir: &Path) -> bool {
    dir.join("jobs").is_dir() && !is_v2(dir)
}

fn is_v2(dir: &Path) -> bool {
    fs::read(dir.join("format")).is_ok_and(|bytes| bytes == FORMAT_V2.as_bytes())
}

/// Runs layout 1's recovery on `dir` and returns what it found with every
/// surviving job, in id order (layout 1's recovery holds them all
/// anyway). The caller holds the spool lock. Blocking.
pub fn read_v1(dir: &Path) -> Result<(V1Summary, Vec<V1Job>), SpoolError> {
    let layout = SpoolLayout::new(dir);
    for sub in [&layout.tmp, &layout.corrupt] {
        if !sub.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .create(sub)
                .context("create directory", sub)?;
        }
    }
    restore_moved_documents(&layout, &dir.join("docs"))?;
    let scan = super::recover::recover(&layout)?;
    let next_id = first_free_id(scan.persisted_next_id, scan.highest_id_seen);
    let summary = V1Summary {
        jobs: scan.survivors.len(),
        discarded: scan.discarded,
        next_id,
    };
    let mut survivors = scan.survivors;
    survivors.sort_unstable_by_key(|s| s.job.id);
    let jobs = survivors
        .into_iter()
        .map(|survivor| {
            let job = survivor.job;
            V1Job {
                id: job.id,
                document: job.document.map(|info| (layout.document(job.id), info)),
                meta: job.meta,
            }
        })
        .collect();
    Ok((summary, jobs))
}

/// An interrupted migration may have renamed `jobs/<id>.doc` to
/// `docs/<id>.doc`: put it back where layout 1's recovery looks, or it
/// would take the job's record for one whose document is missing.
fn restore_moved_documents(layout: &SpoolLayout, docs: &Path) -> Result<(), SpoolError> {
    let entries = match fs::read_dir(docs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SpoolError::io("list", docs, e)),
    };
    let mut moved = 0usize;
    for entry in entries {
        let entry = entry.context("list", docs)?;
        let Some(JobFile::Document(id)) = JobFile::classify(&entry.file_name()) else {
            continue;
        };
        let (record, home) = (layout.record(id), layout.document(id));
        if record.exists() && fs::symlink_metadata(&home).is_err() {
            fs::rename(entry.path(), &home).context("move back to jobs/", &entry.path())?;
            moved += 1;
        }
    }
    if moved > 0 {
        tracing::info!("spool: migration starts again; {moved} documents moved back to jobs/");
        sync_dir(&layout.jobs)?;
    }
    Ok(())
}

/// Removes what is left of layout 1 (`jobs/` and `next-id`) once the
/// spool is in layout 2 (`format` says so; otherwise it refuses, since
/// layout 1 is then still the only durable copy). Blocking.
pub fn finish_v1(dir: &Path) -> Result<(), SpoolError> {
    if !is_v2(dir) {
        return Err(SpoolError::io(
            "finish the migration of",
            dir,
            io::Error::other("dir/format does not say layout 2 yet"),
        ));
    }
    let jobs = dir.join("jobs");
    if jobs.is_dir() {
        // Not remove_dir_all: it is the daemon's own directory, and only
        // its own files are in it; anything else is kept, with a warning.
        for entry in fs::read_dir(&jobs).context("list", &jobs)? {
            let entry = entry.context("list", &jobs)?;
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && JobFile::classify(&entry.file_name()).is_some() {
                remove_if_present(&path)?;
            } else {
                tracing::warn!("spool: left {} after migration", path.display());
            }
        }
        match fs::remove_dir(&jobs) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Not empty: what was kept above stays for a human.
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {}
            Err(e) => return Err(SpoolError::io("remove", &jobs, e)),
        }
    }
    remove_if_present(&dir.join("next-id"))?;
    sync_dir(dir)
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SpoolError::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// The next id: past what `next-id` says and past every file seen.
fn first_free_id(persisted: Option<u32>, highest_seen: u32) -> u32 {
    let next = persisted.unwrap_or(1).max(highest_seen.saturating_add(1));
    if next == 0 || next > MAX_JOB_ID {
        1
    } else {
        next
    }
}

#[cfg(test)]
mod tests;
