//! The [`JobIndex`](super::job_index::JobIndex) through every transition
//! of [`CoreState`]: each method of the state rebuilds the index from the
//! table after its change and compares (`check_index`, in test builds), so
//! these tests fail on the first change that lets a counter drift. They
//! also check what the index answers: queued counts, the order jobs print
//! in, listings, the caps' counts.

use std::collections::BTreeSet;
use std::time::Duration;

use super::state::CoreState;
use super::*;
use crate::backend::BackendError;
use crate::config::{DeviceUri, PrinterConfig};
use crate::test_support::TempDir;

fn printer(dir: &TempDir, name: &str) -> PrinterConfig {
    PrinterConfig {
        name: name.to_string(),
        device_uri: DeviceUri::File(dir.path().join(name)),
        info: None,
        location: None,
        make_and_model: None,
        formats: None,
    }
}

/// A state with queues `a` and `b`, `a` the default.
fn state(dir: &TempDir) -> CoreState {
    let queues = ["a", "b"]
        .iter()
        .map(|name| queue::PrinterQueue::new(&printer(dir, name)))
        .collect();
    CoreState::new(queues, "a".to_string(), 100)
}

fn job(id: JobId, printer: &str, owner: &str, state: JobState) -> Job {
    Job {
        id,
        printer: printer.into(),
        owner: owner.into(),
        state,
        ..crate::test_support::job()
    }
}

fn alice() -> Requester {
    Requester::verified("alice", false)
}

fn queued(state: &CoreState, printer: &str) -> usize {
    state.printer(printer).map_or(0, |p| p.queued_jobs)
}

fn listed(state: &CoreState, printer: Option<&str>, which: WhichJobs) -> Vec<JobId> {
    let filter = JobFilter {
        printer: printer.map(str::to_string),
        which,
        owner: None,
        limit: None,
    };
    state.list(&filter, 100).iter().map(|j| j.id).collect()
}

fn changed(change: Result<state::JobChange, CoreError>) -> (Job, Job) {
    match change {
        Ok(state::JobChange::Changed { before, after }) => (*before, after),
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn hold_release_and_cancel_of_held_and_pending_jobs_keep_the_counts() {
    let dir = TempDir::new("index-hold");
    let mut state = state(&dir);
    state.insert(job(1, "a", "alice", JobState::Pending));
    state.insert(job(2, "a", "alice", JobState::Held));
    state.insert(job(3, "b", "bob", JobState::Pending));
    assert_eq!((queued(&state, "a"), queued(&state, "b")), (2, 1));
    assert_eq!(state.summary(), "2 printers, 0 printing, 2 pending, 1 held");

    changed(state.hold(1, &alice()));
    assert_eq!(state.summary(), "2 printers, 0 printing, 1 pending, 2 held");
    assert!(state.take_next("a").is_none(), "held jobs do not print");
    changed(state.release(2, &alice()));
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(2));
    assert_eq!(state.summary(), "2 printers, 1 printing, 1 pending, 1 held");

    // Cancel of a held job and of a pending one: they leave the queue.
    changed(state.cancel(1, &alice()));
    changed(state.cancel(3, &Requester::verified("bob", false)));
    assert_eq!((queued(&state, "a"), queued(&state, "b")), (1, 0));
    assert!(state.is_drained("b"));
    assert!(!state.is_drained("a"));
    assert_eq!(listed(&state, None, WhichJobs::Completed), [3, 1]);
    assert_eq!(listed(&state, Some("a"), WhichJobs::All), [2, 1]);
    state.check_index_now();
}

#[test]
fn take_settle_defer_and_revert_keep_the_fifo_in_id_order() {
    let dir = TempDir::new("index-print");
    let mut state = state(&dir);
    for id in 1..=4 {
        state.insert(job(id, "a", "alice", JobState::Pending));
    }
    // A job waiting for its document is not printable.
    state.insert(Job {
        has_document: false,
        ..job(5, "a", "alice", JobState::Pending)
    });
    let first = state.take_next("a").expect("job 1 prints");
    assert_eq!(first.job.id, 1);
    assert!(first.queue.is_some_and(|q| q.queued_jobs == 5));
    // The spool could not record it: back in line, first again.
    state.defer("a", 1, "disk full".to_string());
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(1));
    let (job, info) = state.settle("a", 1, &Ok(())).unwrap();
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(info.map(|i| i.queued_jobs), Some(4));

    // The printer went offline mid-job: the job is pending again.
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(2));
    state.settle("a", 2, &Err(BackendError::Offline("unplugged".into())));
    assert!(state.take_next("a").is_none(), "offline");
    state.retry_offline("a");
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(2));
    state.settle("a", 2, &Err(BackendError::Canceled));
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(3));
    state.settle("a", 3, &Err(BackendError::Failed("jam".into())));

    // A hold the spool could not record is undone.
    let (before, after) = changed(state.hold(4, &alice()));
    state.revert(before, &after);
    assert_eq!(state.job(4).map(|j| j.state), Some(JobState::Pending));
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(4));
    state.settle("a", 4, &Err(BackendError::DocumentMissing("/gone".into())));
    assert!(state.take_next("a").is_none(), "job 5 has no document");
    assert_eq!(listed(&state, None, WhichJobs::NotCompleted), [5]);
    assert_eq!(listed(&state, None, WhichJobs::Completed), [4, 3, 2, 1]);
    assert!(state.is_idle());
    state.check_index_now();
}

