//! `printspoold cleanup` on a real spool (`src/cleanup.rs`,
//! `src/spool/disk_history.rs`): finished jobs past the retention go, recent
//! and queued ones stay, stray files go, the size cap holds, and it all
//! works beside a running daemon, which then forgets the purged jobs.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;

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

fn record(spool: &Path, id: i32) -> std::path::PathBuf {
    spool.join("jobs").join(format!("{id}.job"))
}

fn completed(server: &TestServer, id: i32) -> bool {
    job_state(server, id) == 9
}

/// Makes a file look `age` old.
fn age(path: &Path, age: Duration) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn old_finished_jobs_and_strays_go_queued_and_recent_stay_beside_a_running_daemon() {
    let server = TestServer::start("cleanup-retention");
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
    // Strays: a document without a record, and a temp file, both old; and
    // a fresh orphan, which may be a commit in flight and must stay.
    let orphan = spool.join("jobs").join("9999.doc");
    fs::write(&orphan, b"orphan").unwrap();
    age(&orphan, Duration::from_secs(7 * 3600));
    let temp = spool.join("tmp").join("doc-stale");
    fs::write(&temp, b"stale").unwrap();
    age(&temp, Duration::from_secs(7 * 3600));
    let fresh_orphan = spool.join("jobs").join("9998.doc");
    fs::write(&fresh_orphan, b"in flight").unwrap();

    let summary = cleanup(&spool, "[history]\nretention = 2\n");
    assert!(summary.contains("purged 1 finished job"), "{summary}");
    assert!(summary.contains("removed 2 stray files"), "{summary}");
    assert!(summary.contains("daemon running"), "{summary}");
    assert!(!record(&spool, old).exists(), "the old finished job stayed");
    assert!(record(&spool, held).exists(), "the held job was purged");
    assert!(record(&spool, recent).exists(), "the recent job was purged");
    assert!(!orphan.exists() && !temp.exists(), "old strays stayed");
    assert!(
        fresh_orphan.exists(),
        "a fresh document (commit in flight) was removed"
    );
    fs::remove_file(&fresh_orphan).unwrap();

    // The daemon keeps serving, the held job is still there, and new ids
    // never reuse a purged one.
    assert_eq!(job_state(&server, held), 4, "held job state");
    let next = submit(&server, b"after cleanup\n", "text/plain", true);
    assert!(next > recent, "id {next} reused after purge");
}

#[test]
fn the_size_cap_purges_oldest_finished_first_and_never_queued() {
    let server = TestServer::start("cleanup-cap");
    let spool = server.daemon.spool.clone();
    let big = vec![b'x'; 20_000];
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
    // Room for the held job and one finished one (each is about 20.7 KB).
    let summary = cleanup(
        &spool,
        "[history]\nretention = 100000\nmax_spool_bytes = 45000\n",
    );
    assert!(summary.contains("purged 3 finished jobs"), "{summary}");
    assert!(
        record(&spool, held).exists(),
        "the held job was purged by the cap"
    );
    for id in &finished[..3] {
        assert!(!record(&spool, *id).exists(), "job {id} (older) stayed");
    }
    assert!(
        record(&spool, finished[3]).exists(),
        "the newest finished job went"
    );
    let used: u64 = files_in(&spool.join("jobs"))
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        used <= 45_000,
        "spool holds {used} bytes after the cap of 45000"
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
