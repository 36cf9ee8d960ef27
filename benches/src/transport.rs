//! `transport`: printspoold's own HTTP/1.1 transport against hyper 1.x,
//! serving the same Get-Printer-Attributes handler with the same limits
//! (issue 13, point 1). See benches/README.md, "Transport: ours against
//! hyper".
//!
//! One run:
//! 1. starts printspoold (as the main benchmark does) for one full
//!    Get-Printer-Attributes answer, whose printer groups both servers
//!    then send ([`gpa::GpaResponder`]);
//! 2. probes the limits: both servers started with short timeouts and
//!    small sizes, the same hand-written requests to each ([`probes`]);
//! 3. load: both servers with the daemon's default limits, gpa-full at
//!    each connection count, rounds alternating which goes first; the
//!    ratio is taken per round, so the noise of a busy machine falls on
//!    both alike;
//! 4. the peak resident memory of each server process, and the report.

mod gpa;
mod probes;
mod servers;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::error::{BenchError, Context};
use crate::load::{self, Stop};
use crate::procs::{Proc, free_port};
use crate::results::Scenario;
use crate::{http, ipp, memory, peers, stats};

pub use servers::serve_main;
use servers::{LimitProfile, TransportKind};

const USAGE: &str = "\
transport [--daemon PATH] [--rounds N] [--round-secs S] [--connections 1,8,64]
          [--work-dir DIR] [--out FILE]
  ours (printspoold's transport) against hyper 1.x on gpa-full; writes FILE
  (default benches/results/transport-latest.md)";

/// How long a server may take to start accepting.
const START_LIMIT: Duration = Duration::from_secs(20);
const WARMUP: Duration = Duration::from_millis(300);

struct TransportArgs {
    daemon: PathBuf,
    rounds: usize,
    round: Duration,
    connections: Vec<usize>,
    work_dir: PathBuf,
    out: PathBuf,
}

fn parse_args(args: &[String]) -> Result<TransportArgs, BenchError> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    // Only the answer's bytes are taken from the daemon: a debug build
    // gives the same ones.
    let release = target.join("release/printspoold");
    let mut parsed = TransportArgs {
        daemon: if release.is_file() {
            release
        } else {
            target.join("debug/printspoold")
        },
        rounds: 11,
        round: Duration::from_secs(1),
        connections: vec![1, 8, 64],
        work_dir: std::env::temp_dir(),
        out: PathBuf::from("benches/results/transport-latest.md"),
    };
    let mut iter = args.iter();
    let usage = |what: &str| BenchError::Usage(format!("{what}\n{USAGE}"));
    while let Some(arg) = iter.next() {
        let mut value = || {
            iter.next()
                .ok_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--daemon" => parsed.daemon = PathBuf::from(value()?),
            "--work-dir" => parsed.work_dir = PathBuf::from(value()?),
            "--out" => parsed.out = PathBuf::from(value()?),
            "--rounds" => {
                parsed.rounds = value()?.parse().map_err(|_| usage("bad --rounds"))?;
            }
            "--round-secs" => {
                let secs: f64 = value()?.parse().map_err(|_| usage("bad --round-secs"))?;
                parsed.round = Duration::from_secs_f64(secs.max(0.1));
            }
            "--connections" => {
                parsed.connections = value()?
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| usage("bad --connections"))?;
            }
            other => return Err(usage(&format!("unknown argument {other:?}"))),
        }
    }
    Ok(parsed)
}

/// Removes the run's temporary directory, however the run ends.
struct TransportWorkDir(PathBuf);

