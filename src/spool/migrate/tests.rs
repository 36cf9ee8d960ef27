//! [`read_v1`] and [`finish_v1`] against a spool written by the last
//! layout-1 release (`tests/data/spool-v1.tar`, made by
//! `tests/data/make-spool-v1.sh`, with `spool-v1.expected`).

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::core::Job;
use crate::spool::layout::sha256_hex;
use crate::test_support::TempDir;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The fixture, unpacked into a fresh directory; returns the spool.
fn unpack(dir: &TempDir) -> PathBuf {
    let status = std::process::Command::new("tar")
        .arg("-xf")
        .arg(data("spool-v1.tar"))
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "tar: {status}");
    dir.path().join("spool")
}

/// `spool-v1.expected`: "ID STATE PRINTER SHA256-or-dash" per job.
fn expected() -> Vec<String> {
    fs::read_to_string(data("spool-v1.expected"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Every job read_v1 hands over, as the expected file lists it; checks
/// each document's bytes against its recorded hash on the way.
fn read_all(spool: &Path) -> (Vec<String>, V1Summary) {
    let mut lines = Vec::new();
    let (summary, jobs) = read_v1(spool).unwrap();
    for job in jobs {
        let meta: Job = serde_json::from_slice(&job.meta).unwrap();
        assert_eq!(meta.id, job.id);
        let sha = match &job.document {
            Some((path, info)) => {
                let bytes = fs::read(path).unwrap();
                assert_eq!(bytes.len() as u64, info.len, "job {}", job.id);
                assert_eq!(sha256_hex(&bytes), info.sha256, "job {}", job.id);
                info.sha256.clone()
            }
            None => "-".to_string(),
        };
        lines.push(format!(
            "{} {} {} {sha}",
            job.id,
            meta.state.keyword(),
            meta.printer
        ));
    }
    (lines, summary)
}

#[test]
fn the_release_spool_is_read_whole() {
    let dir = TempDir::new("migrate-read");
    let spool = unpack(&dir);
    assert!(is_v1(&spool));
    let (lines, summary) = read_all(&spool);
    let expected = expected();
    assert_eq!(lines, expected);
    assert_eq!(summary.jobs, expected.len());
    assert_eq!(summary.discarded, 0);
    let highest: u32 = expected
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .max()
        .unwrap();
    assert_eq!(summary.next_id, highest + 1);
    // The fixture covers what the migration must carry: every kind of job,
    // and a document above the journal's 64 KiB inline limit.
    for state in ["completed", "canceled", "pending-held", "pending"] {
        assert!(
            lines.iter().any(|l| l.split(' ').nth(1) == Some(state)),
            "{state}"
        );
    }
    assert!(
        lines.iter().any(|l| l.ends_with(" -")),
        "a job without document"
    );
    let largest = fs::read_dir(spool.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert!(largest > 64 * 1024, "largest file {largest} bytes");
}

#[test]
fn documents_an_interrupted_migration_moved_are_found_again() {
    let dir = TempDir::new("migrate-interrupted");
    let spool = unpack(&dir);
    fs::create_dir(spool.join("docs")).unwrap();
    let moved: Vec<String> = fs::read_dir(spool.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".doc"))
        .take(2)
        .collect();
    for name in &moved {
        fs::rename(spool.join("jobs").join(name), spool.join("docs").join(name)).unwrap();
    }
    let (lines, summary) = read_all(&spool);
    assert_eq!(lines, expected());
    assert_eq!(summary.discarded, 0);
    assert!(
        fs::read_dir(spool.join("corrupt"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn finish_removes_layout_1_only_once_format_says_2() {
    let dir = TempDir::new("migrate-finish");
    let spool = unpack(&dir);
    assert!(finish_v1(&spool).is_err());
    assert!(
        spool.join("jobs").is_dir(),
        "layout 1 removed before format"
    );
    fs::write(spool.join("format"), FORMAT_V2).unwrap();
    assert!(!is_v1(&spool));
    fs::write(spool.join("next-id"), "9\n").unwrap();
    finish_v1(&spool).unwrap();
    assert!(!spool.join("jobs").exists());
    assert!(!spool.join("next-id").exists());
    assert!(spool.join("paused-printers").exists());
    // Idempotent: a crash after it changes nothing.
    finish_v1(&spool).unwrap();
}

#[test]
fn a_damaged_record_goes_to_corrupt_and_the_rest_migrates() {
    let dir = TempDir::new("migrate-damaged");
    let spool = unpack(&dir);
    let victim = expected()[0].split(' ').next().unwrap().to_string();
    let record = spool.join("jobs").join(format!("{victim}.job"));
    let mut bytes = fs::read(&record).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    fs::write(&record, bytes).unwrap();
    let (lines, summary) = read_all(&spool);
    assert_eq!(lines, expected()[1..]);
    assert_eq!(summary.discarded, 1);
    assert!(spool.join("corrupt").join(format!("{victim}.job")).exists());
}

/// The core's rule: a record of a job in a final state is finished.
fn finished(meta: &[u8]) -> bool {
    serde_json::from_slice::<Job>(meta).is_ok_and(|job| job.state.is_terminal())
}

/// Opens `spool` as the daemon does (migrating it if need be) and lists
/// every job as `spool-v1.expected` does: live ones from recovery,
/// finished ones from history, each document read back and hashed.
fn open_and_list(spool: &Path) -> (Vec<String>, u32) {
    let (opened, recovery) = crate::spool::Spool::open(spool, 1 << 30, finished).unwrap();
    let next_id = recovery.next_id;
    let mut live = Vec::new();
    for job in recovery.jobs {
        live.push(job.unwrap().id);
    }
    let mut lines = Vec::new();
    for line in expected() {
        let id: u32 = line.split(' ').next().unwrap().parse().unwrap();
        let meta: Job = serde_json::from_slice(&opened.read_meta(id).unwrap().unwrap()).unwrap();
        assert_eq!(
            live.contains(&id),
            !meta.state.is_terminal(),
            "job {id} is live exactly when unfinished"
        );
        let sha = match opened.document(id) {
            Ok(handle) => sha256_hex(&handle.read_all().unwrap()),
            Err(_) => "-".to_string(),
        };
        lines.push(format!(
            "{id} {} {} {sha}",
            meta.state.keyword(),
            meta.printer
        ));
    }
    (lines, next_id)
}

fn highest_expected() -> u32 {
    expected()
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .max()
        .unwrap()
}

#[test]
fn open_migrates_the_release_spool_whole() {
    let dir = TempDir::new("migrate-open");
    let spool = unpack(&dir);
    let (lines, next_id) = open_and_list(&spool);
    assert_eq!(lines, expected());
    assert!(next_id > highest_expected());
    assert!(!spool.join("jobs").exists() && !spool.join("next-id").exists());
    assert_eq!(fs::read_to_string(spool.join("format")).unwrap(), FORMAT_V2);
    // A large document went to docs/, untouched.
    assert!(fs::read_dir(spool.join("docs")).unwrap().next().is_some());
    // And a second open reads layout 2 only.
    let (again, next_again) = open_and_list(&spool);
    assert_eq!(again, expected());
    assert_eq!(next_again, next_id);
}

/// Crash point: some documents moved to `docs/`, journal and history
/// segments written, `format` not yet: the next open starts over.
#[test]
fn a_migration_cut_before_format_starts_over() {
    let dir = TempDir::new("migrate-cut-early");
    let spool = unpack(&dir);
    // What a complete migration writes, as a stand-in for a partial one.
    let other = TempDir::new("migrate-cut-early-other");
    let migrated = unpack(&other);
    open_and_list(&migrated);
    let copy = |sub: &str| {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(migrated.join(sub))
            .arg(&spool)
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy("journal");
    copy("history");
    fs::create_dir(spool.join("docs")).unwrap();
    let large = fs::read_dir(spool.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "doc") && fs::metadata(p).unwrap().len() > 64 * 1024
        })
        .unwrap();
    fs::rename(&large, spool.join("docs").join(large.file_name().unwrap())).unwrap();
    let (lines, next_id) = open_and_list(&spool);
    assert_eq!(lines, expected());
    assert!(next_id > highest_expected());
    assert!(
        fs::read_dir(spool.join("corrupt"))
            .unwrap()
            .next()
            .is_none()
    );
}

/// Crash point: `format` written, layout 1's files not yet removed: the
/// next open does not migrate again; it only removes them.
#[test]
fn a_migration_cut_after_format_only_removes_layout_1() {
    let dir = TempDir::new("migrate-cut-late");
    let spool = unpack(&dir);
    open_and_list(&spool);
    let other = TempDir::new("migrate-cut-late-other");
    let original = unpack(&other);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(original.join("jobs"))
        .arg(&spool)
        .status()
        .unwrap();
    assert!(status.success());
    let (lines, _) = open_and_list(&spool);
    assert_eq!(lines, expected());
    assert!(!spool.join("jobs").exists());
}
