//! Small helpers shared by the crate's unit tests: a temporary directory,
//! unique names, polling.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "printspoold-{label}-{}-{unique}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name unique to this test process for abstract sockets.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("printspoold-test-{label}-{}-{unique}", std::process::id())
}

/// Polls `condition` every 10 ms for up to `seconds`.
pub fn wait_until(seconds: u64, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    condition()
}

/// A pending job with a document, owned by a verified `u`: unit tests
/// override the fields they are about with `Job { .., ..job() }`.
pub fn job() -> crate::core::Job {
    use crate::core::{Assurance, Job, JobState, JobTicket, Origin};
    Job {
        id: 1,
        printer: "p".into(),
        owner: "u".into(),
        name: "n".into(),
        origin: Origin::Ipp,
        identity: Assurance::Verified,
        state: JobState::Pending,
        reasons: vec!["none".into()],
        message: String::new(),
        ticket: JobTicket::default(),
        format: None,
        document_bytes: None,
        has_document: true,
        created_at: 0,
        processing_at: None,
        completed_at: None,
        claim: None,
        tcp_peer: None,
    }
}

/// Makes a FIFO (mode 0600) at `path`: a file that blocks whoever opens it
/// for reading without a writer, the trap the code under test must avoid.
pub fn mkfifo(path: &Path) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
}
