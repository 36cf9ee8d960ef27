//! Where a finished job goes when the core lets go of it
//! ([`Spool::release`](super::Spool::release)): history segments
//! ([`HistoryStore`]).
//!
//! A released job stays in the live index (marked released, no longer
//! counted in usage, never written again) and its id joins the history
//! batch. The batch is sealed into one `history/<first>-<last>.hist` when
//! it holds [`HISTORY_BATCH`] jobs, when compaction runs, and at a clean
//! shutdown ([`Spool::seal_history`](super::Spool::seal_history)); the
//! meta and inline documents are read from the journal only then (a file
//! document stays in `docs/`, the segment names it). Once the segment is
//! durable, a `Forget` per job is appended and the jobs leave the index:
//! the journal then holds live jobs only, and the next start does not
//! read them.
//!
//! # A job in the journal and in history
//!
//! A crash after a segment is sealed and before its `Forget`s are durable
//! leaves those jobs in both places, with the same meta (a released job is
//! never written again). [`open`](super::open) resolves it before the core
//! sees anything: a live job a history segment already holds is forgotten
//! at once (and waited for), not handed to the core. So after open a job
//! is either live or in history, never both, and `printspoold cleanup`
//! (which purges history only) can never remove the document of a job the
//! core holds.

use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError};

use super::history::{DocumentToSeal, HistoryStore, JobToSeal};
use super::journal::{Extent, Record};
use super::layout::to_hex;
use super::live::{DocSlot, IndexedJob};
use super::{DocumentInfo, SpoolError, SpoolShared};

/// Released jobs sealed into one history segment at most; a batch this
/// full is sealed at once.
pub const HISTORY_BATCH: usize = 1024;

/// One released job read back from the journal, ready to seal.
struct Released {
    id: u32,
    meta: Vec<u8>,
    document: ReleasedDocument,
}

enum ReleasedDocument {
    None,
    Inline(Vec<u8>),
    File(DocumentInfo),
}

impl Released {
    fn to_seal(&self) -> JobToSeal<'_> {
        JobToSeal {
            id: self.id,
            meta: &self.meta,
            document: match &self.document {
                ReleasedDocument::None => DocumentToSeal::None,
                ReleasedDocument::Inline(bytes) => DocumentToSeal::Inline(bytes),
                ReleasedDocument::File(info) => DocumentToSeal::File(info),
            },
        }
    }
}

impl SpoolShared {
    /// Marks job `id` released and adds it to the history batch; returns
    /// true when the batch is full (the caller seals it, off the request
    /// path).
    pub(super) fn release(&self, id: u32) -> bool {
        let known = self
            .index
            .lock()
            .change(id, |job| job.released = true)
            .is_some();
        if !known {
            return false;
        }
        let mut batch = self.history_batch();
        batch.insert(id);
        batch.len() >= HISTORY_BATCH
    }

    /// Seals the history batch into one segment, then forgets its jobs in
    /// the journal (waiting until the `Forget`s are durable). One seal at
    /// a time; a job that cannot be read back stays released in the
    /// journal and is tried again with the next batch. Blocking.
    pub(super) fn seal_history(&self) -> Result<usize, SpoolError> {
        let _one_at_a_time = self.sealing.lock().unwrap_or_else(PoisonError::into_inner);
        let ids = std::mem::take(&mut *self.history_batch());
        if ids.is_empty() {
            return Ok(0);
        }
        let mut jobs = Vec::with_capacity(ids.len());
        let mut retry = Vec::new();
        for &id in &ids {
            match self.read_released(id) {
                Ok(Some(job)) => jobs.push(job),
                // Forgotten meanwhile (a purge of a live job): nothing to keep.
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(id, "finished job stays in the journal for now: {e}");
                    retry.push(id);
                }
            }
        }
        let sealed: Vec<JobToSeal<'_>> = jobs.iter().map(Released::to_seal).collect();
        let outcome = self.history.seal(&sealed);
        if let Err(e) = outcome {
            // Nothing was published: the whole batch waits for the next try.
            self.history_batch().extend(ids);
            return Err(e);
        }
        self.history_batch().extend(retry);
        let ids: Vec<u32> = jobs.iter().map(|job| job.id).collect();
        self.forget_all(&ids)?;
        Ok(ids.len())
    }

    /// Appends a `Forget` for each of `ids` (durably in history now),
    /// drops them from the index, and waits until the entries are durable.
    pub(super) fn forget_all(&self, ids: &[u32]) -> Result<(), SpoolError> {
        let submitted = {
            let mut index = self.index.lock();
            let mut records = Vec::with_capacity(ids.len());
            for &id in ids {
                if let Some(mut job) = index.remove(id) {
                    records.push(Record::Forget {
                        id,
                        version: job.next_version(),
                    });
                }
            }
            if records.is_empty() {
                return Ok(());
            }
            self.journal.submit(records, None)
        };
        submitted.wait().map(drop)
    }

    /// Job `id` as history keeps it, read from the journal; `None` when
    /// the index no longer has it.
    fn read_released(&self, id: u32) -> Result<Option<Released>, SpoolError> {
        let Some(job) = self.index.lock().jobs.get(&id).cloned() else {
            return Ok(None);
        };
        let Some(meta) = self.read_current(id, |job| job.meta)? else {
            return Ok(None);
        };
        let document = match job.document {
            DocSlot::Inline { .. } => {
                ReleasedDocument::Inline(self.read_current(id, inline_extent)?.unwrap_or_default())
            }
            DocSlot::File { len, sha256 } => ReleasedDocument::File(DocumentInfo {
                len,
                sha256: to_hex(&sha256),
            }),
            DocSlot::Absent | DocSlot::Attaching => ReleasedDocument::None,
        };
        Ok(Some(Released { id, meta, document }))
    }

    fn history_batch(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        // Only in-memory work happens under it.
        self.history_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn inline_extent(job: &IndexedJob) -> Option<Extent> {
    match job.document {
        DocSlot::Inline { extent, .. } => extent,
        _ => None,
    }
}

/// Seals the batch on tokio's blocking pool when a runtime is there,
/// else right here.
pub(super) fn seal_in_background(shared: &Arc<SpoolShared>) {
    let shared = Arc::clone(shared);
    let work = move || {
        if let Err(e) = shared.seal_history() {
            tracing::warn!("finished jobs stay in the journal for now: {e}");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(work)),
        Err(_) => work(),
    }
}

/// Whether the [`HistoryStore`] holds job `id` (a lookup error counts as
/// no: the job then stays live, which loses nothing).
pub(super) fn in_history(history: &HistoryStore, id: u32) -> bool {
    history.contains(id).unwrap_or(false)
}
