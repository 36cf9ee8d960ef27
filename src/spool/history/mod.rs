//! History segments: finished jobs, sealed in batches into immutable files
//! under `history/`, read back by id on demand ([`HistoryStore`]).
//!
//! Start-up never reads them (only their names, for the next id), so its
//! cost does not grow with history; a lookup by id costs an `open` and
//! three `pread`s; `printspoold cleanup` streams through all of them.
//!
//! # A segment's bytes
//!
//! `history/<first>-<last>.hist` (first and last: the lowest and highest
//! job id inside, 10 decimal digits; `<first>-<last>.<n>.hist` if that name
//! was taken). All integers little-endian; crc32 is CRC-32/IEEE.
//!
//! ```text
//! offset 0       +----------------------------------------------+
//!                | "PSPLHIS1"                          8 bytes  |
//! 8              +----------------------------------------------+
//!  entry, ids    | u32 body_len | u32 crc32(body)              |
//!  increasing    | body: u32 id | u32 meta_len | meta ...      |
//!                |       document:                              |
//!                |         u8 0                    none         |
//!                |       | u8 1, u32 len, bytes    inline       |
//!                |       | u8 2, u64 len, sha256   docs/<id>.doc|
//!                +----------------------------------------------+
//!                | ... one entry per job ...                    |
//! footer_offset  +----------------------------------------------+
//!  footer        | u32 id | u64 entry offset     (12 bytes) x n  |
//!                +----------------------------------------------+
//!  trailer       | u64 footer_offset | u32 n | u32 crc32(footer) |
//!  (28 bytes)    | u32 crc32(previous 16 bytes) | "PSPLHEND"     |
//!                +----------------------------------------------+
//! ```
//!
//! A lookup reads the trailer (the last 28 bytes), the footer, binary
//! searches it and reads one entry. Every length and offset read from
//! disk is checked against the file's length and the others before use
//! ([`format`](mod@format)): a segment damaged on disk, or written by someone with
//! the daemon's uid, is reported with its path and skipped (moved to
//! `corrupt/` with a `.reason` when the store was opened with
//! [`OnDamage::Quarantine`]), never a panic.
//!
//! # Why it is crash safe, and safe beside `printspoold cleanup`
//!
//! A segment is written whole in `tmp/`, fdatasynced, then given its name
//! with `link(2)` (which fails rather than replace an existing segment),
//! and `history/` is fsynced: a name in `history/` always points at
//! complete, durable bytes. A segment is never changed in place: cleanup
//! replaces one by a rewritten copy (temp, fdatasync, `rename(2)` over the
//! same name) or unlinks it. A reader holding the old file keeps reading
//! the old bytes; one opening it by name gets the old or the new, both
//! whole; one finding the name gone relists `history/`.
//!
//! Ids are never reused: the next id is past every segment's `last`
//! ([`HistoryStore::highest_id`]), and cleanup never unlinks the segment
//! with the highest `last` (it rewrites it, empty if need be), so purging
//! cannot lower it.

mod format;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

pub use format::{DocumentToSeal, HistoryDocument, HistoryEntry, HistorySegmentName, JobToSeal};

use super::error::IoContext;
use super::{SpoolError, sync_dir};
use format::{
    ENTRY_HEAD_LEN, LoadError, MAGIC, MAX_ENTRIES, MAX_VARIANT, SegmentIndex, crc32, crc32_update,
    decode_entry, encode_body, encode_trailer, read_exact_or_damage,
};

/// What to do with a segment that fails its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDamage {
    /// Log it (with its path) and skip it: for `printspoold cleanup` and
    /// other readers beside the daemon.
    Report,
    /// Also move it to `corrupt/` with a `.reason` file: for the daemon,
    /// which owns the spool.
    Quarantine,
}

