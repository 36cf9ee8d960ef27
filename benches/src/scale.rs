//! How printspoold scales with what its spool holds, all through its IPP
//! interface (the spools come from [`crate::spools`]):
//!
//! - start-up against history: process start to the first full
//!   Get-Printer-Attributes answer, socket-activated as in
//!   [`crate::coldstart`], each start on a fresh `cp -a` of a cached spool;
//!   with the copy's pages cached, and after `sync` and `drop_caches`;
//! - request cost with held jobs queued against none, alternating rounds;
//! - memory per queued job, and after draining by printing or cancelling;
//! - printing keeps up: jobs accepted and printed per second against jobs
//!   accepted alone (held).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::coldstart;
use crate::error::{BenchError, Context};
use crate::ipp;
use crate::load::{self, Stop};
use crate::memory;
use crate::peers::{self, BenchTarget};
use crate::procs::free_port;
use crate::results::{
    self, DrainKind, DrainMemory, EndToEnd, LATE_READING, QueuedPoint, QueuedRequest, Scenario,
    StartupPoint,
};
use crate::spools::{self, SpoolCache, SpoolContents};
use crate::stats;

/// Connections for every scale load (the targets name 8).
pub const SCALE_CONNECTIONS: usize = 8;
/// Idle time before a memory reading.
const SETTLE: Duration = Duration::from_secs(1);
/// Longest wait for a drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(900);

/// How much of each scale measurement to do.
#[derive(Debug, Clone)]
pub struct ScalePlan {
    /// Finished-job history sizes for start-up (0 is added).
    pub history: Vec<u64>,
    /// Held jobs: alone, and on top of the largest history.
    pub held: u64,
    pub cached_starts: usize,
    pub uncached_starts: usize,
    pub rounds: usize,
    pub round: Duration,
    pub warmup: Duration,
    /// Jobs per end-to-end round, and the number of rounds of each kind.
    pub e2e_jobs: u64,
    pub e2e_rounds: usize,
}

impl ScalePlan {
    /// Every spool start-up is measured on, smallest first.
    pub fn spools(&self) -> Vec<SpoolContents> {
        let largest = self.history.iter().copied().max().unwrap_or(0);
        let mut spools = vec![SpoolContents {
            finished: 0,
            held: 0,
        }];
        spools.extend(
            self.history
                .iter()
                .map(|&finished| SpoolContents { finished, held: 0 }),
        );
        spools.push(SpoolContents {
            finished: 0,
            held: self.held,
        });
        spools.push(SpoolContents {
            finished: largest,
            held: self.held,
        });
        spools
    }
}

/// Start-up on every spool of `plan`, cached starts first, then uncached
/// ones, the spools in an order that rotates each round. The second value
/// says why uncached starts were not measured, if they were not.
pub fn startup(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    cache: &SpoolCache,
    plan: &ScalePlan,
) -> Result<(Vec<StartupPoint>, Option<String>), BenchError> {
    let dir = work.join("startup");
    let config = peers::write_printspoold_config(&dir)?;
    let spools = plan.spools();
    let mut points: Vec<StartupPoint> = spools
        .iter()
        .map(|&contents| StartupPoint {
            contents,
            cached_ms: Vec::new(),
            uncached_ms: Vec::new(),
            rss_kib: Vec::new(),
            queued: None,
        })
        .collect();
    let start = StartupRun {
        daemon,
        config: &config,
        dir: &dir,
        cache,
    };
    for round in 0..plan.cached_starts {
        for offset in 0..spools.len() {
            let point = &mut points[(round + offset) % spools.len()];
            let (ms, rss, queued) = start.once(runtime, point.contents, false)?;
            point.cached_ms.push(ms);
            point.rss_kib.push(rss as f64);
            point.queued = queued;
        }
    }
    let refused = match drop_caches() {
        Ok(()) => None,
        Err(e) => Some(format!(
            "uncached start-ups not measured: dropping the page cache failed ({e}); run as root \
             where /proc/sys/vm/drop_caches is writable"
        )),
    };
    if refused.is_none() {
        for round in 0..plan.uncached_starts {
            for offset in 0..spools.len() {
                let point = &mut points[(round + offset) % spools.len()];
                let (ms, _, _) = start.once(runtime, point.contents, true)?;
                point.uncached_ms.push(ms);
            }
        }
    }
    for point in &points {
        eprintln!(
            "  start-up, {}: cached median {:.1} ms, uncached median {}, RSS {:.1} MiB",
            point.contents.label(),
            stats::median(&point.cached_ms),
            if point.uncached_ms.is_empty() {
                "-".into()
            } else {
                format!("{:.1} ms", stats::median(&point.uncached_ms))
            },
            stats::median(&point.rss_kib) / 1024.0
        );
    }
    Ok((points, refused))
}

/// What every start-up shares.
struct StartupRun<'a> {
    daemon: &'a Path,
    config: &'a Path,
    dir: &'a Path,
    cache: &'a SpoolCache,
}

