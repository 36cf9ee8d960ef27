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

#[test]
fn a_damaged_document_is_never_reported_intact() {
    let mut server = TestServer::start("check-spool-damaged");
    let document = vec![b'x'; 4096];
    let id = submit(&server, &document, "application/octet-stream", true);
    server.daemon.kill();
    // Same length, other bytes: only the hash can tell.
    let path = server.daemon.spool.join("jobs").join(format!("{id}.doc"));
    std::fs::write(&path, vec![b'y'; 4096]).unwrap();

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
