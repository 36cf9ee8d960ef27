//! The appender thread: the one writer of the active segment, and group
//! commit.
//!
//! [`Journal::append`](super::Journal::append) puts its entries on the
//! queue *at call time* and returns a future. The thread takes everything
//! queued, gives the entries their lsns and, for the whole batch:
//!
//! 1. if an entry names a `docs/` file: `fsync(docs/)`, so the file's name
//!    is durable before any log byte naming it (its data was fdatasynced
//!    when it was staged, and the caller renamed it before appending);
//! 2. one `pwrite` of all the entries at the segment's end;
//! 3. one `fdatasync` of the segment (preallocated: no metadata to flush);
//! 4. answers every request in the batch.
//!
//! Requests that arrive during steps 1 to 3 wait for the next batch, which
//! starts as soon as this one ends: under load each sync covers everyone
//! who arrived during the previous one, and a lone writer waits for no
//! timer.
//!
//! When the active segment has no room, the thread writes out what it
//! has, then moves to the spare segment a helper thread prepared (and asks
//! for the next spare). Until the spare is ready, entries that add a job
//! or a document leave [`RESERVE`] bytes of the active segment to updates
//! and forgets; without a spare (the disk is full) they are refused with
//! the preparation's error while updates and forgets still use the
//! reserve: cancel and completion work on a full disk. A failed `pwrite` or `fdatasync`
//! fails its whole batch, and that segment is never written again.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::SpoolError;
use super::entry::{Record, encode};
use super::segment::{prepare_segment, segment_path};
use super::{Extent, Placed};

/// Room in each segment that entries adding data may not use while no
/// next segment can be prepared: kept for updates and forgets.
pub(crate) const RESERVE: u64 = 256 * 1024;
/// After a spare segment could not be prepared, wait this long before
/// trying again (a full disk fails fast, but not for free).
const SPARE_RETRY: Duration = Duration::from_secs(1);

/// An I/O failure, in parts (`io::Error` is not `Clone`, and one failure
/// answers a whole batch).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    op: &'static str,
    path: PathBuf,
    errno: Option<i32>,
    kind: std::io::ErrorKind,
    message: String,
}

impl Failure {
    pub fn from_spool_error(error: &SpoolError) -> Failure {
        match error {
            SpoolError::Io { op, path, source } => Failure {
                op,
                path: path.clone(),
                errno: source.raw_os_error(),
                kind: source.kind(),
                message: source.to_string(),
            },
            other => Failure {
                op: "write",
                path: PathBuf::from("journal"),
                errno: None,
                kind: std::io::ErrorKind::Other,
                message: other.to_string(),
            },
        }
    }

    fn io(op: &'static str, path: PathBuf, error: &std::io::Error) -> Failure {
        Failure {
            op,
            path,
            errno: error.raw_os_error(),
            kind: error.kind(),
            message: error.to_string(),
        }
    }

    pub fn into_error(self) -> SpoolError {
        let source = match self.errno {
            Some(errno) => std::io::Error::from_raw_os_error(errno),
            None => std::io::Error::new(self.kind, self.message),
        };
        SpoolError::io(self.op, &self.path, source)
    }
}

pub(crate) type Reply = oneshot::Sender<Result<Vec<Placed>, Failure>>;

/// Runs on the appender thread with a request's outcome (see
/// [`Journal::append_then`](super::Journal::append_then)).
pub(crate) type Then = Box<dyn FnOnce(Result<&[Placed], &Failure>) + Send>;

pub(crate) struct Request {
    pub records: Vec<Record>,
    /// `None`: nobody waits (the first segment's header).
    pub reply: Option<Reply>,
    pub then: Option<Then>,
}

impl Request {
    /// Answers a request the thread could not write (see
    /// [`AppenderShared::failing`]).
    fn refuse(self, shared: &AppenderShared, failure: Failure) {
        shared.failing.store(true, Ordering::SeqCst);
        self.answer(Err(failure));
    }

    fn answer(self, outcome: Result<Vec<Placed>, Failure>) {
        if let Some(then) = self.then {
            then(outcome.as_deref());
        }
        if let Some(reply) = self.reply {
            // A waiter that went away has nothing to be told.
            let _ = reply.send(outcome);
        }
    }
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    stopping: bool,
}

/// What the journal's handle and the thread share.
#[derive(Default)]
pub(crate) struct AppenderShared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Held by the thread while it takes and writes a batch; tests hold it
    /// to line up requests deterministically.
    pub gate: Mutex<()>,
    /// fdatasyncs of segments and fsyncs of `docs/` on the append path.
    pub syncs: AtomicU64,
    /// The segment being appended to.
    pub active_seq: AtomicU64,
    /// Whether the last batch written failed, or the last request was
    /// refused for want of a segment; cleared by the next batch written.
    pub failing: AtomicBool,
}

