//! The durable on-disk spool: where a job lives from the moment the client
//! is told "accepted" until history purges it.
//!
//! # The promise
//!
//! A job is acknowledged only after its meta and document are on stable
//! storage. A `kill -9` (or power cut) at any instant never loses an
//! acknowledged job and never shows a half-written one after restart. Only
//! one daemon uses a spool at a time.
//!
//! # Layout (2)
//!
//! ```text
//! dir/lock                   flock(2)ed by the running daemon ([`lock`])
//! dir/format                 "printspoold spool 2\n"
//! dir/journal/<seq>.wal      the write-ahead journal ([`journal`]): fixed-size
//!                            segments, seq in 16 hex digits, zero-filled before use
//! dir/docs/<id>.doc          documents larger than INLINE_MAX (64 KiB), as received
//! dir/history/<first>-<last>.hist   finished jobs (the history store's, see [`release`])
//! dir/tmp/                   files being written; emptied at every start
//! dir/corrupt/               what recovery could not trust, with a .reason file
//! dir/paused-printers        queues an administrator paused ([`paused`])
//! ```
//!
//! Directories are created mode 0700: documents are private data. At
//! start the spool directory must be a real directory owned by the
//! daemon's user and not writable by group or others ([`dircheck`]), or
//! the daemon refuses to start. A spool of layout 1 (`jobs/<id>.job` and
//! `jobs/<id>.doc`, no `format` saying 2) is migrated when it is opened
//! (see "Migration" below).
//!
//! # A job's bytes on disk
//!
//! ```text
//!  journal/0000000000000007.wal  (8 MiB, zero-filled when prepared)
//!  +--------+----------------------+-----------------------+-------+----------
//!  | Header | Accept job 12 (v1)   | Accept job 13 (v1)    | Update| 00 00 00 …
//!  | seq 7  | meta + 1 KiB inline  | meta + docs/13.doc    | 12 v2 | (never written)
//!  +--------+----------------------+-----------------------+-------+----------
//!  every entry: [u32 body_len][u32 crc32(body)][kind][lsn][job id][version][payload]
//!
//!  docs/13.doc                   job 13's 300 KiB document, byte for byte
//!                                (the entry names it: length + SHA-256)
//!
//!  history/0000000001-0000001024.hist   job 12 after it finished and the
//!                                core let it go: meta + document, sorted by
//!                                id, with a footer index (read by id)
//! ```
//!
//! A small job is one entry: its meta and its document together, no file
//! of its own. A state change is one more entry with the new meta (the
//! document stays where it is). A job leaves the journal with a `Forget`
//! entry once history holds it; the journal then holds only live jobs,
//! and compaction ([`compact`]) copies the live ones out of old segments
//! so the journal's size follows them, not the traffic.
//!
//! Compaction copies the live jobs of the oldest sealed segment that is
//! mostly dead ([`compact::MOSTLY_DEAD`]) once more than
//! [`compact::KEEP_SEALED`] segments are sealed; mostly live segments
//! stay, so the journal is bounded by about twice the live jobs' size and
//! compaction always ends (copying a mostly live segment would fill a new
//! one to compact, for ever). It copies only a job
//! with no write in flight, so that an `Update` (which names no document)
//! never follows a copy whose document it would need from a removed
//! segment. A restart appends to the previous run's spare segment when it
//! was never written (all zeros) instead of preparing a new one, so a
//! full disk does not keep the daemon from starting at all; a spare with
//! any byte written (a torn header) is removed, never reused.
//!
//! # History
//!
//! When the core lets go of a finished job ([`Spool::release`]) it joins a
//! batch; the batch is sealed into one `history/<first>-<last>.hist`
//! ([`history`]) at [`HISTORY_BATCH`] jobs, when compaction runs, and at a
//! clean shutdown ([`Spool::seal_history`]), and then a `Forget` per job
//! takes them out of the journal ([`release`]). [`Spool::read_meta`] and
//! [`Spool::document`] read a live job from the journal and any other from
//! history. `printspoold cleanup` purges history segments only, beside a
//! running daemon ([`DiskHistory`]).
//!
//! # Why the order of writes is crash safe
//!
//! Three facts about POSIX file systems carry everything:
//!
//! 1. `rename(2)` within one file system is atomic: after a crash the new
//!    name shows either the old file or the new one, never a mix.
//! 2. Neither file data nor directory entries are on disk until synced:
//!    `fdatasync(file)` for the bytes, `fsync(dir)` for names created,
//!    renamed or removed in that directory. Until then the kernel may write
//!    them in any order, or not at all.
//! 3. `fdatasync` of a file whose blocks are already allocated (the
//!    segments are written with zeros when prepared) flushes the data
//!    only: no block allocation, no size change, no metadata to wait for.
//!
//! A log entry can be torn by a crash (half of a `pwrite` on disk), so
//! every entry carries its length and a CRC32 of its body: replay stops at
//! the first entry that is not whole ([`journal`]'s replay), and the
//! appender never writes after a torn tail (a restart starts a new
//! segment). A commit (Print-Job) is, in order:
//!
//! 1. [`Staging`] receives the document: in memory up to [`INLINE_MAX`];
//!    beyond, in `tmp/doc-N`, which [`Staging::finish`] fdatasyncs. The
//!    SHA-256 is computed as the bytes arrive.
//! 2. A spilled document is renamed to `docs/<id>.doc`.
//! 3. The `Accept` entry (meta, and the document inline or naming the
//!    file) goes to the journal's appender thread, which gathers every
//!    request waiting into one batch and: if an entry of the batch names a
//!    file, `fsync(docs/)` (the name is durable before any byte naming
//!    it); one `pwrite` of the batch; one `fdatasync` of the segment.
//! 4. Only then does [`Spool::commit`] return, and only then does the core
//!    acknowledge the job.
//!
//! A crash before step 3's sync completes leaves at most a torn or
//! unsynced tail, which replay ignores (that job was not acknowledged),
//! and perhaps a file in `docs/` no entry names (a stray for cleanup).
//! After it, the entry is durable and everything it names is too.
//! Concurrent jobs share step 3: one sync per batch (group commit), where
//! layout 1 paid two fdatasyncs per job on the request path.
//!
//! Adding a document to an existing job ([`Spool::attach`], Send-Document)
//! is the same with an `Attach` entry: the job itself is never at risk,
//! since until the entry is durable replay shows the job as it was.
//!
//! State changes ([`Spool::update`]) append an `Update` entry; a crash
//! shows the old meta or the new one, never a mix. Every entry of a job
//! carries a version, taken (and the entry queued) under the index lock
//! when `update` is *called*, so the log holds one job's entries in call
//! order and replay keeps the highest version.
//!
//! Removal ([`Spool::remove`]) appends a `Forget`, waits for it, then
//! unlinks `docs/<id>.doc`: a crash in between leaves a stray document,
//! never an entry naming a missing one. Ids are never reused: every
//! segment's header records the next id, and replay takes the next id
//! past every entry and every header (and past history's highest id).
//!
//! # "processing" is not waited on
//!
//! When a worker starts printing a job it records "processing" with
//! `update(…, durable: false)`: the entry is queued (in order, before
//! anything later) but the worker does not wait for it. A crash while
//! printing brings the job back pending, and it prints again, whether or
//! not "processing" reached the disk: restart treats both the same
//! (`restore_after_restart` in the core). Completion (and every other
//! outcome) is appended *and waited on* before the job may leave memory,
//! so a finished job is not printed twice after a later crash; with group
//! commit that wait shares its sync with every other writer. Test:
//! `processing_is_not_waited_on_and_completion_is`. Except while the
//! journal's writes fail (a full disk past the reserve, a file system
//! turned read-only): then "processing" is waited on too, so the worker
//! learns it cannot be recorded and leaves the job queued rather than
//! print it with no state on disk (tests/faults.rs, the read-only spool).
//!
//! # Recovery
//!
//! See [`open`]: `tmp/` is emptied; the journal is replayed to its last
//! whole entry in each segment, folding entries into the live index (per
//! job: version, where its latest meta is, where its document is — never
//! the bytes). Each `docs/` file a live job names is checked for its
//! length; the newest are hashed within a budget. A job whose document is
//! missing, of the wrong length, not a regular file or damaged is set
//! aside: its meta goes to `corrupt/<id>.job` with a `.reason`, and a
//! `Forget` is appended. The live jobs are then handed to the core one by
//! one ([`Recovery::jobs`] reads each meta with one `pread` as it is
//! reached): start-up reads live jobs only, never history, and never
//! holds every record at once.
//!
//! Start-up cost does not grow with history: the next id is past every
//! history segment's name (never its contents), and the only history
//! lookups are for live jobs whose id a segment's range covers (a crash
//! between sealing and forgetting, see [`release`]).
//!
//! # Migration
//!
//! A spool of layout 1 is migrated by [`Spool::open`] before anything else
//! ([`migrate`] and `open::migrate_v1`): layout 1's own recovery runs,
//! unfinished jobs are appended as `Accept` entries, finished ones are
//! sealed into history (documents inline up to [`INLINE_MAX`], else
//! renamed into `docs/`); everything is synced, then `format` is written,
//! then `jobs/` and `next-id` are removed. Until `format` exists layout 1
//! is the authority: a crash before it discards the partial journal and
//! history at the next open and migrates again (documents already renamed
//! are moved back first); a crash after it leaves only layout 1's files to
//! remove.

