//! Conformance: Debian's `ipptool` (cups-ipp-utils) runs CUPS's own test
//! files, unchanged, from /usr/share/cups/ipptool/ against the daemon. Each
//! file is run twice: requests sent chunked (`-C`) and with a
//! Content-Length (`-L`).
//!
//! ipptool looks up the documents its tests send in its current directory
//! first, so it runs from tests/data, which holds our own small files under
//! the names those tests use.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const TEST_DIR: &str = "/usr/share/cups/ipptool";

/// A whole conformance file (ipp-1.1 sends about 40 requests) must finish
/// well within this.
const IPPTOOL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug)]
enum IpptoolFraming {
    Chunked,
    ContentLength,
}

impl IpptoolFraming {
    fn flag(self) -> &'static str {
        match self {
            IpptoolFraming::Chunked => "-C",
            IpptoolFraming::ContentLength => "-L",
        }
    }
}

/// What one ipptool run printed, and how it ended.
struct Report {
    passed: usize,
    failed: usize,
    exit_ok: bool,
    output: String,
}

/// Runs `ipptool -t` on `test_file` against `uri` and counts the verdicts.
/// `--stop-after-include-error` makes failures inside INCLUDEd files (ipp-2.0
/// includes ipp-1.1) count in the exit status.
fn ipptool(
    server: &TestServer,
    uri: &str,
    test_file: &str,
    framing: IpptoolFraming,
    extra: &[&str],
) -> Report {
    require_program("ipptool", "cups-ipp-utils");
    let mut command = Command::new("ipptool");
    command
        .current_dir(data_dir())
        .env_remove("CUPS_SERVER")
        // No ~/.cups/client.conf of the user's.
        .env("HOME", server.dir.path())
        .arg("-t")
        .arg(framing.flag())
        .arg("--stop-after-include-error")
        .args(["-T", "10"])
        .args(extra)
        .arg(uri)
        .arg(format!("{TEST_DIR}/{test_file}"));
    let (status, output) = run_with_timeout(command, IPPTOOL_TIMEOUT);
    let count = |verdict: &str| output.lines().filter(|l| l.contains(verdict)).count();
    Report {
        passed: count("[PASS]"),
        failed: count("[FAIL]"),
        exit_ok: status.map(|s| s.success()).unwrap_or(false),
        output,
    }
}

/// Passes when ipptool ran at least one test, none failed, and it exited 0.
fn assert_clean(report: &Report, what: &str, server: &TestServer) {
    assert!(
        report.exit_ok && report.failed == 0 && report.passed > 0,
        "{what}: {} passed, {} failed, exit ok: {}\n--- ipptool output ---\n{}\
         --- daemon log ---\n{}",
        report.passed,
        report.failed,
        report.exit_ok,
        report.output,
        server.log()
    );
}

fn conformance(test_file: &str, framing: IpptoolFraming, extra: &[&str]) {
    let server = TestServer::start("ipptool");
    // -I: carry on after a failure so the report lists every failed check.
    let mut args = vec!["-I", "-f", "testfile.pdf"];
    args.extend_from_slice(extra);
    let report = ipptool(
        &server,
        &server.daemon.uri("/ipp/print"),
        test_file,
        framing,
        &args,
    );
    assert_clean(&report, &format!("{test_file} {framing:?}"), &server);
}

fn single_operation(test_file: &str, framing: IpptoolFraming) {
    let server = TestServer::start("ipptool");
    let report = ipptool(
        &server,
        &server.daemon.default_queue_uri(),
        test_file,
        framing,
        &["-f", "testfile.pdf"],
    );
    assert_clean(&report, &format!("{test_file} {framing:?}"), &server);
}

#[test]
fn ipp_1_1_chunked() {
    conformance("ipp-1.1.test", IpptoolFraming::Chunked, &[]);
}

#[test]
fn ipp_1_1_content_length() {
    conformance("ipp-1.1.test", IpptoolFraming::ContentLength, &[]);
}

#[test]
fn ipp_2_0_chunked() {
    conformance("ipp-2.0.test", IpptoolFraming::Chunked, &["-V", "2.0"]);
}

#[test]
fn ipp_2_0_content_length() {
    conformance(
        "ipp-2.0.test",
        IpptoolFraming::ContentLength,
        &["-V", "2.0"],
    );
}

