//! Opening a spool (layout 2): the directories, the lock, the journal's
//! replay, the check of document files, and the live index.
//!
//! Recovery does not read history (only its segment names, for the next
//! id, and a lookup for a live job whose id a segment covers), and holds
//! no meta: the index built here says where each live job's meta is, and
//! [`RecoveredJobs`] reads them one by one as the core takes them.
//!
//! A spool of layout 1 is migrated first ([`migrate_v1`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::compact::Compactor;
use super::dircheck;
use super::error::IoContext;
use super::health::Health;
use super::history::{DocumentToSeal, HistoryStore, JobToSeal, OnDamage};
use super::journal::EntryDocument;
use super::journal::segment::parse_segment_name;
use super::journal::{Journal, JournalPaths, LiveDocument, LiveJob, Record, SEGMENT_BYTES};
use super::layout::SpoolLayout;
use super::layout::sha256_from_hex;
use super::live::{DocSlot, Index, IndexCell, IndexedJob};
use super::lock::SpoolLock;
use super::migrate::{self, V1Job};
use super::paused::PausedPrinters;
use super::recover::{self, HASH_BUDGET_BYTES, HASH_BUDGET_FILES};
use super::release::{HISTORY_BATCH, in_history};
use super::staging::{TempFile, write_new_file_synced};
use super::{
    INLINE_MAX, IsFinished, RecoveredJobs, Recovery, Spool, SpoolError, SpoolShared,
    create_private_dir, first_free_id, parent_dir, sync_dir,
};

/// What `format` says for this layout.
pub(crate) const FORMAT_2: &str = "printspoold spool 2\n";

pub(super) fn open(
    dir: &Path,
    max_document_bytes: u64,
    is_finished: IsFinished,
    segment_bytes: u64,
) -> Result<(Spool, Recovery), SpoolError> {
    let layout = SpoolLayout::new(dir);
    let (lock, layout_1) = prepare_directories(&layout)?;
    if layout_1 {
        migrate_v1(&layout, is_finished, segment_bytes)?;
    }
    recover::empty_temp_dir(&layout.tmp)?;
    let history = HistoryStore::open(&layout.root, OnDamage::Quarantine)?;
    quarantine_odd_segments(&layout)?;
    let paths = journal_paths(&layout);
    let replayed = Journal::replay(&paths)?;
    let next_id = first_free_id(&[
        replayed.header_next_id,
        replayed.highest_id.saturating_add(1),
        history.highest_id()?.saturating_add(1),
    ]);
    let (live, damaged) = check_documents(&layout, &replayed.live);
    let next_id_cell = Arc::new(AtomicU32::new(next_id));
    let journal = Journal::start(paths, segment_bytes, &replayed, Arc::clone(&next_id_cell))?;
    let discarded = quarantine_all(&layout, &journal, &replayed.live, &damaged)?;
    let (live, sealed) = without_sealed(live, &history);
    forget_sealed(&journal, &sealed)?;

    let mut index = Index::default();
    let ids: Vec<u32> = live.keys().copied().collect();
    for (id, job) in live {
        let mut indexed = IndexedJob::new(DocSlot::from_live(job.document));
        indexed.version = job.version;
        indexed.written = job.version;
        indexed.meta = Some(job.meta);
        index.insert(id, indexed);
    }
    let paused = PausedPrinters::load(&layout.paused_file())?;
    let health = Arc::new(Health::new(layout.root.clone()));
    let shared = Arc::new(SpoolShared {
        layout,
        max_document_bytes,
        next_id: next_id_cell,
        serial: AtomicU64::new(1),
        index: Arc::new(IndexCell::new(index)),
        journal,
        history,
        history_batch: Mutex::new(std::collections::BTreeSet::new()),
        sealing: Mutex::new(()),
        document_syncs: Arc::new(AtomicU64::new(0)),
        compacting: Mutex::new(()),
        health,
        paused,
        _lock: lock,
    });
    let compactor = Compactor::start(&shared)?;
    let recovery = Recovery {
        jobs: RecoveredJobs {
            shared: Arc::clone(&shared),
            ids: ids.into_iter(),
        },
        discarded,
        next_id,
    };
    Ok((Spool { shared, compactor }, recovery))
}

