//! The drop directory on a real file system, against the real daemon
//! (`src/sources/dropdir.rs`): the writer's protocol, a thousand files at
//! once, every kind of bad entry, and SIGKILL in the middle of intake.
//!
//! What became a job is seen two ways: the built-in queue's printed
//! output (`printed/job-<id>.<ext>`, each written whole), which the tests
//! wait for, and then, with the daemon stopped, every job in the spool as
//! `printspoold check-spool` recovers it (live and finished, each with its
//! document's SHA-256): the exact count of jobs per dropped file.

mod common;
#[allow(dead_code, reason = "shared with other test crates")]
#[path = "common/spool_files.rs"]
mod spool_files;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Starts a daemon whose configuration is `config` (TOML).
fn daemon_with(dir: &ScratchDir, config: &str) -> Daemon {
    let spool = dir.path().join("spool");
    fs::create_dir_all(&spool).unwrap();
    // Daemon::start uses `<spool>.empty.toml` as its configuration file.
    fs::write(spool.with_extension("empty.toml"), config).unwrap();
    Daemon::start(&spool, &dir.path().join("daemon.log"))
}

fn incoming(daemon: &Daemon) -> PathBuf {
    daemon.spool.join("incoming")
}

fn rejected(daemon: &Daemon) -> PathBuf {
    daemon.spool.join("rejected")
}

/// Documents the built-in queue printed, keyed by SHA-256, with their
/// count (a job printed again after a crash replaces its own file).
fn printed_documents(spool: &Path) -> HashMap<String, usize> {
    spool_files::printed_by_sha(&spool.join("printed"))
}

/// Stops `daemon` (SIGTERM, then waits for its exit) and returns the
/// document of every job in its spool, keyed by SHA-256, with the number
/// of jobs carrying it: what `check-spool` recovers, live and finished.
fn spooled_documents_after_stop(daemon: &mut Daemon) -> HashMap<String, usize> {
    let status = daemon.signal_and_wait(libc::SIGTERM, Duration::from_secs(30));
    assert!(
        status.is_some(),
        "the daemon did not stop on SIGTERM; log:\n{}",
        daemon.log_text()
    );
    spool_files::documents_by_sha(&common::spool::check_spool(&daemon.spool))
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// Drops `bytes` as `name` the documented way: a dotfile, then a rename.
fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let temp = dir.join(format!(".{name}.part"));
    fs::write(&temp, bytes).unwrap();
    fs::rename(&temp, dir.join(name)).unwrap();
}

fn reasons(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "reason"))
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn a_file_written_in_place_slowly_is_not_taken_until_renamed() {
    let dir = ScratchDir::new("dropdir-slow");
    let mut daemon = daemon_with(&dir, "");
    let incoming = incoming(&daemon);
    let temp = incoming.join(".slow.txt");
    let mut content = Vec::new();
    for i in 0..20 {
        let piece = format!("line {i} written slowly\n");
        content.extend_from_slice(piece.as_bytes());
        fs::write(&temp, &content).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(temp.exists(), "the dotfile was taken while being written");
    assert!(
        printed_documents(&daemon.spool).is_empty(),
        "a job was made from a partial file"
    );
    fs::rename(&temp, incoming.join("slow.txt")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || printed_documents(&daemon.spool)
            .contains_key(&sha256_hex(&content))),
        "the renamed file did not become a job; log:\n{}",
        daemon.log_text()
    );
    assert!(wait_until(Duration::from_secs(5), || is_empty(&incoming)));
    // No job for any partial state of the file: only the whole one, once.
    assert_eq!(
        spooled_documents_after_stop(&mut daemon),
        HashMap::from([(sha256_hex(&content), 1)]),
        "the spool holds other jobs than the one renamed file"
    );
}

/// `[intake]`, the section's name before `[dropdir]`, still works for a
/// release: its directory is the drop directory, and the log says to
/// rename it.
#[test]
fn the_old_intake_section_still_sets_the_drop_directory_with_a_warning() {
    let dir = ScratchDir::new("dropdir-intake");
    let custom = dir.path().join("elsewhere").join("incoming");
    let daemon = daemon_with(&dir, &format!("[intake]\ndir = \"{}\"\n", custom.display()));
    // The daemon creates it before READY=1, which the harness waited for.
    assert!(custom.is_dir(), "no drop directory at READY=1");
    let content = b"dropped where [intake] says\n";
    drop_file(&custom, "old-name.txt", content);
    assert!(
        wait_until(Duration::from_secs(10), || printed_documents(&daemon.spool)
            .contains_key(&sha256_hex(content))),
        "the file in the [intake] directory did not become a job; log:\n{}",
        daemon.log_text()
    );
    let log = daemon.log_text();
    assert!(
        log.contains("[intake] is deprecated") && log.contains("use [dropdir]"),
        "no deprecation warning in the log:\n{log}"
    );
}

