//! Start-up recovery: bring `jobs/` back to "only whole, acknowledged-able
//! jobs" after whatever happened to the previous daemon.
//!
//! What a crash can leave, given the write order in the module docs:
//! - files in `tmp/`: never published, removed;
//! - a `.doc` no record names: a commit or attach that died between the
//!   document's rename and the record's, never acknowledged, removed.
//!
//! Everything else is not something a crash does to this write order, so
//! it is never deleted: it is moved to `corrupt/` for a human, with a
//! `NAME.reason` file saying why, and logged:
//! - a record that does not parse, or a document of the right length whose
//!   hash is wrong (disk damage, a foreign file, a lying disk);
//! - a record whose document is missing or of the wrong length (renames
//!   that reached the disk out of order, or a document someone moved
//!   away: deleting the record would lose an acknowledged job for good);
//! - anything that is not a regular file where a record or a document
//!   should be (a FIFO, a symlink, a directory). Files are opened with
//!   `O_NOFOLLOW | O_NONBLOCK` and checked on the descriptor before they
//!   are read, so a FIFO named `jobs/N.job` cannot hang start-up and a
//!   symlink is never followed.
//!
//! Hashing every document would make start-up time grow with the spool
//! (and start-up must stay fast: the first client waits for it), so every
//! document's length is checked (one `stat`) and only the newest documents
//! are hashed, within [`HASH_BUDGET_FILES`] and [`HASH_BUDGET_BYTES`]. With
//! the write order used here, a crash cannot produce a document of the
//! right length with the wrong bytes; the hash is there for disks that
//! acknowledge a flush they have not done, and those lose only the last
//! seconds of writes: the newest documents. Older ones were checked by
//! earlier starts.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::error::IoContext;
use super::layout::{JobFile, SpoolLayout, decode_record, to_hex};
use super::{DocumentInfo, SpoolError};

/// At most this many documents are hashed at start-up, newest first...
pub(crate) const HASH_BUDGET_FILES: usize = 64;
/// ...and at most this many bytes of them.
pub(crate) const HASH_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// A job of a layout 1 spool (`jobs/<id>.job` and `.doc`), as migration
/// reads it.
#[derive(Debug, Clone)]
pub(crate) struct LayoutOneJob {
    pub id: u32,
    pub meta: Vec<u8>,
    pub document: Option<DocumentInfo>,
}

/// A job that survived recovery, with what the spool's index needs.
#[derive(Debug)]
pub(crate) struct Survivor {
    pub job: LayoutOneJob,
    /// When the document was last written, to hash the newest first.
    document_modified: Option<SystemTime>,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub survivors: Vec<Survivor>,
    pub discarded: usize,
    /// Highest id named by any file found, kept or not.
    pub highest_id_seen: u32,
    /// The value in `next-id`, if there is a readable one.
    pub persisted_next_id: Option<u32>,
}

pub(crate) fn recover(layout: &SpoolLayout) -> Result<Scan, SpoolError> {
    empty_temp_dir(&layout.tmp)?;
    let mut scan = Scan {
        persisted_next_id: read_next_id(&layout.next_id_file()),
        ..Scan::default()
    };
    let (records, mut documents) = list_job_files(&layout.jobs)?;
    scan.highest_id_seen = records
        .iter()
        .chain(documents.iter())
        .copied()
        .max()
        .unwrap_or(0);

    let mut to_hash = Vec::new();
    for id in records {
        let has_document_file = documents.remove(&id);
        match check_record(layout, id, has_document_file)? {
            RecordVerdict::Keep(survivor) => {
                if let (Some(doc), Some(modified)) =
                    (&survivor.job.document, survivor.document_modified)
                {
                    to_hash.push((modified, id, doc.clone()));
                }
                scan.survivors.push(survivor);
            }
            RecordVerdict::KeepWithoutOrphan(survivor) => {
                remove_file(&layout.document(id))?;
                scan.discarded += 1;
                scan.survivors.push(survivor);
            }
            RecordVerdict::Quarantine(error) => {
                quarantine(layout, id, &error)?;
                scan.discarded += 1;
            }
        }
    }
    for id in documents {
        let path = layout.document(id);
        match fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                let reason = format!(
                    "not a regular file ({}) where a document should be",
                    describe(&meta.file_type())
                );
                quarantine(layout, id, &SpoolError::Corrupt { path, reason })?;
            }
            _ => {
                tracing::warn!(job = id, "spool: removing a document without a record");
                remove_file(&path)?;
            }
        }
        scan.discarded += 1;
    }
    let bad = verify_hashes(layout, to_hash)?;
    if !bad.is_empty() {
        scan.survivors.retain(|s| !bad.contains(&s.job.id));
        scan.discarded += bad.len();
    }
    Ok(scan)
}

