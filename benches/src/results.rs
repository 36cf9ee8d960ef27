//! What one run measured, as plain data for the report and the chart.

use crate::floor::FloorDesign;
use crate::http;
use crate::ipp;
use crate::peers::{BenchTarget, PeerKind};
use crate::procs::Rss;
use crate::spools::SpoolContents;
use crate::stats;

/// A request mix measured for throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Get-Printer-Attributes, no requested-attributes: the full answer.
    GpaFull,
    /// Get-Printer-Attributes, requested-attributes=printer-state.
    GpaState,
    /// Print-Job with a 1 KiB document.
    PrintSmall,
    /// Print-Job with a 1 MiB document.
    PrintLarge,
}

pub const SMALL_DOCUMENT: usize = 1024;
pub const LARGE_DOCUMENT: usize = 1024 * 1024;
/// Every document is sent as plain text: ippeveprinter rejects what it
/// cannot auto-type, and text passes everywhere unconverted.
pub const DOCUMENT_FORMAT: &str = "text/plain";

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::GpaFull,
        Scenario::GpaState,
        Scenario::PrintSmall,
        Scenario::PrintLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Scenario::GpaFull => "Get-Printer-Attributes (full)",
            Scenario::GpaState => "Get-Printer-Attributes (printer-state)",
            Scenario::PrintSmall => "Print-Job 1 KiB",
            Scenario::PrintLarge => "Print-Job 1 MiB",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Scenario::GpaFull | Scenario::GpaState => "requests/s",
            Scenario::PrintSmall | Scenario::PrintLarge => "jobs/s",
        }
    }

    /// The document's size (0 for requests without one).
    pub fn document_len(self) -> usize {
        match self {
            Scenario::PrintSmall => SMALL_DOCUMENT,
            Scenario::PrintLarge => LARGE_DOCUMENT,
            Scenario::GpaFull | Scenario::GpaState => 0,
        }
    }

    pub fn is_print(self) -> bool {
        matches!(self, Scenario::PrintSmall | Scenario::PrintLarge)
    }

    /// The whole HTTP request for `target`, built once per point.
    pub fn request(self, target: &BenchTarget) -> Vec<u8> {
        let uri = &target.printer_uri;
        let ipp = match self {
            Scenario::GpaFull => ipp::get_printer_attributes(uri, &[]),
            Scenario::GpaState => ipp::get_printer_attributes(uri, &["printer-state"]),
            Scenario::PrintSmall | Scenario::PrintLarge => ipp::print_job(uri, DOCUMENT_FORMAT),
        };
        let document = match self {
            Scenario::PrintSmall => document(SMALL_DOCUMENT),
            Scenario::PrintLarge => document(LARGE_DOCUMENT),
            _ => Vec::new(),
        };
        let path = match (target.kind, self) {
            (PeerKind::Ceiling, Scenario::GpaFull) => "/full",
            (PeerKind::Ceiling, Scenario::GpaState) => "/state",
            (PeerKind::Ceiling, _) => "/job",
            _ => target.path.as_str(),
        };
        http::post(&target.host, path, &ipp, &document)
    }
}

/// A held 1 KiB Print-Job for `target` (`job-hold-until=indefinite`).
pub fn held_request(target: &BenchTarget) -> Vec<u8> {
    http::post(
        &target.host,
        &target.path,
        &ipp::print_job_held(&target.printer_uri, DOCUMENT_FORMAT),
        &document(SMALL_DOCUMENT),
    )
}

/// `len` bytes of printable text in 64-byte lines, the same every run.
pub fn document(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_F491;
    (0..len)
        .map(|i| {
            if i % 64 == 63 {
                b'\n'
            } else {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                b"abcdefghijklmnopqrstuvwxyz      "[(state % 32) as usize]
            }
        })
        .collect()
}

/// One measured point: a scenario, a connection count, a target.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub scenario: Scenario,
    pub connections: usize,
    pub kind: PeerKind,
    /// Successful requests per second, one value per round.
    pub rounds: Vec<f64>,
    /// Answered with an IPP error (summed over rounds).
    pub rejected: u64,
    /// Transport errors, timeouts, non-200 answers (summed over rounds).
    pub errors: u64,
    /// Times the server died and was restarted.
    pub crashes: u32,
    /// The first rejection or error, for the notes.
    pub first_problem: Option<String>,
}

