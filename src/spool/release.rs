//! Where a finished job goes when the core lets go of it
//! ([`Spool::release`](super::Spool::release)): a [`HistoryStore`].
//!
//! The journal holds live jobs. A finished job the core released is
//! handed to the history store; once the store says the job is durably
//! in history, the spool appends a `Forget` and the job leaves the
//! journal (and the next start-up does not read it). The store that keeps
//! history segments (`history/<first>-<last>.hist`) is plugged in with
//! [`Spool::open_with_history`](super::Spool::open_with_history); without
//! one, [`JournalKeepsHistory`] leaves released jobs in the journal, as
//! layout 1 left them in `jobs/`: nothing is lost, but start-up then reads
//! history too.

use super::SpoolError;

/// A finished job's document as history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryDocument {
    None,
    /// The bytes (small documents lived inside the journal entry).
    Inline(Vec<u8>),
    /// `docs/<id>.doc` stays where it is.
    File {
        len: u64,
        sha256: [u8; 32],
    },
}

/// A finished job leaving the live set.
#[derive(Debug, Clone)]
pub struct HistoryJob {
    pub id: u32,
    /// The meta last recorded for it.
    pub meta: Vec<u8>,
    pub document: HistoryDocument,
}

/// Keeps finished jobs out of the journal.
pub trait HistoryStore: Send + Sync {
    /// Whether released jobs are handed over at all; `false` leaves them in
    /// the journal.
    fn takes_jobs(&self) -> bool;

    /// Takes `job`. Returns the ids now durably in history (maybe of
    /// earlier calls: a store may batch): the spool forgets those.
    fn add(&self, job: HistoryJob) -> Result<Vec<u32>, SpoolError>;

    /// Makes everything added durable (compaction, shutdown); returns the
    /// ids that became so.
    fn flush(&self) -> Result<Vec<u32>, SpoolError>;

    /// The meta of finished job `id`, if history has it.
    fn read_meta(&self, id: u32) -> Result<Option<Vec<u8>>, SpoolError>;

    /// Every id in history, in no particular order.
    fn ids(&self) -> Result<Vec<u32>, SpoolError>;

    /// The highest id history ever held (ids are never reused).
    fn highest_id(&self) -> u32;
}

/// No history store: released jobs stay in the journal.
#[derive(Debug, Default)]
pub struct JournalKeepsHistory;

impl HistoryStore for JournalKeepsHistory {
    fn takes_jobs(&self) -> bool {
        false
    }

    fn add(&self, _job: HistoryJob) -> Result<Vec<u32>, SpoolError> {
        Ok(Vec::new())
    }

    fn flush(&self) -> Result<Vec<u32>, SpoolError> {
        Ok(Vec::new())
    }

    fn read_meta(&self, _id: u32) -> Result<Option<Vec<u8>>, SpoolError> {
        Ok(None)
    }

    fn ids(&self) -> Result<Vec<u32>, SpoolError> {
        Ok(Vec::new())
    }

    fn highest_id(&self) -> u32 {
        0
    }
}
