//! The durable on-disk spool: where a job lives from the moment the client
//! is told "accepted" until history purges it.
//!
//! # The promise
//!
//! A job is acknowledged only after its document and record are on stable
//! storage. A `kill -9` (or power cut) at any instant never loses an
//! acknowledged job and never shows a half-written one after restart. Only
//! one daemon uses a spool at a time.
//!
//! # Layout
//!
//! ```text
//! dir/lock            flock(2)ed by the running daemon ([`lock`])
//! dir/next-id         lowest id never handed out, once purges made it matter
//! dir/jobs/<id>.job   record: envelope header line + the core's meta ([`layout`])
//! dir/jobs/<id>.doc   the document, byte for byte as received
//! dir/tmp/            files being written; emptied at every start
//! dir/corrupt/        records recovery could not trust, kept for a human
//! dir/paused-printers queues an administrator paused ([`paused`])
//! ```
//!
//! Directories are created mode 0700: documents are private data. At
//! start the spool directory must be a real directory owned by the
//! daemon's user and not writable by group or others ([`dircheck`]), or
//! the daemon refuses to start.
//!
//! # Why the order of writes is crash safe
//!
//! Two facts about POSIX file systems carry everything:
//!
//! 1. `rename(2)` within one file system is atomic: after a crash the new
//!    name shows either the old file or the new one, never a mix.
//! 2. Neither file data nor directory entries are on disk until synced:
//!    `fdatasync(file)` for the bytes, `fsync(dir)` for names created,
//!    renamed or removed in that directory. Until then the kernel may write
//!    them in any order, or not at all.
//!
//! So nothing is ever written *in place* under `jobs/`. Every file is
//! written whole in `tmp/`, fdatasynced, and only then renamed into `jobs/`.
//! A name in `jobs/` therefore always points at complete, durable bytes.
//! A commit (Print-Job) is, in order:
//!
//! 1. [`Staging::write`] the document into `tmp/doc-N`, hashing as it goes;
//!    [`Staging::finish`] fdatasyncs it. Each job does this on its own, in
//!    parallel with the others.
//! 2. Write the record into `tmp/rec-N` and fdatasync it. Every byte of the
//!    job is now on disk, but under names nobody looks at: a crash here
//!    leaves temp files, and recovery deletes them. Writing the record
//!    *before* publishing anything also means a full disk (ENOSPC) fails
//!    the commit while nothing is visible yet; renames need no data blocks.
//! 3. Rename the document to `jobs/<id>.doc`, then the record to
//!    `jobs/<id>.job`. The record names the document's length and SHA-256.
//! 4. `fsync(jobs/)`, shared with every other job that reached step 3 (see
//!    [`commit`]: group commit). Only now does [`Spool::commit`] return, and only then
//!    does the core acknowledge the job.
//!
//! A crash before step 4 completes may leave any subset of the two renames
//! on disk — recovery sorts it out, and none of it was acknowledged:
//! a document with no record is deleted; a record whose document is
//! missing or of the wrong length is moved to `corrupt/` (never deleted:
//! the same sight is what a document moved away behind the daemon's back
//! leaves, and that job was acknowledged). After step 4 both names are
//! durable and point at durable bytes: the job survives.
//!
//! Adding a document to an existing job ([`Spool::attach`], Send-Document)
//! must not risk the job itself, which was already acknowledged: if the new
//! record could reach the disk before the document's rename, recovery would
//! find "a record whose document is missing" and set an acknowledged job
//! aside. So attach syncs twice: document rename, `fsync(jobs/)`, record
//! rename, `fsync(jobs/)`.
//!
//! State changes ([`Spool::update`]) replace the record the same way (temp,
//! fdatasync, rename), so a crash shows the old state or the new one. The
//! record's fdatasync is never skipped, even when the caller does not wait
//! for durability: skipping it could leave an empty record after a crash,
//! and an unreadable record is a lost job. What `durable: false` skips is
//! only the wait for the directory sync: the rename may be lost, and the
//! job comes back in its previous state (it prints again; it is not lost).
//!
//! Removal ([`Spool::remove`]) unlinks the record first, then the document:
//! a crash in between leaves a document without a record, which recovery
//! deletes. Ids are never reused: recovery takes the next id past every
//! file it sees, and before a purge could remove the highest id, `next-id`
//! is written (temp, fdatasync, rename, `fsync(dir)`) past it.
//!
//! # Recovery
//!
//! See [`recover`]: temp files and documents without a record are removed;
//! records it cannot trust (unreadable, document missing or damaged, not a
//! regular file) are moved to `corrupt/` with a reason file. Every document's length is
//! checked at start; hashes are checked newest first within a budget, since
//! only the newest documents can have been caught by a crash.

