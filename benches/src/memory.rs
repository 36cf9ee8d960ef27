//! Resident memory: `VmRSS` of a freshly started server once it has
//! answered one request and sat idle, then again after a long run of
//! 1 KiB Print-Jobs has been accepted and every job printed: one second
//! after the queue emptied, and again [`LATE_READING`] after it (past the
//! daemon's trim, 12 s after a queue empties).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::error::BenchError;
use crate::http::{self, Conn};
use crate::ipp;
use crate::load::{self, Stop};
use crate::peers::BenchTarget;
use crate::results::{LATE_READING, Memory, Scenario};

/// Idle time before each reading, so start-up and the last request's
/// transient buffers are behind us.
const SETTLE: Duration = Duration::from_secs(1);
/// Connections submitting the jobs.
const CONNECTIONS: usize = 8;
/// Upper bounds: the job load and the wait for the queue to empty.
const LOAD_LIMIT: Duration = Duration::from_secs(600);
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
const PRINTER_IDLE: i32 = 3;

/// Measures `target`; `jobs` = 0 takes only the idle reading.
pub fn measure(runtime: &Runtime, target: &BenchTarget, jobs: u64) -> Result<Memory, BenchError> {
    let state_request = http::post(
        &target.host,
        &target.path,
        &ipp::get_printer_attributes(&target.printer_uri, &["printer-state", "queued-job-count"]),
        &[],
    );
    let full_request = Scenario::GpaFull.request(target);
    runtime.block_on(ask(target, &full_request))?;
    std::thread::sleep(SETTLE);
    let idle = target.proc.rss()?;
    if jobs == 0 {
        return Ok(Memory {
            kind: target.kind,
            idle,
            after: None,
            jobs: 0,
            jobs_per_sec: 0.0,
            drained: true,
            after_late: None,
        });
    }
    let request = Arc::new(Scenario::PrintSmall.request(target));
    let stop = Stop::Succeeded {
        total: jobs,
        limit: LOAD_LIMIT,
    };
    let outcome = runtime.block_on(load::run(target.addr, request, CONNECTIONS, stop));
    eprintln!(
        "  {}: {} jobs accepted in {:.1} s ({:.0}/s), {} rejected, {} errors",
        target.kind,
        outcome.ok,
        outcome.elapsed.as_secs_f64(),
        outcome.rate(),
        outcome.rejected,
        outcome.errors
    );
    let drained = wait_drained(runtime, target, &state_request)?;
    let emptied = Instant::now();
    std::thread::sleep(SETTLE);
    let after = target.proc.rss()?;
    std::thread::sleep(LATE_READING.saturating_sub(emptied.elapsed()));
    let after_late = target.proc.rss()?;
    Ok(Memory {
        kind: target.kind,
        idle,
        after: Some(after),
        jobs: outcome.ok,
        jobs_per_sec: outcome.rate(),
        drained,
        after_late: Some(after_late),
    })
}

/// Polls until no job is queued and the printer is idle.
fn wait_drained(
    runtime: &Runtime,
    target: &BenchTarget,
    request: &[u8],
) -> Result<bool, BenchError> {
    let deadline = Instant::now() + DRAIN_LIMIT;
    while Instant::now() < deadline {
        let body = runtime.block_on(ask(target, request))?;
        let queued = ipp::find_integer(&body, "queued-job-count");
        let state = ipp::find_integer(&body, "printer-state");
        if queued == Some(0) && state == Some(PRINTER_IDLE) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("  {}: queue not empty after {DRAIN_LIMIT:?}", target.kind);
    Ok(false)
}

/// One request on a fresh connection; the answer's IPP body.
pub async fn ask(target: &BenchTarget, request: &[u8]) -> Result<Vec<u8>, BenchError> {
    let fail = |what: String| BenchError::Setup(format!("{}: {what}", target.kind));
    let mut conn = Conn::connect(target.addr)
        .await
        .map_err(|e| fail(format!("connect: {e}")))?;
    let reply = conn
        .exchange_within(request, Duration::from_secs(20))
        .await
        .map_err(|e| fail(e.to_string()))?;
    match ipp::status(conn.body()) {
        Some(status) if reply.http_status == 200 && ipp::is_success(status) => {
            Ok(conn.body().to_vec())
        }
        status => Err(fail(format!(
            "HTTP {}, IPP {:?}",
            reply.http_status,
            status.map(ipp::status_name)
        ))),
    }
}
