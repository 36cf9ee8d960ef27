//! Compaction: keeping the journal's size bounded by the live jobs, off
//! the request path.
//!
//! Segments below the active one are sealed: never written again. Once
//! more than [`KEEP_SEALED`] are, the oldest that is mostly dead (live
//! jobs need at most half of it, [`MOSTLY_DEAD`]) is compacted: every live job
//! with anything in it (its latest meta, or its inline document) is
//! re-appended as an `Accept` with its current meta and document and the
//! *same* version, the copies are waited for until durable, and only then
//! is the segment unlinked (and `journal/` fsynced). Replay takes, of two
//! entries of equal version, the later one, so a copy supersedes what it
//! copies, and a newer update (higher version) always beats a copy.
//!
//! Copies are queued under the index lock, and only of jobs with no write
//! in flight (the index's queued and written versions agree), so any
//! update or forget of the same job is ordered after its copy in the log.
//! A crash at any point leaves either the old segment (the copies, if
//! written, are equal-version duplicates) or, after the unlink, the
//! copies: the live jobs replay the same either way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::error::IoContext;
use super::journal::{EntryDocument, Extent, Record};
use super::live::{DocSlot, Placing, placer};
use super::{SpoolError, SpoolShared};

/// Sealed segments kept before the oldest is compacted.
pub(crate) const KEEP_SEALED: usize = 2;
/// A sealed segment is compacted only when live jobs need at most this
/// share of it (numerator, denominator). Copying a mostly live segment
/// frees little and fills the active one as much: with more live jobs
/// than [`KEEP_SEALED`] segments hold, every copy sealed a new segment
/// to compact, and compaction never ended (the appender thread copying
/// segments round after round, the requests' batches waiting behind it).
/// With the rule, each compaction frees at least half a segment, and the
/// journal stays within about twice the live jobs' size.
pub(crate) const MOSTLY_DEAD: (u64, u64) = (1, 2);
/// How long compaction waits for a job's write in flight to land before
/// looking again.
const IN_FLIGHT_PAUSE: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Signal {
    /// (compaction wanted, stopping)
    state: Mutex<(bool, bool)>,
    wake: Condvar,
}

