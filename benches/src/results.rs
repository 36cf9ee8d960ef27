//! What one run measured, as plain data for the report and the chart.

use crate::http;
use crate::ipp;
use crate::peers::{BenchTarget, PeerKind};
use crate::procs::Rss;
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
}