/// A job found by [`HistoryStore::read`].
#[derive(Debug)]
pub struct HistoryHit {
    pub entry: HistoryEntry,
    /// The segment it was read from, open: an inline document is read
    /// from here (`read_at` its offset), so a concurrent rewrite by
    /// cleanup cannot move the bytes under the reader.
    pub segment: File,
    pub path: PathBuf,
}

impl HistoryHit {
    /// The inline document's bytes; `None` for none or a file document.
    pub fn inline_document(&self) -> io::Result<Option<Vec<u8>>> {
        let HistoryDocument::Inline { offset, len } = self.entry.document else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        self.segment.read_exact_at(&mut bytes, offset)?;
        Ok(Some(bytes))
    }
}

/// One segment as [`HistoryStore::scan`] shows it.
#[derive(Debug, Clone)]
pub struct HistorySegment {
    pub name: HistorySegmentName,
    pub path: PathBuf,
    /// The file's length.
    pub bytes: u64,
}

/// What a [`HistoryStore::scan`] went through.
#[derive(Debug, Default, Clone)]
pub struct HistoryScan {
    pub segments: usize,
    pub entries: usize,
    /// Segments skipped (or stopped at) because they failed a check.
    pub damaged: Vec<(PathBuf, String)>,
}

/// The history segments of one spool: seal, read by id, scan.
///
/// `Send + Sync`: the listing cache is behind a mutex held only for
/// in-memory work.
#[derive(Debug)]
pub struct HistoryStore {
    dir: PathBuf,
    tmp: PathBuf,
    corrupt: PathBuf,
    on_damage: OnDamage,
    serial: AtomicU64,
    listing: Mutex<Listing>,
}

/// The names in `history/`, as last listed, and what the directory looked
/// like then (so a miss relists only if it changed).
#[derive(Debug, Default)]
struct Listing {
    names: Vec<HistorySegmentName>,
    stamp: Option<DirStamp>,
    /// Failed a check: skipped until the process restarts.
    damaged: BTreeSet<HistorySegmentName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirStamp {
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
}

impl HistoryStore {
    /// The store of the spool at `root`: `root/history/` (created mode
    /// 0700 if missing, with `root/tmp/` for temp files and `root/corrupt/`
    /// for damaged segments). Lists `history/` once.
    pub fn open(root: &Path, on_damage: OnDamage) -> Result<HistoryStore, SpoolError> {
        let store = HistoryStore {
            dir: root.join("history"),
            tmp: root.join("tmp"),
            corrupt: root.join("corrupt"),
            on_damage,
            serial: AtomicU64::new(0),
            listing: Mutex::new(Listing::default()),
        };
        for dir in [&store.dir, &store.tmp] {
            if !dir.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .context("create directory", dir)?;
                sync_dir(dir.parent().unwrap_or(root))?;
            }
        }
        store.relist()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The highest job id any segment's name covers (0 with none), in
    /// `history/` or set aside in `corrupt/`: the next id must be past it.
    pub fn highest_id(&self) -> Result<u32, SpoolError> {
        self.relist()?;
        let mut highest = self.listing().names.iter().map(|n| n.last).max();
        if let Ok(entries) = fs::read_dir(&self.corrupt) {
            for entry in entries.flatten() {
                if let Some(name) = entry
                    .file_name()
                    .to_str()
                    .and_then(HistorySegmentName::parse)
                {
                    highest = highest.max(Some(name.last));
                }
            }
        }
        Ok(highest.unwrap_or(0))
    }

