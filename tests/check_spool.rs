//! `printspoold check-spool`, the inspection command the crash-consistency
//! checks of tests/vm read the spool through: it refuses a spool a daemon
//! holds, runs the daemon's recovery, and lists every job, live and
//! finished, with its document's hash recomputed from the bytes on disk.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn check_spool(spool: &std::path::Path) -> Output {
    Command::new(DAEMON)
        .arg("check-spool")
        .arg("--spool")
        .arg(spool)
        .env_remove("LISTEN_FDS")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap()
}

fn lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn lists_live_and_finished_jobs_with_their_document_hash() {
    let mut server = TestServer::start("check-spool-list");
    let printed = b"printed and finished".to_vec();
    let held = b"held, still live".to_vec();
    let finished = submit(&server, &printed, "application/octet-stream", false);
    let live = submit(&server, &held, "application/octet-stream", true);
    assert!(
        wait_until(Duration::from_secs(20), || job_state(&server, finished)
            == 9),
        "job {finished} never completed; log:\n{}",
        server.log()
    );
    let spool = server.daemon.spool.clone();

    // A running daemon holds the spool: refused like a second daemon.
    let busy = check_spool(&spool);
    assert_eq!(busy.status.code(), Some(1), "{}", stderr(&busy));
    assert!(stderr(&busy).contains("lock"), "{}", stderr(&busy));

    server.daemon.kill();
    let output = check_spool(&spool);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let jobs = lines(&output);
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let expect = [
        (finished, "completed", &printed),
        (live, "pending-held", &held),
    ];
    for (job, (id, state, document)) in jobs.iter().zip(expect) {
        assert_eq!(job["id"], id, "{job}");
        assert_eq!(job["state"], state, "{job}");
        assert_eq!(job["printer"], "default", "{job}");
        assert_eq!(job["document_bytes"], document.len(), "{job}");
        assert_eq!(job["document_sha256"], sha256_hex(document), "{job}");
        assert_eq!(job["document_intact"], true, "{job}");
    }
}

/// Finished jobs the daemon let go of are sealed into history at a clean
/// stop: check-spool lists them with the live ones, in id order, each
/// document read where it is (inside a history segment, or `docs/`).
#[test]
fn lists_jobs_sealed_into_history() {
    let mut server =
        TestServer::start_with_config("check-spool-history", "[history]\nmax_jobs_in_memory = 0\n");
    let small = b"small, inline in history".to_vec();
    let large = vec![b'L'; 100 * 1024];
    let held = b"held, still live".to_vec();
    let first = submit(&server, &small, "application/octet-stream", false);
    let second = submit(&server, &large, "application/octet-stream", false);
    let live = submit(&server, &held, "application/octet-stream", true);
    for id in [first, second] {
        assert!(
            wait_until(Duration::from_secs(20), || job_state(&server, id) == 9),
            "job {id} never completed; log:\n{}",
            server.log()
        );
    }
    let status = server
        .daemon
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let spool = server.daemon.spool.clone();
    let sealed = std::fs::read_dir(spool.join("history")).unwrap().count();
    assert!(sealed > 0, "nothing sealed into history at the stop");
    let output = check_spool(&spool);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let jobs = lines(&output);
    let expect = [
        (first, "completed", &small),
        (second, "completed", &large),
        (live, "pending-held", &held),
    ];
    assert_eq!(jobs.len(), expect.len(), "{jobs:?}");
    for (job, (id, state, document)) in jobs.iter().zip(expect) {
        assert_eq!(job["id"], id, "{job}");
        assert_eq!(job["state"], state, "{job}");
        assert_eq!(job["document_bytes"], document.len(), "{job}");
        assert_eq!(job["document_sha256"], sha256_hex(document), "{job}");
        assert_eq!(job["document_intact"], true, "{job}");
    }
}

#[test]
fn a_damaged_document_is_never_reported_intact() {
    let mut server = TestServer::start("check-spool-damaged");
    // Larger than the journal's inline limit: in `docs/<id>.doc`.
    let document = vec![b'x'; 100 * 1024];
    let id = submit(&server, &document, "application/octet-stream", true);
    server.daemon.kill();
    // Same length, other bytes: only the hash can tell.
    let path = server.daemon.spool.join("docs").join(format!("{id}.doc"));
    assert!(path.is_file(), "{} missing", path.display());
    std::fs::write(&path, vec![b'y'; document.len()]).unwrap();

    let output = check_spool(&server.daemon.spool);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Recovery either sets the record aside or lists it as damaged.
    for job in lines(&output) {
        if job["id"] == id {
            assert_eq!(job["document_intact"], false, "{job}");
            assert_ne!(job["document_sha256"], sha256_hex(&document), "{job}");
        }
    }
}

#[test]
fn an_unsafe_spool_directory_is_refused_as_the_daemon_refuses_it() {
    let dir = ScratchDir::new("check-spool-unsafe");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = check_spool(&spool);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
}
