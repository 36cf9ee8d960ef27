//! What a spool of layout 2 holds, seen from outside the daemon: the
//! documents its jobs carry (from the jobs `common::spool::check_spool`
//! lists, with the daemon stopped) and the names the
//! daemon keeps in it (`journal/<seq>.wal`, `docs/<id>.doc`).
//!
//! Included by path (`#[path = "common/spool_files.rs"]`) from the test
//! crates that use it, beside `mod common`.

use crate::common::sha256_hex;
use crate::common::spool::SpooledJob;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The documents of every job in the spool (live and finished), keyed by
/// SHA-256, with how many jobs carry each; panics if one is not intact.
pub fn documents_by_sha(jobs: &[SpooledJob]) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    for job in jobs {
        assert_ne!(
            job.document_intact,
            Some(false),
            "job {} has a damaged document: {job:?}",
            job.id
        );
        if let Some(sha) = &job.document_sha256 {
            *found.entry(sha.clone()).or_insert(0) += 1;
        }
    }
    found
}

/// What a file queue printed into `dir` (`job-<id>.<ext>`, each written
/// whole and renamed), keyed by SHA-256, with how many jobs printed each.
/// A job printed again after a crash replaces its own file.
pub fn printed_by_sha(dir: &Path) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().starts_with("job-") {
            continue;
        }
        if let Ok(bytes) = std::fs::read(entry.path()) {
            *found.entry(sha256_hex(&bytes)).or_insert(0) += 1;
        }
    }
    found
}

/// The journal's segments, `journal/<seq>.wal`, by name.
pub fn journal_segments(spool: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(spool.join("journal"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    found.sort();
    found
}

/// `journal/<seq>.wal` for `seq` (16 lower-case hex digits).
pub fn segment_path(spool: &Path, seq: u64) -> PathBuf {
    spool.join("journal").join(format!("{seq:016x}.wal"))
}

/// `docs/<id>.doc`: where a document over 64 KiB lives.
pub fn doc_path(spool: &Path, id: i32) -> PathBuf {
    spool.join("docs").join(format!("{id}.doc"))
}

/// A document the spool keeps in `docs/` (over the 64 KiB inline limit).
pub const LARGE_DOCUMENT: usize = 64 * 1024 + 4096;