    /// Writes `batch` as one new segment (temp in `tmp/`, fdatasync, link
    /// into `history/`, fsync `history/`) and returns its name; `None` for
    /// an empty batch. Ids must be distinct; any order.
    pub fn seal(&self, batch: &[JobToSeal<'_>]) -> Result<Option<HistorySegmentName>, SpoolError> {
        let mut order: Vec<&JobToSeal<'_>> = batch.iter().collect();
        order.sort_unstable_by_key(|job| job.id);
        let (Some(first), Some(last)) = (order.first(), order.last()) else {
            return Ok(None);
        };
        let invalid = |why: String| {
            SpoolError::io(
                "seal",
                &self.dir,
                io::Error::new(io::ErrorKind::InvalidInput, why),
            )
        };
        if let Some(pair) = order.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(invalid(format!("job {} twice in one batch", pair[0].id)));
        }
        if order.len() > MAX_ENTRIES as usize {
            return Err(invalid(format!("{} jobs in one batch", order.len())));
        }
        let range = HistorySegmentName {
            first: first.id,
            last: last.id,
            variant: 0,
        };
        let temp = self.temp_path("seal");
        let written = write_segment(&temp, &order);
        let name = written.and_then(|()| self.publish(&temp, range));
        let _ = fs::remove_file(&temp);
        let name = name?;
        sync_dir(&self.dir)?;
        let mut listing = self.listing();
        listing.names.push(name);
        listing.names.sort_unstable();
        Ok(Some(name))
    }

    /// Job `id`'s entry, from the newest segment holding it; `None` if no
    /// segment does (never finished, still live, or purged). Blocking.
    pub fn read(&self, id: u32) -> Result<Option<HistoryHit>, SpoolError> {
        if let Some(hit) = self.read_listed(id)? {
            return Ok(Some(hit));
        }
        if self.directory_changed() {
            self.relist()?;
            return self.read_listed(id);
        }
        Ok(None)
    }

    /// Whether a segment holds job `id`.
    pub fn contains(&self, id: u32) -> Result<bool, SpoolError> {
        Ok(self.read(id)?.is_some())
    }

    /// Visits every entry of every segment (in name order, then id order),
    /// streaming: one entry in memory at a time. A damaged segment is
    /// reported and the scan goes on with the next one (entries visited
    /// before the damage was found stay visited). Blocking.
    pub fn scan(
        &self,
        mut visit: impl FnMut(&HistorySegment, &HistoryEntry),
    ) -> Result<HistoryScan, SpoolError> {
        self.relist()?;
        let names = self.listing().names.clone();
        let mut scan = HistoryScan::default();
        for name in names {
            let path = self.dir.join(name.file_name());
            let result = scan_segment(&path, &name, &mut |segment, entry| {
                scan.entries += 1;
                visit(segment, entry);
            });
            match result {
                Ok(()) => scan.segments += 1,
                Err(LoadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
                Err(LoadError::Io(e)) => return Err(SpoolError::io("read", &path, e)),
                Err(LoadError::Damaged(why)) => {
                    self.damaged(name, &path, &why);
                    scan.damaged.push((path, why));
                }
            }
        }
        Ok(scan)
    }

    /// Replaces segment `name` by a copy without the jobs `drop` says to
    /// drop (temp, fdatasync, `rename` over the same name), or unlinks it
    /// when nothing is left and `keep_if_empty` is false. Every entry is
    /// checked while copying; a damaged segment is left as it is and
    /// reported as an error. Returns the dropped entries. The caller
    /// fsyncs `history/` (one sync for many segments).
    pub fn rewrite_without(
        &self,
        name: &HistorySegmentName,
        mut drop: impl FnMut(u32) -> bool,
        keep_if_empty: bool,
    ) -> Result<Vec<HistoryEntry>, RewriteError> {
        let path = self.dir.join(name.file_name());
        let mut dropped = Vec::new();
        let mut kept = 0usize;
        // The copy is written as the original is read: one entry in memory.
        let temp = self.temp_path("rewrite");
        let outcome = (|| -> Result<bool, LoadError> {
            let out = create_new(&temp)?;
            let mut writer = SegmentWriter::new(BufWriter::new(out))?;
            scan_raw(&path, name, &mut |entry, raw| {
                if drop(entry.id) {
                    dropped.push(entry.clone());
                    Ok(())
                } else {
                    kept += 1;
                    writer.push_raw(entry.id, raw)
                }
            })?;
            let file = writer.finish()?;
            file.sync_data()?;
            Ok(kept > 0)
        })();
        let result = match outcome {
            Ok(false) if !keep_if_empty => fs::remove_file(&path)
                .map(|()| dropped)
                .map_err(|e| RewriteError::Spool(SpoolError::io("remove", &path, e))),
            Ok(_) if dropped.is_empty() => Ok(dropped),
            Ok(_) => fs::rename(&temp, &path)
                .map(|()| dropped)
                .map_err(|e| RewriteError::Spool(SpoolError::io("replace", &path, e))),
            Err(LoadError::Io(e)) => Err(RewriteError::Spool(SpoolError::io("rewrite", &path, e))),
            Err(LoadError::Damaged(why)) => {
                self.damaged(*name, &path, &why);
                Err(RewriteError::Damaged { path, why })
            }
        };
        let _ = fs::remove_file(&temp);
        result
    }

    /// Unlinks segment `name` if it holds no job (cleanup left it so
    /// while it was the highest; once a higher one exists it may go).
    /// Returns whether it did. The caller fsyncs `history/`.
    pub fn remove_if_empty(&self, name: &HistorySegmentName) -> Result<bool, SpoolError> {
        let path = self.dir.join(name.file_name());
        let empty_len = MAGIC.len() as u64 + format::TRAILER_LEN;
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() == empty_len => {}
            _ => return Ok(false),
        }
        let empty = open_segment(&path)
            .and_then(|file| SegmentIndex::load(&file, name))
            .is_ok_and(|index| index.slots.is_empty());
        if !empty {
            return Ok(false);
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(SpoolError::io("remove", &path, e)),
        }
    }