impl AppenderShared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while holding it; the list stays valid.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn enqueue(&self, request: Request) {
        self.queue().requests.push(request);
        self.wake.notify_one();
    }

    pub fn stop(&self) {
        self.queue().stopping = true;
        self.wake.notify_one();
    }

    /// Blocks until there are requests (`None`: stopping with none left).
    fn next_batch(&self) -> Option<Vec<Request>> {
        let mut queue = self.queue();
        while queue.requests.is_empty() && !queue.stopping {
            queue = self
                .wake
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if queue.requests.is_empty() {
            return None;
        }
        drop(queue);
        let _gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        Some(std::mem::take(&mut self.queue().requests))
    }
}

/// The segment being appended to.
pub(crate) struct Active {
    pub seq: u64,
    pub file: File,
    pub end: u64,
}

enum Spare {
    Preparing {
        seq: u64,
        thread: JoinHandle<Result<File, SpoolError>>,
    },
    Ready {
        seq: u64,
        file: File,
    },
    Failed {
        failure: Failure,
        at: Instant,
    },
}

/// Where the thread writes.
pub(crate) struct Writer {
    pub journal: PathBuf,
    pub tmp: PathBuf,
    pub docs: PathBuf,
    pub segment_bytes: u64,
    pub active: Active,
    pub next_seq: u64,
    pub next_lsn: u64,
    pub next_id: Arc<AtomicU32>,
    spare: Option<Spare>,
    shared: Arc<AppenderShared>,
}

/// A request being put into the batch: its entries and where they go.
struct Batched {
    request: Request,
    /// For each record: offset in the batch buffer and its placement.
    placed: Vec<Placed>,
}

impl Writer {
    pub fn new(
        paths: (PathBuf, PathBuf, PathBuf),
        segment_bytes: u64,
        active: Active,
        next_lsn: u64,
        next_id: Arc<AtomicU32>,
        shared: Arc<AppenderShared>,
    ) -> Writer {
        let (journal, tmp, docs) = paths;
        let next_seq = active.seq + 1;
        shared.active_seq.store(active.seq, Ordering::SeqCst);
        let mut writer = Writer {
            journal,
            tmp,
            docs,
            segment_bytes,
            active,
            next_seq,
            next_lsn,
            next_id,
            spare: None,
            shared,
        };
        writer.start_spare();
        writer
    }

    /// The thread's loop; ends when the journal is dropped.
    pub fn run(mut self) {
        while let Some(batch) = self.shared.next_batch() {
            self.write_batch(batch);
        }
        if let Some(Spare::Preparing { thread, .. }) = self.spare.take() {
            // A prepared but unused segment holds no entry; the next open
            // removes it.
            let _ = thread.join();
        }
    }

    fn write_batch(&mut self, batch: Vec<Request>) {
        if batch
            .iter()
            .any(|request| request.records.iter().any(Record::names_file))
            && let Err(e) = super::super::sync_dir(&self.docs)
        {
            let failure = Failure::from_spool_error(&e);
            for request in batch {
                request.refuse(&self.shared, failure.clone());
            }
            return;
        }
        let mut buffer = Vec::new();
        let mut placing = Vec::new();
        for request in batch {
            self.place(request, &mut buffer, &mut placing);
        }
        self.flush(&mut buffer, &mut placing);
    }

    /// Encodes `request` into `buffer` where it fits, moving to the next
    /// segment when it does not; refuses it when it cannot be written.
    fn place(&mut self, request: Request, buffer: &mut Vec<u8>, placing: &mut Vec<Batched>) {
        if request.records.is_empty() {
            request.answer(Ok(Vec::new()));
            return;
        }
        let grows = request.records.iter().any(Record::grows_spool);
        let mut rotated = false;
        loop {
            let base = self.active.end + buffer.len() as u64;
            let mut encoded = Vec::new();
            let placed = self.encode_request(&request.records, base, &mut encoded);
            let end = base + encoded.len() as u64;
            let reserve = RESERVE.min(self.segment_bytes / 4);
            // Into the reserve only with a next segment to move to.
            let fits = end <= self.segment_bytes
                && (!grows || end + reserve <= self.segment_bytes || self.spare_ready());
            if fits {
                buffer.extend_from_slice(&encoded);
                placing.push(Batched { request, placed });
                return;
            }
            if rotated {
                request.answer(Err(too_large(&self.journal)));
                return;
            }
            self.flush(buffer, placing);
            if let Err(failure) = self.rotate(buffer) {
                request.refuse(&self.shared, failure);
                return;
            }
            rotated = true;
        }
    }

    fn encode_request(&mut self, records: &[Record], base: u64, out: &mut Vec<u8>) -> Vec<Placed> {
        let seq = self.active.seq;
        records
            .iter()
            .map(|record| {
                let at = base + out.len() as u64;
                let placement = encode(record, self.take_lsn(), out);
                let extent = |(offset, len): (u64, u64)| Extent {
                    seq,
                    offset: at + offset,
                    len,
                };
                Placed {
                    meta: placement.meta.map(extent),
                    inline: placement.inline.map(extent),
                }
            })
            .collect()
    }