impl Drop for TransportWorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `transport` subcommand.
pub fn main(args: &[String]) -> Result<(), BenchError> {
    let args = parse_args(args)?;
    let work = TransportWorkDir(
        args.work_dir
            .join(format!("printspool-transport.{}", std::process::id())),
    );
    std::fs::create_dir_all(&work.0).context(|| format!("creating {}", work.0.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context(|| "building the client runtime".into())?;

    eprintln!(
        "transport: a full Get-Printer-Attributes answer from {}",
        args.daemon.display()
    );
    let answer = daemon_answer(&runtime, &args.daemon, &work.0)?;
    let answer_path = work.0.join("answer.ipp");
    std::fs::write(&answer_path, &answer)
        .context(|| format!("writing {}", answer_path.display()))?;
    let gpa_body = ipp::get_printer_attributes("ipp://127.0.0.1/printers/bench", &[]);
    let same_bytes = gpa::GpaResponder::from_answer(&answer)
        .map_err(BenchError::Setup)?
        .answer(&gpa_body)
        == answer;

    eprintln!("transport: limit probes");
    let probe_rows = {
        let ours = TransportChild::start(
            TransportKind::Ours,
            &answer_path,
            LimitProfile::Probe,
            &work.0,
        )?;
        let hyper = TransportChild::start(
            TransportKind::Hyper,
            &answer_path,
            LimitProfile::Probe,
            &work.0,
        )?;
        let mut rows = Vec::new();
        for probe in probes::all(&gpa_body) {
            let mut row = vec![probe.name.to_string()];
            for child in [&ours, &hyper] {
                let seen = runtime
                    .block_on(probes::run(child.addr, &probe))
                    .context(|| format!("probe {:?} against {}", probe.name, child.kind.name()))?;
                row.push(seen.describe());
            }
            eprintln!("  {}: ours {}; hyper {}", row[0], row[1], row[2]);
            rows.push(row);
        }
        rows
    };

    eprintln!("transport: load (gpa-full)");
    let mut children = [
        TransportChild::start(
            TransportKind::Ours,
            &answer_path,
            LimitProfile::Daemon,
            &work.0,
        )?,
        TransportChild::start(
            TransportKind::Hyper,
            &answer_path,
            LimitProfile::Daemon,
            &work.0,
        )?,
    ];
    let mut idle = Vec::new();
    for child in &children {
        check_answers(&runtime, child, &gpa_body)?;
        idle.push(kib_field(child.proc.pid(), "VmRSS:")?);
    }
    let mut points = Vec::new();
    for &connections in &args.connections {
        points.push(load_point(&runtime, &mut children, connections, &args)?);
    }
    let memory: Vec<(u64, u64)> = children
        .iter()
        .zip(idle)
        .map(|(child, idle)| Ok((idle, kib_field(child.proc.pid(), "VmHWM:")?)))
        .collect::<Result<_, BenchError>>()?;

    let report = report(&args, &answer, same_bytes, &points, &memory, &probe_rows);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.out, &report).context(|| format!("writing {}", args.out.display()))?;
    println!("{report}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// A full Get-Printer-Attributes answer from a real printspoold.
fn daemon_answer(runtime: &Runtime, daemon: &Path, work: &Path) -> Result<Vec<u8>, BenchError> {
    let target = peers::printspoold(daemon, &work.join("printspoold"))?;
    let answer = runtime.block_on(memory::ask(&target, &Scenario::GpaFull.request(&target)));
    drop(target);
    answer
}

fn gpa_post(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    http::post(&addr.to_string(), "/printers/bench", body, &[])
}

/// One server child (`transport-serve`).
struct TransportChild {
    kind: TransportKind,
    addr: SocketAddr,
    proc: Proc,
}

impl TransportChild {
    fn start(
        kind: TransportKind,
        answer: &Path,
        profile: LimitProfile,
        work: &Path,
    ) -> Result<TransportChild, BenchError> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let exe = std::env::current_exe().context(|| "finding this program".into())?;
        let mut command = Command::new(exe);
        command
            .arg("transport-serve")
            .arg(kind.name())
            .arg(port.to_string())
            .arg(answer)
            .arg(profile.name());
        let log = work.join(format!("{}-{}.log", kind.name(), profile.name()));
        let mut proc = Proc::spawn(&format!("{} transport", kind.name()), command, &log)?;
        proc.wait_accepting(addr, START_LIMIT)?;
        Ok(TransportChild { kind, addr, proc })
    }
}

/// Fails unless `child` answers one Get-Printer-Attributes successfully.
fn check_answers(runtime: &Runtime, child: &TransportChild, body: &[u8]) -> Result<(), BenchError> {
    let request = Arc::new(gpa_post(child.addr, body));
    let stop = Stop::Succeeded {
        total: 1,
        limit: START_LIMIT,
    };
    let outcome = runtime.block_on(load::run(child.addr, request, 1, stop));
    if outcome.ok == 1 {
        return Ok(());
    }
    Err(BenchError::Setup(format!(
        "the {} server did not answer Get-Printer-Attributes: {}",
        child.kind.name(),
        outcome
            .first_error
            .unwrap_or_else(|| "an IPP refusal".into())
    )))
}

/// Rates of both servers at one connection count, round by round.
struct LoadPoint {
    connections: usize,
    /// Requests per second per round, `[ours, hyper]`.
    rates: [Vec<f64>; 2],
    /// Server CPU time (user and system, all threads) per answered
    /// request, in microseconds, per round: less disturbed than the rate
    /// by other work on a shared machine.
    cpu_us: [Vec<f64>; 2],
    errors: [u64; 2],
    first_error: [Option<String>; 2],
}

fn load_point(
    runtime: &Runtime,
    children: &mut [TransportChild; 2],
    connections: usize,
    args: &TransportArgs,
) -> Result<LoadPoint, BenchError> {
    let requests: Vec<Arc<Vec<u8>>> = children
        .iter()
        .map(|c| {
            Arc::new(gpa_post(
                c.addr,
                &ipp::get_printer_attributes(&format!("ipp://{}/printers/bench", c.addr), &[]),
            ))
        })
        .collect();
    for (child, request) in children.iter().zip(&requests) {
        runtime.block_on(load::run(
            child.addr,
            Arc::clone(request),
            connections,
            Stop::After(WARMUP),
        ));
    }
    let mut point = LoadPoint {
        connections,
        rates: [Vec::new(), Vec::new()],
        cpu_us: [Vec::new(), Vec::new()],
        errors: [0, 0],
        first_error: [None, None],
    };
    for round in 0..args.rounds {
        for offset in 0..2 {
            let i = (round + offset) % 2;
            let cpu_before = cpu_seconds(children[i].proc.pid())?;
            let outcome = runtime.block_on(load::run(
                children[i].addr,
                Arc::clone(&requests[i]),
                connections,
                Stop::After(args.round),
            ));
            let cpu = cpu_seconds(children[i].proc.pid())? - cpu_before;
            point.rates[i].push(outcome.rate());
            if outcome.ok > 0 {
                point.cpu_us[i].push(cpu * 1e6 / outcome.ok as f64);
            }
            point.errors[i] += outcome.errors + outcome.rejected;
            if point.first_error[i].is_none() {
                point.first_error[i] = outcome.first_error;
            }
            if let Some(status) = children[i].proc.exited() {
                return Err(BenchError::Setup(format!(
                    "the {} server exited ({status}): {}",
                    children[i].kind.name(),
                    children[i].proc.log_tail()
                )));
            }
        }
    }
    eprintln!(
        "  x{connections}: ours {:.0}/s {:.1} us CPU, hyper {:.0}/s {:.1} us CPU (medians of {} rounds)",
        stats::median(&point.rates[0]),
        stats::median(&point.cpu_us[0]),
        stats::median(&point.rates[1]),
        stats::median(&point.cpu_us[1]),
        args.rounds
    );
    Ok(point)
}

/// User and system time of process `pid`, all its threads, in seconds
/// (`/proc/PID/stat` fields 14 and 15).
fn cpu_seconds(pid: i32) -> Result<f64, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).context(|| format!("reading {path}"))?;
    // The command name may hold spaces; the fields after it do not.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // Fields 14 and 15 of the whole line are 12 and 13 after the name.
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        return Err(BenchError::Setup(format!("no CPU times in {path}")));
    };
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok((user + system) as f64 / per_second.max(1) as f64)
}