fn journal_paths(layout: &SpoolLayout) -> JournalPaths {
    JournalPaths {
        journal: layout.journal.clone(),
        tmp: layout.tmp.clone(),
        docs: layout.docs.clone(),
    }
}

/// Creates what is missing (mode 0700), checks the root is private, takes
/// the lock; true with it when the spool has layout 1 still (`jobs/`, and
/// `format` does not say 2): it must be migrated, and `format` is written
/// only once that is done.
fn prepare_directories(layout: &SpoolLayout) -> Result<(SpoolLock, bool), SpoolError> {
    // Whatever is at the path is checked as it is, a symbolic link
    // included (a dangling one must not make us create its target).
    let created_root = match std::fs::symlink_metadata(&layout.root) {
        Ok(_) => false,
        Err(_) => create_private_dir(&layout.root)?,
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    dircheck::check_private_root(&layout.root, unsafe { libc::geteuid() })?;
    check_own_entries(layout)?;
    let lock = SpoolLock::acquire(&layout.lock_file())?;
    let format = std::fs::read_to_string(layout.format_file()).ok();
    let layout_1 = layout.jobs.is_dir() && format.as_deref() != Some(FORMAT_2);
    let mut created = created_root;
    for sub in [&layout.tmp, &layout.corrupt, &layout.journal, &layout.docs] {
        created |= create_private_dir(sub)?;
    }
    if created {
        // New directory entries are durable only once their parent is.
        sync_dir(&layout.root)?;
        if created_root {
            sync_dir(parent_dir(&layout.root))?;
        }
    }
    // tmp/ is ours once the lock is held, and emptied before anything is
    // written through it: a crash while `format` was being written leaves
    // its temp file behind.
    recover::empty_temp_dir(&layout.tmp)?;
    if format.as_deref() != Some(FORMAT_2) && !layout_1 {
        write_format(layout)?;
    }
    if !layout_1 && layout.jobs.is_dir() {
        // A migration that wrote `format` and stopped before removing
        // layout 1's files.
        migrate::finish_v1(&layout.root)?;
    }
    Ok((lock, layout_1))
}

/// Moves aside every entry of `journal/` named like a segment that is not
/// a regular file: replay's `open` would block on a FIFO until a writer
/// came, and a symbolic link is never read through. Each goes to
/// `corrupt/` as it is (never opened), with a `.reason`. None of them can
/// hold an acknowledged entry: the appender only writes segments it
/// created as regular files.
fn quarantine_odd_segments(layout: &SpoolLayout) -> Result<(), SpoolError> {
    let journal = &layout.journal;
    let mut moved = false;
    for entry in std::fs::read_dir(journal).context("list", journal)? {
        let entry = entry.context("list", journal)?;
        let name = entry.file_name();
        if name.to_str().and_then(parse_segment_name).is_none() {
            continue;
        }
        // The entry's own type (lstat): a symlink is not followed.
        let path = entry.path();
        let kind = entry.file_type().context("stat", &path)?;
        if kind.is_file() {
            continue;
        }
        let reason = format!(
            "named like a journal segment, but {}",
            recover::describe(&kind)
        );
        let target = recover::free_name_in(&layout.corrupt, &layout.corrupt.join(&name));
        std::fs::rename(&path, &target).context("move aside", &path)?;
        let mut reason_path = target.clone().into_os_string();
        reason_path.push(".reason");
        let reason_path = std::path::PathBuf::from(reason_path);
        recover::write_reason(&reason_path, &reason).context("write", &reason_path)?;
        tracing::error!("spool: {} set aside in corrupt/: {reason}", path.display());
        moved = true;
    }
    if moved {
        sync_dir(journal)?;
        sync_dir(&layout.corrupt)?;
    }
    Ok(())
}

/// Refuses a spool whose own entries are not what the spool makes: a
/// directory that is a symbolic link would be followed (`tmp/` emptied
/// wherever it points, segments and documents written there), and a
/// FIFO at `format` would block its read until a writer came. Absent
/// entries are fine (created next). Nothing is moved: what such an entry
/// stands for (a whole journal, say) is for an administrator to look at.
fn check_own_entries(layout: &SpoolLayout) -> Result<(), SpoolError> {
    let history = layout.root.join("history");
    let dirs = [
        &layout.tmp,
        &layout.corrupt,
        &layout.journal,
        &layout.docs,
        &history,
    ];
    let files = [layout.format_file(), layout.lock_file()];
    let wanted = dirs
        .into_iter()
        .map(|dir| (dir.as_path(), true))
        .chain(files.iter().map(|file| (file.as_path(), false)));
    for (path, want_dir) in wanted {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        let kind = meta.file_type();
        if (want_dir && kind.is_dir()) || (!want_dir && kind.is_file()) {
            continue;
        }
        return Err(SpoolError::UnsafeDir {
            path: path.to_path_buf(),
            problem: format!(
                "is {}, where the spool keeps its own {}",
                if kind.is_file() {
                    "a regular file"
                } else {
                    recover::describe(&kind)
                },
                if want_dir { "directory" } else { "file" }
            ),
        });
    }
    Ok(())
}

/// `format`: temp, fdatasync, rename, fsync of the root.
fn write_format(layout: &SpoolLayout) -> Result<(), SpoolError> {
    let temp = TempFile::new(layout.temp("format", 0));
    write_new_file_synced(temp.path(), FORMAT_2.as_bytes())?;
    let target = layout.format_file();
    std::fs::rename(temp.path(), &target).context("move format to", &target)?;
    temp.disarm();
    sync_dir(&layout.root)
}

/// Checks every `docs/` file a live job names: present, regular, of the
/// recorded length; the newest (highest ids) hashed within the budget
/// (see [`recover`]: only the newest can have been caught by a crash or a
/// lying disk). Returns the good jobs and the damaged ones with a reason.
fn check_documents(
    layout: &SpoolLayout,
    live: &BTreeMap<u32, LiveJob>,
) -> (BTreeMap<u32, LiveJob>, Vec<(u32, String)>) {
    let mut good = BTreeMap::new();
    let mut damaged = Vec::new();
    let mut files = HASH_BUDGET_FILES;
    let mut bytes = HASH_BUDGET_BYTES;
    for (&id, job) in live.iter().rev() {
        if let LiveDocument::File { len, sha256 } = job.document {
            let hash = files > 0 && len <= bytes;
            if hash {
                files -= 1;
                bytes -= len;
            }
            if let Err(reason) = check_document_file(&layout.doc_file(id), len, &sha256, hash) {
                damaged.push((id, reason));
                continue;
            }
        }
        good.insert(id, *job);
    }
    (good, damaged)
}

fn check_document_file(path: &Path, len: u64, sha256: &[u8; 32], hash: bool) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut file = match recover::open_regular(path) {
        Ok(file) => file,
        Err(recover::RegularFileError::NotRegular(what)) => {
            return Err(format!(
                "its document {name} is not a regular file ({what})"
            ));
        }
        Err(recover::RegularFileError::Io(e)) => {
            return Err(format!("its document {name} cannot be opened: {e}"));
        }
    };
    let actual = file
        .metadata()
        .map(|m| m.len())
        .map_err(|e| e.to_string())?;
    if actual != len {
        return Err(format!(
            "its document {name} is {actual} bytes, the journal says {len}"
        ));
    }
    if hash {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hasher.finalize().as_slice() != sha256 {
            return Err(format!("its document {name} does not match its sha256"));
        }
    }
    Ok(())
}