mod compact;
mod dircheck;
mod disk_history;
mod document;
mod error;
mod health;
pub mod history;
pub(crate) mod journal;
mod layout;
mod live;
mod lock;
pub mod migrate;
mod open;
mod paused;
// Layout 1's recovery: what migration (layout 1 to 2) runs first.
mod recover;
mod release;
mod staging;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::BTreeSet;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use disk_history::{DiskHistory, HistoryRecord, STRAY_AFTER};
pub use document::DocumentHandle;
pub use error::SpoolError;
pub use release::HISTORY_BATCH;
pub use staging::{StagedDocument, Staging};

use compact::Compactor;
use error::IoContext;
use health::Health;
use history::HistoryStore;
use journal::Journal;
use layout::SpoolLayout;
use live::{DocSlot, IndexCell};
use lock::SpoolLock;
use paused::PausedPrinters;

/// Ids count up to the largest IPP `integer` and then wrap to 1.
const MAX_JOB_ID: u32 = i32::MAX as u32;

/// Documents up to this size go into the journal entry itself; larger
/// ones into `docs/<id>.doc`.
pub const INLINE_MAX: u64 = 64 * 1024;

/// The committed document of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    pub len: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A live job found in the journal at start-up.
#[derive(Debug, Clone)]
pub struct RecoveredJob {
    pub id: u32,
    /// Exactly the bytes last given to [`Spool::commit`], [`Spool::update`]
    /// or [`Spool::attach`].
    pub meta: Vec<u8>,
    /// The document's length; `None` for a job created without one
    /// (Create-Job).
    pub document_len: Option<u64>,
}

