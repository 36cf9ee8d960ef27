//! Replay: read every segment in order, up to its last whole entry, and
//! fold the entries into the live set (per job, the entry with the highest
//! version; a `Forget` takes the job out).
//!
//! A segment's replay ends at the first entry that is not whole and
//! checked (zero-filled space, a CRC mismatch, a length past the segment's
//! end, an lsn not greater than the one before): that is the torn tail of
//! a write the crash interrupted, and nothing after it in that segment was
//! ever acknowledged (the appender acknowledges a batch only after its
//! one `pwrite` and its `fdatasync`, and never writes a segment again once
//! a sync of it failed). Replay goes on with the next segment, whose
//! entries were written after a restart or a rotation.

use std::collections::{BTreeMap, HashMap};

use super::entry::{Decoded, DocumentRef, Kind, decode};
use super::{Extent, LiveDocument, LiveJob};

/// The checked entries at the start of one segment.
#[derive(Debug, Default)]
pub(crate) struct SegmentScan {
    pub entries: Vec<Decoded>,
    /// Offset just past the last whole entry.
    pub end: u64,
    /// From the header: the lowest id never handed out when it started.
    pub next_id: Option<u32>,
}

/// Scans `bytes`, segment `seq`. A segment whose first entry is not its
/// own header holds nothing (a crash right after it was prepared).
pub(crate) fn scan_segment(bytes: &[u8], seq: u64) -> SegmentScan {
    let mut scan = SegmentScan::default();
    let mut at = 0usize;
    let mut last_lsn = 0u64;
    while let Some(entry) = decode(bytes, at) {
        let first = scan.entries.is_empty();
        if first != (entry.kind == Kind::Header) || (!first && entry.lsn <= last_lsn) {
            break;
        }
        if let Some((header_seq, next_id)) = entry.header {
            if header_seq != seq {
                break;
            }
            scan.next_id = Some(next_id);
        }
        last_lsn = entry.lsn;
        at += entry.total_len as usize;
        scan.end = at as u64;
        scan.entries.push(entry);
    }
    scan
}

/// What a job's entries say so far during replay.
enum Slot {
    Live(LiveJob),
    Forgotten { version: u64 },
}

impl Slot {
    fn version(&self) -> u64 {
        match self {
            Slot::Live(job) => job.version,
            Slot::Forgotten { version } => *version,
        }
    }
}

/// Folds segments' entries, in log order, into the live jobs.
#[derive(Default)]
pub(crate) struct Fold {
    slots: HashMap<u32, Slot>,
    /// Highest job id named by any entry, live or not.
    pub highest_id: u32,
    /// Highest `next_id` of any header.
    pub header_next_id: u32,
    /// Highest lsn seen.
    pub last_lsn: u64,
}

impl Fold {
    pub fn add_segment(&mut self, seq: u64, scan: &SegmentScan) {
        if let Some(next_id) = scan.next_id {
            self.header_next_id = self.header_next_id.max(next_id);
        }
        for entry in &scan.entries {
            self.last_lsn = self.last_lsn.max(entry.lsn);
            if entry.kind != Kind::Header {
                self.add_entry(seq, entry);
            }
        }
    }

    fn add_entry(&mut self, seq: u64, entry: &Decoded) {
        self.highest_id = self.highest_id.max(entry.id);
        let current = self.slots.get(&entry.id);
        // Equal versions: a compaction copy of the same state, written
        // later, so it is the one whose extents stay readable.
        if current.is_some_and(|slot| slot.version() > entry.version) {
            return;
        }
        let extent = |(offset, len): (u64, u64)| Extent { seq, offset, len };
        let previous_document = match current {
            Some(Slot::Live(job)) => job.document,
            _ => LiveDocument::None,
        };
        let slot = match entry.kind {
            Kind::Forget => Slot::Forgotten {
                version: entry.version,
            },
            Kind::Header => return,
            Kind::Update => match entry.meta {
                Some(meta) => Slot::Live(LiveJob {
                    version: entry.version,
                    meta: extent(meta),
                    document: previous_document,
                }),
                None => return,
            },
            Kind::Accept | Kind::Attach => {
                let (Some(meta), Some(document)) = (entry.meta, entry.document) else {
                    return;
                };
                let document = match document {
                    DocumentRef::None => LiveDocument::None,
                    DocumentRef::Inline { offset, len } => {
                        LiveDocument::Inline(extent((offset, len)))
                    }
                    DocumentRef::File { len, sha256 } => LiveDocument::File { len, sha256 },
                };
                Slot::Live(LiveJob {
                    version: entry.version,
                    meta: extent(meta),
                    document,
                })
            }
        };
        self.slots.insert(entry.id, slot);
    }

    /// The live jobs, by id.
    pub fn into_live(self) -> BTreeMap<u32, LiveJob> {
        self.slots
            .into_iter()
            .filter_map(|(id, slot)| match slot {
                Slot::Live(job) => Some((id, job)),
                Slot::Forgotten { .. } => None,
            })
            .collect()
    }
}