mod commit;
mod dircheck;
mod disk_history;
mod error;
mod health;
pub mod history;
mod layout;
mod lock;
pub mod migrate;
mod paused;
mod recover;
mod staging;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use disk_history::{DiskHistory, HistoryRecord, STRAY_AFTER};
pub use error::SpoolError;
pub use staging::{StagedDocument, Staging};

use commit::GroupSync;
use error::IoContext;
use health::Health;
use layout::{JobFile, SpoolLayout, decode_record, encode_record};
use lock::SpoolLock;
use paused::PausedPrinters;
use staging::{TempFile, write_new_file_synced};

/// Ids count up to the largest IPP `integer` and then wrap to 1.
const MAX_JOB_ID: u32 = i32::MAX as u32;

/// The committed document of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    pub len: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A job found on disk at start-up.
#[derive(Debug, Clone)]
pub struct RecoveredJob {
    pub id: u32,
    /// Exactly the bytes last given to [`Spool::commit`], [`Spool::update`]
    /// or [`Spool::attach`].
    pub meta: Vec<u8>,
    /// `None` for a job created without a document (Create-Job).
    pub document: Option<DocumentInfo>,
}

/// What [`Spool::open`] found.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Sorted by id.
    pub jobs: Vec<RecoveredJob>,
    /// Half-written or corrupt entries removed (or moved to `corrupt/`).
    pub discarded: usize,
    /// Greater than every id ever used in this spool.
    pub next_id: u32,
}

/// The spool of one daemon. `Send + Sync`; the core keeps it in an `Arc`.
///
/// Calls for the same job may overlap; of overlapping `update`s the one
/// called last wins (see [`Spool::update`]).
pub struct Spool {
    shared: Arc<SpoolShared>,
}

struct SpoolShared {
    layout: SpoolLayout,
    max_document_bytes: u64,
    /// The next id [`Spool::reserve_id`] hands out.
    next_id: AtomicU32,
    /// The value last made durable in `next-id` (0: none).
    persisted_next_id: tokio::sync::Mutex<u32>,
    /// Names temp files; unique because the lock keeps other processes out.
    serial: AtomicU64,
    index: Mutex<Index>,
    group: GroupSync,
    /// Logs when writes start failing for lack of space or permission, and
    /// when they work again (see [`health`]).
    health: Arc<Health>,
    paused: PausedPrinters,
    /// Declared last so it is released last, after the sync thread ends.
    _lock: SpoolLock,
}

/// The spool's view of the jobs it writes: every job the core may still
/// change. A finished job the core let go of ([`Spool::release`]) stays in
/// `jobs/` but leaves the index, so the index does not grow with history.
#[derive(Default)]
struct Index {
    jobs: HashMap<u32, IndexedJob>,
    /// Bytes of the records and documents of the jobs in `jobs`.
    usage: u64,
}

struct IndexedJob {
    document: DocSlot,
    record_bytes: u64,
    /// Sequence number for the next record write of this job.
    next_seq: u64,
    /// The sequence number of the record now in `jobs/`; held while
    /// renaming so an older write never replaces a newer one.
    installed: Arc<Mutex<u64>>,
}