/// What [`Spool::open`] found.
#[derive(Debug)]
pub struct Recovery {
    /// The live jobs, by id, each meta read from the journal only when the
    /// iterator reaches it: recovery never holds every record at once.
    pub jobs: RecoveredJobs,
    /// Jobs whose document was missing or damaged (moved to `corrupt/`).
    pub discarded: usize,
    /// Greater than every id ever used in this spool.
    pub next_id: u32,
}

/// The live jobs of a recovered spool, in id order (see [`Recovery`]).
pub struct RecoveredJobs {
    shared: Arc<SpoolShared>,
    ids: std::vec::IntoIter<u32>,
}

impl std::fmt::Debug for RecoveredJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveredJobs")
            .field("left", &self.ids.len())
            .finish()
    }
}

impl Iterator for RecoveredJobs {
    type Item = Result<RecoveredJob, SpoolError>;

    /// A job the index no longer holds (forgotten since open: a purge)
    /// is skipped: the iteration goes on with the next id.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let id = self.ids.next()?;
            let Some(job) = self.shared.index.lock().jobs.get(&id).cloned() else {
                continue;
            };
            let meta = match self.shared.read_current(id, |job| job.meta) {
                Ok(Some(meta)) => meta,
                Ok(None) => return Some(Err(SpoolError::NoSuchJob { id })),
                Err(e) => return Some(Err(e)),
            };
            return Some(Ok(RecoveredJob {
                id,
                meta,
                document_len: job.document.is_present().then(|| job.document.len()),
            }));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.ids.len()))
    }
}