#[test]
fn late_creations_abort_and_the_document_makes_a_job_printable() {
    let dir = TempDir::new("index-late");
    let mut state = state(&dir);
    for id in 1..=3 {
        state.insert(Job {
            has_document: false,
            created_at: 100,
            ..job(id, "a", "alice", JobState::Pending)
        });
    }
    assert!(state.take_next("a").is_none());
    // The document of job 1 arrives (the job is put in the table again).
    state.insert(job(1, "a", "alice", JobState::Pending));
    let receiving = BTreeSet::from([2]);
    let (aborted, next) = state.abort_late_creations(200, 50, 0, &receiving);
    assert_eq!(aborted.iter().map(|j| j.id).collect::<Vec<_>>(), [3]);
    assert_eq!(next, None);
    let (aborted, next) = state.abort_late_creations(120, 50, 0, &BTreeSet::new());
    assert!(aborted.is_empty());
    assert_eq!(next, Some(150), "job 2 is due at 100 + 50");
    assert_eq!(queued(&state, "a"), 2);
    assert_eq!(state.take_next("a").map(|t| t.job.id), Some(1));
    state.check_index_now();
}

#[test]
fn retire_and_purge_remove_finished_jobs_from_the_index() {
    let dir = TempDir::new("index-retire");
    let mut state = state(&dir);
    state.set_history_limit(2);
    for id in 1..=4 {
        state.insert(Job {
            claim: Some(format!("claim-{id}")),
            ..job(id, "a", "alice", JobState::Completed)
        });
        state.retire(id);
    }
    assert_eq!(listed(&state, None, WhichJobs::Completed), [4, 3]);
    assert_eq!(state.claim_in_memory("claim-1"), None, "left memory");
    assert_eq!(state.claim_in_memory("claim-4"), Some(true));
    assert_eq!(state.forget_purged(|id| id == 3), 1);
    assert_eq!(listed(&state, Some("a"), WhichJobs::Completed), [4]);
    state.set_history_limit(0);
    assert!(listed(&state, None, WhichJobs::All).is_empty());
    state.check_index_now();
}

