//! A stopped daemon's spool, read the way the crash checks of tests/vm read
//! it: through `printspoold check-spool`, which runs the daemon's own
//! recovery and lists every job, live and finished, with its document's
//! hash recomputed from the bytes on disk. Tests never parse the spool's
//! files themselves: the layout is the spool's business (src/spool), and
//! what a test asserts is what recovery would hand the next daemon.
//!
//! `check-spool` takes the spool's lock, so the daemon must be stopped
//! (killed or exited) first; a running daemon makes it fail, and
//! [`check_spool`] panics saying so.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use super::{DAEMON, job_state, output_within, scrub_service_manager_env};

/// How long `check-spool` may take: recovery of a soak's spool (thousands
/// of jobs, every document read and hashed) on a busy machine.
pub const CHECK_SPOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// One job as `printspoold check-spool` prints it (one JSON object a line;
/// see `InspectedJob` in src/commands.rs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SpooledJob {
    pub id: i32,
    /// The recorded `job-state` keyword (`pending-held`, `completed`...);
    /// `None` when the record does not decode.
    pub state: Option<String>,
    pub printer: Option<String>,
    /// The recorded document length; `None` for a job without a document.
    pub document_bytes: Option<u64>,
    /// SHA-256 (lower-case hex) of the document as read back now.
    pub document_sha256: Option<String>,
    /// Whether the document read back whole as recorded.
    pub document_intact: Option<bool>,
}

impl SpooledJob {
    /// The recorded state as IPP's `job-state` enum; `None` for a record
    /// that does not decode or an unknown keyword.
    pub fn ipp_state(&self) -> Option<i32> {
        Some(match self.state.as_deref()? {
            "pending" => job_state::PENDING,
            "pending-held" => job_state::HELD,
            "processing" => job_state::PROCESSING,
            "processing-stopped" => job_state::STOPPED,
            "canceled" => job_state::CANCELED,
            "aborted" => job_state::ABORTED,
            "completed" => job_state::COMPLETED,
            _ => return None,
        })
    }

    /// Whether the document is on disk, whole, and hashes to `sha256`.
    pub fn holds_document(&self, sha256: &str) -> bool {
        self.document_intact == Some(true) && self.document_sha256.as_deref() == Some(sha256)
    }
}

/// Every job of the stopped daemon's spool `dir`, in id order. Panics
/// (with `check-spool`'s stderr) if it fails: a running daemon holds the
/// lock, or recovery itself failed — either way the test cannot go on.
pub fn check_spool(dir: &Path) -> Vec<SpooledJob> {
    let mut command = Command::new(DAEMON);
    command.arg("check-spool").arg("--spool").arg(dir);
    scrub_service_manager_env(&mut command);
    let output = output_within(command, CHECK_SPOOL_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "printspoold check-spool --spool {} failed ({}): {stderr}",
        dir.display(),
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("check-spool printed {line:?}: {e}"))
        })
        .collect()
}

/// [`check_spool`] by job id.
pub fn spooled_jobs(dir: &Path) -> BTreeMap<i32, SpooledJob> {
    check_spool(dir)
        .into_iter()
        .map(|job| (job.id, job))
        .collect()
}