/// Says whether a record (the core's meta, opaque to the spool) is that of
/// a finished job: migration sends those to history.
pub type IsFinished = fn(&[u8]) -> bool;

/// The spool of one daemon. `Send + Sync`; the core keeps it in an `Arc`.
///
/// Calls for the same job may overlap; of overlapping `update`s the one
/// called last wins (see [`Spool::update`]).
pub struct Spool {
    /// Declared first: its thread stops (and lets go of the spool) before
    /// `shared` is dropped.
    compactor: Compactor,
    shared: Arc<SpoolShared>,
}

struct SpoolShared {
    layout: SpoolLayout,
    max_document_bytes: u64,
    /// The next id [`Spool::reserve_id`] hands out; new segments' headers
    /// record it.
    next_id: Arc<AtomicU32>,
    /// Names temp files; unique because the lock keeps other processes out.
    serial: AtomicU64,
    index: Arc<IndexCell>,
    journal: Journal,
    /// Finished jobs the core released and the journal forgot.
    history: HistoryStore,
    /// Released jobs waiting to be sealed into history ([`release`]).
    history_batch: Mutex<BTreeSet<u32>>,
    /// One seal at a time.
    sealing: Mutex<()>,
    /// fdatasyncs of spilled (large) documents.
    document_syncs: Arc<AtomicU64>,
    /// One compaction at a time.
    compacting: Mutex<()>,
    /// Logs when writes start failing for lack of space or permission, and
    /// when they work again (see [`health`]).
    health: Arc<Health>,
    paused: PausedPrinters,
    /// Declared last so it is released last, after the journal's thread ends.
    _lock: SpoolLock,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.shared.layout.root)
            .field("max_document_bytes", &self.shared.max_document_bytes)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Creates the layout under `dir` (mode 0700 directories where missing),
    /// takes the lock ([`SpoolError::Locked`] if another process holds it),
    /// migrates a spool of layout 1 ([`migrate`]; `is_finished` says which
    /// of its records are finished jobs, which go to history), and
    /// recovers (see [`open`]): empties `tmp/`, replays the journal, moves
    /// jobs whose document is missing or damaged to `corrupt/`. Blocking;
    /// called once at start-up. The live jobs are read one by one as
    /// [`Recovery::jobs`] is iterated.
    pub fn open(
        dir: &Path,
        max_document_bytes: u64,
        is_finished: IsFinished,
    ) -> Result<(Spool, Recovery), SpoolError> {
        open::open(
            dir,
            max_document_bytes,
            is_finished,
            open::DEFAULT_SEGMENT_BYTES,
        )
    }

    pub fn dir(&self) -> &Path {
        &self.shared.layout.root
    }

    /// Whether the journal's appender thread runs: the spool can make jobs
    /// durable only while it does.
    pub fn can_commit(&self) -> bool {
        self.shared.journal.is_running()
    }

    /// Whether queue `name` was paused (and not resumed) by an
    /// administrator, before this start or since.
    pub fn is_printer_paused(&self, name: &str) -> bool {
        self.shared.paused.contains(name)
    }

    /// Records durably that queue `name` is paused or not, then runs
    /// `apply` (the caller's in-memory change) before any other such
    /// change. A small blocking write with two syncs: Pause-Printer is a
    /// rare administrator's request, answered only once it is on disk.
    pub fn set_printer_paused(
        &self,
        name: &str,
        paused: bool,
        apply: impl FnOnce(),
    ) -> Result<(), SpoolError> {
        let temp = self.shared.temp_path("paused");
        let result = self.shared.paused.set(name, paused, temp, apply);
        self.shared.health.observe(&result);
        result
    }

    /// A new document being received: in memory up to [`INLINE_MAX`],
    /// spilled to a temp file beyond.
    pub async fn stage(&self) -> Result<Staging, SpoolError> {
        let path = self.shared.temp_path("doc");
        let health = Arc::clone(&self.shared.health);
        let syncs = Arc::clone(&self.shared.document_syncs);
        Ok(Staging::create(
            path,
            self.shared.max_document_bytes,
            health,
            syncs,
        ))
    }

    /// Makes a new job `id` durable: an `Accept` entry with its meta and,
    /// if given, its document (inline, or naming `docs/<id>.doc`). Returns
    /// only once the entry is on stable storage; concurrent commits share
    /// the sync. On error nothing of the job remains visible. Runs to
    /// completion even if the caller stops waiting.
    pub async fn commit(
        &self,
        id: u32,
        meta: &[u8],
        document: Option<StagedDocument>,
    ) -> Result<Option<DocumentInfo>, SpoolError> {
        let shared = Arc::clone(&self.shared);
        let meta = meta.to_vec();
        let result =
            run_to_completion(async move { shared.commit(id, meta, document).await }).await;
        self.shared.health.observe(&result);
        self.compactor.poke(self.shared.journal.active_seq());
        result
    }

    /// Appends job `id`'s new meta. `durable: true` returns once it is on
    /// stable storage (for anything acknowledged to a client); `false`
    /// returns at once, and a crash may bring back the previous meta —
    /// never a damaged one (see "processing" in the module docs). While
    /// the journal's writes fail, `false` waits too: the caller learns that
    /// the spool cannot record the change (the print worker then does not
    /// print the job, see `core/worker.rs`), instead of a success that
    /// will never reach the disk.
    ///
    /// Ordering: of several updates of one job, the one *called* last ends
    /// up on disk, however their futures are awaited. The place in the log
    /// is taken by this call itself, not by the first poll, so a caller can
    /// serialize the meta and call `update` under its own (std) lock, and
    /// await the returned future after releasing it.
    pub fn update(
        &self,
        id: u32,
        meta: &[u8],
        durable: bool,
    ) -> impl Future<Output = Result<(), SpoolError>> + Send + 'static + use<> {
        let durable = durable || self.shared.journal.is_failing();
        let queued = self.shared.queue_update(id, meta.to_vec());
        let health = Arc::clone(&self.shared.health);
        async move {
            let written = queued?;
            if !durable {
                return Ok(());
            }
            let result = written.await.map(drop);
            health.observe(&result);
            result
        }
    }

    /// Gives job `id` (created without one) its document and its new meta,
    /// durably. The job itself is never at risk: on error it stays as it
    /// was, without a document.
    pub async fn attach(
        &self,
        id: u32,
        meta: &[u8],
        document: StagedDocument,
    ) -> Result<DocumentInfo, SpoolError> {
        let shared = Arc::clone(&self.shared);
        let meta = meta.to_vec();
        let result =
            run_to_completion(async move { shared.attach(id, meta, document).await }).await;
        self.shared.health.observe(&result);
        result
    }

    /// After `printspoold cleanup` purged history behind the daemon's
    /// back: true if the spool has no trace of job `id` any more. Cleanup
    /// purges sealed history only, and after open a job is never both live
    /// and in history ([`release`]), so a job the journal holds (every job
    /// the core holds) is never purged: this is true only for a job that
    /// left the journal and then history.
    pub fn forget_if_purged(&self, id: u32) -> bool {
        if self.shared.index.lock().jobs.contains_key(&id) {
            return false;
        }
        matches!(self.shared.history.contains(id), Ok(false))
    }

    /// The core let go of finished job `id`: it will never be written
    /// again. It stops counting in [`Spool::usage_bytes`] and joins the
    /// history batch; once [`HISTORY_BATCH`] jobs wait, the batch is sealed
    /// into history (on tokio's blocking pool) and the jobs leave the
    /// journal, so the next start does not read them.
    pub fn release(&self, id: u32) {
        if self.shared.release(id) {
            release::seal_in_background(&self.shared);
        }
    }

    /// Seals the jobs released so far into history and forgets them in
    /// the journal, durably (clean shutdown; compaction does the same).
    /// Returns how many jobs were sealed.
    pub async fn seal_history(&self) -> Result<usize, SpoolError> {
        let shared = Arc::clone(&self.shared);
        run_blocking(move || shared.seal_history()).await
    }

    /// The meta last recorded for job `id`: a live (or released, not yet
    /// sealed) job's from the journal (one `pread`), else a finished one's
    /// from history; `None` when neither has it. Blocking, small reads.
    pub fn read_meta(&self, id: u32) -> Result<Option<Vec<u8>>, SpoolError> {
        if self.shared.index.lock().jobs.contains_key(&id) {
            // `None` while being committed: nothing written yet.
            return self.shared.read_current(id, |job| job.meta);
        }
        Ok(self.shared.history.read(id)?.map(|hit| hit.entry.meta))
    }

    /// Visits the meta of every finished job the core let go of: the
    /// released ones still in the journal, then history's, streaming (one
    /// record in memory at a time). Blocking; reads all of history.
    pub fn scan_released(&self, mut visit: impl FnMut(u32, &[u8])) -> Result<(), SpoolError> {
        let released: Vec<u32> = {
            let index = self.shared.index.lock();
            let mut ids: Vec<u32> = index
                .jobs
                .iter()
                .filter(|(_, job)| job.released)
                .map(|(&id, _)| id)
                .collect();
            ids.sort_unstable();
            ids
        };
        for id in released {
            if let Some(meta) = self.shared.read_current(id, |job| job.meta)? {
                visit(id, &meta);
            }
        }
        self.shared
            .history
            .scan(|_, entry| visit(entry.id, &entry.meta))
            .map(drop)
    }

    /// Visits every job history holds (id, meta, document length), in
    /// segment then id order, streaming. Blocking.
    pub fn scan_history(
        &self,
        mut visit: impl FnMut(u32, &[u8], Option<u64>),
    ) -> Result<(), SpoolError> {
        self.shared
            .history
            .scan(|_, entry| {
                let len = match &entry.document {
                    history::HistoryDocument::None => None,
                    history::HistoryDocument::Inline { len, .. } => Some(*len),
                    history::HistoryDocument::File(info) => Some(info.len),
                };
                visit(entry.id, &entry.meta, len);
            })
            .map(drop)
    }

    /// Job `id`'s document, open for the print worker to read (see
    /// [`DocumentHandle`]). Blocking (an `open`). A missing document is an
    /// I/O error of kind `NotFound` naming `docs/<id>.doc`.
    pub fn document(&self, id: u32) -> Result<DocumentHandle, SpoolError> {
        self.shared.document(id)
    }

    /// Forgets job `id` (history purge of a live job): appends a `Forget`,
    /// waits until it is durable, then removes `docs/<id>.doc` if it had one.
    pub async fn remove(&self, id: u32) -> Result<(), SpoolError> {
        let shared = Arc::clone(&self.shared);
        run_to_completion(async move { shared.remove(id).await }).await
    }

    /// Hands out the next job id. Ids only grow (wrapping to 1 after
    /// `i32::MAX`) and survive restarts: every segment's header records
    /// the next id, and replay takes the next id past every entry.
    pub fn reserve_id(&self) -> u32 {
        let step = |n: u32| Some(if n >= MAX_JOB_ID { 1 } else { n + 1 });
        match self
            .shared
            .next_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, step)
        {
            Ok(id) | Err(id) => id,
        }
    }

    /// Bytes of the metas and documents of the jobs the core may still
    /// change: not staging files, and not finished jobs it
    /// [released](Spool::release).
    pub fn usage_bytes(&self) -> u64 {
        self.shared.index.lock().usage
    }

    /// Syncs on the request path since open: the journal's (one per batch
    /// of concurrent writers, plus `fsync(docs/)` for batches naming a
    /// document file) and one per spilled document. Divided by jobs it
    /// shows how well group commit shares them.
    pub fn sync_count(&self) -> u64 {
        self.shared.journal.syncs() + self.shared.document_syncs.load(Ordering::Relaxed)
    }

    /// [`Spool::open`] with small journal segments, so tests rotate and
    /// compact with few jobs.
    #[cfg(test)]
    pub(crate) fn open_with_segment_bytes(
        dir: &Path,
        max_document_bytes: u64,
        segment_bytes: u64,
    ) -> Result<(Spool, Recovery), SpoolError> {
        open::open(dir, max_document_bytes, |_| false, segment_bytes)
    }

    /// The journal's segments on disk (tests).
    #[cfg(test)]
    pub(crate) fn journal_segments(&self) -> Vec<u64> {
        self.shared.journal.segments().unwrap_or_default()
    }

    /// Compacts now, off the runtime's threads, until at most
    /// [`compact::KEEP_SEALED`] sealed segments remain; returns how many
    /// segments were removed. The background compactor does the same on
    /// its own; this is for tests and tools.
    pub fn compact_now(&self) -> Result<usize, SpoolError> {
        compact::compact(&self.shared)
    }
}