/// The background compaction thread. It wakes when the active segment
/// changes (a rotation), so an idle daemon never wakes for it.
pub(super) struct Compactor {
    signal: Arc<Signal>,
    last_active: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Compactor {
    pub fn start(shared: &Arc<SpoolShared>) -> Result<Compactor, SpoolError> {
        let signal = Arc::new(Signal::default());
        let weak = Arc::downgrade(shared);
        let thread_signal = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("spool-compact".into())
            .spawn(move || compaction_loop(&weak, &thread_signal))
            .context("start the compaction thread for", &shared.layout.journal)?;
        let compactor = Compactor {
            signal,
            last_active: AtomicU64::new(shared.journal.active_seq()),
            thread: Some(thread),
        };
        // A spool that was left with many sealed segments.
        compactor.wake();
        Ok(compactor)
    }

    /// Called after writes: wakes the thread if the journal rotated.
    pub fn poke(&self, active_seq: u64) {
        if self.last_active.swap(active_seq, Ordering::Relaxed) != active_seq {
            self.wake();
        }
    }

    fn wake(&self) {
        let mut state = self
            .signal
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.0 = true;
        self.signal.wake.notify_one();
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        {
            let mut state = self
                .signal
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.1 = true;
            self.signal.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn compaction_loop(shared: &Weak<SpoolShared>, signal: &Signal) {
    loop {
        {
            let mut state = signal.state.lock().unwrap_or_else(PoisonError::into_inner);
            while !state.0 && !state.1 {
                state = signal
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.1 {
                return;
            }
            state.0 = false;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = compact(&shared) {
            tracing::warn!("spool journal compaction failed (retried at the next rotation): {e}");
        }
    }
}

/// Compacts the oldest sealed segments until at most [`KEEP_SEALED`]
/// remain; returns how many were removed.
pub(super) fn compact(shared: &SpoolShared) -> Result<usize, SpoolError> {
    let _one_at_a_time = shared
        .compacting
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Sealing the released jobs first takes them out of the journal: they
    // need no copy.
    if let Err(e) = shared.seal_history() {
        tracing::warn!("finished jobs stay in the journal for now: {e}");
    }
    let mut removed = 0;
    // Mostly live segments, left alone in this pass (their live share only
    // shrinks: the next pass looks again).
    let mut kept = std::collections::BTreeSet::new();
    loop {
        let active = shared.journal.active_seq();
        let sealed: Vec<u64> = shared
            .journal
            .segments()?
            .into_iter()
            .filter(|&seq| seq < active && !kept.contains(&seq))
            .collect();
        if sealed.len() <= KEEP_SEALED {
            return Ok(removed);
        }
        let oldest = sealed[0];
        let (share, of) = MOSTLY_DEAD;
        if live_bytes_in(shared, oldest) * of > shared.journal.segment_bytes() * share {
            kept.insert(oldest);
            continue;
        }
        copy_live_out_of(shared, oldest)?;
        shared.journal.remove_segment(oldest)?;
        removed += 1;
    }
}

/// Bytes of segment `seq` that live jobs still need: their latest metas
/// and inline documents there.
fn live_bytes_in(shared: &SpoolShared, seq: u64) -> u64 {
    let index = shared.index.lock();
    index
        .jobs
        .values()
        .map(|job| {
            let meta = job.meta.filter(|meta| meta.seq == seq).map_or(0, |m| m.len);
            let document = match job.document {
                DocSlot::Inline {
                    extent: Some(e), ..
                } if e.seq == seq => e.len,
                _ => 0,
            };
            meta + document
        })
        .sum()
}

/// One job's copy, read outside the index lock.
struct LiveCopy {
    id: u32,
    version: u64,
    meta: Vec<u8>,
    document: EntryDocument,
    slot: DocSlot,
}

/// Re-appends every live job with anything in segment `seq`, durably.
pub(super) fn copy_live_out_of(shared: &SpoolShared, seq: u64) -> Result<(), SpoolError> {
    loop {
        let (ready, busy) = jobs_in(shared, seq);
        if ready.is_empty() && busy == 0 {
            return Ok(());
        }
        let mut copies = Vec::with_capacity(ready.len());
        for (id, version, meta, slot) in ready {
            copies.push(read_copy(shared, id, version, meta, slot)?);
        }
        let submitted = {
            let index = shared.index.lock();
            let mut records = Vec::new();
            let mut placings = Vec::new();
            for copy in copies {
                let unchanged = index
                    .jobs
                    .get(&copy.id)
                    .is_some_and(|job| job.version == copy.version && job.settled());
                if !unchanged {
                    continue;
                }
                placings.push(Placing {
                    id: copy.id,
                    version: copy.version,
                    document: Some(copy.slot),
                });
                records.push(Record::Accept {
                    id: copy.id,
                    version: copy.version,
                    meta: copy.meta,
                    document: copy.document,
                });
            }
            (!records.is_empty()).then(|| {
                let then = placer(Arc::clone(&shared.index), placings);
                shared.journal.submit(records, Some(then))
            })
        };
        match submitted {
            Some(submitted) => drop(submitted.wait()?),
            // Only jobs with a write in flight: it lands within a batch.
            None => std::thread::sleep(IN_FLIGHT_PAUSE),
        }
    }
}

/// The settled jobs with a meta or an inline document in `seq` (id,
/// version, meta extent, document slot), and how many are busy.
fn jobs_in(shared: &SpoolShared, seq: u64) -> (Vec<(u32, u64, Extent, DocSlot)>, usize) {
    let index = shared.index.lock();
    let mut ready = Vec::new();
    let mut busy = 0;
    for (&id, job) in &index.jobs {
        let meta_here = job.meta.is_some_and(|meta| meta.seq == seq);
        let document_here =
            matches!(job.document, DocSlot::Inline { extent: Some(e), .. } if e.seq == seq);
        if !meta_here && !document_here {
            continue;
        }
        match job.meta {
            Some(meta) if job.settled() && job.document != DocSlot::Attaching => {
                ready.push((id, job.version, meta, job.document));
            }
            _ => busy += 1,
        }
    }
    (ready, busy)
}

fn read_copy(
    shared: &SpoolShared,
    id: u32,
    version: u64,
    meta: Extent,
    slot: DocSlot,
) -> Result<LiveCopy, SpoolError> {
    let meta = shared.journal.read(meta)?;
    let (document, slot) = match slot {
        DocSlot::Inline {
            extent: Some(extent),
            len,
        } => (
            EntryDocument::Inline(shared.journal.read(extent)?),
            DocSlot::Inline { extent: None, len },
        ),
        DocSlot::File { len, sha256 } => (EntryDocument::File { len, sha256 }, slot),
        _ => (EntryDocument::None, DocSlot::Absent),
    };
    Ok(LiveCopy {
        id,
        version,
        meta,
        document,
        slot,
    })
}
