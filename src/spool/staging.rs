//! Receiving a document: in memory while it is small, in a temp file in
//! `tmp/` once it passes [`INLINE_MAX`].
//!
//! A small document goes into the journal inside the job's `Accept` entry
//! ([`Spool::commit`](super::Spool::commit)): no file, and no sync of its
//! own (the journal's batch sync covers it). A large one is *spilled*: it
//! becomes `docs/<id>.doc` when the commit renames it, and
//! [`Staging::finish`] fdatasyncs it *before* the job enters the group
//! commit, so each large job pays for its own data flush in parallel with
//! the others. The hash is computed as the bytes arrive either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::error::IoContext;
use super::health::Health;
use super::layout::to_hex;
use super::{DocumentInfo, INLINE_MAX, SpoolError, run_blocking};

/// How many leading bytes are kept for format sensing.
const HEAD_BYTES: usize = 512;
/// Writes are batched to this size so a client sending small chunks does
/// not cost one blocking-pool round trip per chunk.
const FLUSH_AT: usize = 64 * 1024;

/// A file in `tmp/` that is deleted when this value is dropped, unless it
/// was [`disarm`](TempFile::disarm)ed because it was renamed into place.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file now lives elsewhere (renamed); nothing to clean up.
    pub fn disarm(mut self) {
        self.armed = false;
    }

    /// Removes the file now and waits for it, for callers that promise
    /// the file is gone when they return.
    async fn remove_now(mut self) {
        self.armed = false;
        let path = std::mem::take(&mut self.path);
        // A failure leaves a temp file that the next open removes.
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let path = std::mem::take(&mut self.path);
        // Unlinking a large file can take a while: keep it off the async
        // worker threads when there is a runtime. If this is lost (runtime
        // shutting down, crash) the next open empties tmp/ anyway.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || std::fs::remove_file(path))),
            Err(_) => drop(std::fs::remove_file(path)),
        }
    }
}

/// A document being received. Drop it to abandon the document.
#[derive(Debug)]
pub struct Staging {
    /// The name it spills to (created only then).
    temp: TempFile,
    /// `Some` once spilled to `temp`.
    file: Option<File>,
    /// After a `TooLarge` or an interrupted write: every later call fails.
    broken: bool,
    too_large: bool,
    pending: Vec<u8>,
    hasher: Sha256,
    len: u64,
    head: Vec<u8>,
    limit: u64,
    /// Told about every write's outcome (disk full, read-only spool).
    health: Arc<Health>,
    /// Counts the fdatasyncs of spilled documents.
    syncs: Arc<AtomicU64>,
}

impl Staging {
    /// Nothing is created yet: a small document never touches the disk
    /// before its commit.
    pub(crate) fn create(
        path: PathBuf,
        limit: u64,
        health: Arc<Health>,
        syncs: Arc<AtomicU64>,
    ) -> Staging {
        Staging {
            // Armed only once the file exists.
            temp: TempFile { path, armed: false },
            file: None,
            broken: false,
            too_large: false,
            pending: Vec::new(),
            hasher: Sha256::new(),
            len: 0,
            head: Vec::new(),
            limit,
            health,
            syncs,
        }
    }