    /// Every segment name listed now, in order.
    pub fn segment_names(&self) -> Result<Vec<HistorySegmentName>, SpoolError> {
        self.relist()?;
        Ok(self.listing().names.clone())
    }

    fn listing(&self) -> MutexGuard<'_, Listing> {
        // Only in-memory work happens under it; a panic there is a bug.
        match self.listing.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn temp_path(&self, kind: &str) -> PathBuf {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        self.tmp
            .join(format!("hist-{kind}-{}-{serial}", std::process::id()))
    }

    /// Links `temp` into `history/` under the first free name of `range`.
    fn publish(
        &self,
        temp: &Path,
        range: HistorySegmentName,
    ) -> Result<HistorySegmentName, SpoolError> {
        for variant in 0..=MAX_VARIANT {
            let name = HistorySegmentName { variant, ..range };
            let target = self.dir.join(name.file_name());
            match fs::hard_link(temp, &target) {
                Ok(()) => return Ok(name),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SpoolError::io("link a history segment as", &target, e)),
            }
        }
        Err(SpoolError::io(
            "seal",
            &self.dir.join(range.file_name()),
            io::Error::new(io::ErrorKind::AlreadyExists, "no free name for this range"),
        ))
    }

    fn read_listed(&self, id: u32) -> Result<Option<HistoryHit>, SpoolError> {
        let candidates: Vec<HistorySegmentName> = {
            let listing = self.listing();
            // Newest first: a job sealed twice (a crash between sealing and
            // the journal's Forget) is read from its latest copy.
            listing
                .names
                .iter()
                .rev()
                .filter(|n| n.covers(id) && !listing.damaged.contains(n))
                .copied()
                .collect()
        };
        for name in candidates {
            let path = self.dir.join(name.file_name());
            match lookup(&path, &name, id) {
                Ok(Some((entry, segment))) => {
                    return Ok(Some(HistoryHit {
                        entry,
                        segment,
                        path,
                    }));
                }
                Ok(None) => {}
                // Purged by cleanup meanwhile: the next miss relists.
                Err(LoadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
                Err(LoadError::Io(e)) => return Err(SpoolError::io("read", &path, e)),
                Err(LoadError::Damaged(why)) => self.damaged(name, &path, &why),
            }
        }
        Ok(None)
    }

    fn directory_changed(&self) -> bool {
        let now = dir_stamp(&self.dir);
        now.is_none() || now != self.listing().stamp
    }

    fn relist(&self) -> Result<(), SpoolError> {
        let stamp = dir_stamp(&self.dir);
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).context("list", &self.dir)? {
            let entry = entry.context("list", &self.dir)?;
            match entry
                .file_name()
                .to_str()
                .and_then(HistorySegmentName::parse)
            {
                Some(name) => names.push(name),
                None => tracing::warn!(
                    "history: ignoring unexpected file {}",
                    entry.path().display()
                ),
            }
        }
        names.sort_unstable();
        let mut listing = self.listing();
        listing.names = names;
        listing.stamp = stamp;
        Ok(())
    }