    fn take_lsn(&mut self) -> u64 {
        let lsn = self.next_lsn;
        self.next_lsn += 1;
        lsn
    }

    /// Writes the buffer at the segment's end with one `pwrite`, syncs it
    /// with one `fdatasync`, and answers the requests in it.
    fn flush(&mut self, buffer: &mut Vec<u8>, placing: &mut Vec<Batched>) {
        if buffer.is_empty() {
            return;
        }
        let path = segment_path(&self.journal, self.active.seq);
        let written = self
            .active
            .file
            .write_all_at(buffer, self.active.end)
            .map_err(|e| Failure::io("write", path.clone(), &e))
            .and_then(|()| {
                self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                self.active
                    .file
                    .sync_data()
                    .map_err(|e| Failure::io("fdatasync", path.clone(), &e))
            });
        match written {
            Ok(()) => {
                self.active.end += buffer.len() as u64;
                self.shared.failing.store(false, Ordering::SeqCst);
                for placing in placing.drain(..) {
                    placing.request.answer(Ok(placing.placed));
                }
            }
            Err(failure) => {
                // After a failed sync the kernel may have dropped the
                // pages: never write this segment again.
                tracing::error!("spool journal: {}", failure.clone().into_error());
                self.active.end = self.segment_bytes;
                for placing in placing.drain(..) {
                    placing.request.refuse(&self.shared, failure.clone());
                }
            }
        }
        buffer.clear();
    }

    /// Whether the next segment is prepared, waiting for a preparation
    /// under way (and trying again after [`SPARE_RETRY`] if the last one
    /// failed). Entries that add data may use the active segment's last
    /// [`RESERVE`] bytes only then: without a next segment (the disk is
    /// full), the reserve is what updates and forgets still have.
    fn spare_ready(&mut self) -> bool {
        if let Some(Spare::Failed { at, .. }) = &self.spare
            && at.elapsed() >= SPARE_RETRY
        {
            self.start_spare();
        }
        self.settle_spare();
        matches!(self.spare, Some(Spare::Ready { .. }))
    }

    /// Waits for a preparation under way and keeps its outcome.
    fn settle_spare(&mut self) {
        if let Some(Spare::Preparing { seq, thread }) = self.spare.take() {
            self.spare = Some(match thread.join() {
                Ok(Ok(file)) => Spare::Ready { seq, file },
                Ok(Err(e)) => Spare::Failed {
                    failure: Failure::from_spool_error(&e),
                    at: Instant::now(),
                },
                Err(panic) => std::panic::resume_unwind(panic),
            });
        }
    }

    /// Starts preparing the next segment on a helper thread.
    fn start_spare(&mut self) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let (journal, tmp, size) = (self.journal.clone(), self.tmp.clone(), self.segment_bytes);
        let spawned = std::thread::Builder::new()
            .name("spool-segment".into())
            .spawn(move || prepare_segment(&journal, &tmp, seq, size));
        self.spare = Some(match spawned {
            Ok(thread) => Spare::Preparing { seq, thread },
            Err(e) => Spare::Failed {
                failure: Failure::io("start a thread for", self.journal.clone(), &e),
                at: Instant::now(),
            },
        });
    }

    /// Makes the spare the active segment and puts its header first in the
    /// (empty) buffer.
    fn rotate(&mut self, buffer: &mut Vec<u8>) -> Result<(), Failure> {
        if matches!(self.spare, Some(Spare::Failed { .. }) | None) {
            self.start_spare();
        }
        let (seq, file) = match self.spare.take() {
            Some(Spare::Preparing { seq, thread }) => match thread.join() {
                Ok(Ok(file)) => (seq, file),
                Ok(Err(e)) => return Err(self.spare_failure(Failure::from_spool_error(&e))),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Some(Spare::Ready { seq, file }) => (seq, file),
            Some(Spare::Failed { failure, .. }) => return Err(self.spare_failure(failure)),
            None => unreachable!("a spare was just started"),
        };
        self.active = Active { seq, file, end: 0 };
        self.shared.active_seq.store(seq, Ordering::SeqCst);
        let header = Record::Header {
            seq,
            next_id: self.next_id.load(Ordering::SeqCst),
        };
        let lsn = self.take_lsn();
        encode(&header, lsn, buffer);
        self.start_spare();
        Ok(())
    }

    fn spare_failure(&mut self, failure: Failure) -> Failure {
        self.spare = Some(Spare::Failed {
            failure: failure.clone(),
            at: Instant::now(),
        });
        failure
    }
}

fn too_large(journal: &std::path::Path) -> Failure {
    Failure::io(
        "append to",
        journal.to_path_buf(),
        &std::io::Error::from_raw_os_error(libc::EFBIG),
    )
}
