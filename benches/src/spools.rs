//! Spools with history, built once through the daemon's IPP interface and
//! reused: finished jobs (printed to `/dev/null`), held jobs
//! (`job-hold-until=indefinite`), both. Nothing here reads the spool's
//! files: a spool is a directory, built by running the daemon and
//! submitting jobs, then stopped and copied as a whole (`cp -a`), so the
//! benchmark survives any change of the spool's layout.
//!
//! Built spools are cached under `--spool-cache` by the daemon binary's
//! SHA-256 and the spool's contents: a rebuilt daemon gets new spools, an
//! unchanged one reuses them (50,000 jobs take minutes to make).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::error::{BenchError, Context};
use crate::http::{self, Conn};
use crate::ipp;
use crate::memory;
use crate::peers::{self, BenchTarget};
use crate::results::{self, SpoolBuild};

/// Connections that submit the jobs of a spool being built.
pub const BUILD_CONNECTIONS: usize = 32;
/// Longest wait for a queue to empty.
const DRAIN_LIMIT: Duration = Duration::from_secs(1800);
/// One request may take this long.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
const PRINTER_IDLE: i32 = 3;

/// What a spool holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolContents {
    pub finished: u64,
    pub held: u64,
}

impl SpoolContents {
    pub fn label(self) -> String {
        match (self.finished, self.held) {
            (0, 0) => "empty".into(),
            (f, 0) => format!("{} finished jobs", crate::report::count(f)),
            (0, h) => format!("{} held jobs", crate::report::count(h)),
            (f, h) => format!(
                "{} finished + {} held jobs",
                crate::report::count(f),
                crate::report::count(h)
            ),
        }
    }

    fn dir_name(self) -> String {
        format!("finished-{}-held-{}", self.finished, self.held)
    }
}

/// Where built spools live, and the binary they were built by.
pub struct SpoolCache {
    root: PathBuf,
    daemon: PathBuf,
    /// Building happens here (the run's work directory).
    work: PathBuf,
    rebuild: bool,
}

impl SpoolCache {
    pub fn new(
        cache: &Path,
        daemon: &Path,
        work: &Path,
        rebuild: bool,
    ) -> Result<SpoolCache, BenchError> {
        let hash = sha256_of(daemon)?;
        let root = cache.join(&hash[..16]);
        fs::create_dir_all(&root).context(|| format!("creating {}", root.display()))?;
        Ok(SpoolCache {
            root,
            daemon: daemon.to_path_buf(),
            work: work.join("spool-build"),
            rebuild,
        })
    }

    /// The cached spool directory holding `contents`.
    pub fn spool(&self, contents: SpoolContents) -> PathBuf {
        self.root.join(contents.dir_name()).join("spool")
    }

    fn marker(&self, contents: SpoolContents) -> PathBuf {
        self.root.join(contents.dir_name()).join("built")
    }

    /// How `contents` was built, if it is in the cache.
    fn cached(&self, contents: SpoolContents) -> Option<SpoolBuild> {
        if self.rebuild {
            return None;
        }
        let text = fs::read_to_string(self.marker(contents)).ok()?;
        let mut numbers = text.split_whitespace().map(|w| w.parse::<f64>().ok());
        let (accept_secs, drain_secs) = (numbers.next()??, numbers.next()??);
        Some(SpoolBuild {
            contents,
            added: 0,
            accept_secs,
            drain_secs,
            cached: true,
        })
    }

    /// Copies the spool under `dir` (`dir/spool`, as the daemon is started
    /// there) into the cache as `contents`, with its marker written last.
    fn store(&self, dir: &Path, build: &SpoolBuild) -> Result<(), BenchError> {
        let entry = self.root.join(build.contents.dir_name());
        let _ = fs::remove_dir_all(&entry);
        fs::create_dir_all(&entry).context(|| format!("creating {}", entry.display()))?;
        copy_dir(&dir.join("spool"), &self.spool(build.contents))?;
        let marker = self.marker(build.contents);
        fs::write(
            &marker,
            format!("{} {}\n", build.accept_secs, build.drain_secs),
        )
        .context(|| format!("writing {}", marker.display()))
    }