impl Drop for Spool {
    /// Shutdown: the history batch is sealed and its jobs forgotten, if
    /// [`Spool::seal_history`] did not do it already.
    fn drop(&mut self) {
        if let Err(e) = self.shared.seal_history() {
            tracing::warn!("finished jobs stay in the journal for now: {e}");
        }
    }
}

impl SpoolShared {
    fn temp_path(&self, kind: &str) -> PathBuf {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.layout.temp(kind, serial)
    }

    /// Reads the part of job `id` that `part` picks (its meta, its inline
    /// document) as the index says now. Compaction may remove the segment
    /// between looking the extent up and reading it; the index then
    /// already points at the copy, so the read is tried again there.
    fn read_current(
        &self,
        id: u32,
        part: impl Fn(&live::IndexedJob) -> Option<journal::Extent>,
    ) -> Result<Option<Vec<u8>>, SpoolError> {
        let current = || self.index.lock().jobs.get(&id).and_then(&part);
        let mut extent = current();
        loop {
            let Some(at) = extent else { return Ok(None) };
            match self.journal.read(at) {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(e) if is_not_found(&e) && current() != Some(at) => extent = current(),
                Err(e) => return Err(e),
            }
        }
    }

    fn document(&self, id: u32) -> Result<DocumentHandle, SpoolError> {
        loop {
            match self.open_document(id) {
                Err(e) if is_not_found(&e) && self.moved_by_compaction(id, &e) => continue,
                other => return other,
            }
        }
    }

