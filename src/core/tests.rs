//! Core tests on a real spool and a file printer: the bound on finished
//! jobs in memory, lookups of jobs that left memory, and the worker's
//! handling of a document removed behind its back.

use std::time::{Duration, Instant};

use super::*;
use crate::config::{DeviceUri, PrinterConfig};
use crate::test_support::TempDir;

fn start(dir: &TempDir) -> Spooler {
    try_start(dir).unwrap()
}

fn try_start(dir: &TempDir) -> Result<Spooler, CoreError> {
    let printer = PrinterConfig {
        name: "p".to_string(),
        device_uri: DeviceUri::File(dir.path().join("out")),
        info: None,
        location: None,
        make_and_model: None,
        formats: None,
    };
    let (spooler, _) = Spooler::start(CoreOptions {
        spool_dir: dir.path().join("spool"),
        printers: vec![printer],
        default_printer: "p".to_string(),
        max_document_bytes: 1 << 20,
    })?;
    Ok(spooler)
}

fn alice() -> Requester {
    Requester::verified("alice", false)
}

fn new_job(hold: bool) -> NewJob {
    NewJob {
        printer: "p".to_string(),
        owner: "alice".to_string(),
        name: "t".to_string(),
        origin: Origin::Ipp,
        identity: Assurance::Verified,
        ticket: JobTicket {
            job_hold_until: hold.then(|| "indefinite".to_string()),
            ..JobTicket::default()
        },
        tcp_peer: None,
    }
}

async fn submit(spooler: &Spooler, n: u32, hold: bool, claim: Option<&str>) -> JobId {
    let mut staging = spooler.stage_document().await.unwrap();
    staging
        .write(format!("document {n}\n").as_bytes())
        .await
        .unwrap();
    let staged = staging.finish().await.unwrap();
    let job = match claim {
        Some(token) => spooler
            .submit_claimed(new_job(hold), staged, token.to_string())
            .await
            .unwrap(),
        None => spooler
            .submit(new_job(hold), Some("text/plain".to_string()), staged)
            .await
            .unwrap(),
    };
    job.id
}