/// A field in kB of `/proc/PID/status`, in KiB.
fn kib_field(pid: i32, name: &str) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| BenchError::Setup(format!("no {name} in {path}")))
}

fn report(
    args: &TransportArgs,
    answer: &[u8],
    same_bytes: bool,
    points: &[LoadPoint],
    memory: &[(u64, u64)],
    probe_rows: &[Vec<String>],
) -> String {
    let mut out = String::new();
    let date = crate::procs::version_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
        out,
        "# Transport: ours against hyper 1.x\n\n\
         Written by `printspool-bench transport` on {date}, {cores} cores. Both servers run as \
         child processes on the daemon's runtime shape and serve the same handler (decode with \
         `ipp_proto`, answer with printspoold's printer groups: {} bytes, {}); the client is the \
         benchmark's single-threaded closed-loop load generator, gpa-full, keep-alive. \
         {} rounds of {:.1} s per connection count, alternating which server goes first; \
         the ratio is hyper / ours within each round.\n",
        answer.len(),
        if same_bytes {
            "byte for byte what printspoold answered"
        } else {
            "NOT byte for byte what printspoold answered"
        },
        args.rounds,
        args.round.as_secs_f64()
    );
    out.push_str(
        "| connections | ours, req/s | hyper, req/s | hyper / ours, rate | ours, CPU µs/req | hyper, CPU µs/req | hyper / ours, CPU |\n\
         | ---: | --- | --- | --- | --- | --- | --- |\n",
    );
    for point in points {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            point.connections,
            spread(&point.rates[0], 0),
            spread(&point.rates[1], 0),
            spread(&ratios(&point.rates), 2),
            spread(&point.cpu_us[0], 1),
            spread(&point.cpu_us[1], 1),
            spread(&ratios(&point.cpu_us), 2),
        );
    }
    out.push_str(
        "\nEach cell: median (min-max) over the rounds; ratios are taken within a round, \
         then summarised.\n",
    );
    for point in points {
        for (i, kind) in TransportKind::BOTH.iter().enumerate() {
            if point.errors[i] > 0 {
                let _ = writeln!(
                    out,
                    "\n{} at {} connections: {} failed requests (first: {}).",
                    kind.name(),
                    point.connections,
                    point.errors[i],
                    point.first_error[i].as_deref().unwrap_or("an IPP refusal")
                );
            }
        }
    }
    out.push_str("\n| memory (KiB) | ours | hyper |\n| --- | ---: | ---: |\n");
    if let [ours, hyper] = memory {
        let _ = writeln!(
            out,
            "| VmRSS after one request | {} | {} |",
            ours.0, hyper.0
        );
        let _ = writeln!(
            out,
            "| VmHWM (peak) after all rounds | {} | {} |",
            ours.1, hyper.1
        );
    }
    out.push_str(
        "\nLimit probes (both servers with a 16 KiB head, 64 KiB body, 2 s head, read and \
         keep-alive timeouts, 4 connections per peer; statuses in the order sent):\n\n\
         | request | ours | hyper |\n| --- | --- | --- |\n",
    );
    for row in probe_rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// hyper's figure over ours, round by round.
fn ratios(pairs: &[Vec<f64>; 2]) -> Vec<f64> {
    pairs[0]
        .iter()
        .zip(&pairs[1])
        .filter(|(ours, _)| **ours > 0.0)
        .map(|(ours, hyper)| hyper / ours)
        .collect()
}

/// "median (min-max)" with `digits` decimals.
fn spread(values: &[f64], digits: usize) -> String {
    format!(
        "{:.digits$} ({:.digits$}-{:.digits$})",
        stats::median(values),
        stats::percentile(values, 0.0),
        stats::percentile(values, 100.0)
    )
}