enum RecordVerdict {
    Keep(Survivor),
    /// The record is fine and names no document, but a `.doc` exists.
    KeepWithoutOrphan(Survivor),
    /// Not a whole job: keep for a human, never delete.
    Quarantine(SpoolError),
}

fn check_record(
    layout: &SpoolLayout,
    id: u32,
    has_document_file: bool,
) -> Result<RecordVerdict, SpoolError> {
    let path = layout.record(id);
    let corrupt = |reason: String| {
        RecordVerdict::Quarantine(SpoolError::Corrupt {
            path: path.clone(),
            reason,
        })
    };
    let bytes = match read_small_file(&path) {
        Ok(bytes) => bytes,
        Err(RegularFileError::NotRegular(what)) => {
            return Ok(corrupt(format!("not a regular file ({what})")));
        }
        Err(RegularFileError::Io(e)) => return Err(SpoolError::io("read", &path, e)),
    };
    let record = match decode_record(&bytes) {
        Ok(record) if record.id != id => {
            return Ok(corrupt(format!("the envelope says job {}", record.id)));
        }
        Ok(record) => record,
        Err(reason) => return Ok(corrupt(reason)),
    };
    let survivor = |document, document_modified| Survivor {
        job: LayoutOneJob {
            id,
            meta: record.meta.clone(),
            document,
        },
        document_modified,
    };
    let Some(doc) = &record.document else {
        return Ok(if has_document_file {
            RecordVerdict::KeepWithoutOrphan(survivor(None, None))
        } else {
            RecordVerdict::Keep(survivor(None, None))
        });
    };
    if !has_document_file {
        return Ok(corrupt(format!("its document {id}.doc is missing")));
    }
    let doc_path = layout.document(id);
    let stat = fs::symlink_metadata(&doc_path).context("stat", &doc_path)?;
    if !stat.is_file() {
        return Ok(corrupt(format!(
            "its document {id}.doc is not a regular file ({})",
            describe(&stat.file_type())
        )));
    }
    let actual = stat.len();
    if actual != doc.len {
        return Ok(corrupt(format!(
            "its document has {actual} of {} bytes",
            doc.len
        )));
    }
    let modified = stat.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(RecordVerdict::Keep(survivor(
        Some(doc.clone()),
        Some(modified),
    )))
}

/// Hashes documents newest-first within the budget; returns the ids whose
/// document did not match (already moved to `corrupt/`).
fn verify_hashes(
    layout: &SpoolLayout,
    mut documents: Vec<(SystemTime, u32, DocumentInfo)>,
) -> Result<BTreeSet<u32>, SpoolError> {
    documents.sort_by_key(|&(modified, id, _)| std::cmp::Reverse((modified, id)));
    let mut files = HASH_BUDGET_FILES;
    let mut bytes = HASH_BUDGET_BYTES;
    let mut unverified = 0usize;
    let mut bad = BTreeSet::new();
    for (_, id, doc) in documents {
        if files == 0 || doc.len > bytes {
            unverified += 1;
            continue;
        }
        files -= 1;
        bytes -= doc.len;
        let path = layout.document(id);
        let reason = match hash_file(&path) {
            Ok(actual) if actual == doc.sha256 => continue,
            Ok(_) => format!("its document {id}.doc does not match its sha256"),
            Err(RegularFileError::NotRegular(what)) => {
                format!("its document {id}.doc is not a regular file ({what})")
            }
            Err(RegularFileError::Io(e)) => return Err(SpoolError::io("read", &path, e)),
        };
        let error = SpoolError::Corrupt {
            path: layout.record(id),
            reason,
        };
        quarantine(layout, id, &error)?;
        bad.insert(id);
    }
    if unverified > 0 {
        tracing::info!("spool: {unverified} older documents length-checked only");
    }
    Ok(bad)
}

