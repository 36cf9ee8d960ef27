//! The binary's entry point: one function per [`Command`]. Running the
//! spooler is [`crate::daemon::run`]; the others do one thing and exit with
//! an LSB status ([`Exit`]).

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cli::{Cli, Command, USAGE};
use crate::config::Config;
use crate::daemon::{self, DaemonSettings};
use crate::exit::Exit;
use crate::logging::{self, Style};
use crate::spool::{Spool, SpoolError};

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            logging::early_error(&e.to_string());
            return e.exit().into();
        }
    };
    let exit = match cli.command {
        Command::Help => {
            println!("{USAGE}\n{}", Exit::TABLE);
            Exit::Success
        }
        Command::Version => {
            println!("printspoold {}", env!("CARGO_PKG_VERSION"));
            Exit::Success
        }
        Command::CheckConfig => check_config(&cli),
        Command::Cleanup => cleanup(&cli),
        Command::CheckSpool => check_spool(&cli),
        Command::Run => daemon::run(&cli),
    };
    exit.into()
}

/// `--check-config`: exit 0 when valid, 6 ("not configured") otherwise.
fn check_config(cli: &Cli) -> Exit {
    match Config::load_default_or(cli.config.as_deref()) {
        Ok((_, Some(path))) => {
            println!("{}: configuration is valid", path.display());
            Exit::Success
        }
        Ok((_, None)) => {
            println!("no configuration file: built-in defaults apply");
            Exit::Success
        }
        Err(e) => {
            logging::early_error(&e.to_string());
            Exit::NotConfigured
        }
    }
}

/// `cleanup`: one pass over the spool, a one-line summary on stdout. The
/// spool directory is resolved as the daemon resolves it
/// ([`DaemonSettings::resolve`]).
fn cleanup(cli: &Cli) -> Exit {
    logging::init(Style::detect(), cli.verbose);
    let settings = match DaemonSettings::resolve(cli) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit();
        }
    };
    let now = crate::clock::unix_now();
    // Under systemd this is printspoold-cleanup.service, which only its
    // timer starts (an administrator's `systemctl start` aside).
    let activation = if std::env::var_os("INVOCATION_ID").is_some() {
        "timer"
    } else {
        "command"
    };
    match crate::cleanup::run(
        &settings.spool_dir,
        &settings.config.history,
        now,
        activation,
    ) {
        Ok(summary) => {
            println!("{summary}");
            Exit::Success
        }
        Err(e) => {
            tracing::error!("cleanup of {}: {e}", settings.spool_dir.display());
            if e.is_permission_denied() {
                Exit::Privilege
            } else {
                Exit::Failure
            }
        }
    }
}

/// `check-spool`: recover the spool exactly as the daemon's start does
/// (taking its lock, so never beside a running daemon) and print every job,
/// live and finished, as one JSON line ([`InspectedJob`]) in id order. Exit
/// 0 when recovery succeeded, 1 when it did not (a running daemon holds the
/// lock, or the spool cannot be read), 6 for an unsafe spool directory.
fn check_spool(cli: &Cli) -> Exit {
    logging::init(Style::detect(), cli.verbose);
    let settings = match DaemonSettings::resolve(cli) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit();
        }
    };
    let max_document_bytes = settings.config.server.limits.max_document_bytes;
    let jobs = match inspect_spool(&settings.spool_dir, max_document_bytes) {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!("check-spool {}: {e}", settings.spool_dir.display());
            return if e.is_unsafe_dir() {
                Exit::NotConfigured
            } else {
                Exit::Failure
            };
        }
    };
    let mut out = io::stdout().lock();
    for job in &jobs {
        let line = serde_json::to_string(job).unwrap_or_default();
        if writeln!(out, "{line}").is_err() {
            return Exit::Failure;
        }
    }
    Exit::Success
}

/// One job as `check-spool` prints it (the inspection command of the spool
/// design): what recovery kept, and whether its document is still the one
/// acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectedJob {
    pub id: u32,
    /// The recorded `job-state` keyword; `None` when the record does not
    /// decode (the daemon then leaves it in the spool and skips it).
    pub state: Option<&'static str>,
    pub printer: Option<String>,
    /// The recorded document length; `None` for a job without a document.
    pub document_bytes: Option<u64>,
    /// SHA-256 (lower-case hex) of the document bytes as read back now;
    /// `None` when there is no document or it cannot be read.
    pub document_sha256: Option<String>,
    /// Whether that hash is the recorded one; `None` without a document.
    pub document_intact: Option<bool>,
}

/// Opens `dir` with the daemon's recovery ([`Spool::open`]: a layout-1
/// spool is migrated first, as the daemon would) and inspects every job:
/// the live ones as recovery streams them, then history's
/// ([`Spool::scan_history`]), sorted by id; a job in both (a crash between
/// sealing and forgetting, which open resolves) is listed once. Each
/// document is read where it is ([`Spool::document`]: a journal segment, a
/// history segment or `docs/`). The spool is closed (its lock released)
/// on return. Only [`Spool`]'s public reads are used, so this is the one
/// place to port to another spool layout.
pub fn inspect_spool(dir: &Path, max_document_bytes: u64) -> Result<Vec<InspectedJob>, SpoolError> {
    let (spool, recovery) = Spool::open(dir, max_document_bytes, record_is_finished)?;
    let mut jobs = Vec::new();
    for recovered in recovery.jobs {
        let recovered = recovered?;
        jobs.push(inspect_job(
            &spool,
            recovered.id,
            &recovered.meta,
            recovered.document_len,
        ));
    }
    let live: std::collections::BTreeSet<u32> = jobs.iter().map(|job| job.id).collect();
    spool.scan_history(|id, meta, document_len| {
        if !live.contains(&id) {
            jobs.push(inspect_job(&spool, id, meta, document_len));
        }
    })?;
    jobs.sort_by_key(|job| job.id);
    // A segment rewritten twice (sealed again after a crash) lists a job
    // twice: once is enough.
    jobs.dedup_by_key(|job| job.id);
    Ok(jobs)
}

/// Whether a record is a finished job's: what the daemon's start-up tells
/// the spool, so a layout-1 spool is migrated the same way by either.
fn record_is_finished(meta: &[u8]) -> bool {
    serde_json::from_slice::<crate::core::Job>(meta).is_ok_and(|job| job.state.is_terminal())
}

fn inspect_job(spool: &Spool, id: u32, meta: &[u8], document_len: Option<u64>) -> InspectedJob {
    // The record is the core's [`crate::core::Job`] as JSON, as
    // `Spooler::start` decodes it.
    let job = serde_json::from_slice::<crate::core::Job>(meta).ok();
    let read_back = document_len.and_then(|_| {
        let handle = spool.document(id).ok()?;
        let bytes = handle.read_all().ok()?;
        Some((bytes.len() as u64, sha256_hex(bytes.as_slice()).ok()?))
    });
    InspectedJob {
        id,
        state: job.as_ref().map(|job| job.state.keyword()),
        printer: job.map(|job| job.printer),
        document_bytes: document_len,
        // Recovery checked the bytes (the entry's CRC-32 for an inline
        // document; length and SHA-256 for a docs/ file), history's reads
        // its entry's CRC-32: intact means they read back whole.
        document_intact: document_len
            .map(|len| read_back.as_ref().is_some_and(|(read, _)| *read == len)),
        document_sha256: read_back.map(|(_, sha)| sha),
    }
}

/// Lower-case hex SHA-256 of everything `reader` yields.
fn sha256_hex(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}
