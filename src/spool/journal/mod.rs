//! The spool's write-ahead journal: every job, every state change and
//! every departure of a live job is an entry appended to a log of
//! fixed-size, preallocated segments, and concurrent writers share one
//! `fdatasync` per batch.
//!
//! - [`entry`]: the byte format of one entry (length, CRC32, body);
//! - [`segment`]: `journal/<seq>.wal` files, zero-filled before use;
//! - [`appender`]: the thread that owns the active segment (group commit,
//!   rotation, a full disk);
//! - [`replay`]: reading the log back to its last whole entry, and folding
//!   it into the live jobs.
//!
//! The journal knows nothing of what a meta means: it stores opaque bytes
//! per job id and version, and hands back *where* they are ([`Extent`]),
//! so the spool's index never holds the bytes themselves.

mod appender;
pub(crate) mod entry;
mod replay;
pub(crate) mod segment;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::SpoolError;
use super::error::IoContext;
pub(crate) use appender::Then;
use appender::{Active, AppenderShared, Request, Writer};
pub(crate) use entry::{EntryDocument, Record};
use replay::{Fold, scan_segment};
use segment::{list_segments, prepare_segment, read_segment, segment_path};

/// Size of every segment in a daemon's spool.
pub(crate) const SEGMENT_BYTES: u64 = 8 << 20;

/// Bytes at a known place in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub seq: u64,
    pub offset: u64,
    pub len: u64,
}

/// Where an appended record's parts went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Placed {
    pub meta: Option<Extent>,
    pub inline: Option<Extent>,
}

/// A live job's document, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiveDocument {
    None,
    Inline(Extent),
    /// `docs/<id>.doc`.
    File {
        len: u64,
        sha256: [u8; 32],
    },
}

/// What replay knows of a live job: where its latest meta and its
/// document are, never the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LiveJob {
    pub version: u64,
    pub meta: Extent,
    pub document: LiveDocument,
}

/// Directories the journal uses.
#[derive(Debug, Clone)]
pub(crate) struct JournalPaths {
    pub journal: PathBuf,
    pub tmp: PathBuf,
    pub docs: PathBuf,
}

/// What [`Journal::replay`] read back.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub live: BTreeMap<u32, LiveJob>,
    /// Highest id any entry named, live or not.
    pub highest_id: u32,
    /// Highest `next_id` any segment header recorded.
    pub header_next_id: u32,
    /// The segments replayed (each sealed now: appends go to a new one).
    #[cfg_attr(not(test), allow(dead_code))]
    pub sealed: Vec<u64>,
    /// The first segment the appender may use.
    next_seq: u64,
    /// A prepared, never used segment left by the previous run.
    spare: Option<u64>,
    next_lsn: u64,
}

/// The journal of one spool: the appender thread and readers of segments.
pub(crate) struct Journal {
    paths: JournalPaths,
    shared: Arc<AppenderShared>,
    thread: Option<JoinHandle<()>>,
    /// Open segments for reading metas and inline documents back.
    readers: Mutex<BTreeMap<u64, Arc<File>>>,
    segment_bytes: u64,
}

impl Journal {
    /// Replays every segment and starts the appender on a new segment
    /// (see [`Journal::replay`] and [`Journal::start`]).
    #[cfg(test)]
    pub fn open(
        paths: JournalPaths,
        segment_bytes: u64,
        next_id: Arc<AtomicU32>,
    ) -> Result<(Journal, Replayed), SpoolError> {
        let replayed = Journal::replay(&paths)?;
        let journal = Journal::start(paths, segment_bytes, &replayed, next_id)?;
        Ok((journal, replayed))
    }