/// Moves each damaged job aside: its meta to `corrupt/<id>.job` with a
/// `.reason`, then a `Forget` (waited for), so it is set aside once.
fn quarantine_all(
    layout: &SpoolLayout,
    journal: &Journal,
    live: &BTreeMap<u32, LiveJob>,
    damaged: &[(u32, String)],
) -> Result<usize, SpoolError> {
    let mut forgets = Vec::new();
    for (id, reason) in damaged {
        let Some(job) = live.get(id) else { continue };
        tracing::error!(id, "spool: job set aside in corrupt/: {reason}");
        let meta = journal.read(job.meta)?;
        let target =
            recover::free_name_in(&layout.corrupt, &layout.corrupt.join(format!("{id}.job")));
        std::fs::write(&target, &meta).context("write", &target)?;
        let mut reason_path = target.clone().into_os_string();
        reason_path.push(".reason");
        let reason_path = std::path::PathBuf::from(reason_path);
        recover::write_reason(&reason_path, reason).context("write", &reason_path)?;
        forgets.push(Record::Forget {
            id: *id,
            version: job.version + 1,
        });
    }
    if forgets.is_empty() {
        return Ok(0);
    }
    sync_dir(&layout.corrupt)?;
    journal.submit(forgets, None).wait()?;
    Ok(damaged.len())
}