    /// Whether `error` names a journal segment no longer holding job
    /// `id`'s inline document (compaction moved it meanwhile).
    fn moved_by_compaction(&self, id: u32, error: &SpoolError) -> bool {
        let SpoolError::Io { path, .. } = error else {
            return false;
        };
        let slot = self.index.lock().jobs.get(&id).map(|job| job.document);
        match slot {
            Some(DocSlot::Inline {
                extent: Some(extent),
                ..
            }) => journal::segment::segment_path(self.journal.dir(), extent.seq) != *path,
            _ => false,
        }
    }

    fn open_document(&self, id: u32) -> Result<DocumentHandle, SpoolError> {
        let slot = self.index.lock().jobs.get(&id).map(|job| job.document);
        let path = self.layout.doc_file(id);
        match slot {
            Some(DocSlot::Inline {
                extent: Some(extent),
                len,
            }) => {
                let segment = self.journal.reader(extent.seq)?;
                let segment_path = journal::segment::segment_path(self.journal.dir(), extent.seq);
                let file = segment.try_clone().context("open", &segment_path)?;
                Ok(DocumentHandle {
                    file,
                    offset: extent.offset,
                    len,
                    path: segment_path,
                })
            }
            Some(DocSlot::File { len, .. }) => {
                let file = open_document_file(&path)?;
                Ok(DocumentHandle {
                    file,
                    offset: 0,
                    len,
                    path,
                })
            }
            None => self.history_document(id),
            _ => Err(SpoolError::io(
                "open",
                &path,
                io::Error::from(io::ErrorKind::NotFound),
            )),
        }
    }