    /// Replays every segment and removes those with no entry (a crash
    /// right after preparing one), except the last one if it is past
    /// every segment with entries: a spare prepared by the previous run,
    /// zero-filled and synced, which becomes the new active segment (so a
    /// full disk does not keep the daemon from starting).
    pub fn replay(paths: &JournalPaths) -> Result<Replayed, SpoolError> {
        let mut fold = Fold::default();
        let mut sealed = Vec::new();
        let mut empty = Vec::new();
        let seqs = list_segments(&paths.journal)?;
        for &seq in &seqs {
            let bytes = read_segment(&paths.journal, seq)?;
            let scan = scan_segment(&bytes, seq);
            if scan.entries.is_empty() {
                // Reusable only if never written at all: the torn remains
                // of a write must not sit behind new entries.
                let untouched = bytes.iter().all(|&b| b == 0);
                empty.push((seq, untouched));
                continue;
            }
            fold.add_segment(seq, &scan);
            sealed.push(seq);
        }
        let last_sealed = sealed.last().copied().unwrap_or(0);
        let spare = empty
            .last()
            .filter(|&&(seq, untouched)| untouched && seq > last_sealed)
            .map(|&(seq, _)| seq);
        let stale: Vec<u64> = empty
            .into_iter()
            .map(|(seq, _)| seq)
            .filter(|&seq| Some(seq) != spare)
            .collect();
        for &seq in &stale {
            let path = segment_path(&paths.journal, seq);
            std::fs::remove_file(&path).context("remove empty segment", &path)?;
        }
        if !stale.is_empty() {
            super::sync_dir(&paths.journal)?;
        }
        let (highest_id, header_next_id, last_lsn) =
            (fold.highest_id, fold.header_next_id, fold.last_lsn);
        Ok(Replayed {
            live: fold.into_live(),
            highest_id,
            header_next_id,
            sealed,
            next_seq: spare.unwrap_or_else(|| seqs.last().map_or(1, |last| last + 1)),
            spare,
            next_lsn: last_lsn + 1,
        })
    }

    /// Starts the appender on a new segment past every replayed one (never
    /// appending after a torn tail). `next_id` is what the headers of new
    /// segments record.
    pub fn start(
        paths: JournalPaths,
        segment_bytes: u64,
        replayed: &Replayed,
        next_id: Arc<AtomicU32>,
    ) -> Result<Journal, SpoolError> {
        let seq = replayed.next_seq;
        let file = match replayed
            .spare
            .map(|spare| reuse_spare(&paths, spare, segment_bytes))
        {
            Some(Ok(Some(file))) => file,
            Some(Err(e)) => return Err(e),
            _ => prepare_segment(&paths.journal, &paths.tmp, seq, segment_bytes)?,
        };
        let shared = Arc::new(AppenderShared::default());
        let writer = Writer::new(
            (paths.journal.clone(), paths.tmp.clone(), paths.docs.clone()),
            segment_bytes,
            Active { seq, file, end: 0 },
            replayed.next_lsn,
            Arc::clone(&next_id),
            Arc::clone(&shared),
        );
        // The header goes first, in the first batch written.
        let header = Record::Header {
            seq,
            next_id: next_id.load(Ordering::SeqCst),
        };
        shared.enqueue(Request {
            records: vec![header],
            reply: None,
            then: None,
        });
        let thread = std::thread::Builder::new()
            .name("spool-journal".into())
            .spawn(move || writer.run())
            .context("start the journal thread for", &paths.journal)?;
        Ok(Journal {
            paths,
            shared,
            thread: Some(thread),
            readers: Mutex::new(BTreeMap::new()),
            segment_bytes,
        })
    }

    /// Queues `records` now (so entries are in the log in the order of
    /// these calls) and returns a future that resolves once the batch
    /// holding them is on stable storage, with where each record's meta
    /// and inline document went.
    pub fn append(
        &self,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<Vec<Placed>, SpoolError>> + Send + 'static + use<> {
        self.append_then(records, None)
    }

