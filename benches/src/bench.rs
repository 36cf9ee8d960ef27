//! printspool-bench: measures printspoold against cupsd, ippeveprinter and
//! a minimal HTTP responder (the loopback ceiling) in one run, all on
//! loopback, and writes `latest.md` and `latest.png`. See benches/README.md.
//!
//! Order of a run:
//! 1. start printspoold, cupsd, ippeveprinter; check that each answers
//!    Get-Printer-Attributes and accepts a Print-Job; start the ceiling
//!    with printspoold's answers;
//! 2. throughput: for each request kind and connection count, a short
//!    warm-up per target, then rounds in which every target runs once, in
//!    an order that rotates each round; the median round counts;
//! 3. cold start of printspoold and cupsd under systemd-socket-activate;
//! 4. resident memory of a fresh printspoold and cupsd, idle and after the
//!    job load;
//! 5. scale (issue 14): spools with history built (or taken from the
//!    cache), start-up against history, requests with held jobs queued,
//!    memory per queued job and after drains, printing against acceptance;
//! 6. the report and the chart.
//!
//! The physical floor (`floor.rs`) runs inside step 2, as one more entry
//! of every Print-Job round. `--scale-only` runs step 5 and, for the floor
//! ratios, step 2 for printspoold's 1 KiB Print-Job and the floor only.

mod ceiling;
mod chart;
mod coldstart;
mod error;
mod floor;
mod http;
mod ipp;
mod load;
mod memory;
mod peers;
mod procs;
mod report;
mod results;
mod scale;
mod spools;
mod stats;
mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use error::{BenchError, Context};
use floor::FloorDesign;
use load::Stop;
use peers::{BenchTarget, PeerKind};
use report::CONNECTIONS;
use results::{AnswerSize, FloorPoint, Results, RunMeta, Scenario, Throughput};
use scale::ScalePlan;
use spools::SpoolCache;

const USAGE: &str = "\
printspool-bench: printspoold against cupsd, ippeveprinter and a loopback ceiling

USAGE (from the repository root, after `cargo build --release`):
  cargo run --release --manifest-path benches/Cargo.toml -- [OPTIONS]

OPTIONS:
  --daemon PATH      printspoold binary (default: $CARGO_TARGET_DIR/release/printspoold,
                     else target/release/printspoold)
  --out DIR          where latest.md and latest.png go (default: benches/results)
  --work-dir DIR     where the servers' temporary directories go (default: $TMPDIR or /tmp);
                     put it on the disk you care about: printspoold fsyncs there
  --quick            a short run (fewer, shorter rounds; 1,000 jobs for memory)
  --memory-jobs N    jobs for the memory measurement (default 10000)
  --scale-only       only the scale measurements (start-up against history, requests and
                     memory with queued jobs, printing against acceptance) and, for the
                     floor ratios, printspoold's 1 KiB Print-Job with the physical floor
  --spool-cache DIR  where spools with history are kept between runs, by the daemon
                     binary's hash (default: WORK-DIR/printspool-bench-cache)
  --rebuild-spools   build the spools with history again even if cached
  -h, --help         this text
";

/// How long and how often to measure.
#[derive(Debug, Clone)]
struct BenchPlan {
    rounds: usize,
    /// Round length for Get-Printer-Attributes.
    round: Duration,
    /// Round length for Print-Job: longer, because spoolers defer work
    /// (printing, state files) past the answer, and a short round would
    /// measure only the burst before that work catches up.
    print_round: Duration,
    warmup: Duration,
    cold_trials: usize,
    memory_jobs: u64,
    quick: bool,
    scale_only: bool,
    scale: ScalePlan,
}

impl BenchPlan {
    fn full() -> BenchPlan {
        BenchPlan {
            rounds: 5,
            round: Duration::from_millis(1000),
            print_round: Duration::from_millis(2000),
            warmup: Duration::from_millis(300),
            cold_trials: 21,
            memory_jobs: 10_000,
            quick: false,
            scale_only: false,
            scale: ScalePlan {
                history: vec![1_000, 10_000, 50_000],
                held: 10_000,
                cached_starts: 5,
                uncached_starts: 2,
                rounds: 5,
                round: Duration::from_millis(1000),
                warmup: Duration::from_millis(300),
                e2e_jobs: 3_000,
                e2e_rounds: 3,
            },
        }
    }