impl StartupRun<'_> {
    /// One start on a fresh copy of `contents`: milliseconds to the first
    /// answer, VmRSS then (KiB), and the `queued-job-count` it reported.
    fn once(
        &self,
        runtime: &Runtime,
        contents: SpoolContents,
        uncached: bool,
    ) -> Result<(f64, u64, Option<i32>), BenchError> {
        let scratch = self.dir.join("run");
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).context(|| format!("creating {}", scratch.display()))?;
        let spool = scratch.join("spool");
        spools::copy_dir(&self.cache.spool(contents), &spool)?;
        sync_all();
        if uncached {
            drop_caches().context(|| "dropping the page cache".into())?;
        }
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new("systemd-socket-activate");
        command
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--fdname=ipp")
            .arg(self.daemon)
            .arg("--config")
            .arg(self.config)
            .arg("--spool-dir")
            .arg(&spool)
            .arg("--no-dbus");
        let name = format!("printspoold on {}", contents.label());
        let log = self.dir.join("printspoold.log");
        let (ms, body, mut proc) = coldstart::first_answer(runtime, command, &name, &log, port)?;
        let rss = proc.rss()?.total;
        proc.stop();
        let _ = fs::remove_dir_all(&scratch);
        Ok((ms, rss, ipp::find_integer(&body, "queued-job-count")))
    }
}

/// `sync(2)`: the copy's dirty pages written before the clock starts.
fn sync_all() {
    // SAFETY: sync(2) takes no arguments and touches no memory of ours.
    unsafe { libc::sync() }
}

/// Drops the clean page cache, dentries and inodes (root only).
fn drop_caches() -> std::io::Result<()> {
    sync_all();
    fs::write("/proc/sys/vm/drop_caches", "3")
}

/// A printspoold on a copy of `spool` (none: an empty one) in `dir`.
fn daemon_on(daemon: &Path, dir: &Path, spool: Option<&Path>) -> Result<BenchTarget, BenchError> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    if let Some(spool) = spool {
        spools::copy_dir(spool, &dir.join("spool"))?;
    }
    peers::printspoold(daemon, dir)
}

/// Full Get-Printer-Attributes and Get-Jobs (limit 10) against an empty
/// spool, one with 10 held jobs (the same Get-Jobs answer as with many)
/// and one with `plan.held`, alternating round by round.
pub fn queued_requests(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    cache: &SpoolCache,
    plan: &ScalePlan,
) -> Result<Vec<QueuedPoint>, BenchError> {
    let held_spool = cache.spool(SpoolContents {
        finished: 0,
        held: plan.held,
    });
    let counts = [0, 10, plan.held];
    let mut targets = Vec::new();
    for held in counts {
        let dir = work.join(format!("queued-{held}"));
        let target = if held == plan.held {
            daemon_on(daemon, &dir, Some(&held_spool))?
        } else {
            daemon_on(daemon, &dir, None)?
        };
        if held == 10 {
            let request = Arc::new(results::held_request(&target));
            spools::submit_all(runtime, &target, 10, 1, &|_| Arc::clone(&request))?;
        }
        let queued = spools::queued_jobs(runtime, &target)?;
        if queued != Some(held as i32) {
            return Err(BenchError::Setup(format!(
                "printspoold with {held} held jobs reports queued-job-count {queued:?}"
            )));
        }
        targets.push(target);
    }
    let mut points = Vec::new();
    for request in QueuedRequest::ALL {
        let requests: Vec<Arc<Vec<u8>>> = targets
            .iter()
            .map(|t| Arc::new(request.request(t)))
            .collect();
        let mut these: Vec<QueuedPoint> = counts
            .iter()
            .map(|&held| QueuedPoint {
                request,
                held,
                connections: SCALE_CONNECTIONS,
                rounds: Vec::new(),
                failed: 0,
            })
            .collect();
        for (target, request) in targets.iter().zip(&requests) {
            runtime.block_on(load::run(
                target.addr,
                Arc::clone(request),
                SCALE_CONNECTIONS,
                Stop::After(plan.warmup),
            ));
        }
        for round in 0..plan.rounds {
            for offset in 0..targets.len() {
                let i = (round + offset) % targets.len();
                let outcome = runtime.block_on(load::run(
                    targets[i].addr,
                    Arc::clone(&requests[i]),
                    SCALE_CONNECTIONS,
                    Stop::After(plan.round),
                ));
                these[i].rounds.push(outcome.rate());
                these[i].failed += outcome.rejected + outcome.errors;
            }
        }
        let line: Vec<String> = these
            .iter()
            .map(|p| format!("{} held: {:.0}/s", p.held, p.median()))
            .collect();
        eprintln!(
            "  {} x{SCALE_CONNECTIONS}: {}",
            request.label(),
            line.join(", ")
        );
        points.extend(these);
    }
    Ok(points)
}