    /// Reports a damaged segment once, and quarantines it if asked to.
    fn damaged(&self, name: HistorySegmentName, path: &Path, why: &str) {
        let first_time = self.listing().damaged.insert(name);
        if !first_time {
            return;
        }
        let why = crate::logging::sanitize(why, 1024);
        tracing::error!(
            "history: damaged segment {}: {why}; skipped",
            path.display()
        );
        if self.on_damage == OnDamage::Quarantine
            && let Err(e) = quarantine(path, &self.corrupt, &why)
        {
            tracing::warn!("history: cannot move {} to corrupt/: {e}", path.display());
        }
    }
}

/// A [`HistoryStore::rewrite_without`] that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error("damaged history segment {}: {why}", path.display())]
    Damaged { path: PathBuf, why: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

fn dir_stamp(dir: &Path) -> Option<DirStamp> {
    let meta = fs::metadata(dir).ok()?;
    Some(DirStamp {
        ino: meta.ino(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        ctime: meta.ctime(),
        ctime_nsec: meta.ctime_nsec(),
    })
}

/// Opens a segment for reading: never through a symlink, never blocking
/// on a FIFO, and only a regular file.
fn open_segment(path: &Path) -> Result<File, LoadError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => LoadError::Damaged("a symbolic link".into()),
            Some(libc::ENXIO) => LoadError::Damaged("a socket".into()),
            _ => LoadError::Io(e),
        })?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(LoadError::Damaged("not a regular file".into()))
    }
}

fn create_new(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Binary search of one segment for `id`: trailer, footer, one entry.
fn lookup(
    path: &Path,
    name: &HistorySegmentName,
    id: u32,
) -> Result<Option<(HistoryEntry, File)>, LoadError> {
    let file = open_segment(path)?;
    let index = SegmentIndex::load(&file, name)?;
    let Some(i) = index.find(id) else {
        return Ok(None);
    };
    let (start, end) = index.extent(i);
    // The extent lies inside the file (SegmentIndex checked the offsets).
    let mut bytes = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut bytes, start)?;
    let entry = decode_entry(&bytes, start, id)?;
    Ok(Some((entry, file)))
}

fn scan_segment(
    path: &Path,
    name: &HistorySegmentName,
    visit: &mut dyn FnMut(&HistorySegment, &HistoryEntry),
) -> Result<(), LoadError> {
    let bytes = fs::symlink_metadata(path)?.len();
    let segment = HistorySegment {
        name: *name,
        path: path.to_path_buf(),
        bytes,
    };
    scan_raw(path, name, &mut |entry, _| {
        visit(&segment, entry);
        Ok(())
    })
}

/// Sees each entry of a segment, decoded and as raw bytes.
type RawVisitor<'a> = dyn FnMut(&HistoryEntry, &[u8]) -> Result<(), LoadError> + 'a;

/// Reads every entry of a segment in order, checking each against the
/// footer, and hands each over with its raw bytes.
fn scan_raw(
    path: &Path,
    name: &HistorySegmentName,
    visit: &mut RawVisitor<'_>,
) -> Result<(), LoadError> {
    let mut file = open_segment(path)?;
    let index = SegmentIndex::load(&file, name)?;
    file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::new();
    for (i, &(id, _)) in index.slots.iter().enumerate() {
        let (start, end) = index.extent(i);
        // Within the file: SegmentIndex checked every offset against it.
        buf.resize((end - start) as usize, 0);
        read_exact_or_damage(&mut reader, &mut buf)?;
        let entry = decode_entry(&buf, start, id)?;
        visit(&entry, &buf)?;
    }
    Ok(())
}