    fn quick() -> BenchPlan {
        BenchPlan {
            rounds: 3,
            round: Duration::from_millis(300),
            print_round: Duration::from_millis(600),
            warmup: Duration::from_millis(100),
            cold_trials: 5,
            memory_jobs: 1_000,
            quick: true,
            scale_only: false,
            scale: ScalePlan {
                history: vec![200, 1_000, 2_000],
                held: 1_000,
                cached_starts: 3,
                uncached_starts: 1,
                rounds: 3,
                round: Duration::from_millis(300),
                warmup: Duration::from_millis(100),
                e2e_jobs: 500,
                e2e_rounds: 2,
            },
        }
    }
}

struct Args {
    daemon: PathBuf,
    out: PathBuf,
    work_dir: PathBuf,
    spool_cache: PathBuf,
    rebuild_spools: bool,
    plan: BenchPlan,
}

fn parse_args(args: Vec<String>) -> Result<Option<Args>, BenchError> {
    let default_daemon = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("release/printspoold");
    let mut daemon = default_daemon;
    let mut out = PathBuf::from("benches/results");
    let mut work_dir = std::env::temp_dir();
    let mut quick = false;
    let mut scale_only = false;
    let mut spool_cache = None;
    let mut rebuild_spools = false;
    let mut memory_jobs = None;
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .ok_or_else(|| BenchError::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--daemon" => daemon = PathBuf::from(value("--daemon")?),
            "--out" => out = PathBuf::from(value("--out")?),
            "--work-dir" => work_dir = PathBuf::from(value("--work-dir")?),
            "--quick" => quick = true,
            "--scale-only" => scale_only = true,
            "--rebuild-spools" => rebuild_spools = true,
            "--spool-cache" => spool_cache = Some(PathBuf::from(value("--spool-cache")?)),
            "--memory-jobs" => {
                let text = value("--memory-jobs")?;
                memory_jobs = Some(text.parse().map_err(|_| {
                    BenchError::Usage(format!("--memory-jobs wants a count, not {text:?}"))
                })?);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => return Err(BenchError::Usage(format!("unknown argument {other:?}"))),
        }
    }
    let mut plan = if quick {
        BenchPlan::quick()
    } else {
        BenchPlan::full()
    };
    if let Some(jobs) = memory_jobs {
        plan.memory_jobs = jobs;
        plan.scale.held = jobs;
    }
    plan.scale_only = scale_only;
    Ok(Some(Args {
        daemon,
        out,
        spool_cache: spool_cache.unwrap_or_else(|| work_dir.join("printspool-bench-cache")),
        work_dir,
        rebuild_spools,
        plan,
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("ceiling") {
        ceiling_main(&args[1..])
    } else if args.first().map(String::as_str) == Some("load") {
        load_main(&args[1..])
    } else if args.first().map(String::as_str) == Some("floor") {
        floor::main(&args[1..])
    } else if args.first().map(String::as_str) == Some("transport") {
        transport::main(&args[1..])
    } else if args.first().map(String::as_str) == Some("transport-serve") {
        transport::serve_main(&args[1..])
    } else {
        match parse_args(args) {
            Ok(Some(args)) => run(args),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
    };
    if let Err(e) = result {
        eprintln!("printspool-bench: {e}");
        std::process::exit(1);
    }
}

/// `ceiling PORT FULL STATE`: the loopback ceiling, started by `peers.rs`.
fn ceiling_main(args: &[String]) -> Result<(), BenchError> {
    let [port, full, state] = args else {
        return Err(BenchError::Usage("ceiling PORT FULL STATE".into()));
    };
    let port = port
        .parse()
        .map_err(|_| BenchError::Usage(format!("bad port {port:?}")))?;
    ceiling::main(port, Path::new(full), Path::new(state))
}

/// `load URI SCENARIO CONNECTIONS SECONDS`: one load run against a server
/// that is already running, for profiling it (see benches/README.md).
fn load_main(args: &[String]) -> Result<(), BenchError> {
    let [uri, scenario, connections, seconds] = args else {
        return Err(BenchError::Usage(
            "load ipp://HOST:PORT/PATH gpa-full|gpa-state|print-1k|print-1m CONNECTIONS SECONDS"
                .into(),
        ));
    };
    let scenario = match scenario.as_str() {
        "gpa-full" => Scenario::GpaFull,
        "gpa-state" => Scenario::GpaState,
        "print-1k" => Scenario::PrintSmall,
        "print-1m" => Scenario::PrintLarge,
        other => return Err(BenchError::Usage(format!("unknown scenario {other:?}"))),
    };
    let bad = |what: &str| BenchError::Usage(format!("bad {what}"));
    let connections: usize = connections.parse().map_err(|_| bad("connection count"))?;
    let seconds: f64 = seconds.parse().map_err(|_| bad("duration"))?;
    let rest = uri
        .strip_prefix("ipp://")
        .ok_or_else(|| bad("URI (ipp://HOST:PORT/PATH)"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: std::net::SocketAddr = host
        .replace("localhost", "127.0.0.1")
        .parse()
        .map_err(|_| bad("HOST:PORT (use an IP address)"))?;
    let ipp = match scenario {
        Scenario::GpaFull => ipp::get_printer_attributes(uri, &[]),
        Scenario::GpaState => ipp::get_printer_attributes(uri, &["printer-state"]),
        _ => ipp::print_job(uri, results::DOCUMENT_FORMAT),
    };
    let document = match scenario {
        Scenario::PrintSmall => results::document(results::SMALL_DOCUMENT),
        Scenario::PrintLarge => results::document(results::LARGE_DOCUMENT),
        _ => Vec::new(),
    };
    let request = Arc::new(http::post(
        host,
        if path.is_empty() { "/" } else { path },
        &ipp,
        &document,
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(|| "building the client runtime".into())?;
    let stop = Stop::After(Duration::from_secs_f64(seconds));
    let outcome = runtime.block_on(load::run(addr, request, connections, stop));
    println!(
        "{}: {:.0}/s ({} ok, {} rejected, {} errors{})",
        scenario.label(),
        outcome.rate(),
        outcome.ok,
        outcome.rejected,
        outcome.errors,
        outcome
            .first_rejection
            .map(ipp::status_name)
            .or(outcome.first_error)
            .map(|p| format!("; first: {p}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The programs a run needs, with the Debian package that has each.
const NEEDED: &[(&str, &str)] = &[
    ("/usr/sbin/cupsd", "cups-daemon"),
    ("/usr/sbin/ippeveprinter", "cups-ipp-utils"),
    ("/usr/bin/systemd-socket-activate", "systemd"),
    ("/usr/bin/dbus-daemon", "dbus-daemon (or dbus)"),
    ("/bin/true", "coreutils"),
    (chart::FONT_PATH, "fonts-dejavu-core"),
];

fn preflight(args: &Args) -> Result<(), BenchError> {
    if !args.daemon.is_file() {
        return Err(BenchError::Setup(format!(
            "no printspoold at {} (run `cargo build --release` first, or pass --daemon PATH)",
            args.daemon.display()
        )));
    }
    // A scale-only run starts no peer and draws no chart.
    let needed = |path: &str| !args.plan.scale_only || path == "/usr/bin/systemd-socket-activate";
    let missing: Vec<String> = NEEDED
        .iter()
        .filter(|(path, _)| needed(path) && !Path::new(path).exists())
        .map(|(path, package)| format!("{path} (Debian package {package})"))
        .collect();
    if !missing.is_empty() {
        return Err(BenchError::Setup(format!(
            "missing: {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Removes the run's temporary directory, however the run ends.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: Args) -> Result<(), BenchError> {
    preflight(&args)?;
    if !args.plan.scale_only {
        chart::load_font()?;
    }
    let started = Instant::now();
    let work = WorkDir(
        args.work_dir
            .join(format!("printspool-bench.{}", std::process::id())),
    );
    std::fs::create_dir_all(&work.0).context(|| format!("creating {}", work.0.display()))?;
    let daemon = std::fs::canonicalize(&args.daemon)
        .context(|| format!("resolving {}", args.daemon.display()))?;
    // The load generator runs on one thread: see load.rs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(|| "building the client runtime".into())?;

    let mut results = Results {
        meta: meta(&args, &daemon, &work.0),
        ..Results::default()
    };
    eprintln!(
        "printspool-bench: {} run, work directory {} ({})",
        if args.plan.quick { "quick" } else { "full" },
        work.0.display(),
        results.meta.spool_fs
    );

    let floor_dir = work.0.join("floor");
    if args.plan.scale_only {
        let mut targets = vec![peers::printspoold(&daemon, &work.0.join("printspoold"))?];
        throughput(
            &runtime,
            &mut targets,
            &args.plan,
            &[Scenario::PrintSmall],
            &floor_dir,
            &mut results,
        )?;
    } else {
        let mut targets = start_targets(&runtime, &daemon, &work.0, &mut results)?;
        throughput(
            &runtime,
            &mut targets,
            &args.plan,
            &Scenario::ALL,
            &floor_dir,
            &mut results,
        )?;
    }
    // The throughput servers are stopped; their spools can go.
    for sub in ["printspoold", "cupsd", "ippeveprinter", "ceiling", "floor"] {
        let _ = std::fs::remove_dir_all(work.0.join(sub));
    }

    if !args.plan.scale_only {
        classic_cold_and_memory(&runtime, &daemon, &work.0, &args.plan, &mut results)?;
    }
    scale_run(&runtime, &daemon, &work.0, &args, &mut results)?;

    add_notes(&mut results);
    results.meta.total_secs = started.elapsed().as_secs_f64();
    write_outputs(&results, &args.out)
}

/// Cold start on an empty spool and resident memory, against cupsd.
fn classic_cold_and_memory(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    plan: &BenchPlan,
    results: &mut Results,
) -> Result<(), BenchError> {
    eprintln!("cold start ({} trials each)", plan.cold_trials);
    results.cold = coldstart::measure(runtime, daemon, work, plan.cold_trials)?;

    eprintln!("resident memory ({} jobs)", plan.memory_jobs);
    let target = peers::printspoold(daemon, &work.join("mem-printspoold"))?;
    results
        .memory
        .push(memory::measure(runtime, &target, plan.memory_jobs)?);
    drop(target);
    let target = peers::cupsd(&work.join("mem-cupsd"))?;
    results
        .memory
        .push(memory::measure(runtime, &target, plan.memory_jobs)?);
    drop(target);
    let target = peers::ippeveprinter(&work.join("mem-ippeveprinter"))?;
    results.memory.push(memory::measure(runtime, &target, 0)?);
    drop(target);
    Ok(())
}

/// The scale measurements of issue 14 (`scale.rs`), on spools built or
/// taken from the cache (`spools.rs`).
fn scale_run(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    args: &Args,
    results: &mut Results,
) -> Result<(), BenchError> {
    let plan = &args.plan.scale;
    eprintln!(
        "scale: spools with history (cache {})",
        args.spool_cache.display()
    );
    let cache = SpoolCache::new(&args.spool_cache, daemon, work, args.rebuild_spools)?;
    results.spool_builds = cache.ensure(runtime, &plan.spools())?;
    let _ = std::fs::remove_dir_all(work.join("spool-build"));

    eprintln!(
        "scale: start-up against history ({} cached and {} uncached starts each)",
        plan.cached_starts, plan.uncached_starts
    );
    let (startup, uncached_note) = scale::startup(runtime, daemon, work, &cache, plan)?;
    results.startup = startup;
    results.uncached_note = uncached_note;

    eprintln!("scale: requests with {} held jobs against none", plan.held);
    results.queued = scale::queued_requests(runtime, daemon, work, &cache, plan)?;
    for held in [0, 10, plan.held] {
        let _ = std::fs::remove_dir_all(work.join(format!("queued-{held}")));
    }

    eprintln!("scale: memory per queued job and after drains");
    results.drains = scale::drains(runtime, daemon, work, plan.held)?;

    eprintln!(
        "scale: printing against acceptance ({} jobs, {} rounds each)",
        plan.e2e_jobs, plan.e2e_rounds
    );
    results.end_to_end = Some(scale::end_to_end(runtime, daemon, work, plan)?);
    Ok(())
}

fn meta(args: &Args, daemon: &Path, work: &Path) -> RunMeta {
    let date = procs::version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    RunMeta {
        date,
        quick: args.plan.quick,
        rounds: args.plan.rounds,
        round_secs: args.plan.round.as_secs_f64(),
        print_round_secs: args.plan.print_round.as_secs_f64(),
        cold_trials: args.plan.cold_trials,
        memory_jobs: args.plan.memory_jobs,
        scale_only: args.plan.scale_only,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        spool_fs: filesystem_of(work),
        printspoold: procs::version_of(&daemon.to_string_lossy(), &["--version"])
            .trim_start_matches("printspoold ")
            .to_string(),
        cupsd: procs::version_of("dpkg-query", &["-W", "-f", "${Version}", "cups-daemon"]),
        total_secs: 0.0,
    }
}

/// The file system type under `path`, as statfs(2) reports it.
fn filesystem_of(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: statfs writes only into the zeroed struct we pass.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut buf) } != 0 {
        return "unknown".into();
    }
    match buf.f_type as u64 {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs (fsync is free: not a fair durable test)".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("file system 0x{other:x}"),
    }
}

/// Starts the three servers, checks each serves what the benchmark asks,
/// records the answer sizes, and starts the ceiling with printspoold's.
fn start_targets(
    runtime: &Runtime,
    daemon: &Path,
    work: &Path,
    results: &mut Results,
) -> Result<Vec<BenchTarget>, BenchError> {
    let mut targets = vec![
        peers::printspoold(daemon, &work.join("printspoold"))?,
        peers::cupsd(&work.join("cupsd"))?,
        peers::ippeveprinter(&work.join("ippeveprinter"))?,
    ];
    let mut printspoold_answers = None;
    for target in &targets {
        let full = runtime.block_on(memory::ask(target, &Scenario::GpaFull.request(target)))?;
        let state = runtime.block_on(memory::ask(target, &Scenario::GpaState.request(target)))?;
        runtime.block_on(memory::ask(target, &Scenario::PrintSmall.request(target)))?;
        eprintln!(
            "  {} ready at {} (full answer {} bytes, printer-state answer {} bytes)",
            target.kind,
            target.addr,
            full.len(),
            state.len()
        );
        results.answers.push(AnswerSize {
            kind: target.kind,
            full: full.len(),
            state: state.len(),
        });
        if target.kind == PeerKind::Printspoold {
            printspoold_answers = Some((full, state));
        }
    }
    let (full, state) = printspoold_answers
        .ok_or_else(|| BenchError::Setup("printspoold did not answer".into()))?;
    targets.push(peers::ceiling(&work.join("ceiling"), &full, &state)?);
    Ok(targets)
}

/// Every scenario at every connection count, alternating targets. A
/// target that dies is started again and the death is noted.
/// For Print-Job, the physical floor's designs (`floor.rs`) join every
/// round as further entries of the rotation, run in `floor_dir`.
fn throughput(
    runtime: &Runtime,
    targets: &mut [BenchTarget],
    plan: &BenchPlan,
    scenarios: &[Scenario],
    floor_dir: &Path,
    results: &mut Results,
) -> Result<(), BenchError> {
    for &scenario in scenarios {
        let round = if scenario.is_print() {
            plan.print_round
        } else {
            plan.round
        };
        for connections in CONNECTIONS {
            let requests: Vec<Arc<Vec<u8>>> = targets
                .iter()
                .map(|t| Arc::new(scenario.request(t)))
                .collect();
            let mut points: Vec<Throughput> = targets
                .iter()
                .map(|t| Throughput {
                    scenario,
                    connections,
                    kind: t.kind,
                    rounds: Vec::new(),
                    rejected: 0,
                    errors: 0,
                    crashes: 0,
                    first_problem: None,
                })
                .collect();
            for (i, target) in targets.iter_mut().enumerate() {
                let stop = Stop::After(plan.warmup);
                runtime.block_on(load::run(
                    target.addr,
                    Arc::clone(&requests[i]),
                    connections,
                    stop,
                ));
                note_crash(target, &mut points[i], results)?;
            }
            let mut floors: Vec<FloorPoint> = if scenario.is_print() {
                FloorDesign::for_connections(connections)
                    .into_iter()
                    .map(|design| FloorPoint {
                        scenario,
                        connections,
                        design,
                        rounds: Vec::new(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let entries = targets.len() + floors.len();
            for round_number in 0..plan.rounds {
                for offset in 0..entries {
                    let i = (round_number + offset) % entries;
                    if let Some(floor) = floors.get_mut(i.wrapping_sub(targets.len())) {
                        floor.rounds.push(floor::measure(
                            floor_dir,
                            floor.design,
                            scenario.document_len(),
                            plan.round,
                        )?);
                        continue;
                    }
                    let outcome = runtime.block_on(load::run(
                        targets[i].addr,
                        Arc::clone(&requests[i]),
                        connections,
                        Stop::After(round),
                    ));
                    let point = &mut points[i];
                    point.rounds.push(outcome.rate());
                    point.rejected += outcome.rejected;
                    point.errors += outcome.errors;
                    if point.first_problem.is_none() {
                        point.first_problem = outcome
                            .first_rejection
                            .map(ipp::status_name)
                            .or(outcome.first_error);
                    }
                    note_crash(&mut targets[i], point, results)?;
                }
            }
            let line: Vec<String> = points
                .iter()
                .map(|p| format!("{} {}", p.kind, report::thousands(p.median())))
                .chain(floors.iter().map(|f| {
                    format!(
                        "floor ({}) {}",
                        f.design.label(),
                        report::thousands(f.median())
                    )
                }))
                .collect();
            eprintln!(
                "  {} x{connections}: {} ({})",
                scenario.label(),
                line.join(", "),
                scenario.unit()
            );
            results.throughput.extend(points);
            results.floor.extend(floors);
        }
    }
    Ok(())
}

/// Restarts `target` if it died during the last run, counting the death.
fn note_crash(
    target: &mut BenchTarget,
    point: &mut Throughput,
    results: &mut Results,
) -> Result<(), BenchError> {
    if let Some(report) = target.restart_if_dead()? {
        eprintln!("  {report}; restarted");
        point.crashes += 1;
        if !results
            .notes
            .iter()
            .any(|n| n.starts_with(target.kind.name()))
        {
            results.notes.push(format!(
                "{} died during the {} run at {} connections and was restarted on the same port \
                 (first occurrence; every death is counted in the throughput table): {report}",
                target.kind,
                point.scenario.label(),
                point.connections
            ));
        }
    }
    Ok(())
}

/// Facts a reader needs next to the figures.
fn add_notes(results: &mut Results) {
    results.notes.push(
        "Durability: printspoold answers a Print-Job only after its journal entry (the record, and the \
         document inline up to 64 KiB, else a docs/ file synced with the batch) is fdatasynced, one sync \
         for every job waiting (group commit, src/spool/journal/appender.rs). cupsd answers first: \
         it never syncs the document, and writes each job's control file later, in batches from its single \
         event loop, with an fsync each (SyncOnClose), which stalls it for up to a second at a time under load. \
         ippeveprinter syncs nothing."
            .into(),
    );
    results.notes.push(
        "Every server prints to /dev/null: printspoold `device:///dev/null`, cupsd a raw queue `file:///dev/null`, \
         ippeveprinter runs `/bin/true` per job. Documents are text/plain."
            .into(),
    );
    results.notes.push(
        "ippeveprinter accepts one job at a time and answers server-error-busy while a job is printing; its \
         Print-Job figures count accepted jobs only."
            .into(),
    );
    results.notes.push(
        "The loopback ceiling is this benchmark's own responder (benches/src/ceiling.rs): it reads each request \
         and writes printspoold's answer bytes from memory, so it shows what the client, the kernel and a tokio \
         server can do here at all."
            .into(),
    );
    results.notes.push(
        "The client is a single-threaded tokio load generator (closed loop, keep-alive), so it and the server \
         under test share the machine's cores; all targets are measured the same way."
            .into(),
    );
    if let Some(memory) = results.memory(PeerKind::Cupsd) {
        results.notes.push(format!(
            "cupsd runs with MaxJobs 0 (no limit) so it accepts every job; it keeps job history in memory, \
             which its figure after {} jobs includes. Memory is VmRSS of the main process only (not of \
             cupsd's per-job children).",
            report::thousands(memory.jobs as f64)
        ));
    }
    results.notes.push(
        "VmRSS counts every page mapped in, shared library pages included (glibc is resident once for the \
         whole system); PSS divides shared pages among the processes using them. The targets use VmRSS."
            .into(),
    );
    if results.meta.memory_jobs != 10_000 {
        results.notes.push(format!(
            "The memory load was {} jobs, not the 10,000 the target names.",
            results.meta.memory_jobs
        ));
    }
}

fn write_outputs(results: &Results, out: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(out).context(|| format!("creating {}", out.display()))?;
    let markdown = report::markdown(results);
    // A scale-only run has no peers to chart and must not pass for a full
    // run: it writes its own file.
    let name = if results.meta.scale_only {
        "scale-latest.md"
    } else {
        "latest.md"
    };
    let md_path = out.join(name);
    std::fs::write(&md_path, &markdown).context(|| format!("writing {}", md_path.display()))?;
    println!("{markdown}");
    if results.meta.scale_only {
        eprintln!("wrote {}", md_path.display());
        return Ok(());
    }
    let png_path = out.join("latest.png");
    chart::draw(results, &png_path)?;
    eprintln!("wrote {} and {}", md_path.display(), png_path.display());
    Ok(())
}
