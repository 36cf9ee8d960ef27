//! `printspoold cleanup`: run once by `printspoold-cleanup.timer` (daemon(7)
//! "Timer-Based Activation", with `CPUSchedulingPolicy=idle` and
//! `IOSchedulingClass=idle` in its unit so it never competes with printing).
//!
//! It purges finished jobs (completed, canceled, aborted; history and
//! documents) older than `[history] retention`, removes stray files, and
//! enforces `[history] max_spool_bytes` oldest first. It reads only the
//! history segments (finished jobs the daemon sealed), never the journal
//! that holds the queued and printing jobs, so it cannot touch one; and it
//! is safe while the daemon runs: see [`DiskHistory`] for why.

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::HistoryConfig;
use crate::core::Job;
use crate::spool::{DiskHistory, HistoryRecord, STRAY_AFTER, SpoolError};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub purged_jobs: usize,
    pub purged_bytes: u64,
    pub stray_files: usize,
    pub stray_bytes: u64,
    pub kept_jobs: usize,
    pub kept_bytes: u64,
    pub daemon_running: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cleanup: purged {} finished job{} ({} KiB), removed {} stray file{} ({} KiB); \
             spool holds {} job{} ({} KiB); daemon {}",
            self.purged_jobs,
            plural(self.purged_jobs),
            self.purged_bytes.div_ceil(1024),
            self.stray_files,
            plural(self.stray_files),
            self.stray_bytes.div_ceil(1024),
            self.kept_jobs,
            plural(self.kept_jobs),
            self.kept_bytes.div_ceil(1024),
            if self.daemon_running {
                "running"
            } else {
                "not running"
            }
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Runs one cleanup of the spool at `dir`, as of `now` (Unix seconds).
/// `activation` names how the cleanup was started (`timer` under
/// `printspoold-cleanup.service`), for the journal's `ACTIVATION=` field
/// of each purged job's line.
pub fn run(
    dir: &Path,
    history: &HistoryConfig,
    now: u64,
    activation: &str,
) -> Result<Summary, SpoolError> {
    let spool = DiskHistory::open(dir)?;
    let mut summary = Summary {
        daemon_running: spool.daemon_running(),
        ..Summary::default()
    };
    spool.finish_interrupted_purge()?;
    let mut candidates = Vec::new();
    let total = spool.records(|record| candidates.push(Candidate::of(record)))?;
    let plan = plan(&candidates, total, history, now);
    let outcome = spool.purge(&plan.purge, |record| log_purged(record, activation))?;
    if outcome.segments_damaged > 0 {
        tracing::warn!(
            "cleanup: {} damaged history segments left as they are",
            outcome.segments_damaged
        );
    }
    spool.remove_empty_segments()?;
    summary.purged_jobs = plan.purge.len();
    summary.purged_bytes = plan.purged_bytes;
    summary.kept_jobs = candidates.len() - plan.purge.len();
    summary.kept_bytes = plan.kept_bytes;
    let (files, bytes) = spool.remove_strays(STRAY_AFTER)?;
    summary.stray_files = files;
    summary.stray_bytes = bytes;
    Ok(summary)
}

/// One line per purged job, with the job's fields, so that
/// `journalctl JOB_ID=N` shows the end of its life too.
fn log_purged(record: &HistoryRecord, activation: &str) {
    // Only terminal jobs are purged, and those were parsed by `plan`.
    let Ok(job) = serde_json::from_slice::<Job>(&record.meta) else {
        return;
    };
    tracing::info!(
        job = record.id,
        printer = %job.printer,
        owner = %job.owner,
        origin = %activation,
        "finished job purged from the spool"
    );
}

/// What the plan needs of one job in history: kept small, since cleanup
/// holds one per job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    id: u32,
    /// When it finished; `None` if it is not a finished job (or its
    /// record does not parse): never purged.
    finished_at: Option<u64>,
    bytes: u64,
}

impl Candidate {
    fn of(record: &HistoryRecord) -> Candidate {
        let finished_at = match serde_json::from_slice::<Job>(&record.meta) {
            Ok(job) if job.state.is_terminal() => Some(job.completed_at.unwrap_or(job.created_at)),
            // Unreadable, or not finished: never guess, leave it.
            _ => None,
        };
        Candidate {
            id: record.id,
            finished_at,
            bytes: record.bytes,
        }
    }
}