#[test]
fn jobs_of_a_removed_queue_stay_counted_and_print_when_it_returns() {
    let dir = TempDir::new("index-reload");
    let mut state = state(&dir);
    state.insert(job(1, "b", "alice", JobState::Pending));
    state.insert(job(2, "b", "alice", JobState::Held));
    let change = state.reconfigure(&[printer(&dir, "a")], "a");
    assert_eq!(change.removed, ["b"]);
    assert!(state.printer("b").is_none());
    assert_eq!(listed(&state, Some("b"), WhichJobs::NotCompleted), [1, 2]);
    assert!(state.is_idle(), "no queue can print job 1");
    assert!(
        state.summary().contains("1 pending, 1 held"),
        "{}",
        state.summary()
    );
    // Back: the same counts, and job 1 prints.
    state.reconfigure(&[printer(&dir, "a"), printer(&dir, "b")], "a");
    assert_eq!(queued(&state, "b"), 2);
    assert!(!state.is_idle());
    assert_eq!(state.take_next("b").map(|t| t.job.id), Some(1));
    // A hot-plugged queue unplugged keeps its jobs counted.
    let usb = printer(&dir, "usb");
    state.plug_device(&usb, None, "usb");
    state.insert(job(3, "usb", "alice", JobState::Pending));
    state.unplug_device("usb", "gone");
    assert_eq!(queued(&state, "usb"), 1);
    assert!(state.take_next("usb").is_none(), "offline");
    state.check_index_now();
}

#[test]
fn the_caps_count_owners_by_assurance_and_addresses_by_group() {
    let dir = TempDir::new("index-caps");
    let mut state = state(&dir);
    let peer = |a: &str| Some(a.parse().unwrap());
    state.insert(job(1, "a", "alice", JobState::Pending));
    state.insert(Job {
        identity: Assurance::Claimed,
        tcp_peer: peer("127.0.0.5"),
        ..job(2, "b", "alice", JobState::Held)
    });
    state.insert(Job {
        identity: Assurance::Claimed,
        tcp_peer: peer("127.0.0.1"),
        ..job(3, "a", "mallory", JobState::Pending)
    });
    state.insert(job(4, "a", "alice", JobState::Completed));
    let new = |owner: &str, identity, tcp_peer| NewJob {
        printer: "a".into(),
        owner: owner.into(),
        name: "n".into(),
        origin: Origin::Ipp,
        identity,
        ticket: JobTicket::default(),
        tcp_peer,
    };
    let verified = state.active_jobs(&new("alice", Assurance::Verified, None));
    assert_eq!((verified.total, verified.of_owner), (3, 1));
    let over_tcp = state.active_jobs(&new("alice", Assurance::Claimed, peer("127.0.0.9")));
    assert_eq!((over_tcp.of_owner, over_tcp.of_address), (1, 2));
    changed(state.cancel(3, &Requester::claimed("mallory")));
    let over_tcp = state.active_jobs(&new("alice", Assurance::Claimed, peer("127.0.0.9")));
    assert_eq!((over_tcp.total, over_tcp.of_address), (2, 1));
    state.check_index_now();
}