#[test]
fn a_thousand_files_dropped_at_once_become_a_thousand_jobs() {
    const FILES: usize = 1000;
    let dir = ScratchDir::new("dropdir-thousand");
    // One user's thousand jobs may all be active at once here: the caps
    // (tests/limits.rs) are not this test's subject.
    let mut daemon = daemon_with(
        &dir,
        "[server.limits]\nmax_active_jobs = 1000\nmax_active_jobs_per_user = 1000\n",
    );
    let incoming = incoming(&daemon);
    // Written beside the drop directory first, then renamed in as fast as
    // possible: "at once".
    let staging = daemon.spool.join("staging-area");
    fs::create_dir_all(&staging).unwrap();
    let mut expected: HashMap<String, usize> = HashMap::new();
    for i in 0..FILES {
        let bytes = format!("document {i}\n{}\n", "x".repeat(i % 97)).into_bytes();
        *expected.entry(sha256_hex(&bytes)).or_insert(0) += 1;
        fs::write(staging.join(format!("doc-{i:04}.txt")), &bytes).unwrap();
    }
    for i in 0..FILES {
        let name = format!("doc-{i:04}.txt");
        fs::rename(staging.join(&name), incoming.join(&name)).unwrap();
    }
    let done = wait_until(Duration::from_secs(180), || {
        is_empty(&incoming) && printed_documents(&daemon.spool).values().sum::<usize>() >= FILES
    });
    let printed = printed_documents(&daemon.spool);
    assert!(
        done,
        "after 180 s: {} jobs printed, drop directory empty: {}",
        printed.values().sum::<usize>(),
        is_empty(&incoming)
    );
    assert_eq!(
        printed, expected,
        "the printed documents are not exactly the files dropped"
    );
    assert!(
        files_in(&rejected(&daemon)).is_empty(),
        "good files were rejected"
    );
    assert_eq!(
        spooled_documents_after_stop(&mut daemon),
        expected,
        "the jobs in the spool are not exactly one per file dropped"
    );
}

#[test]
fn every_bad_kind_of_entry_lands_in_rejected_with_a_reason() {
    let dir = ScratchDir::new("dropdir-bad");
    let mut daemon = daemon_with(&dir, "[server.limits]\nmax_document_bytes = 1000\n");
    let incoming = incoming(&daemon);
    let outside = dir.path().join("secret.txt");
    fs::write(&outside, "not yours\n").unwrap();

    std::os::unix::fs::symlink(&outside, incoming.join("a-symlink")).unwrap();
    mkfifo(&incoming.join("a-fifo"), 0o644);
    let hard = dir.path().join("linked.txt");
    fs::write(&hard, "two names\n").unwrap();
    fs::hard_link(&hard, incoming.join("a-hard-link")).unwrap();
    drop_file(&incoming, "too-big.txt", &vec![b'x'; 5000]);
    // A directory is prepared outside and renamed in, as the writer's
    // protocol asks: an empty one in incoming/ would be removed by the
    // daemon (the directory must end empty) before the file lands in it.
    let prepared = dir.path().join("no-such-printer");
    fs::create_dir(&prepared).unwrap();
    fs::write(prepared.join("doc.txt"), "x\n").unwrap();
    fs::rename(&prepared, incoming.join("no-such-printer")).unwrap();
    // A device node (root only, as in CI).
    let device = std::ffi::CString::new(incoming.join("a-device").to_str().unwrap()).unwrap();
    // SAFETY: a valid path; makedev(1, 3) is /dev/null's number.
    let made = unsafe { libc::mknod(device.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) };
    let expected_rejects = if made == 0 { 6 } else { 5 };

    assert!(
        wait_until(Duration::from_secs(15), || is_empty(&incoming)),
        "the drop directory did not end empty: {:?}; log:\n{}",
        fs::read_dir(&incoming)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>(),
        daemon.log_text()
    );
    // The last rejection's reason may land just after the directory empties.
    wait_until(Duration::from_secs(15), || {
        reasons(&rejected(&daemon)).len() >= expected_rejects
    });
    let reasons = reasons(&rejected(&daemon));
    let all = reasons.join("\n");
    assert_eq!(reasons.len(), expected_rejects, "reasons:\n{all}");
    for needle in [
        "symbolic links are not taken",
        "not a regular file (a FIFO)",
        "hard-linked files are not taken",
        "over the limit of 1000 bytes",
        "no printer named \"no-such-printer\"",
    ] {
        assert!(all.contains(needle), "no reason says {needle:?}:\n{all}");
    }
    if made == 0 {
        assert!(all.contains("not a regular file (a device)"), "{all}");
    }
    assert_eq!(fs::read_to_string(&outside).unwrap(), "not yours\n");
    let log = daemon.log_text();
    assert!(
        log.contains("rejected dropped file"),
        "no log line names the rejects:\n{log}"
    );
    assert!(
        printed_documents(&daemon.spool).is_empty(),
        "a bad entry was printed"
    );
    assert_eq!(
        spooled_documents_after_stop(&mut daemon),
        HashMap::new(),
        "a bad entry became a job"
    );
}