impl Index {
    /// A `HashMap` keeps the capacity of its largest size; after a burst
    /// of queued jobs has printed, give most of it back (the map is then
    /// small, so rebuilding it is cheap, and halving capacity at a quarter
    /// full means it does not happen again until the size halves again).
    fn shrink_after_burst(&mut self) {
        let capacity = self.jobs.capacity();
        if capacity > 256 && self.jobs.len() < capacity / 4 {
            self.jobs.shrink_to(capacity / 2);
        }
    }
}

/// An update's place in line, taken when `update` is called.
struct UpdateTicket {
    seq: u64,
    installed: Arc<Mutex<u64>>,
    document: Option<DocumentInfo>,
}

#[derive(Debug, Clone)]
enum DocSlot {
    Absent,
    /// `attach` is publishing it; records written meanwhile name none.
    Attaching,
    Present(DocumentInfo),
}

impl DocSlot {
    fn present(&self) -> Option<&DocumentInfo> {
        match self {
            DocSlot::Present(info) => Some(info),
            _ => None,
        }
    }
}

impl IndexedJob {
    fn new(document: DocSlot) -> IndexedJob {
        IndexedJob {
            document,
            record_bytes: 0,
            next_seq: 1,
            installed: Arc::new(Mutex::new(0)),
        }
    }

    fn usage(&self) -> u64 {
        self.record_bytes + self.document.present().map_or(0, |d| d.len)
    }

    fn take_seq(&mut self) -> (u64, Arc<Mutex<u64>>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        (seq, Arc::clone(&self.installed))
    }
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
    /// and recovers: removes temp files and unpublished documents, moves
    /// records it cannot trust to `corrupt/`, and returns the rest. Blocking;
    /// called once at start-up.
    pub fn open(dir: &Path, max_document_bytes: u64) -> Result<(Spool, Recovery), SpoolError> {
        let layout = SpoolLayout::new(dir);
        // Whatever is at the path is checked as it is, a symbolic link
        // included (a dangling one must not make us create its target).
        let created_root = match std::fs::symlink_metadata(&layout.root) {
            Ok(_) => false,
            Err(_) => create_private_dir(&layout.root)?,
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        dircheck::check_private_root(&layout.root, unsafe { libc::geteuid() })?;
        let lock = SpoolLock::acquire(&layout.lock_file())?;
        let mut created = created_root;
        for sub in [&layout.jobs, &layout.tmp, &layout.corrupt] {
            created |= create_private_dir(sub)?;
        }
        if created {
            // New directory entries are durable only once their parent is
            // synced; a commit syncs only jobs/ itself.
            sync_dir(&layout.root)?;
            if created_root {
                sync_dir(parent_dir(&layout.root))?;
            }
        }

        let scan = recover::recover(&layout)?;
        let next_id = first_free_id(scan.persisted_next_id, scan.highest_id_seen);
        let mut persisted = scan.persisted_next_id.unwrap_or(0);
        if scan.discarded > 0 && persisted < next_id {
            // Ids of discarded files must not come back after a purge.
            persist_next_id(&layout, &layout.temp("next-id", 0), next_id)?;
            persisted = next_id;
        }

        let mut index = Index::default();
        let mut jobs = Vec::with_capacity(scan.survivors.len());
        for survivor in scan.survivors {
            let mut entry = IndexedJob::new(match &survivor.job.document {
                Some(doc) => DocSlot::Present(doc.clone()),
                None => DocSlot::Absent,
            });
            entry.record_bytes = survivor.record_bytes;
            index.usage += entry.usage();
            index.jobs.insert(survivor.job.id, entry);
            jobs.push(survivor.job);
        }

        let paused = PausedPrinters::load(&layout.paused_file())?;
        let group = GroupSync::start(&layout.jobs)?;
        let health = Arc::new(Health::new(layout.root.clone()));
        let spool = Spool {
            shared: Arc::new(SpoolShared {
                layout,
                max_document_bytes,
                next_id: AtomicU32::new(next_id),
                persisted_next_id: tokio::sync::Mutex::new(persisted),
                serial: AtomicU64::new(1),
                index: Mutex::new(index),
                group,
                health,
                paused,
                _lock: lock,
            }),
        };
        let recovery = Recovery {
            jobs,
            discarded: scan.discarded,
            next_id,
        };
        Ok((spool, recovery))
    }

    pub fn dir(&self) -> &Path {
        &self.shared.layout.root
    }

    /// Whether the group-commit thread runs (see [`commit`]): the spool can
    /// make jobs durable only while it does.
    pub fn can_commit(&self) -> bool {
        self.shared.group.is_running()
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

    /// A new temp file for a document being received.
    pub async fn stage(&self) -> Result<Staging, SpoolError> {
        let path = self.shared.temp_path("doc");
        let health = Arc::clone(&self.shared.health);
        Staging::create(path, self.shared.max_document_bytes, health).await
    }

    /// Makes a new job `id` durable: its record `meta` and, if given, its
    /// document. Returns only when both names and their bytes are on stable
    /// storage; concurrent commits share the directory sync. On error
    /// nothing of the job remains visible. Runs to completion even if the
    /// caller stops waiting.
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
        result
    }

    /// Replaces job `id`'s record atomically. `durable: true` waits for the
    /// directory sync (for anything acknowledged to a client); `false`
    /// returns after the rename, and a crash may bring back the previous
    /// record — never a damaged one.
    ///
    /// Ordering: of several updates of one job, the one *called* last ends
    /// up on disk, however their futures are awaited. The place in line is
    /// taken by this call itself, not by the first poll, so a caller can
    /// serialize the meta and call `update` under its own (std) lock, and
    /// await the returned future after releasing it.
    pub fn update(
        &self,
        id: u32,
        meta: &[u8],
        durable: bool,
    ) -> impl Future<Output = Result<(), SpoolError>> + Send + 'static + use<> {
        let ticket = self.shared.begin_update(id);
        let shared = Arc::clone(&self.shared);
        let meta = meta.to_vec();
        async move {
            let ticket = ticket?;
            let health = Arc::clone(&shared.health);
            let result =
                run_to_completion(async move { shared.update(id, meta, ticket, durable).await })
                    .await;
            health.observe(&result);
            result
        }
    }

