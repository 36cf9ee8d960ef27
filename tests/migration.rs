//! A spool written by the last release of layout 1 (`tests/data/spool-v1.tar`,
//! made by `tests/data/make-spool-v1.sh`) under the real daemon: it is
//! migrated to layout 2 at start (`src/spool/open.rs`), and every job of
//! `tests/data/spool-v1.expected` is there with its state and its document,
//! over IPP and then in `printspoold check-spool`; held jobs are released
//! and print the bytes that were sent; nothing is lost.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// One line of `spool-v1.expected`.
#[derive(Debug, Clone)]
struct ReleaseJob {
    id: i32,
    state: String,
    printer: String,
    /// `None` for a job without a document.
    sha256: Option<String>,
}

fn expected() -> Vec<ReleaseJob> {
    fs::read_to_string(data_dir().join("spool-v1.expected"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            ReleaseJob {
                id: fields[0].parse().unwrap(),
                state: fields[1].to_string(),
                printer: fields[2].to_string(),
                sha256: (fields[3] != "-").then(|| fields[3].to_string()),
            }
        })
        .collect()
}

/// `job-state` keywords by their IPP enum value.
fn state_keyword(value: i32) -> &'static str {
    match value {
        3 => "pending",
        4 => "pending-held",
        5 => "processing",
        6 => "processing-stopped",
        7 => "canceled",
        8 => "aborted",
        9 => "completed",
        _ => "unknown",
    }
}

/// Unpacks the release's spool into `dir`; returns the spool directory.
fn unpack(dir: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-xf")
        .arg(data_dir().join("spool-v1.tar"))
        .arg("-C")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar: {status}");
    let spool = dir.join("spool");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o700)).unwrap();
    spool
}

/// The two queues the fixture was made with; printed files go to
/// `<dir>/printed-<queue>/`.
fn config(dir: &Path) -> String {
    let mut text = String::new();
    for queue in ["office", "stopped"] {
        let out = dir.join(format!("printed-{queue}"));
        fs::create_dir_all(&out).unwrap();
        text.push_str(&format!(
            "[[printer]]\nname = \"{queue}\"\ndevice_uri = \"file://{}\"\n\n",
            out.display()
        ));
    }
    text
}

fn state_over_ipp(daemon: &Daemon, printer: &str, id: i32) -> i32 {
    let uri = daemon.uri(&format!("/printers/{printer}"));
    let response = ipp_call(
        daemon.addr,
        &format!("/printers/{printer}"),
        &get_job_attributes(&uri, id),
    );
    assert_eq!(
        response.status,
        status::OK,
        "Get-Job-Attributes {id}: {response:?}; log:\n{}",
        indent(&daemon.log_text())
    );
    response.integer("job-state").unwrap()
}

/// The jobs Get-Jobs `which-jobs=not-completed` lists on `printer`.
fn not_completed(daemon: &Daemon, printer: &str) -> Vec<i32> {
    let uri = daemon.uri(&format!("/printers/{printer}"));
    let response = ipp_call(
        daemon.addr,
        &format!("/printers/{printer}"),
        &get_jobs(&uri, "not-completed"),
    );
    assert_eq!(response.status, status::OK, "{response:?}");
    let mut ids = response.all_integers("job-id");
    ids.sort_unstable();
    ids
}

/// The file the `file` backend printed job `id` to, if any.
fn printed(dir: &Path, printer: &str, id: i32) -> Option<Vec<u8>> {
    let out = dir.join(format!("printed-{printer}"));
    let prefix = format!("job-{id}.");
    fs::read_dir(out)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .and_then(|e| fs::read(e.path()).ok())
}

fn check_spool(spool: &Path) -> BTreeMap<i32, serde_json::Value> {
    let output = Command::new(DAEMON)
        .arg("check-spool")
        .arg("--spool")
        .arg(spool)
        .env_remove("LISTEN_FDS")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "check-spool: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let job: serde_json::Value = serde_json::from_str(line).unwrap();
            (job["id"].as_i64().unwrap() as i32, job)
        })
        .collect()
}

#[test]
fn a_release_spool_migrates_and_every_job_is_kept() {
    let scratch = ScratchDir::new("migration");
    let spool = unpack(scratch.path());
    let log = scratch.path().join("daemon.log");
    // The daemon reads `<spool>.empty.toml`; the Unix socket is where this
    // process's uid is an administrator (the release's jobs were root's).
    fs::write(spool.with_extension("empty.toml"), config(scratch.path())).unwrap();
    let socket = scratch.path().join("ipp.sock");
    let sockets = Arc::new(PassedSockets::tcp_and_unix(&socket));
    let mut daemon = Daemon::start_on(&sockets, &spool, &log, &[], READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("printspoold did not start: {e}"));
    let jobs = expected();

    // Every job, over IPP, as the release left it.
    for job in &jobs {
        let state = state_over_ipp(&daemon, &job.printer, job.id);
        assert_eq!(state_keyword(state), job.state, "job {}", job.id);
    }
    for printer in ["office", "stopped"] {
        let unfinished: Vec<i32> = jobs
            .iter()
            .filter(|j| {
                j.printer == printer
                    && !["completed", "canceled", "aborted"].contains(&j.state.as_str())
            })
            .map(|j| j.id)
            .collect();
        assert_eq!(not_completed(&daemon, printer), unfinished, "{printer}");
    }
    assert!(!spool.join("jobs").exists(), "layout 1 left behind");

    // Held jobs with a document are released and print the bytes sent.
    let held: Vec<&ReleaseJob> = jobs
        .iter()
        .filter(|j| j.state == "pending-held" && j.sha256.is_some())
        .collect();
    assert!(!held.is_empty(), "the fixture has held jobs");
    for job in &held {
        let uri = daemon.uri(&format!("/printers/{}", job.printer));
        let answer = post_unix(
            &socket,
            &format!("/printers/{}", job.printer),
            &release_job(&uri, job.id),
            REQUEST_TIMEOUT,
        )
        .unwrap()
        .ipp();
        assert_eq!(
            answer.status,
            status::OK,
            "Release-Job {}: {answer:?}",
            job.id
        );
    }
    for job in &held {
        assert!(
            wait_until(Duration::from_secs(20), || state_over_ipp(
                &daemon,
                &job.printer,
                job.id
            ) == job_state::COMPLETED),
            "job {} never completed; log:\n{}",
            job.id,
            indent(&daemon.log_text())
        );
        let bytes = printed(scratch.path(), &job.printer, job.id).unwrap();
        assert_eq!(
            Some(sha256_hex(&bytes)),
            job.sha256,
            "job {} printed",
            job.id
        );
    }

    // After a clean stop, the spool itself: every job, its state, its
    // document's bytes.
    let stopped = daemon.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    let on_disk = check_spool(&spool);
    for job in &jobs {
        let found = on_disk
            .get(&job.id)
            .unwrap_or_else(|| panic!("job {} lost; check-spool: {on_disk:?}", job.id));
        let state = if held.iter().any(|h| h.id == job.id) {
            "completed"
        } else {
            job.state.as_str()
        };
        assert_eq!(found["state"], state, "job {}: {found}", job.id);
        assert_eq!(found["printer"], job.printer.as_str(), "job {}", job.id);
        match &job.sha256 {
            Some(sha) => {
                assert_eq!(found["document_sha256"], sha.as_str(), "job {}", job.id);
                assert_eq!(found["document_intact"], true, "job {}", job.id);
            }
            None => assert!(found["document_sha256"].is_null(), "job {}", job.id),
        }
    }
    assert_eq!(on_disk.len(), jobs.len(), "{on_disk:?}");
}