#[test]
fn a_printer_subdirectory_targets_that_printer_and_goes_away() {
    let dir = ScratchDir::new("dropdir-printer");
    let out = dir.path().join("office-out");
    let daemon = daemon_with(
        &dir,
        &format!(
            "[[printer]]\nname = \"default\"\ndevice_uri = \"file://{}/default-out\"\n\
             [[printer]]\nname = \"office\"\ndevice_uri = \"file://{}\"\n",
            dir.path().display(),
            out.display()
        ),
    );
    let incoming = incoming(&daemon);
    // Prepared outside and renamed in (see above): an empty printer
    // directory in incoming/ does not survive the daemon's next scan.
    let prepared = dir.path().join("office");
    fs::create_dir(&prepared).unwrap();
    fs::set_permissions(&prepared, fs::Permissions::from_mode(0o755)).unwrap();
    drop_file(&prepared, "memo.txt", b"for the office\n");
    fs::rename(&prepared, incoming.join("office")).unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || files_in(&out).len() == 1),
        "nothing printed on office; log:\n{}",
        daemon.log_text()
    );
    assert_eq!(fs::read(&files_in(&out)[0]).unwrap(), b"for the office\n");
    assert!(wait_until(Duration::from_secs(5), || is_empty(&incoming)));
}

#[test]
fn sigkill_during_intake_loses_nothing_and_duplicates_nothing() {
    const FILES: usize = 300;
    const ROUNDS: usize = 6;
    let dir = ScratchDir::new("dropdir-kill");
    let spool = dir.path().join("spool");
    fs::create_dir_all(&spool).unwrap();
    fs::write(spool.with_extension("empty.toml"), "").unwrap();
    let log = dir.path().join("daemon.log");
    let incoming = spool.join("incoming");
    let (mut rng, seed) = Rng::from_env_or_clock();

    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut daemon = Daemon::start(&spool, &log);
    let staging = dir.path().join("staging-area");
    fs::create_dir_all(&staging).unwrap();
    for i in 0..FILES {
        let len = rng.range(1, 8192) as usize;
        let bytes = rng.bytes(len);
        *expected.entry(sha256_hex(&bytes)).or_insert(0) += 1;
        fs::write(staging.join(format!("f{i:04}")), &bytes).unwrap();
        fs::rename(
            staging.join(format!("f{i:04}")),
            incoming.join(format!("f{i:04}")),
        )
        .unwrap();
    }
    for _ in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(rng.range(20, 400)));
        daemon.kill();
        daemon = Daemon::start(&spool, &log);
    }
    let done = wait_until(Duration::from_secs(120), || {
        is_empty(&incoming) && printed_documents(&spool).values().sum::<usize>() >= FILES
    });
    let printed = printed_documents(&spool);
    assert!(
        done,
        "seed {seed}: after 120 s {} jobs printed, drop directory empty: {}",
        printed.values().sum::<usize>(),
        is_empty(&incoming)
    );
    // Stopped, the spool holds everything the daemon ever made of the
    // files: a duplicate made late shows here, and nothing is left
    // claimed that a next start could still turn into a job.
    let spooled = spooled_documents_after_stop(&mut daemon);
    assert!(
        is_empty(&spool.join("claimed").join(".default"))
            || !spool.join("claimed/.default").exists(),
        "seed {seed}: files left claimed after intake"
    );
    assert_eq!(
        spooled, expected,
        "seed {seed}: each dropped file must become exactly one job"
    );
    assert_eq!(
        printed, expected,
        "seed {seed}: each dropped file must print exactly once"
    );
}

#[test]
fn a_claim_placeholder_left_by_a_crash_is_removed_and_the_file_still_taken() {
    use std::os::unix::fs::MetadataExt;
    // A claim renames the file over a fresh empty file (so a directory
    // swapped in can never be moved); a crash between the two leaves that
    // empty file in claimed/ under the file's token, and the file itself
    // still in incoming/.
    let dir = ScratchDir::new("dropdir-placeholder");
    let spool = dir.path().join("spool");
    let incoming = spool.join("incoming");
    let claims = spool.join("claimed").join(".default");
    fs::create_dir_all(&incoming).unwrap();
    fs::create_dir_all(&claims).unwrap();
    fs::set_permissions(&incoming, fs::Permissions::from_mode(0o1733)).unwrap();
    fs::set_permissions(spool.join("claimed"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&claims, fs::Permissions::from_mode(0o700)).unwrap();
    let content = b"taken exactly once\n";
    drop_file(&incoming, "memo.txt", content);
    let meta = fs::metadata(incoming.join("memo.txt")).unwrap();
    let token = format!(
        "{}-{}-{}-{}",
        meta.dev(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    fs::write(claims.join(format!("{token}.memo.txt")), b"").unwrap();

    let mut daemon = daemon_with(&dir, "");
    assert!(
        wait_until(Duration::from_secs(10), || printed_documents(&daemon.spool)
            .contains_key(&sha256_hex(content))),
        "the file was not taken; log:\n{}",
        daemon.log_text()
    );
    // With both empty nothing is left that could become a second job.
    assert!(wait_until(Duration::from_secs(5), || is_empty(&incoming)
        && is_empty(&claims)));
    assert!(files_in(&rejected(&daemon)).is_empty());
    assert_eq!(
        spooled_documents_after_stop(&mut daemon),
        HashMap::from([(sha256_hex(content), 1)]),
        "the placeholder became a job, or the file two"
    );
}