/// What to purge (pure, so it is tested without a clock).
#[derive(Debug, Default, PartialEq, Eq)]
struct PurgePlan {
    purge: BTreeSet<u32>,
    purged_bytes: u64,
    kept_bytes: u64,
}

/// Finished jobs past the retention go; then, while the spool (`total`
/// bytes) is over the cap, the oldest finished ones.
fn plan(candidates: &[Candidate], total: u64, history: &HistoryConfig, now: u64) -> PurgePlan {
    let mut finished: Vec<(u64, u32, u64)> = candidates
        .iter()
        .filter_map(|c| c.finished_at.map(|at| (at, c.id, c.bytes)))
        .collect();
    finished.sort_unstable();
    let mut plan = PurgePlan::default();
    let mut kept = total;
    for (at, id, bytes) in finished {
        let expired = now.saturating_sub(at) > history.retention;
        let over_cap = history.max_spool_bytes.is_some_and(|cap| kept > cap);
        if (expired || over_cap) && plan.purge.insert(id) {
            plan.purged_bytes += bytes;
            kept = kept.saturating_sub(bytes);
        }
    }
    plan.kept_bytes = kept;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{JobState, JobTicket, Origin};
    use crate::spool::history::{DocumentToSeal, HistoryStore, JobToSeal, OnDamage};
    use crate::test_support::TempDir;

    fn job(id: u32, state: JobState, completed_at: Option<u64>, bytes: u64) -> Job {
        Job {
            id,
            printer: "p".into(),
            owner: "u".into(),
            name: "n".into(),
            origin: Origin::Ipp,
            identity: crate::core::Assurance::Verified,
            state,
            reasons: vec!["none".into()],
            message: String::new(),
            ticket: JobTicket::default(),
            format: None,
            document_bytes: Some(bytes),
            has_document: true,
            created_at: 10,
            processing_at: None,
            completed_at,
            claim: None,
            tcp_peer: None,
        }
    }

    fn candidate(id: u32, state: JobState, completed_at: Option<u64>, bytes: u64) -> Candidate {
        Candidate::of(&HistoryRecord {
            id,
            meta: serde_json::to_vec(&job(id, state, completed_at, bytes)).unwrap(),
            bytes,
        })
    }

    fn history(retention: u64, cap: Option<u64>) -> HistoryConfig {
        HistoryConfig {
            retention,
            max_spool_bytes: cap,
            ..HistoryConfig::default()
        }
    }

    fn total(candidates: &[Candidate]) -> u64 {
        candidates.iter().map(|c| c.bytes).sum()
    }

    fn ids(plan: &PurgePlan) -> Vec<u32> {
        plan.purge.iter().copied().collect()
    }

    #[test]
    fn old_finished_jobs_go_recent_and_unfinished_stay() {
        let candidates = [
            candidate(1, JobState::Completed, Some(100), 10),
            candidate(2, JobState::Canceled, Some(950), 10),
            candidate(3, JobState::Pending, None, 10),
            candidate(4, JobState::Aborted, Some(200), 10),
            candidate(5, JobState::Processing, None, 10),
        ];
        let plan = plan(&candidates, total(&candidates), &history(500, None), 1000);
        assert_eq!(ids(&plan), [1, 4]);
        assert_eq!(plan.kept_bytes, 30);
    }

    #[test]
    fn size_cap_purges_oldest_finished_first_and_never_unfinished() {
        let candidates = [
            candidate(1, JobState::Completed, Some(900), 100),
            candidate(2, JobState::Completed, Some(800), 100),
            candidate(4, JobState::Completed, Some(990), 100),
        ];
        // 500 more bytes the cap counts but cleanup cannot free (a live
        // job's document in docs/).
        let total = total(&candidates) + 500;
        let plan = plan(&candidates, total, &history(10_000, Some(650)), 1000);
        assert_eq!(ids(&plan), [1, 2]);
        assert_eq!(plan.kept_bytes, 600);
        // A cap below what live jobs use still leaves them alone.
        let plan = super::plan(&candidates, total, &history(10_000, Some(10)), 1000);
        assert_eq!(ids(&plan), [1, 2, 4]);
        assert_eq!(plan.kept_bytes, 500);
    }

    #[test]
    fn unreadable_records_are_left_alone() {
        let bad = Candidate::of(&HistoryRecord {
            id: 9,
            meta: b"not json".to_vec(),
            bytes: 5,
        });
        assert_eq!(bad.finished_at, None);
        let plan = plan(&[bad], 5, &history(0, Some(0)), 1_000_000);
        assert!(plan.purge.is_empty());
    }

    /// Runs cleanup on another thread: a FIFO read blocking would hang it,
    /// and a hung test should fail, not wait forever.
    fn run_within(dir: &Path, history: HistoryConfig) -> Result<Summary, SpoolError> {
        let (send, receive) = std::sync::mpsc::channel();
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = send.send(run(&dir, &history, 1_000_000, "command"));
        });
        receive
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("cleanup hung (a FIFO opened blocking?)")
    }

    /// A spool with history segments, as the daemon seals them, and
    /// documents in docs/.
    struct Fixture {
        _dir: TempDir,
        spool: std::path::PathBuf,
        store: HistoryStore,
    }

    impl Fixture {
        fn new(label: &str) -> Fixture {
            let dir = TempDir::new(label);
            let spool = dir.path().join("spool");
            std::fs::create_dir_all(spool.join("docs")).unwrap();
            let store = HistoryStore::open(&spool, OnDamage::Report).unwrap();
            Fixture {
                _dir: dir,
                spool,
                store,
            }
        }

        /// Seals `jobs` (id, state, completed at); even ids get a document
        /// file, odd ones an inline document.
        fn seal(&self, jobs: &[(u32, JobState, Option<u64>)]) {
            let metas: Vec<_> = jobs
                .iter()
                .map(|&(id, state, at)| serde_json::to_vec(&job(id, state, at, 1000)).unwrap())
                .collect();
            let info = crate::spool::DocumentInfo {
                len: 1000,
                sha256: "0".repeat(64),
            };
            let inline = [b'i'; 1000];
            let batch: Vec<_> = jobs
                .iter()
                .zip(&metas)
                .map(|(&(id, ..), meta)| JobToSeal {
                    id,
                    meta,
                    document: if id % 2 == 0 {
                        std::fs::write(self.doc(id), [b'd'; 1000]).unwrap();
                        DocumentToSeal::File(&info)
                    } else {
                        DocumentToSeal::Inline(&inline)
                    },
                })
                .collect();
            self.store.seal(&batch).unwrap();
        }

        fn doc(&self, id: u32) -> std::path::PathBuf {
            self.spool.join("docs").join(format!("{id}.doc"))
        }

        fn in_history(&self, id: u32) -> bool {
            self.store.contains(id).unwrap()
        }
    }

    #[test]
    fn purges_whole_and_partial_segments_and_their_documents() {
        let f = Fixture::new("cleanup-segments");
        f.seal(&[
            (1, JobState::Completed, Some(100)),
            (2, JobState::Canceled, Some(100)),
        ]);
        f.seal(&[
            (3, JobState::Completed, Some(100)),
            (4, JobState::Completed, Some(999_999)),
            (5, JobState::Aborted, Some(100)),
        ]);
        // A live job's document: no segment names it, cleanup never judges it.
        std::fs::write(f.doc(6), b"held job's document").unwrap();
        let summary = run_within(&f.spool, history(1000, None)).unwrap();
        assert_eq!(summary.purged_jobs, 4);
        assert_eq!(summary.kept_jobs, 1);
        for id in [1, 2, 3, 5] {
            assert!(!f.in_history(id), "job {id} stayed");
        }
        assert!(f.in_history(4));
        assert!(!f.doc(2).exists());
        assert!(f.doc(4).exists());
        assert!(f.doc(6).exists(), "a live job's document was removed");
        // The first segment went whole; the second holds job 4 only.
        let names = f.store.segment_names().unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!((names[0].first, names[0].last), (3, 5));
        assert!(!f.spool.join("cleanup-purge").exists());
    }

    #[test]
    fn the_highest_segment_stays_even_empty_so_ids_are_not_reused() {
        let f = Fixture::new("cleanup-highest");
        f.seal(&[
            (7, JobState::Completed, Some(1)),
            (9, JobState::Completed, Some(1)),
        ]);
        let summary = run_within(&f.spool, history(10, None)).unwrap();
        assert_eq!(summary.purged_jobs, 2);
        assert!(!f.in_history(7) && !f.in_history(9));
        assert_eq!(f.store.highest_id().unwrap(), 9);
        assert_eq!(f.store.segment_names().unwrap().len(), 1);
        // Once a higher segment exists, the empty one goes.
        f.seal(&[(12, JobState::Completed, Some(999_999))]);
        run_within(&f.spool, history(10, None)).unwrap();
        let names = f.store.segment_names().unwrap();
        assert_eq!(names.iter().map(|n| n.last).collect::<Vec<_>>(), [12]);
        assert!(f.in_history(12));
    }

    #[test]
    fn an_interrupted_purge_is_finished_by_the_next_run() {
        let f = Fixture::new("cleanup-interrupted");
        f.seal(&[
            (2, JobState::Completed, Some(999_999)),
            (4, JobState::Completed, Some(999_999)),
        ]);
        // A run died after deciding to purge 2 and 4 and rewriting the
        // segment without 2, before unlinking 2's document.
        std::fs::write(f.spool.join("cleanup-purge"), "2\n4\n").unwrap();
        let name = f.store.segment_names().unwrap()[0];
        f.store.rewrite_without(&name, |id| id == 2, true).unwrap();
        run_within(&f.spool, history(1_000_000, None)).unwrap();
        assert!(!f.in_history(4), "the decided purge was not finished");
        assert!(!f.doc(2).exists() && !f.doc(4).exists());
        assert!(!f.spool.join("cleanup-purge").exists());
    }

    #[test]
    fn the_size_cap_counts_history_and_documents() {
        let f = Fixture::new("cleanup-cap");
        for id in 1..=4u32 {
            f.seal(&[(id * 2, JobState::Completed, Some(u64::from(id) * 10))]);
        }
        let used = |dir: &str| -> u64 {
            std::fs::read_dir(f.spool.join(dir))
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum()
        };
        let each = (used("history") + used("docs")) / 4;
        // Room for two of the four.
        let cap = 2 * each + 100;
        let summary = run_within(&f.spool, history(1_000_000, Some(cap))).unwrap();
        assert_eq!(summary.purged_jobs, 2, "{summary}");
        assert!(!f.in_history(2) && !f.in_history(4));
        assert!(f.in_history(6) && f.in_history(8));
        assert!(used("history") + used("docs") <= cap, "{summary}");
    }

    #[test]
    fn special_files_neither_hang_nor_stop_cleanup() {
        let f = Fixture::new("cleanup-special");
        f.seal(&[(6, JobState::Completed, Some(100))]);
        // The purged job's document name is taken by a directory; a FIFO
        // and a symlink pose as segments.
        std::fs::remove_file(f.doc(6)).unwrap();
        std::fs::create_dir(f.doc(6)).unwrap();
        let history_dir = f.spool.join("history");
        crate::test_support::mkfifo(&history_dir.join("0000000001-0000000003.hist"));
        let outside = f.spool.join("outside");
        std::fs::write(&outside, b"not a segment").unwrap();
        std::os::unix::fs::symlink(&outside, history_dir.join("0000000004-0000000005.hist"))
            .unwrap();
        let summary = run_within(&f.spool, history(0, Some(0))).unwrap();
        assert_eq!(summary.purged_jobs, 1);
        assert!(!f.in_history(6));
        // None of it is cleanup's to judge.
        assert!(f.doc(6).is_dir());
        assert_eq!(std::fs::read(&outside).unwrap(), b"not a segment");
        assert!(std::fs::symlink_metadata(history_dir.join("0000000001-0000000003.hist")).is_ok());
    }

    #[test]
    fn old_temp_files_are_strays_fresh_ones_stay() {
        let f = Fixture::new("cleanup-strays");
        let old = f.spool.join("tmp").join("doc-stale");
        std::fs::write(&old, b"stale").unwrap();
        let file = std::fs::File::options().write(true).open(&old).unwrap();
        file.set_modified(std::time::SystemTime::now() - STRAY_AFTER * 2)
            .unwrap();
        let fresh = f.spool.join("tmp").join("doc-in-flight");
        std::fs::write(&fresh, b"uploading").unwrap();
        let summary = run_within(&f.spool, history(1000, None)).unwrap();
        assert_eq!(summary.stray_files, 1);
        assert!(!old.exists() && fresh.exists());
    }
}
