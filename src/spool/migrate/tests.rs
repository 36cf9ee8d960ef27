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