/// 10,000 queued jobs: counting, listing and taking the next job look at
/// a handful of them, and cancelling them all leaves nothing behind.
#[test]
fn ten_thousand_jobs_are_counted_listed_and_cancelled_through_the_index() {
    let dir = TempDir::new("index-10k");
    let mut state = state(&dir);
    const N: JobId = 10_000;
    for id in 1..=N {
        let held = id % 2 == 0;
        let owner = if id % 3 == 0 { "bob" } else { "alice" };
        let state_of = if held {
            JobState::Held
        } else {
            JobState::Pending
        };
        state.insert(job(id, "a", owner, state_of));
    }
    state.check_index_now();
    assert_eq!(queued(&state, "a"), N as usize);
    let page = state.list(
        &JobFilter {
            printer: Some("a".into()),
            which: WhichJobs::NotCompleted,
            owner: Some("bob".into()),
            limit: None,
        },
        10,
    );
    assert_eq!(
        page.iter().map(|j| j.id).collect::<Vec<_>>(),
        [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    );
    // The worker's next job, past 5,000 held ones, in order.
    for expected in [1, 3, 5] {
        let taken = state.take_next("a").expect("a pending job");
        assert_eq!(taken.job.id, expected);
        state.settle("a", expected, &Ok(()));
    }
    let admin = Requester::verified("root", true);
    for id in 1..=N {
        if state.job(id).is_some_and(|j| !j.state.is_terminal()) {
            changed(state.cancel(id, &admin));
        }
    }
    assert!(state.is_drained("a"));
    assert_eq!(state.summary(), "2 printers, 0 printing, 0 pending, 0 held");
    state.set_history_limit(0);
    for id in 1..=N {
        state.retire(id);
    }
    assert!(listed(&state, None, WhichJobs::All).is_empty());
    state.check_index_now();
}

/// Recovery: held, pending, interrupted and finished jobs read back from
/// the spool are indexed as they were inserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_indexes_the_jobs_read_back_from_the_spool() {
    let dir = TempDir::new("index-restart");
    let options = CoreOptions {
        spool_dir: dir.path().join("spool"),
        printers: vec![printer(&dir, "a")],
        default_printer: "a".to_string(),
        max_document_bytes: 1 << 20,
    };
    let admin = Requester::verified("root", true);
    let new = |hold: bool| NewJob {
        printer: "a".into(),
        owner: "alice".into(),
        name: "n".into(),
        origin: Origin::Ipp,
        identity: Assurance::Verified,
        ticket: JobTicket {
            job_hold_until: hold.then(|| "indefinite".to_string()),
            ..JobTicket::default()
        },
        tcp_peer: None,
    };
    let mut ids = Vec::new();
    {
        let (spooler, _) = Spooler::start(options.clone()).unwrap();
        spooler.pause("a", &admin).unwrap();
        for n in 0..6 {
            let mut staging = spooler.stage_document().await.unwrap();
            staging.write(b"x\n").await.unwrap();
            let staged = staging.finish().await.unwrap();
            let job = spooler
                .submit(new(n % 2 == 0), Some("text/plain".into()), staged)
                .await
                .unwrap();
            ids.push(job.id);
        }
        spooler.cancel(ids[5], &admin).await.unwrap();
        spooler.shutdown(Duration::from_secs(5)).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let spooler = loop {
        match Spooler::start(options.clone()) {
            Ok((spooler, _)) => break spooler,
            Err(CoreError::Spool(crate::spool::SpoolError::Locked { .. }))
                if std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("restart: {e}"),
        }
    };
    spooler.lock().check_index_now();
    assert_eq!(spooler.printer("a").map(|p| p.queued_jobs), Some(5));
    assert_eq!(
        spooler.summary(),
        "1 printer, 0 printing, 2 pending, 3 held, 1 stopped"
    );
    // Cancelling every queued job drains the queue.
    for &id in &ids[..5] {
        spooler.cancel(id, &admin).await.unwrap();
    }
    assert!(spooler.lock().is_drained("a"));
    spooler.lock().check_index_now();
    spooler.shutdown(Duration::from_secs(5)).await;
}

/// What a queued job costs in memory: the job, its box, its strings and
/// its index entries, measured as glibc's bytes in use. A measurement, not
/// a test of a bound (other tests allocate concurrently): run alone with
/// `cargo test --lib core::index_tests::memory -- --ignored --nocapture`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
#[ignore = "a measurement, run alone"]
fn memory_per_queued_job() {
    fn in_use() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        unsafe { libc::mallinfo2() }.uordblks
    }
    let queued = |id| Job {
        name: "quarterly-report.pdf".into(),
        reasons: vec!["job-hold-until-specified".into()],
        format: Some("application/pdf".into()),
        document_bytes: Some(1024),
        ticket: JobTicket {
            job_hold_until: Some("indefinite".into()),
            ..JobTicket::default()
        },
        ..job(id, "a", "alice", JobState::Held)
    };
    const N: JobId = 10_000;
    // The table as it was before the index: jobs unboxed in the tree.
    let before = in_use();
    let mut unboxed = std::collections::BTreeMap::new();
    for id in 1..=N {
        unboxed.insert(id, queued(id));
    }
    let table_before = (in_use() - before) / N as usize;
    drop(unboxed);
    let dir = TempDir::new("index-memory");
    let mut state = state(&dir);
    let before = in_use();
    for id in 1..=N {
        state.insert(queued(id));
    }
    let now = (in_use() - before) / N as usize;
    println!(
        "size_of::<Job>() = {} bytes; heap per queued job: {table_before} bytes in an \
         unboxed table (before), {now} bytes boxed and indexed (now)",
        std::mem::size_of::<Job>(),
    );
}