/// For each way of draining: a fresh printspoold, idle; `jobs` held jobs
/// queued; every one released (so it prints) or cancelled; VmRSS one
/// second and [`LATE_READING`] after the queue emptied.
pub fn drains(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    jobs: u64,
) -> Result<Vec<DrainMemory>, BenchError> {
    let mut found = Vec::new();
    for drain in [DrainKind::Printing, DrainKind::Cancelling] {
        let target = daemon_on(daemon, &work.join("drain"), None)?;
        runtime.block_on(memory::ask(&target, &Scenario::GpaFull.request(&target)))?;
        std::thread::sleep(SETTLE);
        let idle = target.proc.rss()?;
        let request = Arc::new(results::held_request(&target));
        let ids = spools::submit_all(runtime, &target, jobs, SCALE_CONNECTIONS, &|_| {
            Arc::clone(&request)
        })?;
        std::thread::sleep(SETTLE);
        let queued = target.proc.rss()?;
        let operation = match drain {
            DrainKind::Printing => ipp::RELEASE_JOB,
            DrainKind::Cancelling => ipp::CANCEL_JOB,
        };
        let started = Instant::now();
        spools::submit_all(
            runtime,
            &target,
            ids.len() as u64,
            SCALE_CONNECTIONS,
            &|i| {
                Arc::new(crate::http::post(
                    &target.host,
                    &target.path,
                    &ipp::job_operation(operation, &target.printer_uri, ids[i]),
                    &[],
                ))
            },
        )?;
        let drained = spools::wait_empty(runtime, &target, Duration::from_millis(50), DRAIN_LIMIT)?;
        let drain_secs = started.elapsed().as_secs_f64();
        let emptied = Instant::now();
        std::thread::sleep(SETTLE);
        let after_early = target.proc.rss()?;
        std::thread::sleep(LATE_READING.saturating_sub(emptied.elapsed()));
        let after_late = target.proc.rss()?;
        let found_now = DrainMemory {
            drain,
            jobs: ids.len() as u64,
            idle,
            queued,
            after_early,
            after_late,
            drain_secs,
            drained,
        };
        eprintln!(
            "  memory, drained {}: idle {:.2} MiB, {} held {:.2} MiB ({:.0} B/job), {:.2} MiB 1 s and {:.2} MiB {} s after the drain ({:.1} s)",
            drain.label(),
            idle.total as f64 / 1024.0,
            found_now.jobs,
            queued.total as f64 / 1024.0,
            found_now.per_job_bytes(),
            after_early.total as f64 / 1024.0,
            after_late.total as f64 / 1024.0,
            LATE_READING.as_secs(),
            drain_secs
        );
        found.push(found_now);
    }
    Ok(found)
}

/// `plan.e2e_rounds` rounds of each, alternating which goes first, each on
/// a fresh printspoold with an empty spool: `plan.e2e_jobs` jobs submitted
/// over [`SCALE_CONNECTIONS`] and printed (until the queue is found empty),
/// against the same jobs submitted held (until the last answer).
pub fn end_to_end(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    plan: &ScalePlan,
) -> Result<EndToEnd, BenchError> {
    let mut result = EndToEnd {
        jobs: plan.e2e_jobs,
        connections: SCALE_CONNECTIONS,
        ..EndToEnd::default()
    };
    let dir: PathBuf = work.join("e2e");
    for round in 0..plan.e2e_rounds {
        for offset in 0..2 {
            let printed = (round + offset) % 2 == 0;
            let target = daemon_on(daemon, &dir, None)?;
            let request = Arc::new(if printed {
                Scenario::PrintSmall.request(&target)
            } else {
                results::held_request(&target)
            });
            let started = Instant::now();
            spools::submit_all(runtime, &target, plan.e2e_jobs, SCALE_CONNECTIONS, &|_| {
                Arc::clone(&request)
            })?;
            if printed {
                if !spools::wait_empty(runtime, &target, Duration::from_millis(5), DRAIN_LIMIT)? {
                    return Err(BenchError::Setup(
                        "end-to-end: the queue did not empty".into(),
                    ));
                }
                result
                    .printed_rounds
                    .push(plan.e2e_jobs as f64 / started.elapsed().as_secs_f64());
            } else {
                result
                    .accepted_rounds
                    .push(plan.e2e_jobs as f64 / started.elapsed().as_secs_f64());
            }
        }
    }
    eprintln!(
        "  end to end x{SCALE_CONNECTIONS}: accepted and printed {:.0}/s, accepted alone (held) {:.0}/s",
        stats::median(&result.printed_rounds),
        stats::median(&result.accepted_rounds)
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spools the targets name, smallest first.
    #[test]
    fn the_plan_names_every_spool_of_the_targets() {
        let plan = ScalePlan {
            history: vec![1_000, 10_000, 50_000],
            held: 10_000,
            cached_starts: 1,
            uncached_starts: 1,
            rounds: 1,
            round: Duration::from_millis(1),
            warmup: Duration::from_millis(1),
            e2e_jobs: 1,
            e2e_rounds: 1,
        };
        let labels: Vec<String> = plan.spools().iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "empty",
                "1,000 finished jobs",
                "10,000 finished jobs",
                "50,000 finished jobs",
                "10,000 held jobs",
                "50,000 finished + 10,000 held jobs"
            ]
        );
    }
}
