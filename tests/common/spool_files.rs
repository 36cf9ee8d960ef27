//! What a spool of layout 2 holds, seen from outside the daemon: the
//! documents its jobs carry (through `printspoold check-spool`, which takes
//! the spool lock, so only with the daemon stopped) and the names the
//! daemon keeps in it (`journal/<seq>.wal`, `docs/<id>.doc`).
//!
//! Included by path (`#[path = "common/spool_files.rs"]`) from the test
//! crates that use it, beside `mod common`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{DAEMON, output_within, sha256_hex};

/// How long `check-spool` may take on a test's spool.
const CHECK_LIMIT: Duration = Duration::from_secs(60);

/// One job as `check-spool` prints it (the fields the tests use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedJob {
    pub id: u32,
    pub state: Option<String>,
    pub document_sha256: Option<String>,
    pub document_intact: Option<bool>,
}

/// Runs `printspoold check-spool` on `spool` with the configuration
/// `config`; panics (with its stderr) unless it exits 0.
pub fn check_spool(spool: &Path, config: &Path) -> Vec<CheckedJob> {
    let mut command = Command::new(DAEMON);
    command
        .arg("check-spool")
        .arg("--spool")
        .arg(spool)
        .arg("--config")
        .arg(config);
    let output = output_within(command, CHECK_LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check-spool {}: {:?}\n{stderr}",
        spool.display(),
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| parse_checked(line).unwrap_or_else(|e| panic!("check-spool: {e}: {line:?}")))
        .collect()
}

fn parse_checked(line: &str) -> Result<CheckedJob, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = value["id"].as_u64().ok_or("no id")?;
    let text = |field: &str| value[field].as_str().map(str::to_owned);
    Ok(CheckedJob {
        id: u32::try_from(id).map_err(|e| e.to_string())?,
        state: text("state"),
        document_sha256: text("document_sha256"),
        document_intact: value["document_intact"].as_bool(),
    })
}

/// The documents of every job in the spool (live and finished), keyed by
/// SHA-256, with how many jobs carry each; panics if one is not intact.
pub fn documents_by_sha(jobs: &[CheckedJob]) -> HashMap<String, usize> {
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
