//! Interoperability with Debian's CUPS command-line clients (cups-client):
//! `lp` prints, `lpstat -o` lists, `cancel` cancels, all with `-h` pointed
//! at the daemon. The clients run with `CUPS_SERVER` unset and `HOME` in a
//! scratch directory so no user's client.conf interferes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a completed job may take to land in `printed/`.
const PRINT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs a CUPS client against `server` and returns its output; panics with
/// the output and the daemon's log when it fails or hangs.
fn cups(server: &TestServer, program: &str, args: &[&str]) -> String {
    require_program(program, "cups-client");
    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(program);
    command
        .env_remove("CUPS_SERVER")
        .env_remove("CUPS_USER")
        .env_remove("LPDEST")
        .env_remove("PRINTER")
        .env("HOME", &home)
        .env("LC_ALL", "C")
        .arg("-h")
        .arg(server.addr().to_string())
        .args(args);
    let (status, output) = run_with_timeout(command, CLIENT_TIMEOUT);
    assert!(
        status.map(|s| s.success()).unwrap_or(false),
        "`{program} {}` failed ({status:?}):\n{output}--- daemon log ---\n{}",
        args.join(" "),
        server.log()
    );
    output
}

/// The job id from lp's "request id is default-12 (1 file(s))".
fn job_id_from_lp(output: &str) -> i32 {
    output
        .split_whitespace()
        .find_map(|word| word.strip_prefix("default-"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no job id in lp output {output:?}"))
}

/// Whether `lpstat -o` output lists `job_id` of the default queue.
fn lists_job(lpstat_output: &str, job_id: i32) -> bool {
    let wanted = format!("default-{job_id}");
    lpstat_output
        .lines()
        .any(|line| line.split_whitespace().next() == Some(wanted.as_str()))
}

#[test]
fn lp_prints_the_document_byte_for_byte() {
    let server = TestServer::start("lp");
    let sample = data_dir().join("document-a4.pdf");
    let sent = std::fs::read(&sample).unwrap();
    let output = cups(&server, "lp", &["-d", "default", sample.to_str().unwrap()]);
    let job_id = job_id_from_lp(&output);
    assert!(job_id > 0, "lp reported job id {job_id}");

    let printed = server.daemon.printed_dir();
    let want = sha256_hex(&sent);
    let arrived = wait_until(PRINT_TIMEOUT, || {
        files_in(&printed).iter().any(|f| {
            std::fs::read(f)
                .map(|b| sha256_hex(&b) == want)
                .unwrap_or(false)
        })
    });
    assert!(
        arrived,
        "document of job {job_id} not in {} within {PRINT_TIMEOUT:?} (files: {:?}); log:\n{}",
        printed.display(),
        files_in(&printed),
        server.log()
    );
    // The file is renamed into place just before the job is marked
    // completed: wait for that event too.
    let completed = wait_until(PRINT_TIMEOUT, || {
        job_state(&server, job_id) == job_state::COMPLETED
    });
    assert!(
        completed,
        "job {job_id} is in state {}, not completed; log:\n{}",
        job_state(&server, job_id),
        server.log()
    );
}

#[test]
fn lpstat_lists_a_held_job() {
    let server = TestServer::start("lpstat");
    let sample = data_dir().join("testfile.txt");
    let output = cups(
        &server,
        "lp",
        &["-d", "default", "-H", "hold", sample.to_str().unwrap()],
    );
    let job_id = job_id_from_lp(&output);
    let listing = cups(&server, "lpstat", &["-o"]);
    assert!(
        lists_job(&listing, job_id),
        "lpstat -o does not list default-{job_id}:\n{listing}"
    );
    let listing = cups(&server, "lpstat", &["-o", "default"]);
    assert!(
        lists_job(&listing, job_id),
        "lpstat -o default does not list default-{job_id}:\n{listing}"
    );
}

#[test]
fn cancel_cancels_a_held_job() {
    let server = TestServer::start("cancel");
    let sample = data_dir().join("testfile.pdf");
    let output = cups(
        &server,
        "lp",
        &["-d", "default", "-H", "hold", sample.to_str().unwrap()],
    );
    let job_id = job_id_from_lp(&output);
    assert_eq!(
        job_state(&server, job_id),
        job_state::HELD,
        "`lp -H hold` must leave the job pending-held"
    );

    cups(&server, "cancel", &[&job_id.to_string()]);

    assert_eq!(job_state(&server, job_id), job_state::CANCELED);
    let listing = cups(&server, "lpstat", &["-o"]);
    assert!(
        !lists_job(&listing, job_id),
        "lpstat -o still lists canceled job default-{job_id}:\n{listing}"
    );
    // A held job that was canceled never prints.
    assert!(
        files_in(&server.daemon.printed_dir()).is_empty(),
        "canceled job printed: {:?}",
        files_in(&server.daemon.printed_dir())
    );
}
