//! The live index: per job the spool may still write, where its latest
//! meta and its document are in the journal — never the bytes.
//!
//! Writes of one job take their version, and are queued on the journal,
//! under the index lock, so log order is version order for every job. The
//! journal's appender tells the index where each entry went (a
//! [`Then`] callback, in log order) once it is
//! durable.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::journal::{Extent, LiveDocument, Placed, Then};

/// A job's document slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocSlot {
    Absent,
    /// [`Spool::attach`](super::Spool::attach) is adding one.
    Attaching,
    /// Inside a journal entry; `extent` is `None` until it is written.
    Inline {
        extent: Option<Extent>,
        len: u64,
    },
    /// `docs/<id>.doc`.
    File {
        len: u64,
        sha256: [u8; 32],
    },
}

impl DocSlot {
    pub fn len(&self) -> u64 {
        match self {
            DocSlot::Inline { len, .. } | DocSlot::File { len, .. } => *len,
            DocSlot::Absent | DocSlot::Attaching => 0,
        }
    }

    pub fn is_present(&self) -> bool {
        matches!(self, DocSlot::Inline { .. } | DocSlot::File { .. })
    }

    pub fn from_live(document: LiveDocument) -> DocSlot {
        match document {
            LiveDocument::None => DocSlot::Absent,
            LiveDocument::Inline(extent) => DocSlot::Inline {
                extent: Some(extent),
                len: extent.len,
            },
            LiveDocument::File { len, sha256 } => DocSlot::File { len, sha256 },
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IndexedJob {
    /// Version of the last entry queued for this job.
    pub version: u64,
    /// Version of the last entry written (durable) for it.
    pub written: u64,
    /// Where the latest written meta is; `None` until the first entry is.
    pub meta: Option<Extent>,
    pub document: DocSlot,
    /// The core let go of it (finished): not counted in usage.
    pub released: bool,
}

impl IndexedJob {
    pub fn new(document: DocSlot) -> IndexedJob {
        IndexedJob {
            version: 1,
            written: 0,
            meta: None,
            document,
            released: false,
        }
    }

    pub fn usage(&self) -> u64 {
        if self.released {
            return 0;
        }
        self.meta.map_or(0, |meta| meta.len) + self.document.len()
    }

    /// Takes the version for the next write of this job.
    pub fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// No write queued and not yet written.
    pub fn settled(&self) -> bool {
        self.written == self.version && self.meta.is_some()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub jobs: HashMap<u32, IndexedJob>,
    /// Bytes of metas and documents of the jobs not released.
    pub usage: u64,
}

impl Index {
    /// Changes job `id` through `change`, keeping `usage` right.
    pub fn change<T>(&mut self, id: u32, change: impl FnOnce(&mut IndexedJob) -> T) -> Option<T> {
        let job = self.jobs.get_mut(&id)?;
        self.usage -= job.usage();
        let out = change(job);
        self.usage += job.usage();
        Some(out)
    }

    pub fn insert(&mut self, id: u32, job: IndexedJob) {
        self.usage += job.usage();
        if let Some(old) = self.jobs.insert(id, job) {
            self.usage -= old.usage();
        }
    }

    pub fn remove(&mut self, id: u32) -> Option<IndexedJob> {
        let job = self.jobs.remove(&id)?;
        self.usage -= job.usage();
        self.shrink_after_burst();
        Some(job)
    }

    /// A `HashMap` keeps the capacity of its largest size; after a burst
    /// has drained, give most of it back (halving at a quarter full, so
    /// it does not happen again until the size halves again).
    fn shrink_after_burst(&mut self) {
        let capacity = self.jobs.capacity();
        if capacity > 256 && self.jobs.len() < capacity / 4 {
            self.jobs.shrink_to(capacity / 2);
        }
    }
}

/// The index behind its lock, shared with the appender's callbacks.
#[derive(Debug, Default)]
pub(crate) struct IndexCell(Mutex<Index>);

impl IndexCell {
    pub fn new(index: Index) -> IndexCell {
        IndexCell(Mutex::new(index))
    }

    pub fn lock(&self) -> MutexGuard<'_, Index> {
        // Never held across an await or a panic-prone call; a poisoned one
        // means a bug left it half changed: never recovered.
        match self.0.lock() {
            Ok(index) => index,
            Err(_) => crate::supervisor::abort_on_poisoned_lock("the spool index"),
        }
    }
}

/// What to record in the index once one entry of job `id` is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placing {
    pub id: u32,
    pub version: u64,
    /// The document slot the entry installs (Accept, Attach, copies).
    pub document: Option<DocSlot>,
}

/// The callback that records where `placings` (one per record, in order)
/// went once written; failures change nothing (the caller undoes).
pub(crate) fn placer(index: std::sync::Arc<IndexCell>, placings: Vec<Placing>) -> Then {
    Box::new(move |outcome| {
        let mut index = index.lock();
        let Ok(placed) = outcome else {
            // The entry may or may not be on disk: the job's last written
            // state is what the index says, and no write is in flight.
            for placing in &placings {
                index.change(placing.id, |job| {
                    job.written = job.written.max(placing.version)
                });
            }
            return;
        };
        for (placing, placed) in placings.iter().zip(placed) {
            index.change(placing.id, |job| record_placement(job, placing, placed));
        }
    })
}

fn record_placement(job: &mut IndexedJob, placing: &Placing, placed: &Placed) {
    if placing.version < job.written {
        return;
    }
    job.written = placing.version;
    if let Some(meta) = placed.meta {
        job.meta = Some(meta);
    }
    match placing.document {
        Some(DocSlot::Inline { len, .. }) => {
            job.document = DocSlot::Inline {
                extent: placed.inline,
                len,
            }
        }
        Some(slot) => job.document = slot,
        None => {}
    }
}
