//! `printspoold cleanup` on a real spool (`src/cleanup.rs`,
//! `src/spool/disk_history.rs`): finished jobs past the retention go, recent
//! and queued ones stay, stray files go, the size cap holds, and it all
//! works beside a running daemon.
//!
//! Cleanup reads the history segments (`history/*.hist`), where the daemon
//! seals the finished jobs it let go of: with `max_jobs_in_memory = 0` a
//! job is let go as soon as it finishes, and a daemon stopping seals what
//! it let go of. So each test finishes jobs, restarts the daemon (a clean
//! stop, SIGTERM), and runs cleanup beside the new one.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use printspoold::spool::history::{HistoryStore, OnDamage};

/// Finished jobs leave memory at once, so they reach history.
const CONFIG: &str = "[history]\nmax_jobs_in_memory = 0\n";

/// Runs `printspoold cleanup` on `spool` with `config`; returns stdout.
fn cleanup(spool: &Path, config: &str) -> String {
    let config_path = spool.with_extension("cleanup.toml");
    fs::write(&config_path, config).unwrap();
    let out = Command::new(DAEMON)
        .arg("cleanup")
        .arg("--config")
        .arg(&config_path)
        .arg("--spool-dir")
        .arg(spool)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cleanup failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Whether a history segment holds job `id` (read beside the daemon, as
/// cleanup does).
fn in_history(spool: &Path, id: i32) -> bool {
    let store = HistoryStore::open(spool, OnDamage::Report).unwrap();
    store.contains(id as u32).unwrap()
}

/// Whether the daemon knows job `id` at all (Get-Job-Attributes).
fn known(server: &TestServer, id: i32) -> bool {
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &get_job_attributes(&uri, id),
    );
    response.status == status::OK
}

fn completed(server: &TestServer, id: i32) -> bool {
    job_state(server, id) == 9
}

/// A clean stop (the daemon seals what it let go of) and a start on the
/// same spool and sockets.
fn restart(server: &mut TestServer) {
    let status = server
        .daemon
        .signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.is_some(), "the daemon did not stop on SIGTERM");
    let sockets: Arc<PassedSockets> = server.daemon.sockets();
    let spool = server.daemon.spool.clone();
    let log = server.dir.path().join("daemon.log");
    server.daemon = Daemon::restart(&sockets, &spool, &log, READY_TIMEOUT);
}

/// Makes a file look `age` old.
fn age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn old_finished_jobs_and_strays_go_queued_and_recent_stay_beside_a_running_daemon() {
    let mut server = TestServer::start_with_config("cleanup-retention", CONFIG);
    let spool = server.daemon.spool.clone();
    let old = submit(&server, b"old and printed\n", "text/plain", false);
    let held = submit(&server, b"held: never purged\n", "text/plain", true);
    assert!(wait_until(Duration::from_secs(10), || completed(
        &server, old
    )));
    // "Old": finished more than the retention ago.
    std::thread::sleep(Duration::from_millis(4100));
    let recent = submit(&server, b"recent and printed\n", "text/plain", false);
    assert!(wait_until(Duration::from_secs(10), || completed(
        &server, recent
    )));
    restart(&mut server);
    assert!(in_history(&spool, old) && in_history(&spool, recent));
    assert!(!in_history(&spool, held), "a held job is not history");
    // Strays: an old temp file; a fresh one may be an upload in flight.
    let temp = spool.join("tmp").join("doc-stale");
    fs::write(&temp, b"stale").unwrap();
    age(&temp, Duration::from_secs(7 * 3600));
    let fresh = spool.join("tmp").join("doc-in-flight");
    fs::write(&fresh, b"in flight").unwrap();
    // An old document no history entry names: a live job's, as far as
    // cleanup can tell (live jobs are in the journal, which it never
    // reads), so it stays.
    let unnamed = spool.join("docs").join("9999.doc");
    fs::create_dir_all(unnamed.parent().unwrap()).unwrap();
    fs::write(&unnamed, b"whose?").unwrap();
    age(&unnamed, Duration::from_secs(7 * 3600));

    let summary = cleanup(&spool, "[history]\nretention = 2\n");
    assert!(summary.contains("purged 1 finished job"), "{summary}");
    assert!(summary.contains("removed 1 stray file"), "{summary}");
    assert!(summary.contains("daemon running"), "{summary}");
    assert!(!in_history(&spool, old), "the old finished job stayed");
    assert!(in_history(&spool, recent), "the recent job was purged");
    assert!(!temp.exists(), "the old temp file stayed");
    assert!(fresh.exists(), "a fresh temp file (in flight) was removed");
    assert!(
        unnamed.exists(),
        "a document cleanup cannot account for went"
    );
    fs::remove_file(&fresh).unwrap();
    fs::remove_file(&unnamed).unwrap();

    // The daemon keeps serving: the purged job is gone, the others are
    // there, and new ids never reuse a purged one.
    assert!(
        !known(&server, old),
        "the daemon still shows the purged job"
    );
    assert!(known(&server, recent));
    assert_eq!(job_state(&server, held), 4, "held job state");
    let next = submit(&server, b"after cleanup\n", "text/plain", true);
    assert!(next > recent, "id {next} reused after purge");
}

#[test]
fn the_size_cap_purges_oldest_finished_first_and_never_queued() {
    let mut server = TestServer::start_with_config("cleanup-cap", CONFIG);
    let spool = server.daemon.spool.clone();
    // Above the journal's inline limit: each document is a file in docs/,
    // so the held job's counts toward the cap too.
    let big = vec![b'x'; 100_000];
    let held = submit(&server, &big, "text/plain", true);
    let mut finished = Vec::new();
    for _ in 0..4 {
        let id = submit(&server, &big, "text/plain", false);
        assert!(wait_until(Duration::from_secs(10), || completed(
            &server, id
        )));
        finished.push(id);
        // Distinct completion times, so "oldest first" is well defined.
        std::thread::sleep(Duration::from_millis(1100));
    }
    restart(&mut server);
    // Room for the held job and one finished one (each about 101 KB).
    let summary = cleanup(
        &spool,
        "[history]\nretention = 100000\nmax_spool_bytes = 250000\n",
    );
    assert!(summary.contains("purged 3 finished jobs"), "{summary}");
    assert_eq!(job_state(&server, held), 4, "the held job was purged");
    for id in &finished[..3] {
        assert!(!in_history(&spool, *id), "job {id} (older) stayed");
    }
    assert!(
        in_history(&spool, finished[3]),
        "the newest finished job went"
    );
    let used: u64 = ["history", "docs"]
        .iter()
        .flat_map(|dir| files_in(&spool.join(dir)))
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        used <= 250_000,
        "spool holds {used} bytes after the cap of 250000"
    );
}

#[test]
fn cleanup_of_a_spool_without_a_daemon_works_and_says_so() {
    let dir = ScratchDir::new("cleanup-alone");
    let spool = dir.path().join("spool");
    fs::create_dir_all(&spool).unwrap();
    let summary = cleanup(&spool, "");
    assert!(summary.contains("purged 0 finished jobs"), "{summary}");
    assert!(summary.contains("daemon not running"), "{summary}");
}