impl Throughput {
    pub fn median(&self) -> f64 {
        stats::median(&self.rounds)
    }
}

/// Cold start to first answer, one target.
#[derive(Debug, Clone)]
pub struct ColdStart {
    pub kind: PeerKind,
    pub samples_ms: Vec<f64>,
}

/// Resident memory of one target.
#[derive(Debug, Clone)]
pub struct Memory {
    pub kind: PeerKind,
    pub idle: Rss,
    /// After the job load and the queue drained; `None` where not measured.
    pub after: Option<Rss>,
    pub jobs: u64,
    /// Jobs per second over the whole job load (8 connections).
    pub jobs_per_sec: f64,
    /// Whether every job had printed before the second reading.
    pub drained: bool,
    /// Again, [`LATE_READING`] after the queue emptied (past the daemon's
    /// trim); `None` where not measured.
    pub after_late: Option<Rss>,
}

/// How long after a drain the late memory reading is taken: past the
/// 12 s after which printspoold trims its heap once a queue empties.
pub const LATE_READING: std::time::Duration = std::time::Duration::from_secs(15);

/// One floor design measured beside one Print-Job point, one value per
/// round (jobs/s).
#[derive(Debug, Clone)]
pub struct FloorPoint {
    pub scenario: Scenario,
    pub connections: usize,
    pub design: FloorDesign,
    pub rounds: Vec<f64>,
}

impl FloorPoint {
    pub fn median(&self) -> f64 {
        stats::median(&self.rounds)
    }
}

/// How a spool with history was made (or that it came from the cache).
#[derive(Debug, Clone)]
pub struct SpoolBuild {
    pub contents: SpoolContents,
    /// Jobs submitted in this step (the rest came from a smaller spool).
    pub added: u64,
    /// Seconds until every job of the step was accepted.
    pub accept_secs: f64,
    /// Seconds until every job of the step had printed (0 for held jobs).
    pub drain_secs: f64,
    pub cached: bool,
}

impl SpoolBuild {
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} jobs accepted in {:.1} s ({:.0}/s)",
            self.added,
            self.accept_secs,
            if self.accept_secs > 0.0 {
                self.added as f64 / self.accept_secs
            } else {
                0.0
            }
        );
        if self.drain_secs > 0.0 {
            text.push_str(&format!(", all printed after {:.1} s", self.drain_secs));
        }
        text
    }
}

/// Start-up of printspoold on a copy of one spool: process start to the
/// first full Get-Printer-Attributes answer.
#[derive(Debug, Clone)]
pub struct StartupPoint {
    pub contents: SpoolContents,
    /// Milliseconds, file pages cached (the copy was just written).
    pub cached_ms: Vec<f64>,
    /// Milliseconds after `sync` and `drop_caches`; empty if not permitted.
    pub uncached_ms: Vec<f64>,
    /// VmRSS after the first answer, one per cached start.
    pub rss_kib: Vec<f64>,
    /// `queued-job-count` in the first answer (held jobs recovered).
    pub queued: Option<i32>,
}

/// A request measured against spools with more and more queued jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuedRequest {
    /// Get-Printer-Attributes, the full answer.
    GpaFull,
    /// Get-Jobs, limit 10.
    GetJobs10,
}

impl QueuedRequest {
    pub const ALL: [QueuedRequest; 2] = [QueuedRequest::GpaFull, QueuedRequest::GetJobs10];

    pub fn label(self) -> &'static str {
        match self {
            QueuedRequest::GpaFull => "Get-Printer-Attributes (full)",
            QueuedRequest::GetJobs10 => "Get-Jobs (limit 10)",
        }
    }

    pub fn request(self, target: &BenchTarget) -> Vec<u8> {
        let ipp = match self {
            QueuedRequest::GpaFull => ipp::get_printer_attributes(&target.printer_uri, &[]),
            QueuedRequest::GetJobs10 => ipp::get_jobs(&target.printer_uri, 10),
        };
        http::post(&target.host, &target.path, &ipp, &[])
    }
}

/// One request kind against one spool's held-job count, per round.
#[derive(Debug, Clone)]
pub struct QueuedPoint {
    pub request: QueuedRequest,
    pub held: u64,
    pub connections: usize,
    pub rounds: Vec<f64>,
    pub failed: u64,
}

impl QueuedPoint {
    pub fn median(&self) -> f64 {
        stats::median(&self.rounds)
    }
}