    /// Makes sure every spool in `wanted` is cached, building the missing
    /// ones; returns how each was built. Finished-job spools are built as
    /// one growing history (each size continues the previous one).
    pub fn ensure(
        &self,
        runtime: &Runtime,
        wanted: &[SpoolContents],
    ) -> Result<Vec<SpoolBuild>, BenchError> {
        let mut builds = Vec::new();
        let mut finished: Vec<u64> = wanted.iter().map(|c| c.finished).collect();
        finished.sort_unstable();
        finished.dedup();
        builds.extend(self.ensure_history(runtime, &finished)?);
        for &contents in wanted.iter().filter(|c| c.held > 0) {
            if let Some(build) = self.cached(contents) {
                builds.push(build);
                continue;
            }
            let base = SpoolContents {
                finished: contents.finished,
                held: 0,
            };
            let dir = self.fresh_build_dir("held")?;
            copy_dir(&self.spool(base), &dir.join("spool"))?;
            let target = peers::printspoold(&self.daemon, &dir)?;
            let request = Arc::new(results::held_request(&target));
            let started = Instant::now();
            let ids = submit_all(runtime, &target, contents.held, BUILD_CONNECTIONS, &|_| {
                Arc::clone(&request)
            })?;
            let build = SpoolBuild {
                contents,
                added: ids.len() as u64,
                accept_secs: started.elapsed().as_secs_f64(),
                drain_secs: 0.0,
                cached: false,
            };
            drop(target);
            self.store(&dir, &build)?;
            eprintln!("  built {}: {}", contents.label(), build.describe());
            builds.push(build);
        }
        Ok(builds)
    }

    /// Finished-job spools of each size in `sizes` (ascending, may start
    /// with 0), by printing jobs in one growing spool.
    fn ensure_history(
        &self,
        runtime: &Runtime,
        sizes: &[u64],
    ) -> Result<Vec<SpoolBuild>, BenchError> {
        let mut builds = Vec::new();
        let dir = self.fresh_build_dir("history")?;
        let mut in_dir = None::<u64>;
        for &size in sizes {
            let contents = SpoolContents {
                finished: size,
                held: 0,
            };
            if let Some(build) = self.cached(contents) {
                builds.push(build);
                continue;
            }
            // Continue from the largest smaller spool: the one in the build
            // directory, else the largest cached one.
            let base = builds
                .iter()
                .map(|b: &SpoolBuild| b.contents.finished)
                .filter(|f| *f < size)
                .max();
            if in_dir != base {
                let _ = fs::remove_dir_all(dir.join("spool"));
                if let Some(base) = base {
                    copy_dir(
                        &self.spool(SpoolContents {
                            finished: base,
                            held: 0,
                        }),
                        &dir.join("spool"),
                    )?;
                }
            }
            let added = size - base.unwrap_or(0);
            let target = peers::printspoold(&self.daemon, &dir)?;
            let request = Arc::new(crate::results::Scenario::PrintSmall.request(&target));
            let started = Instant::now();
            submit_all(runtime, &target, added, BUILD_CONNECTIONS, &|_| {
                Arc::clone(&request)
            })?;
            let accept_secs = started.elapsed().as_secs_f64();
            if !wait_empty(runtime, &target, Duration::from_millis(200), DRAIN_LIMIT)? {
                return Err(BenchError::Setup(format!(
                    "building {}: the queue did not empty within {DRAIN_LIMIT:?}",
                    contents.label()
                )));
            }
            let build = SpoolBuild {
                contents,
                added,
                accept_secs,
                drain_secs: started.elapsed().as_secs_f64(),
                cached: false,
            };
            drop(target);
            self.store(&dir, &build)?;
            eprintln!("  built {}: {}", contents.label(), build.describe());
            in_dir = Some(size);
            builds.push(build);
        }
        Ok(builds)
    }

    fn fresh_build_dir(&self, name: &str) -> Result<PathBuf, BenchError> {
        let dir = self.work.join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// `cp -a FROM TO`: the directory as a whole, whatever is inside.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .context(|| format!("running cp -a {} {}", from.display(), to.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "cp -a {} {} failed ({status})",
            from.display(),
            to.display()
        )))
    }
}