/// Waits (bounded) until every job in `ids` is finished.
async fn wait_finished(spooler: &Spooler, ids: &[JobId]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = ids
            .iter()
            .all(|&id| spooler.job(id).is_some_and(|job| job.state.is_terminal()));
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "jobs {ids:?} did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until `held` finished jobs are in memory. A job is
/// finished in memory a moment before its final record is written and it
/// may leave memory (`retire`), so counts are only stable after that.
async fn wait_retired(spooler: &Spooler, held: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while spooler.finished_jobs_in_memory() != held || completed(spooler).len() != held {
        assert!(
            Instant::now() < deadline,
            "{} finished jobs in memory, {} listed, wanted {held}",
            spooler.finished_jobs_in_memory(),
            completed(spooler).len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn completed(spooler: &Spooler) -> Vec<JobId> {
    spooler
        .jobs(&JobFilter {
            printer: None,
            which: WhichJobs::Completed,
            owner: None,
            limit: None,
        })
        .iter()
        .map(|job| job.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_finished_jobs_stay_in_memory() {
    let dir = TempDir::new("history");
    let spooler = start(&dir);
    spooler.set_history_limit(5);
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(submit(&spooler, n, false, None).await);
    }
    wait_finished(&spooler, &ids).await;
    wait_retired(&spooler, 5).await;
    let newest: Vec<JobId> = ids.iter().rev().take(5).copied().collect();
    assert_eq!(completed(&spooler), newest);

    // The oldest left memory but not the disk: it is still found by id,
    // and acting on it gives the answer memory would have given.
    let oldest = ids[0];
    let job = spooler
        .job(oldest)
        .expect("a finished job is found on disk");
    assert_eq!(job.state, JobState::Completed);
    assert!(matches!(
        spooler.cancel(oldest, &alice()).await,
        Err(CoreError::NotPossible(_))
    ));
    let bob = Requester::verified("bob", false);
    assert!(matches!(
        spooler.release(oldest, &bob).await,
        Err(CoreError::NotPermitted { .. })
    ));
    assert!(spooler.job(999_999).is_none());

    // Raising the limit keeps what is there; lowering it trims at once.
    spooler.set_history_limit(2);
    assert_eq!(completed(&spooler), newest[..2].to_vec());
    spooler.set_history_limit(0);
    assert!(completed(&spooler).is_empty());
    assert_eq!(
        spooler.job(ids[11]).map(|j| j.state),
        Some(JobState::Completed)
    );
    spooler.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_jobs_never_leave_memory() {
    let dir = TempDir::new("held");
    let spooler = start(&dir);
    spooler.set_history_limit(1);
    let held: Vec<JobId> = futures_join(&spooler, 3, true).await;
    let printed: Vec<JobId> = futures_join(&spooler, 3, false).await;
    wait_finished(&spooler, &printed).await;
    wait_retired(&spooler, 1).await;
    for &id in &held {
        assert_eq!(spooler.job(id).unwrap().state, JobState::Held);
    }
    // Releasing and printing a held job makes it the newest finished one
    // only if its id is the highest: the bound is by id, like CUPS.
    spooler.release(held[0], &alice()).await.unwrap();
    wait_finished(&spooler, &held[..1]).await;
    wait_retired(&spooler, 1).await;
    assert_eq!(completed(&spooler), vec![printed[2]]);
    assert_eq!(
        spooler.job(held[0]).map(|j| j.state),
        Some(JobState::Completed)
    );
    spooler.shutdown(Duration::from_secs(5)).await;
}

async fn futures_join(spooler: &Spooler, n: u32, hold: bool) -> Vec<JobId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(submit(spooler, i, hold, None).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_found_after_its_job_left_memory() {
    let dir = TempDir::new("claim");
    let spooler = start(&dir);
    spooler.set_history_limit(0);
    let id = submit(&spooler, 1, false, Some("1-2-3-4")).await;
    wait_finished(&spooler, &[id]).await;
    wait_retired(&spooler, 0).await;
    assert!(spooler.has_claim("1-2-3-4"), "found on disk");
    assert!(!spooler.has_claim("9-9-9-9"));
    // A token remembered as unclaimed is forgotten once a job carries it.
    let id = submit(&spooler, 2, true, Some("9-9-9-9")).await;
    assert!(spooler.has_claim("9-9-9-9"));
    spooler.cancel(id, &alice()).await.unwrap();
    assert!(
        spooler.has_claim("9-9-9-9"),
        "canceled, left memory, on disk"
    );
    spooler.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_only_the_newest_finished_jobs_in_memory() {
    let dir = TempDir::new("restart");
    // What the core keeps before the daemon applies the configuration.
    let limit = crate::config::HistoryConfig::default().max_jobs_in_memory;
    let mut ids = Vec::new();
    {
        let spooler = start(&dir);
        // More jobs than one user may have active: lift that cap here.
        spooler.set_job_limits(JobLimits {
            max_active_jobs: usize::MAX,
            max_active_jobs_per_user: usize::MAX,
            ..JobLimits::default()
        });
        for n in 0..(limit as u32 + 3) {
            ids.push(submit(&spooler, n, false, None).await);
        }
        wait_finished(&spooler, &ids).await;
        wait_retired(&spooler, limit).await;
        spooler.shutdown(Duration::from_secs(5)).await;
    }
    // The lock is released when the last handle (worker tasks) is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spooler = loop {
        match try_start(&dir) {
            Ok(spooler) => break spooler,
            Err(CoreError::Spool(crate::spool::SpoolError::Locked { .. }))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("restart: {e}"),
        }
    };
    assert_eq!(spooler.finished_jobs_in_memory(), limit);
    assert_eq!(completed(&spooler).len(), limit);
    assert_eq!(completed(&spooler)[0], *ids.last().unwrap());
    assert_eq!(
        spooler.job(ids[0]).map(|j| j.state),
        Some(JobState::Completed)
    );
    spooler.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_removed_behind_our_back_aborts_its_job_with_a_reason() {
    let dir = TempDir::new("missing");
    let spooler = start(&dir);
    // Large enough to live in its own file (docs/), not in the journal.
    let mut staging = spooler.stage_document().await.unwrap();
    staging.write(&vec![b'x'; 100_000]).await.unwrap();
    let staged = staging.finish().await.unwrap();
    let id = spooler
        .submit(new_job(true), Some("text/plain".to_string()), staged)
        .await
        .unwrap()
        .id;
    let document = dir.path().join(format!("spool/docs/{id}.doc"));
    std::fs::remove_file(&document).unwrap();
    spooler.release(id, &alice()).await.unwrap();
    wait_finished(&spooler, &[id]).await;
    let job = spooler.job(id).unwrap();
    assert_eq!(job.state, JobState::Aborted);
    assert_eq!(
        job.reasons,
        vec!["aborted-by-system", "document-access-error"]
    );
    assert!(
        job.message.contains(&document.display().to_string()),
        "{}",
        job.message
    );
    // The worker goes on with the next job.
    let next = submit(&spooler, 2, false, None).await;
    wait_finished(&spooler, &[next]).await;
    assert_eq!(spooler.job(next).unwrap().state, JobState::Completed);
    spooler.shutdown(Duration::from_secs(5)).await;
}

/// The core enforces the identity rules on every job change, whatever the
/// entry path: a claimed "alice" touches nothing of the verified alice's,
/// and a claimed requester is never an administrator.
#[tokio::test]
async fn claims_never_act_on_verified_jobs_or_printers() {
    let dir = TempDir::new("core-identity");
    let spooler = start(&dir);
    let id = submit(&spooler, 1, true, None).await;
    assert_eq!(spooler.job(id).unwrap().identity, Assurance::Verified);
    let claimed_alice = Requester::claimed("alice");
    assert!(matches!(
        spooler.release(id, &claimed_alice).await,
        Err(CoreError::ClaimNotVerified { .. })
    ));
    assert!(matches!(
        spooler.cancel(id, &claimed_alice).await,
        Err(CoreError::ClaimNotVerified { .. })
    ));
    let claimed_admin = Requester {
        is_admin: true,
        ..Requester::claimed("root")
    };
    assert!(matches!(
        spooler.pause("p", &claimed_admin),
        Err(CoreError::AdminOnly(_))
    ));
    assert!(matches!(
        spooler.cancel(id, &claimed_admin).await,
        Err(CoreError::NotPermitted { .. })
    ));
    assert_eq!(spooler.job(id).unwrap().state, JobState::Held);
    spooler.cancel(id, &alice()).await.unwrap();
}

fn job_from(owner: &str, tcp_peer: Option<&str>) -> NewJob {
    NewJob {
        owner: owner.to_string(),
        tcp_peer: tcp_peer.map(|a| a.parse().unwrap()),
        ..new_job(true)
    }
}

async fn create(spooler: &Spooler, new: NewJob) -> Result<Job, CoreError> {
    spooler.create_job(new).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_job_caps_count_per_owner_address_and_total_even_in_parallel() {
    let dir = TempDir::new("caps");
    let spooler = start(&dir);
    spooler.set_job_limits(JobLimits {
        max_active_jobs: 10,
        max_active_jobs_per_user: 3,
        max_active_jobs_per_address: 5,
        ..JobLimits::default()
    });
    // Twenty parallel Create-Jobs by one user: exactly three get in.
    let tries: Vec<_> = (0..20)
        .map(|_| {
            let spooler = spooler.clone();
            tokio::spawn(async move { create(&spooler, job_from("alice", None)).await })
        })
        .collect();
    let mut accepted = 0;
    for attempt in tries {
        match attempt.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(CoreError::TooManyJobs {
                cap:
                    JobCap::User {
                        name,
                        claimed: false,
                    },
                limit: 3,
            }) => assert_eq!(name, "alice"),
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!(accepted, 3);
    // "alice" claimed over TCP is somebody else; names rotated over TCP
    // stop at the address cap (127.0.0.2 counts as 127.0.0.1).
    for n in 0..5 {
        let from = if n % 2 == 0 { "127.0.0.1" } else { "127.0.0.2" };
        create(&spooler, job_from(&format!("alice{n}"), Some(from)))
            .await
            .unwrap();
    }
    let err = create(&spooler, job_from("mallory", Some("127.9.9.9")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::TooManyJobs {
                cap: JobCap::Address(_),
                limit: 5
            }
        ),
        "{err}"
    );
    // Another address and two verified users fill the total of ten.
    create(&spooler, job_from("bob", Some("192.0.2.7")))
        .await
        .unwrap();
    create(&spooler, job_from("carol", None)).await.unwrap();
    let err = create(&spooler, job_from("dave", None)).await.unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::TooManyJobs {
                cap: JobCap::Total,
                limit: 10
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("try again"), "{err}");
    spooler.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_use_the_default_limit_and_lower_a_larger_one() {
    let dir = TempDir::new("listlimit");
    let spooler = start(&dir);
    spooler.set_job_limits(JobLimits {
        list_default: 4,
        list_max: 6,
        ..JobLimits::default()
    });
    for _ in 0..8 {
        create(&spooler, job_from("alice", None)).await.unwrap();
    }
    let filter = |limit| JobFilter {
        printer: None,
        which: WhichJobs::All,
        owner: None,
        limit,
    };
    assert_eq!(spooler.jobs(&filter(None)).len(), 4);
    assert_eq!(spooler.jobs(&filter(Some(2))).len(), 2);
    assert_eq!(spooler.jobs(&filter(Some(100))).len(), 6);
    spooler.shutdown(Duration::from_secs(5)).await;
}

/// Cancelling a queue's backlog gives its memory back as printing it
/// does: the trim is scheduled when the last job leaves, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_last_queued_job_schedules_a_trim() {
    let dir = TempDir::new("trim-on-cancel");
    let spooler = start(&dir);
    let ids = futures_join(&spooler, 3, true).await;
    assert!(!spooler.trimmer().is_scheduled());
    for &id in &ids[..2] {
        spooler.cancel(id, &alice()).await.unwrap();
        assert!(!spooler.trimmer().is_scheduled(), "a job is still queued");
    }
    spooler.cancel(ids[2], &alice()).await.unwrap();
    assert!(spooler.trimmer().is_scheduled(), "the queue ran dry");
    spooler.shutdown(Duration::from_secs(5)).await;
}