/// How a queue of held jobs was emptied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainKind {
    /// Release-Job for each: every job prints.
    Printing,
    /// Cancel-Job for each.
    Cancelling,
}

impl DrainKind {
    pub fn label(self) -> &'static str {
        match self {
            DrainKind::Printing => "by printing (Release-Job each)",
            DrainKind::Cancelling => "by cancelling (Cancel-Job each)",
        }
    }
}

/// Memory of a fresh daemon: idle, with held jobs queued, after a drain.
#[derive(Debug, Clone)]
pub struct DrainMemory {
    pub drain: DrainKind,
    pub jobs: u64,
    pub idle: Rss,
    pub queued: Rss,
    /// One second after the queue emptied.
    pub after_early: Rss,
    /// [`LATE_READING`] after the queue emptied.
    pub after_late: Rss,
    /// Seconds the drain took (last answer, or queue empty).
    pub drain_secs: f64,
    pub drained: bool,
}

impl DrainMemory {
    /// RSS bytes per queued job.
    pub fn per_job_bytes(&self) -> f64 {
        (self.queued.total as f64 - self.idle.total as f64) * 1024.0 / self.jobs.max(1) as f64
    }
}

/// Printing keeps up: jobs accepted and printed per second against jobs
/// accepted alone (held), same count, same connections, alternating.
#[derive(Debug, Clone, Default)]
pub struct EndToEnd {
    pub jobs: u64,
    pub connections: usize,
    /// Jobs/s from the first request to the queue found empty.
    pub printed_rounds: Vec<f64>,
    /// Jobs/s from the first request to the last answer, jobs held.
    pub accepted_rounds: Vec<f64>,
}

/// Sizes of the Get-Printer-Attributes answers (IPP bytes).
#[derive(Debug, Clone)]
pub struct AnswerSize {
    pub kind: PeerKind,
    pub full: usize,
    pub state: usize,
}

/// How the run was made.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub date: String,
    pub quick: bool,
    pub rounds: usize,
    pub round_secs: f64,
    pub print_round_secs: f64,
    pub cold_trials: usize,
    pub memory_jobs: u64,
    pub scale_only: bool,
    pub cores: usize,
    pub kernel: String,
    pub spool_fs: String,
    pub printspoold: String,
    pub cupsd: String,
    pub total_secs: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Results {
    pub meta: RunMeta,
    pub throughput: Vec<Throughput>,
    pub cold: Vec<ColdStart>,
    pub memory: Vec<Memory>,
    pub answers: Vec<AnswerSize>,
    pub floor: Vec<FloorPoint>,
    pub spool_builds: Vec<SpoolBuild>,
    pub startup: Vec<StartupPoint>,
    /// Whether the uncached start-ups could drop the page cache.
    pub uncached_note: Option<String>,
    pub queued: Vec<QueuedPoint>,
    pub drains: Vec<DrainMemory>,
    pub end_to_end: Option<EndToEnd>,
    /// Anything odd met on the way, shown under the tables.
    pub notes: Vec<String>,
}

impl Results {
    pub fn point(
        &self,
        scenario: Scenario,
        connections: usize,
        kind: PeerKind,
    ) -> Option<&Throughput> {
        self.throughput
            .iter()
            .find(|p| p.scenario == scenario && p.connections == connections && p.kind == kind)
    }

    pub fn cold(&self, kind: PeerKind) -> Option<&ColdStart> {
        self.cold.iter().find(|c| c.kind == kind)
    }

    pub fn memory(&self, kind: PeerKind) -> Option<&Memory> {
        self.memory.iter().find(|m| m.kind == kind)
    }

    pub fn floor(
        &self,
        scenario: Scenario,
        connections: usize,
        design: FloorDesign,
    ) -> Option<&FloorPoint> {
        self.floor
            .iter()
            .find(|p| p.scenario == scenario && p.connections == connections && p.design == design)
    }

    pub fn startup(&self, contents: SpoolContents) -> Option<&StartupPoint> {
        self.startup.iter().find(|s| s.contents == contents)
    }

    pub fn queued(&self, request: QueuedRequest, held: u64) -> Option<&QueuedPoint> {
        self.queued
            .iter()
            .find(|p| p.request == request && p.held == held)
    }

    pub fn drain(&self, drain: DrainKind) -> Option<&DrainMemory> {
        self.drains.iter().find(|d| d.drain == drain)
    }
}