/// print-job.test, and then the document must arrive unchanged.
fn print_job_test(framing: IpptoolFraming) {
    let server = TestServer::start("ipptool-print");
    let report = ipptool(
        &server,
        &server.daemon.default_queue_uri(),
        "print-job.test",
        framing,
        &["-f", "testfile.pdf"],
    );
    assert_clean(&report, &format!("print-job.test {framing:?}"), &server);
    let want = sha256_hex(&std::fs::read(data_dir().join("testfile.pdf")).unwrap());
    let printed = server.daemon.printed_dir();
    assert!(
        wait_until(Duration::from_secs(10), || files_in(&printed)
            .iter()
            .any(|f| std::fs::read(f).is_ok_and(|b| sha256_hex(&b) == want))),
        "testfile.pdf did not arrive in {}: {:?}; log:\n{}",
        printed.display(),
        files_in(&printed),
        server.log()
    );
}

#[test]
fn print_job_chunked() {
    print_job_test(IpptoolFraming::Chunked);
}

#[test]
fn print_job_content_length() {
    print_job_test(IpptoolFraming::ContentLength);
}

#[test]
fn validate_job_chunked() {
    single_operation("validate-job.test", IpptoolFraming::Chunked);
}

#[test]
fn validate_job_content_length() {
    single_operation("validate-job.test", IpptoolFraming::ContentLength);
}

#[test]
fn get_jobs_chunked() {
    single_operation("get-jobs.test", IpptoolFraming::Chunked);
}

#[test]
fn get_jobs_content_length() {
    single_operation("get-jobs.test", IpptoolFraming::ContentLength);
}

/// get-job-attributes.test takes the job's URI as its target (`job-uri
/// $uri`), so a job is created first and ipptool is pointed at the
/// `job-uri` the daemon returned: that URI must reach this daemon.
fn get_job_attributes(framing: IpptoolFraming) {
    let server = TestServer::start("ipptool-gja");
    let document = std::fs::read(data_dir().join("testfile.pdf")).unwrap();
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &print_job(
            &uri,
            "for get-job-attributes",
            "application/pdf",
            &document,
            true,
        ),
    );
    assert_eq!(response.status, status::OK, "Print-Job: {response:?}");
    let job_uri = response
        .string("job-uri")
        .unwrap_or_else(|| panic!("Print-Job answer has no job-uri: {response:?}"));
    let expected_prefix = format!("ipp://{}/", server.addr());
    assert!(
        job_uri.starts_with(&expected_prefix),
        "job-uri {job_uri:?} does not point back at the daemon the client \
         reached ({expected_prefix}...)"
    );
    let report = ipptool(&server, &job_uri, "get-job-attributes.test", framing, &[]);
    assert_clean(
        &report,
        &format!("get-job-attributes.test {framing:?} on {job_uri}"),
        &server,
    );
}

#[test]
fn get_job_attributes_chunked() {
    get_job_attributes(IpptoolFraming::Chunked);
}

#[test]
fn get_job_attributes_content_length() {
    get_job_attributes(IpptoolFraming::ContentLength);
}

/// cancel-current-job.test cancels the oldest not-completed job (Get-Jobs
/// with limit 1, then Cancel-Job), so one is held first, owned by the user
/// ipptool sends as requesting-user-name (owners may cancel their own jobs);
/// afterwards that job must be canceled.
fn cancel_current_job(framing: IpptoolFraming) {
    let server = TestServer::start("ipptool-cancel");
    let document = std::fs::read(data_dir().join("testfile.pdf")).unwrap();
    let job_id = submit_as(&server, &current_user(), &document, "application/pdf", true);
    assert_eq!(
        job_state(&server, job_id),
        job_state::HELD,
        "a job with job-hold-until=indefinite must be pending-held"
    );
    let report = ipptool(
        &server,
        &server.daemon.default_queue_uri(),
        "cancel-current-job.test",
        framing,
        &[],
    );
    assert_clean(
        &report,
        &format!("cancel-current-job.test {framing:?}"),
        &server,
    );
    // Both tests of the file must have run (the second is skipped when the
    // first found no job).
    assert_eq!(report.passed, 2, "output:\n{}", report.output);
    assert_eq!(job_state(&server, job_id), job_state::CANCELED);
}

#[test]
fn cancel_current_job_chunked() {
    cancel_current_job(IpptoolFraming::Chunked);
}

#[test]
fn cancel_current_job_content_length() {
    cancel_current_job(IpptoolFraming::ContentLength);
}