fn sha256_of(path: &Path) -> Result<String, BenchError> {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .context(|| format!("running sha256sum {}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.split_whitespace().next() {
        Some(hash) if output.status.success() && hash.len() >= 16 => Ok(hash.to_string()),
        _ => Err(BenchError::Setup(format!(
            "sha256sum {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

/// Sends `count` requests over `connections` connections, the `i`-th made
/// by `request(i)`; every one must succeed. Returns the `job-id` of each
/// answer that carries one (in no particular order).
pub fn submit_all(
    runtime: &Runtime,
    target: &BenchTarget,
    count: u64,
    connections: usize,
    request: &(dyn Fn(usize) -> Arc<Vec<u8>> + Sync),
) -> Result<Vec<i32>, BenchError> {
    let requests: Vec<Arc<Vec<u8>>> = (0..count as usize).map(request).collect();
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let addr = target.addr;
    let kind = target.kind;
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
                tokio::spawn(async move { submit_loop(addr, &requests, &next).await })
            })
            .collect();
        let mut ids = Vec::with_capacity(count as usize);
        for task in tasks {
            let outcome = task
                .await
                .map_err(|e| BenchError::Setup(format!("{kind}: submission task: {e}")))?;
            ids.extend(outcome.map_err(|e| BenchError::Setup(format!("{kind}: {e}")))?);
        }
        Ok(ids)
    })
}

/// One connection's share of [`submit_all`]; reconnects when the server
/// closes, fails on the first refusal.
async fn submit_loop(
    addr: std::net::SocketAddr,
    requests: &[Arc<Vec<u8>>],
    next: &AtomicUsize,
) -> Result<Vec<i32>, String> {
    let mut ids = Vec::new();
    let mut conn: Option<Conn> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(request) = requests.get(i) else {
            return Ok(ids);
        };
        let mut tries = 0;
        loop {
            let current = match conn.as_mut() {
                Some(current) => current,
                None => conn.insert(
                    Conn::connect(addr)
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                ),
            };
            match current.exchange_within(request, REQUEST_LIMIT).await {
                Ok(reply) => {
                    let status = ipp::status(current.body());
                    if reply.http_status != 200 || !status.is_some_and(ipp::is_success) {
                        return Err(format!(
                            "request {i}: HTTP {}, IPP {:?}",
                            reply.http_status,
                            status.map(ipp::status_name)
                        ));
                    }
                    if let Some(id) = ipp::find_integer(current.body(), "job-id") {
                        ids.push(id);
                    }
                    if reply.close {
                        conn = None;
                    }
                    break;
                }
                Err(e) if tries < 3 => {
                    tries += 1;
                    conn = None;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = e;
                }
                Err(e) => return Err(format!("request {i}: {e}")),
            }
        }
    }
}

/// Polls every `poll` until no job is queued and the printer is idle;
/// false if `limit` passed first.
pub fn wait_empty(
    runtime: &Runtime,
    target: &BenchTarget,
    poll: Duration,
    limit: Duration,
) -> Result<bool, BenchError> {
    let request = http::post(
        &target.host,
        &target.path,
        &ipp::get_printer_attributes(&target.printer_uri, &["printer-state", "queued-job-count"]),
        &[],
    );
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let body = runtime.block_on(memory::ask(target, &request))?;
        let queued = ipp::find_integer(&body, "queued-job-count");
        let state = ipp::find_integer(&body, "printer-state");
        if queued == Some(0) && state == Some(PRINTER_IDLE) {
            return Ok(true);
        }
        std::thread::sleep(poll);
    }
    Ok(false)
}

/// The `queued-job-count` the printer reports now.
pub fn queued_jobs(runtime: &Runtime, target: &BenchTarget) -> Result<Option<i32>, BenchError> {
    let request = http::post(
        &target.host,
        &target.path,
        &ipp::get_printer_attributes(&target.printer_uri, &["queued-job-count"]),
        &[],
    );
    let body = runtime.block_on(memory::ask(target, &request))?;
    Ok(ipp::find_integer(&body, "queued-job-count"))
}
