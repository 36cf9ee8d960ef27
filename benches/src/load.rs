//! The closed-loop load generator: N keep-alive connections, each sending
//! the next request as soon as the previous answer is in, for a fixed time
//! or until a number of requests succeeded.
//!
//! It runs on the caller's runtime, which `bench.rs` makes single-threaded:
//! the client then takes about one of the machine's cores and leaves the
//! other to the server under test, the same for every target.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::Conn;
use crate::ipp;

/// One request may take this long before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause before reconnecting after a transport error, so a refusing
/// server is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(5);

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// Count answers that arrive within this time from the start.
    After(Duration),
    /// Run until this many requests succeeded, or `limit` passed.
    Succeeded { total: u64, limit: Duration },
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// HTTP 200 with an IPP status in the successful class.
    pub ok: u64,
    /// Answered, but with an IPP error status (e.g. server-error-busy).
    pub rejected: u64,
    /// Transport failures, timeouts, non-200 answers.
    pub errors: u64,
    pub elapsed: Duration,
    pub first_rejection: Option<u16>,
    pub first_error: Option<String>,
}

impl LoadOutcome {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    fn merge(&mut self, other: LoadOutcome) {
        self.ok += other.ok;
        self.rejected += other.rejected;
        self.errors += other.errors;
        self.first_rejection = self.first_rejection.or(other.first_rejection);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Shared state of one run.
struct Run {
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    start: Instant,
    stop: Stop,
    /// Requests handed out (count mode): a failed one gives its ticket back.
    issued: AtomicU64,
}

impl Run {
    /// Whether this connection may send another request.
    fn take_ticket(&self) -> bool {
        match self.stop {
            Stop::After(duration) => self.start.elapsed() < duration,
            Stop::Succeeded { total, limit } => {
                self.start.elapsed() < limit && self.issued.fetch_add(1, Ordering::Relaxed) < total
            }
        }
    }

    fn return_ticket(&self) {
        if let Stop::Succeeded { .. } = self.stop {
            self.issued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// How long the next answer may take: [`REQUEST_TIMEOUT`], and in a
    /// timed run no longer than the run has left, so a server that stalls
    /// cannot stretch a round (an answer after the end would not count).
    fn wait_limit(&self) -> Duration {
        match self.stop {
            Stop::After(duration) => (self.start + duration)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
                .min(REQUEST_TIMEOUT),
            Stop::Succeeded { .. } => REQUEST_TIMEOUT,
        }
    }

    /// Whether an answer that arrived now still counts.
    fn counts(&self, now: Instant) -> bool {
        match self.stop {
            Stop::After(duration) => now.duration_since(self.start) <= duration,
            Stop::Succeeded { .. } => true,
        }
    }
}

/// Runs `connections` closed loops of `request` against `addr`. The
/// connections are opened before the clock starts.
pub async fn run(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    connections: usize,
    stop: Stop,
) -> LoadOutcome {
    let mut conns = Vec::with_capacity(connections);
    let mut failed = LoadOutcome::default();
    for _ in 0..connections {
        match Conn::connect(addr).await {
            Ok(conn) => conns.push(conn),
            Err(e) => {
                failed.errors += 1;
                failed
                    .first_error
                    .get_or_insert_with(|| format!("connect: {e}"));
            }
        }
    }
    if conns.is_empty() {
        return failed;
    }
    let run = Arc::new(Run {
        addr,
        request,
        start: Instant::now(),
        stop,
        issued: AtomicU64::new(0),
    });
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(connection_loop(Arc::clone(&run), conn)))
        .collect();
    let mut total = failed;
    let mut last_answer = run.start;
    for task in tasks {
        match task.await {
            Ok((outcome, last)) => {
                total.merge(outcome);
                last_answer = last_answer.max(last);
            }
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("load task: {e}"));
            }
        }
    }
    total.elapsed = match stop {
        Stop::After(duration) => duration,
        Stop::Succeeded { .. } => last_answer.duration_since(run.start),
    };
    total
}

/// One connection's loop; returns its counts and when its last counted
/// answer arrived.
async fn connection_loop(run: Arc<Run>, conn: Conn) -> (LoadOutcome, Instant) {
    let mut outcome = LoadOutcome::default();
    let mut last = run.start;
    let mut conn = Some(conn);
    while run.take_ticket() {
        let Some(current) = conn.as_mut() else {
            run.return_ticket();
            tokio::time::sleep(RECONNECT_PAUSE).await;
            conn = reconnect(&run, &mut outcome).await;
            continue;
        };
        match current
            .exchange_within(&run.request, run.wait_limit())
            .await
        {
            Ok(reply) => {
                let now = Instant::now();
                if !run.counts(now) {
                    break;
                }
                let status = ipp::status(current.body());
                match (reply.http_status, status) {
                    (200, Some(status)) if ipp::is_success(status) => {
                        outcome.ok += 1;
                        last = now;
                    }
                    (200, Some(status)) => {
                        outcome.rejected += 1;
                        outcome.first_rejection.get_or_insert(status);
                        run.return_ticket();
                    }
                    (http, _) => {
                        outcome.errors += 1;
                        outcome
                            .first_error
                            .get_or_insert_with(|| format!("HTTP status {http}"));
                        run.return_ticket();
                    }
                }
                if reply.close {
                    conn = None;
                }
            }
            Err(e) => {
                if !run.counts(Instant::now()) {
                    break;
                }
                outcome.errors += 1;
                outcome.first_error.get_or_insert_with(|| e.to_string());
                run.return_ticket();
                conn = None;
            }
        }
    }
    (outcome, last)
}

async fn reconnect(run: &Run, outcome: &mut LoadOutcome) -> Option<Conn> {
    match Conn::connect(run.addr).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            outcome.errors += 1;
            outcome
                .first_error
                .get_or_insert_with(|| format!("reconnect: {e}"));
            None
        }
    }
}