    /// Gives job `id` (created without one) its document and replaces its
    /// record, durably. The job itself is never at risk: on error it stays
    /// as it was, without a document.
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

    /// After `printspoold cleanup` purged job `id` behind the daemon's
    /// back (see [`DiskHistory`]): forgets it if its record is gone. Returns
    /// whether it was.
    pub fn forget_if_purged(&self, id: u32) -> bool {
        let gone = !self.shared.layout.record(id).exists();
        if gone {
            self.shared.forget(id);
        }
        gone
    }

    /// The core let go of finished job `id`: it will never be written
    /// again, so it leaves the index. Its files stay in `jobs/` for
    /// [`Spool::read_meta`] and for `printspoold cleanup`.
    pub fn release(&self, id: u32) {
        self.shared.forget(id);
    }

    /// The meta last recorded for job `id`, read from its record on disk;
    /// `None` when there is no such record (never existed, or purged).
    /// Blocking, one small read: for the rare lookup of a finished job the
    /// core no longer holds in memory.
    pub fn read_meta(&self, id: u32) -> Result<Option<Vec<u8>>, SpoolError> {
        let path = self.shared.layout.record(id);
        // Never blocking on a FIFO, never through a symlink (recover.rs).
        let bytes = match recover::read_small_file(&path) {
            Ok(bytes) => bytes,
            Err(recover::RegularFileError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(recover::RegularFileError::Io(e)) => return Err(SpoolError::io("read", &path, e)),
            Err(recover::RegularFileError::NotRegular(what)) => {
                let reason = format!("not a regular file ({what})");
                return Err(SpoolError::Corrupt { path, reason });
            }
        };
        decode_record(&bytes)
            .map(|record| Some(record.meta))
            .map_err(|reason| SpoolError::Corrupt { path, reason })
    }

    /// The ids of every record in `jobs/`, in no particular order.
    /// Blocking: lists the directory.
    pub fn record_ids(&self) -> Result<Vec<u32>, SpoolError> {
        let jobs = &self.shared.layout.jobs;
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(jobs).context("list", jobs)? {
            let entry = entry.context("list", jobs)?;
            if let Some(JobFile::Record(id)) = JobFile::classify(&entry.file_name()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Where job `id`'s document is, for the print worker to read.
    pub fn document_path(&self, id: u32) -> PathBuf {
        self.shared.layout.document(id)
    }

    /// Deletes job `id`'s record, then its document (history purge), and
    /// waits until the removal is durable.
    pub async fn remove(&self, id: u32) -> Result<(), SpoolError> {
        let shared = Arc::clone(&self.shared);
        run_to_completion(async move { shared.remove(id).await }).await
    }

    /// Hands out the next job id. Ids only grow (wrapping to 1 after
    /// `i32::MAX`) and survive restarts: recovery starts past every file it
    /// finds, and `remove` records `next-id` before deleting the highest.
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

    /// Bytes used by the records and committed documents of the jobs the
    /// spool tracks: not staging files, and not finished jobs the core
    /// [released](Spool::release) (those are cleanup's business).
    pub fn usage_bytes(&self) -> u64 {
        self.shared.index().usage
    }

    /// Directory fsyncs done since open; divided by commits it shows how
    /// well group commit shares them.
    pub fn directory_syncs(&self) -> u64 {
        self.shared.group.directory_syncs()
    }
}

impl SpoolShared {
    fn index(&self) -> MutexGuard<'_, Index> {
        // Never held across an await or a panic-prone call; a poisoned one
        // means a bug left it half changed, and usage figures built on
        // it would be wrong: never recovered.
        match self.index.lock() {
            Ok(index) => index,
            Err(_) => crate::supervisor::abort_on_poisoned_lock("the spool index"),
        }
    }

    fn temp_path(&self, kind: &str) -> PathBuf {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.layout.temp(kind, serial)
    }

    async fn commit(
        self: Arc<Self>,
        id: u32,
        meta: Vec<u8>,
        document: Option<StagedDocument>,
    ) -> Result<Option<DocumentInfo>, SpoolError> {
        let info = document.as_ref().map(|doc| doc.info.clone());
        let (seq, installed) = self.insert_new_entry(id, info.clone())?;
        let record = encode_record(id, &meta, info.as_ref());
        let shared = Arc::clone(&self);
        let published =
            run_blocking(move || shared.publish_new_job(id, seq, &installed, &record, document))
                .await;
        if let Err(e) = published {
            self.forget(id);
            return Err(e);
        }
        if let Err(e) = self.group.sync().await {
            // Not acknowledged: do not let it appear at the next start.
            let shared = Arc::clone(&self);
            let _ = run_blocking(move || shared.unlink_job_files(id)).await;
            self.forget(id);
            return Err(e);
        }
        Ok(info)
    }

    /// Steps 2 and 3 of the module docs, on a blocking thread.
    fn publish_new_job(
        &self,
        id: u32,
        seq: u64,
        installed: &Mutex<u64>,
        record: &[u8],
        document: Option<StagedDocument>,
    ) -> Result<(), SpoolError> {
        let record_temp = self.write_temp(record)?;
        let document_path = self.layout.document(id);
        if let Some(doc) = document {
            std::fs::rename(doc.temp.path(), &document_path)
                .context("move the document to", &document_path)?;
            doc.temp.disarm();
        }
        let result = self.install_record(id, seq, installed, record_temp);
        if result.is_err() {
            // No record names it; removing it keeps jobs/ tidy.
            let _ = std::fs::remove_file(&document_path);
        }
        result.map(drop)
    }

    /// Takes an update's place in line: its sequence number, and the
    /// document the record will name.
    fn begin_update(&self, id: u32) -> Result<UpdateTicket, SpoolError> {
        let mut index = self.index();
        let entry = index
            .jobs
            .get_mut(&id)
            .ok_or(SpoolError::NoSuchJob { id })?;
        let (seq, installed) = entry.take_seq();
        Ok(UpdateTicket {
            seq,
            installed,
            document: entry.document.present().cloned(),
        })
    }

    async fn update(
        self: Arc<Self>,
        id: u32,
        meta: Vec<u8>,
        ticket: UpdateTicket,
        durable: bool,
    ) -> Result<(), SpoolError> {
        let UpdateTicket {
            seq,
            installed,
            document,
        } = ticket;
        let record = encode_record(id, &meta, document.as_ref());
        let shared = Arc::clone(&self);
        run_blocking(move || {
            let temp = shared.write_temp(&record)?;
            shared.install_record(id, seq, &installed, temp)
        })
        .await?;
        if durable {
            self.group.sync().await?;
        }
        Ok(())
    }

    async fn attach(
        self: Arc<Self>,
        id: u32,
        meta: Vec<u8>,
        document: StagedDocument,
    ) -> Result<DocumentInfo, SpoolError> {
        self.begin_attach(id)?;
        let info = document.info.clone();
        let record = encode_record(id, &meta, Some(&info));
        let shared = Arc::clone(&self);
        let published = run_blocking(move || {
            let record_temp = shared.write_temp(&record)?;
            let path = shared.layout.document(id);
            std::fs::rename(document.temp.path(), &path).context("move the document to", &path)?;
            document.temp.disarm();
            Ok(record_temp)
        })
        .await;
        let record_temp = match published {
            Ok(temp) => temp,
            Err(e) => {
                self.abandon_attach(id);
                return Err(e);
            }
        };
        // The document's name must be durable before any record names it.
        if let Err(e) = self.group.sync().await {
            let path = self.layout.document(id);
            let _ =
                run_blocking(move || std::fs::remove_file(&path).context("remove", &path)).await;
            self.abandon_attach(id);
            return Err(e);
        }
        let (seq, installed) = self.set_document(id, DocSlot::Present(info.clone()))?;
        let shared = Arc::clone(&self);
        let installed_record =
            run_blocking(move || shared.install_record(id, seq, &installed, record_temp)).await;
        if let Err(e) = installed_record {
            // The document file stays: a concurrent update may already name
            // it. If nothing does, recovery removes it as an orphan.
            self.abandon_attach(id);
            return Err(e);
        }
        self.group.sync().await?;
        Ok(info)
    }

    async fn remove(self: Arc<Self>, id: u32) -> Result<(), SpoolError> {
        self.persist_next_id_past(id).await?;
        let installed = {
            let mut index = self.index();
            let entry = index.jobs.remove(&id).ok_or(SpoolError::NoSuchJob { id })?;
            index.usage -= entry.usage();
            entry.installed
        };
        let shared = Arc::clone(&self);
        run_blocking(move || {
            // Writes still in flight for this job must not bring it back.
            *lock(&installed) = u64::MAX;
            shared.unlink_job_files(id)
        })
        .await?;
        self.group.sync().await
    }

    /// Makes sure `next-id` on disk is past `id`, so that removing the job
    /// with the highest id cannot make its id come back after a restart.
    async fn persist_next_id_past(&self, id: u32) -> Result<(), SpoolError> {
        let mut persisted = self.persisted_next_id.lock().await;
        if *persisted > id {
            return Ok(());
        }
        let value = self
            .next_id
            .load(Ordering::SeqCst)
            .max(id.saturating_add(1));
        let layout = self.layout.clone();
        let temp = self.temp_path("next-id");
        run_blocking(move || persist_next_id(&layout, &temp, value)).await?;
        *persisted = value;
        Ok(())
    }

    fn insert_new_entry(
        &self,
        id: u32,
        document: Option<DocumentInfo>,
    ) -> Result<(u64, Arc<Mutex<u64>>), SpoolError> {
        let mut index = self.index();
        if index.jobs.contains_key(&id) {
            return Err(SpoolError::IdInUse { id });
        }
        let mut entry = IndexedJob::new(match document {
            Some(doc) => DocSlot::Present(doc),
            None => DocSlot::Absent,
        });
        let seq = entry.take_seq();
        index.usage += entry.usage();
        index.jobs.insert(id, entry);
        Ok(seq)
    }

    fn forget(&self, id: u32) {
        let mut index = self.index();
        if let Some(entry) = index.jobs.remove(&id) {
            index.usage -= entry.usage();
            index.shrink_after_burst();
        }
    }

    fn begin_attach(&self, id: u32) -> Result<(), SpoolError> {
        let mut index = self.index();
        let entry = index
            .jobs
            .get_mut(&id)
            .ok_or(SpoolError::NoSuchJob { id })?;
        match entry.document {
            DocSlot::Absent => {
                entry.document = DocSlot::Attaching;
                Ok(())
            }
            _ => Err(SpoolError::DocumentExists { id }),
        }
    }

    /// The job goes back to having no document (if it still exists).
    fn abandon_attach(&self, id: u32) {
        // NoSuchJob: removed meanwhile, nothing to put back.
        let _ = self.set_document(id, DocSlot::Absent);
    }

    /// Sets the job's document slot, keeping `usage` right, and returns a
    /// sequence number for the record write that goes with it.
    fn set_document(&self, id: u32, slot: DocSlot) -> Result<(u64, Arc<Mutex<u64>>), SpoolError> {
        let mut guard = self.index();
        let index = &mut *guard;
        let entry = index
            .jobs
            .get_mut(&id)
            .ok_or(SpoolError::NoSuchJob { id })?;
        index.usage -= entry.usage();
        entry.document = slot;
        index.usage += entry.usage();
        Ok(entry.take_seq())
    }

    /// Writes `bytes` whole into a new temp file and fdatasyncs it.
    fn write_temp(&self, bytes: &[u8]) -> Result<TempFile, SpoolError> {
        let temp = TempFile::new(self.temp_path("rec"));
        write_new_file_synced(temp.path(), bytes)?;
        Ok(temp)
    }

    /// Renames a synced temp record over `jobs/<id>.job`, unless a record
    /// write that started later is already there. Returns whether it did.
    fn install_record(
        &self,
        id: u32,
        seq: u64,
        installed: &Mutex<u64>,
        temp: TempFile,
    ) -> Result<bool, SpoolError> {
        let mut current = lock(installed);
        if *current >= seq {
            return Ok(false);
        }
        let path = self.layout.record(id);
        let bytes = std::fs::metadata(temp.path()).map_or(0, |m| m.len());
        std::fs::rename(temp.path(), &path).context("move the record to", &path)?;
        temp.disarm();
        *current = seq;
        drop(current);
        let mut guard = self.index();
        let index = &mut *guard;
        if let Some(entry) = index.jobs.get_mut(&id) {
            index.usage = index.usage - entry.record_bytes + bytes;
            entry.record_bytes = bytes;
        }
        Ok(true)
    }

    /// Record first: a crash in between leaves an orphan document, which
    /// recovery removes, never a record without its document.
    fn unlink_job_files(&self, id: u32) -> Result<(), SpoolError> {
        remove_if_present(&self.layout.record(id))?;
        remove_if_present(&self.layout.document(id))
    }
}

fn lock(installed: &Mutex<u64>) -> MutexGuard<'_, u64> {
    match installed.lock() {
        Ok(guard) => guard,
        Err(_) => crate::supervisor::abort_on_poisoned_lock("a spool record"),
    }
}

fn remove_if_present(path: &Path) -> Result<(), SpoolError> {
    match std::fs::remove_file(path) {
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

/// `next-id`: temp, fdatasync, rename, fsync of the directory.
fn persist_next_id(layout: &SpoolLayout, temp: &Path, value: u32) -> Result<(), SpoolError> {
    let temp = TempFile::new(temp.to_path_buf());
    write_new_file_synced(temp.path(), recover::next_id_text(value).as_bytes())?;
    let target = layout.next_id_file();
    std::fs::rename(temp.path(), &target).context("move next-id to", &target)?;
    temp.disarm();
    sync_dir(&layout.root)
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