pub(super) enum RegularFileError {
    /// A FIFO, symlink, directory...: never read.
    NotRegular(&'static str),
    Io(io::Error),
}

impl From<io::Error> for RegularFileError {
    fn from(e: io::Error) -> RegularFileError {
        RegularFileError::Io(e)
    }
}

/// Opens `path` for reading only if it is a regular file: `O_NOFOLLOW` (a
/// symlink fails with `ELOOP`), `O_NONBLOCK` (a FIFO opens at once instead
/// of waiting for a writer), then the type is checked on the descriptor.
pub(super) fn open_regular(path: &Path) -> Result<File, RegularFileError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => RegularFileError::NotRegular("a symbolic link"),
            Some(libc::ENXIO) => RegularFileError::NotRegular("a socket"),
            _ => RegularFileError::Io(e),
        })?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(RegularFileError::NotRegular(describe(&kind)))
    }
}

pub(super) fn describe(kind: &fs::FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// `fs::read` without its `stat` for a size hint: records are small, and
/// at start-up every system call per job counts.
pub(super) fn read_small_file(path: &Path) -> Result<Vec<u8>, RegularFileError> {
    let mut bytes = Vec::with_capacity(4096);
    open_regular(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub(super) fn hash_file(path: &Path) -> Result<String, RegularFileError> {
    let mut file = open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(to_hex(&hasher.finalize())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RegularFileError::Io(e)),
        }
    }
}

/// Record ids and document ids in `jobs/`; other names are left alone.
fn list_job_files(jobs: &Path) -> Result<(BTreeSet<u32>, BTreeSet<u32>), SpoolError> {
    let mut records = BTreeSet::new();
    let mut documents = BTreeSet::new();
    for entry in fs::read_dir(jobs).context("list", jobs)? {
        let entry = entry.context("list", jobs)?;
        match JobFile::classify(&entry.file_name()) {
            Some(JobFile::Record(id)) => {
                records.insert(id);
            }
            Some(JobFile::Document(id)) => {
                documents.insert(id);
            }
            None => tracing::warn!("spool: ignoring unexpected file {}", entry.path().display()),
        }
    }
    Ok((records, documents))
}

pub(super) fn empty_temp_dir(tmp: &Path) -> Result<(), SpoolError> {
    for entry in fs::read_dir(tmp).context("list", tmp)? {
        let path = entry.context("list", tmp)?.path();
        remove_file(&path)?;
    }
    Ok(())
}

/// Moves job `id`'s record and document (those that exist, whatever they
/// are: rename moves a symlink or a FIFO as itself) to `corrupt/`, writes
/// `corrupt/<record>.reason`, and logs it.
fn quarantine(layout: &SpoolLayout, id: u32, error: &SpoolError) -> Result<(), SpoolError> {
    let mut record_target = None;
    for path in [layout.record(id), layout.document(id)] {
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let target = free_name_in(&layout.corrupt, &path);
        fs::rename(&path, &target).context("move to corrupt/", &path)?;
        record_target.get_or_insert(target);
    }
    let mut reason_file = record_target
        .unwrap_or_else(|| free_name_in(&layout.corrupt, &layout.record(id)))
        .into_os_string();
    reason_file.push(".reason");
    let reason_file = PathBuf::from(reason_file);
    let message = crate::logging::sanitize(&error.to_string(), 4096);
    if let Err(e) = write_reason(&reason_file, &message) {
        tracing::warn!("spool: cannot write {}: {e}", reason_file.display());
    }
    tracing::error!(
        job = id,
        "spool: {message}; kept in {} (see {})",
        layout.corrupt.display(),
        reason_file.display()
    );
    Ok(())
}

pub(super) fn write_reason(path: &Path, message: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    writeln!(file, "{message}")?;
    file.sync_all()
}

/// `corrupt/<name>`, or `corrupt/<name>.N` if an earlier start already
/// moved a file of that name (ids are not reused, but be safe).
pub(super) fn free_name_in(dir: &Path, path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut candidate = dir.join(&*name);
    let mut n = 1u32;
    while fs::symlink_metadata(&candidate).is_ok() {
        candidate = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    candidate
}

fn remove_file(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(SpoolError::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// `next-id` holds one decimal number. It is written atomically, so an
/// unreadable one is foreign; ids then come from the file names alone.
pub(crate) fn read_next_id(path: &Path) -> Option<u32> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("spool: cannot read {}: {e}", path.display());
            return None;
        }
    };
    let parsed = text.trim().parse().ok();
    if parsed.is_none() {
        tracing::warn!("spool: ignoring {}: not a number", path.display());
    }
    parsed
}