/// Default segment size for [`open`].
pub(super) const DEFAULT_SEGMENT_BYTES: u64 = SEGMENT_BYTES;

/// Live jobs a history segment already holds (sealed, and the `Forget`
/// lost to a crash: see [`release`](super::release)) are split off: they
/// are finished, history has them, and they must not be live as well.
/// Only ids some segment's range covers cost a lookup.
fn without_sealed(
    live: BTreeMap<u32, LiveJob>,
    history: &HistoryStore,
) -> (BTreeMap<u32, LiveJob>, Vec<(u32, u64)>) {
    let mut kept = BTreeMap::new();
    let mut sealed = Vec::new();
    for (id, job) in live {
        if in_history(history, id) {
            sealed.push((id, job.version));
        } else {
            kept.insert(id, job);
        }
    }
    (kept, sealed)
}

/// Appends (and waits for) a `Forget` for each job of `sealed`.
fn forget_sealed(journal: &Journal, sealed: &[(u32, u64)]) -> Result<(), SpoolError> {
    if sealed.is_empty() {
        return Ok(());
    }
    tracing::info!(
        "spool: {} finished jobs were sealed into history before a crash; the journal forgets them now",
        sealed.len()
    );
    let forgets = sealed
        .iter()
        .map(|&(id, version)| Record::Forget {
            id,
            version: version + 1,
        })
        .collect();
    journal.submit(forgets, None).wait().map(drop)
}

/// Migrates a spool of layout 1 (see [`migrate`]): whatever an earlier,
/// interrupted migration wrote of layout 2 is discarded (`format` was not
/// written, so layout 1 is still the only authority); then every job
/// layout 1's recovery keeps is written again: unfinished ones as `Accept`
/// entries, finished ones into history segments, each document inline
/// when it is at most [`INLINE_MAX`] bytes, else renamed into `docs/`.
/// Everything is made durable, then `format` is written, then layout 1's
/// files are removed. A crash at any point before `format` starts it all
/// again at the next open; after it, only the removal is left to do.
fn migrate_v1(
    layout: &SpoolLayout,
    is_finished: IsFinished,
    segment_bytes: u64,
) -> Result<(), SpoolError> {
    discard_partial_layout_2(layout)?;
    let (summary, jobs) = migrate::read_v1(&layout.root)?;
    tracing::info!(
        "spool: migrating {} jobs from layout 1 to layout 2",
        summary.jobs
    );
    let history = HistoryStore::open(&layout.root, OnDamage::Quarantine)?;
    let paths = journal_paths(layout);
    let replayed = Journal::replay(&paths)?;
    let next_id = Arc::new(AtomicU32::new(summary.next_id));
    let journal = Journal::start(paths, segment_bytes, &replayed, next_id)?;
    let mut waiting = Vec::new();
    let mut finished = FinishedBatch::default();
    for job in jobs {
        let document = migrated_document(layout, &job)?;
        if is_finished(&job.meta) {
            finished.push(job.id, job.meta, document);
            if finished.is_full() {
                finished.seal(&history)?;
            }
        } else {
            let record = Record::Accept {
                id: job.id,
                version: 1,
                meta: job.meta,
                document,
            };
            // One request per job: each fits a segment on its own.
            waiting.push(journal.submit(vec![record], None));
        }
    }
    finished.seal(&history)?;
    if waiting.is_empty() {
        // The segment's header records layout 1's next id (which can be
        // past every job that survived); it is durable once an entry after
        // it is. With no live job, a Forget of id 0 (never a job) is that
        // entry.
        waiting.push(journal.submit(vec![Record::Forget { id: 0, version: 1 }], None));
    }
    for submitted in waiting {
        submitted.wait()?;
    }
    drop(journal);
    // Names renamed into docs/ (and out of jobs/) are durable before
    // `format` says layout 2 is the authority.
    sync_dir(&layout.docs)?;
    sync_dir(&layout.jobs)?;
    write_format(layout)?;
    tracing::info!("spool: migrated to layout 2 ({} jobs)", summary.jobs);
    migrate::finish_v1(&layout.root)
}