/// Streams a segment out: magic, entries, footer, trailer.
struct SegmentWriter<W: Write> {
    out: W,
    offset: u64,
    footer: Vec<u8>,
    count: u32,
}

impl<W: Write> SegmentWriter<W> {
    fn new(mut out: W) -> io::Result<SegmentWriter<W>> {
        out.write_all(MAGIC)?;
        Ok(SegmentWriter {
            out,
            offset: MAGIC.len() as u64,
            footer: Vec::new(),
            count: 0,
        })
    }

    /// One whole entry (`[len][crc][body]`), already encoded.
    fn push_raw(&mut self, id: u32, raw: &[u8]) -> Result<(), LoadError> {
        self.out.write_all(raw)?;
        self.footer.extend_from_slice(&id.to_le_bytes());
        self.footer.extend_from_slice(&self.offset.to_le_bytes());
        self.offset += raw.len() as u64;
        self.count += 1;
        Ok(())
    }

    fn push_body(&mut self, id: u32, body: &[u8]) -> io::Result<()> {
        let len = u32::try_from(body.len()).map_err(io::Error::other)?;
        let mut head = [0u8; ENTRY_HEAD_LEN as usize];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..].copy_from_slice(&crc32_update(0, body).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(body)?;
        self.footer.extend_from_slice(&id.to_le_bytes());
        self.footer.extend_from_slice(&self.offset.to_le_bytes());
        self.offset += ENTRY_HEAD_LEN + body.len() as u64;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> io::Result<W::Inner>
    where
        W: IntoInner,
    {
        self.out.write_all(&self.footer)?;
        let trailer = encode_trailer(self.offset, self.count, crc32(&self.footer));
        self.out.write_all(&trailer)?;
        self.out.into_inner_flushed()
    }
}

/// A writer that can be flushed and unwrapped (a `BufWriter<File>`).
trait IntoInner: Write {
    type Inner;
    fn into_inner_flushed(self) -> io::Result<Self::Inner>;
}

impl IntoInner for BufWriter<File> {
    type Inner = File;
    fn into_inner_flushed(self) -> io::Result<File> {
        self.into_inner().map_err(|e| e.into_error())
    }
}

fn write_segment(temp: &Path, jobs: &[&JobToSeal<'_>]) -> Result<(), SpoolError> {
    let io = |e| SpoolError::io("write", temp, e);
    let file = create_new(temp).map_err(io)?;
    let mut writer = SegmentWriter::new(BufWriter::with_capacity(256 * 1024, file)).map_err(io)?;
    let mut body = Vec::new();
    for job in jobs {
        encode_body(job, &mut body).map_err(io)?;
        writer.push_body(job.id, &body).map_err(io)?;
    }
    let file = writer.finish().map_err(io)?;
    file.sync_data().context("fdatasync", temp)
}

/// Moves a damaged segment to `corrupt/` with a `.reason` file.
fn quarantine(path: &Path, corrupt: &Path, why: &str) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(corrupt)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut target = corrupt.join(&*name);
    let mut n = 1u32;
    while fs::symlink_metadata(&target).is_ok() {
        target = corrupt.join(format!("{name}.{n}"));
        n += 1;
    }
    fs::rename(path, &target)?;
    let mut reason = target.into_os_string();
    reason.push(".reason");
    let mut file = create_new(Path::new(&reason))?;
    writeln!(file, "damaged history segment {}: {why}", path.display())?;
    file.sync_all()?;
    sync_dir(corrupt).map_err(io::Error::other)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent).map_err(io::Error::other)?;
    }
    Ok(())
}
