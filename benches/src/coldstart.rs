//! Cold start to first answer: the daemon is not running, its listening
//! socket is held by `systemd-socket-activate` (as systemd holds a socket
//! unit's), and the clock runs from the client's connect until the first
//! Get-Printer-Attributes answer is read — the start of the process, its
//! initialisation, accept and the answer. printspoold and cupsd (`-l`,
//! its on-demand mode) are started exactly the same way, alternately.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::error::BenchError;
use crate::http::{self, Conn};
use crate::ipp;
use crate::peers::{self, PeerKind, QUEUE};
use crate::procs::{Proc, free_port};
use crate::results::ColdStart;

const ANSWER_LIMIT: Duration = Duration::from_secs(120);
const LISTEN_LIMIT: Duration = Duration::from_secs(10);

/// Where each daemon keeps its state between trials: an empty spool and
/// an empty CUPS state directory, made by an uncounted first trial.
struct Setup {
    daemon: PathBuf,
    printspoold_dir: PathBuf,
    printspoold_config: PathBuf,
    cupsd_dir: PathBuf,
}

/// Runs one uncounted trial per daemon, then `trials` counted ones each,
/// alternating which goes first.
pub fn measure(
    runtime: &Runtime,
    daemon: &Path,
    dir: &Path,
    trials: usize,
) -> Result<Vec<ColdStart>, BenchError> {
    let printspoold_dir = dir.join("cold-printspoold");
    let setup = Setup {
        daemon: daemon.to_path_buf(),
        printspoold_config: peers::write_printspoold_config(&printspoold_dir)?,
        printspoold_dir,
        cupsd_dir: dir.join("cold-cupsd"),
    };
    let kinds = [PeerKind::Printspoold, PeerKind::Cupsd];
    for kind in kinds {
        trial(runtime, &setup, kind)?;
    }
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..trials {
        for offset in 0..kinds.len() {
            let index = (round + offset) % kinds.len();
            samples[index].push(trial(runtime, &setup, kinds[index])?);
        }
    }
    eprintln!(
        "  cold start: printspoold median {:.1} ms, cupsd median {:.1} ms",
        crate::stats::median(&samples[0]),
        crate::stats::median(&samples[1])
    );
    Ok(kinds
        .iter()
        .zip(samples)
        .map(|(&kind, samples_ms)| ColdStart { kind, samples_ms })
        .collect())
}

/// One start: returns milliseconds from connect to the answer's last byte.
fn trial(runtime: &Runtime, setup: &Setup, kind: PeerKind) -> Result<f64, BenchError> {
    let port = free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = Command::new("systemd-socket-activate");
    command
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--fdname=ipp");
    let log = match kind {
        PeerKind::Printspoold => {
            command
                .arg(&setup.daemon)
                .arg("--config")
                .arg(&setup.printspoold_config)
                .arg("--spool-dir")
                .arg(setup.printspoold_dir.join("spool"))
                .arg("--no-dbus");
            setup.printspoold_dir.join("printspoold.log")
        }
        _ => {
            let (conf, files) = peers::write_cupsd_config(&setup.cupsd_dir, port)?;
            command
                .arg("/usr/sbin/cupsd")
                .arg("-l")
                .arg("-c")
                .arg(conf)
                .arg("-s")
                .arg(files);
            setup.cupsd_dir.join("cupsd.stderr")
        }
    };
    let name = format!("{kind} (socket-activated)");
    let (ms, _, mut proc) = first_answer(runtime, command, &name, &log, port)?;
    proc.stop();
    Ok(ms)
}

/// Starts `command` (a `systemd-socket-activate` line holding 127.0.0.1:
/// `port`), waits until it listens, then connects and times the first full
/// Get-Printer-Attributes answer. Returns the milliseconds, the answer's
/// IPP body and the still running process (to measure, then stop).
pub fn first_answer(
    runtime: &Runtime,
    command: Command,
    name: &str,
    log: &Path,
    port: u16,
) -> Result<(f64, Vec<u8>, Proc), BenchError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut proc = Proc::spawn(name, command, log)?;
    proc.wait_listening(port, LISTEN_LIMIT)?;

    let uri = format!("ipp://{addr}/printers/{QUEUE}");
    let request = http::post(
        &addr.to_string(),
        &format!("/printers/{QUEUE}"),
        &ipp::get_printer_attributes(&uri, &[]),
        &[],
    );
    let started = Instant::now();
    let answer = runtime.block_on(async {
        let mut conn = Conn::connect(addr).await?;
        let reply = conn.exchange_within(&request, ANSWER_LIMIT).await?;
        Ok::<_, std::io::Error>((reply.http_status, conn.body().to_vec()))
    });
    let elapsed = started.elapsed();
    match answer {
        Ok((200, body)) if ipp::status(&body).is_some_and(ipp::is_success) => {
            Ok((elapsed.as_secs_f64() * 1000.0, body, proc))
        }
        Ok((http, body)) => Err(BenchError::Setup(format!(
            "{name}: first answer was HTTP {http}, IPP {:?}",
            ipp::status(&body).map(ipp::status_name)
        ))),
        Err(e) => Err(BenchError::Setup(format!(
            "{name}: no first answer ({e}); its log ends:\n{}",
            proc.log_tail()
        ))),
    }
}