/// Removes what an interrupted migration wrote of layout 2: journal
/// segments and history segments (documents it renamed into `docs/` are
/// put back by [`migrate::read_v1`]).
fn discard_partial_layout_2(layout: &SpoolLayout) -> Result<(), SpoolError> {
    let history = layout.root.join("history");
    for dir in [&layout.journal, &history] {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SpoolError::io("list", dir, e)),
        };
        let mut removed = false;
        for entry in entries {
            let entry = entry.context("list", dir)?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let path = entry.path();
                std::fs::remove_file(&path).context("remove", &path)?;
                removed = true;
            }
        }
        if removed {
            tracing::info!(
                "spool: an interrupted migration is started again ({} emptied)",
                dir.display()
            );
            sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Job `job`'s document for layout 2: the bytes (at most
/// [`INLINE_MAX`]), or `jobs/<id>.doc` renamed to `docs/<id>.doc`.
fn migrated_document(layout: &SpoolLayout, job: &V1Job) -> Result<EntryDocument, SpoolError> {
    let Some((path, info)) = &job.document else {
        return Ok(EntryDocument::None);
    };
    if info.len <= INLINE_MAX {
        let bytes = std::fs::read(path).context("read", path)?;
        return Ok(EntryDocument::Inline(bytes));
    }
    let sha256 = sha256_from_hex(&info.sha256).ok_or_else(|| SpoolError::Corrupt {
        path: path.clone(),
        reason: format!("document sha256 {:?} is not a hash", info.sha256),
    })?;
    let target = layout.doc_file(job.id);
    std::fs::rename(path, &target).context("move to docs/", path)?;
    Ok(EntryDocument::File {
        len: info.len,
        sha256,
    })
}

/// Finished jobs of a migration, sealed into history a batch at a time.
#[derive(Default)]
struct FinishedBatch {
    jobs: Vec<(u32, Vec<u8>, EntryDocument)>,
    bytes: usize,
}

/// A batch holding this many bytes of metas and inline documents is
/// sealed even before it has [`HISTORY_BATCH`] jobs.
const FINISHED_BATCH_BYTES: usize = 16 << 20;

impl FinishedBatch {
    fn push(&mut self, id: u32, meta: Vec<u8>, document: EntryDocument) {
        self.bytes += meta.len();
        if let EntryDocument::Inline(bytes) = &document {
            self.bytes += bytes.len();
        }
        self.jobs.push((id, meta, document));
    }

    fn is_full(&self) -> bool {
        self.jobs.len() >= HISTORY_BATCH || self.bytes >= FINISHED_BATCH_BYTES
    }

    fn seal(&mut self, history: &HistoryStore) -> Result<(), SpoolError> {
        let infos: Vec<Option<super::DocumentInfo>> = self
            .jobs
            .iter()
            .map(|(_, _, document)| match document {
                EntryDocument::File { len, sha256 } => Some(super::DocumentInfo {
                    len: *len,
                    sha256: super::layout::to_hex(sha256),
                }),
                _ => None,
            })
            .collect();
        let batch: Vec<JobToSeal<'_>> = self
            .jobs
            .iter()
            .zip(&infos)
            .map(|((id, meta, document), info)| JobToSeal {
                id: *id,
                meta,
                document: match (document, info) {
                    (EntryDocument::Inline(bytes), _) => DocumentToSeal::Inline(bytes),
                    (EntryDocument::File { .. }, Some(info)) => DocumentToSeal::File(info),
                    _ => DocumentToSeal::None,
                },
            })
            .collect();
        history.seal(&batch)?;
        self.jobs.clear();
        self.bytes = 0;
        Ok(())
    }
}