    /// A finished job's document, where history says it is: inside the
    /// segment (read through the handle the lookup opened, so a rewrite
    /// by cleanup cannot move the bytes) or `docs/<id>.doc`.
    fn history_document(&self, id: u32) -> Result<DocumentHandle, SpoolError> {
        let path = self.layout.doc_file(id);
        let not_found = || SpoolError::io("open", &path, io::Error::from(io::ErrorKind::NotFound));
        let Some(hit) = self.history.read(id)? else {
            return Err(not_found());
        };
        match hit.entry.document {
            history::HistoryDocument::Inline { offset, len } => Ok(DocumentHandle {
                file: hit.segment,
                offset,
                len,
                path: hit.path,
            }),
            history::HistoryDocument::File(info) => Ok(DocumentHandle {
                file: open_document_file(&path)?,
                offset: 0,
                len: info.len,
                path,
            }),
            history::HistoryDocument::None => Err(not_found()),
        }
    }
}

fn is_not_found(error: &SpoolError) -> bool {
    matches!(error, SpoolError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Opens `docs/<id>.doc` for reading, never through a symlink, never
/// blocking on a FIFO.
fn open_document_file(path: &Path) -> Result<std::fs::File, SpoolError> {
    match recover::open_regular(path) {
        Ok(file) => Ok(file),
        Err(recover::RegularFileError::Io(e)) => Err(SpoolError::io("open", path, e)),
        Err(recover::RegularFileError::NotRegular(what)) => Err(SpoolError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("not a regular file ({what})"),
        }),
    }
}

/// The next id: past every header's, every id seen, and history's.
fn first_free_id(candidates: &[u32]) -> u32 {
    let next = candidates.iter().copied().max().unwrap_or(1).max(1);
    if next > MAX_JOB_ID { 1 } else { next }
}

/// Creates `dir` (and missing parents) mode 0700; true if it was created.
fn create_private_dir(dir: &Path) -> Result<bool, SpoolError> {
    if dir.is_dir() {
        return Ok(false);
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .context("create directory", dir)?;
    Ok(true)
}

/// `dir`'s parent, `.` for a bare relative name.
fn parent_dir(dir: &Path) -> &Path {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    std::fs::File::open(dir)
        .and_then(|handle| handle.sync_all())
        .context("fsync directory", dir)
}

/// Runs blocking file work on tokio's blocking pool.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(runtime_gone()),
    }
}

/// Runs a spool operation as its own task, so that a caller who stops
/// waiting (a client hanging up) cannot cut it between two steps.
async fn run_to_completion<T: Send + 'static>(
    operation: impl Future<Output = Result<T, SpoolError>> + Send + 'static,
) -> Result<T, SpoolError> {
    match tokio::spawn(operation).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(runtime_gone()),
    }
}

fn runtime_gone() -> SpoolError {
    SpoolError::Io {
        op: "finish",
        path: PathBuf::from("spool operation"),
        source: io::Error::other("the runtime is shutting down"),
    }
}