    /// Appends `buf`. Fails with [`SpoolError::TooLarge`] once the document
    /// would pass the limit; the temp file is then already removed and
    /// every later write fails the same way.
    pub async fn write(&mut self, buf: &[u8]) -> Result<(), SpoolError> {
        if self.broken {
            return Err(self.unusable());
        }
        if self.len.saturating_add(buf.len() as u64) > self.limit {
            self.discard_too_large().await;
            return Err(SpoolError::TooLarge { limit: self.limit });
        }
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..room.min(buf.len())]);
        self.pending.extend_from_slice(buf);
        if self.file.is_none() && self.len > INLINE_MAX {
            self.spill().await?;
        }
        if self.file.is_some() && self.pending.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// The document outgrew memory: from now on it lives in its temp file.
    async fn spill(&mut self) -> Result<(), SpoolError> {
        let path = self.temp.path().to_path_buf();
        let created = run_blocking(move || create_private_file(&path)).await;
        self.health.observe_failure(&created);
        match created {
            Ok(file) => {
                self.temp.armed = true;
                self.file = Some(file);
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first up-to-512 bytes written, for format sensing.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// A small document: its bytes, for the journal entry. A spilled one:
    /// writes what is buffered and fdatasyncs the file, so that the data is
    /// on disk before any log entry can name it.
    pub async fn finish(mut self) -> Result<StagedDocument, SpoolError> {
        if self.broken {
            return Err(self.unusable());
        }
        let pending = std::mem::take(&mut self.pending);
        let body = match self.file.take() {
            None => StagedBody::Inline(pending),
            Some(file) => {
                let path = self.temp.path().to_path_buf();
                let written = run_blocking(move || write_and_sync(file, &pending, &path)).await;
                self.health.observe_failure(&written);
                if written.is_err() {
                    self.broken = true;
                }
                written?;
                self.syncs.fetch_add(1, Ordering::Relaxed);
                let temp = std::mem::replace(&mut self.temp, disarmed_placeholder());
                StagedBody::Spilled(temp)
            }
        };
        Ok(StagedDocument {
            body,
            info: DocumentInfo {
                len: self.len,
                sha256: to_hex(&self.hasher.clone().finalize()),
            },
            head: std::mem::take(&mut self.head),
        })
    }

    async fn flush(&mut self) -> Result<(), SpoolError> {
        let (Some(mut file), path) = (self.file.take(), self.temp.path().to_path_buf()) else {
            return Err(self.unusable());
        };
        self.broken = true;
        let pending = std::mem::take(&mut self.pending);
        // The file comes back only on success; after a failure (ENOSPC)
        // the staging is unusable and the caller drops it.
        let written = run_blocking(move || {
            file.write_all(&pending).context("write", &path)?;
            Ok((file, pending))
        })
        .await;
        self.health.observe_failure(&written);
        let (file, mut pending) = written?;
        pending.clear();
        self.file = Some(file);
        self.pending = pending;
        self.broken = false;
        Ok(())
    }

    async fn discard_too_large(&mut self) {
        self.file = None;
        self.broken = true;
        self.too_large = true;
        self.pending = Vec::new();
        let temp = std::mem::replace(&mut self.temp, disarmed_placeholder());
        temp.remove_now().await;
    }

    fn unusable(&self) -> SpoolError {
        if self.too_large {
            SpoolError::TooLarge { limit: self.limit }
        } else {
            SpoolError::io(
                "write",
                self.temp.path(),
                io::Error::other("an earlier write to this document failed"),
            )
        }
    }
}

fn disarmed_placeholder() -> TempFile {
    TempFile {
        path: PathBuf::new(),
        armed: false,
    }
}

/// A received document waiting to be committed: in memory, or spilled to
/// a temp file whose data is on disk. Dropping it deletes the temp file.
#[derive(Debug)]
pub struct StagedDocument {
    pub(crate) body: StagedBody,
    pub(crate) info: DocumentInfo,
    head: Vec<u8>,
}

/// Where a staged document's bytes are.
#[derive(Debug)]
pub(crate) enum StagedBody {
    /// At most [`INLINE_MAX`] bytes: they go into the journal entry.
    Inline(Vec<u8>),
    /// Larger: a synced temp file, renamed to `docs/<id>.doc` on commit.
    Spilled(TempFile),
}

impl StagedDocument {
    pub fn len(&self) -> u64 {
        self.info.len
    }

    pub fn is_empty(&self) -> bool {
        self.info.len == 0
    }

    /// The first up-to-512 bytes, for format sensing.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Lower-case hex SHA-256 of the whole document.
    pub fn sha256(&self) -> &str {
        &self.info.sha256
    }
}

/// Creates a new file readable by the daemon only (documents are private).
pub(crate) fn create_private_file(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .context("create", path)
}

fn write_and_sync(mut file: File, data: &[u8], path: &Path) -> Result<(), SpoolError> {
    file.write_all(data).context("write", path)?;
    file.sync_data().context("fdatasync", path)
}

/// Writes a whole new file and fdatasyncs it (used for records and
/// `next-id`, which are small and written in one go).
pub(crate) fn write_new_file_synced(path: &Path, data: &[u8]) -> Result<(), SpoolError> {
    let result = create_private_file(path).and_then(|file| write_and_sync(file, data, path));
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}