    /// [`Journal::append`], and `then` runs on the appender thread with
    /// the outcome, before the future resolves and before any later batch
    /// is written: the spool's index learns where entries went even when
    /// nobody awaits the future, in log order.
    pub fn append_then(
        &self,
        records: Vec<Record>,
        then: Option<Then>,
    ) -> impl Future<Output = Result<Vec<Placed>, SpoolError>> + Send + 'static + use<> {
        let (reply, answer) = oneshot::channel();
        self.shared.enqueue(Request {
            records,
            reply: Some(reply),
            then,
        });
        async move {
            match answer.await {
                Ok(Ok(placed)) => Ok(placed),
                Ok(Err(failure)) => Err(failure.into_error()),
                Err(_) => Err(SpoolError::SyncStopped),
            }
        }
    }

    /// Queues `records` like [`Journal::append`], for a caller that
    /// waits by blocking (start-up, compaction): [`Submitted::wait`].
    pub fn submit(&self, records: Vec<Record>, then: Option<Then>) -> Submitted {
        let (done, answer) = std::sync::mpsc::channel();
        let then: Then = Box::new(move |outcome| {
            if let Some(then) = then {
                then(outcome);
            }
            let _ = done.send(outcome.map(<[Placed]>::to_vec).map_err(Clone::clone));
        });
        self.shared.enqueue(Request {
            records,
            reply: None,
            then: Some(then),
        });
        Submitted { answer }
    }

    /// Syncs on the append path so far: segment fdatasyncs and `docs/`
    /// fsyncs.
    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// The segment appends go to now; every lower one is sealed.
    pub fn active_seq(&self) -> u64 {
        self.shared.active_seq.load(Ordering::SeqCst)
    }

    /// The size of every segment.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Whether the journal's last write failed (and none worked since):
    /// the disk is full past the reserve, read-only, or failing.
    pub fn is_failing(&self) -> bool {
        self.shared.failing.load(Ordering::SeqCst)
    }

    /// Whether the appender thread runs: nothing is durable without it.
    pub fn is_running(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    /// Reads `extent` back (a meta, or an inline document).
    pub fn read(&self, extent: Extent) -> Result<Vec<u8>, SpoolError> {
        let file = self.reader(extent.seq)?;
        let mut bytes = vec![0; extent.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut bytes, extent.offset)
            .context("read", &segment_path(&self.paths.journal, extent.seq))?;
        Ok(bytes)
    }

    /// A handle on segment `seq` for reading (shared, kept open).
    pub fn reader(&self, seq: u64) -> Result<Arc<File>, SpoolError> {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = readers.get(&seq) {
            return Ok(Arc::clone(file));
        }
        let path = segment_path(&self.paths.journal, seq);
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .context("open", &path)?;
        let file = Arc::new(file);
        readers.insert(seq, Arc::clone(&file));
        Ok(file)
    }

    /// Removes sealed segment `seq` (compaction copied what was live in
    /// it, durably) and makes the removal durable.
    pub fn remove_segment(&self, seq: u64) -> Result<(), SpoolError> {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&seq);
        let path = segment_path(&self.paths.journal, seq);
        std::fs::remove_file(&path).context("remove", &path)?;
        super::sync_dir(&self.paths.journal)
    }

    /// Every segment on disk, by seq.
    pub fn segments(&self) -> Result<Vec<u64>, SpoolError> {
        list_segments(&self.paths.journal)
    }

    pub fn dir(&self) -> &Path {
        &self.paths.journal
    }

    #[cfg(test)]
    pub(crate) fn hold_appender(&self) -> std::sync::MutexGuard<'_, ()> {
        self.shared
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens the previous run's spare segment `seq` for appending, if it has
/// the size this run uses (`None`: removed, prepare a new one).
fn reuse_spare(
    paths: &JournalPaths,
    seq: u64,
    segment_bytes: u64,
) -> Result<Option<File>, SpoolError> {
    let path = segment_path(&paths.journal, seq);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .context("open", &path)?;
    let meta = file.metadata().context("stat", &path)?;
    if meta.is_file() && meta.len() == segment_bytes {
        return Ok(Some(file));
    }
    std::fs::remove_file(&path).context("remove", &path)?;
    Ok(None)
}

/// Records queued by [`Journal::submit`].
pub(crate) struct Submitted {
    answer: std::sync::mpsc::Receiver<Result<Vec<Placed>, appender::Failure>>,
}

impl Submitted {
    /// Blocks until the records are durable (or failed). Fine on any
    /// thread: it waits on a plain channel, not on the runtime.
    pub fn wait(self) -> Result<Vec<Placed>, SpoolError> {
        match self.answer.recv() {
            Ok(Ok(placed)) => Ok(placed),
            Ok(Err(failure)) => Err(failure.into_error()),
            Err(_) => Err(SpoolError::SyncStopped),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(thread) = self.thread.take() {
            // Requests still queued are written (and answered) first.
            let _ = thread.join();
        }
    }
}
