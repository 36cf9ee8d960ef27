//! The job model shared by every entry path and persisted by the spool.

use serde::{Deserialize, Serialize};

pub type JobId = u32;

/// RFC 8011 job states. The discriminants are the IPP `job-state` enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Pending = 3,
    /// `pending-held`: waiting for Release-Job (or for its document).
    Held = 4,
    Processing = 5,
    /// `processing-stopped`: the printer went away mid-job.
    Stopped = 6,
    Canceled = 7,
    Aborted = 8,
    Completed = 9,
}

impl JobState {
    pub fn keyword(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Held => "pending-held",
            JobState::Processing => "processing",
            JobState::Stopped => "processing-stopped",
            JobState::Canceled => "canceled",
            JobState::Aborted => "aborted",
            JobState::Completed => "completed",
        }
    }

    /// Completed, canceled and aborted jobs are history: they never change
    /// again and `printspoold cleanup` may purge them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Canceled | JobState::Aborted | JobState::Completed
        )
    }
}

/// Which entry path a job came in through (for logs and the status page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Ipp,
    Dbus,
    DropDir,
}

/// How a job's owner, or a requester, was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assurance {
    /// The kernel or the bus vouched for the uid: `SO_PEERCRED` on the
    /// Unix socket, the D-Bus sender's uid, the owner of a dropped file.
    Verified,
    /// The client said so (`requesting-user-name` over TCP): anyone on the
    /// network can claim any name.
    Claimed,
}

impl Assurance {
    /// For a record written before the field existed. Such a record does
    /// not say how an IPP job's owner was established (Unix socket or TCP),
    /// so it counts as verified: a claimed name can then never act on a job
    /// a verified user submitted. The price (a TCP client loses the right
    /// to cancel its own old job; the local user of that name or an
    /// administrator still may) is the safe side to err on.
    pub fn unrecorded() -> Assurance {
        Assurance::Verified
    }
}

/// Job template attributes as accepted (validated) by the entry path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobTicket {
    pub copies: u32,
    pub sides: Option<String>,
    /// A PWG self-describing media name, e.g. `iso_a4_210x297mm`.
    pub media: Option<String>,
    /// `orientation-requested` enum (3 portrait .. 6 reverse-portrait).
    pub orientation_requested: Option<i32>,
    /// `print-quality` enum (3 draft, 4 normal, 5 high).
    pub print_quality: Option<i32>,
    pub output_bin: Option<String>,
    pub print_color_mode: Option<String>,
    /// Cross-feed, feed, units.
    pub printer_resolution: Option<(i32, i32, i8)>,
    /// `finishings` enums.
    pub finishings: Vec<i32>,
    /// `job-hold-until` keyword; anything but `no-hold` holds the job.
    pub job_hold_until: Option<String>,
}

impl Default for JobTicket {
    fn default() -> Self {
        JobTicket {
            copies: 1,
            sides: None,
            media: None,
            orientation_requested: None,
            print_quality: None,
            output_bin: None,
            print_color_mode: None,
            printer_resolution: None,
            finishings: Vec::new(),
            job_hold_until: None,
        }
    }
}

/// What an entry path asks for when it creates a job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Queue name; must exist.
    pub printer: String,
    /// Owner's user name, already sanitized (no control characters).
    pub owner: String,
    /// `job-name`, already sanitized.
    pub name: String,
    pub origin: Origin,
    /// How `owner` was established.
    pub identity: Assurance,
    pub ticket: JobTicket,
    /// The client's address when the job came over TCP, where the owner's
    /// name is only claimed; counted by the per-address cap.
    pub tcp_peer: Option<std::net::IpAddr>,
}

/// A job as the core knows it; this is also what the spool persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub printer: String,
    pub owner: String,
    pub name: String,
    pub origin: Origin,
    /// How `owner` was established; see [`Assurance::unrecorded`] for
    /// records that predate it.
    #[serde(default = "Assurance::unrecorded")]
    pub identity: Assurance,
    pub state: JobState,
    /// `job-state-reasons` keywords; never empty (`none` when nothing).
    pub reasons: Vec<String>,
    /// `job-state-message`, one line.
    pub message: String,
    pub ticket: JobTicket,
    /// MIME type of the document, declared or sensed.
    pub format: Option<String>,
    /// Size of the document once it is spooled.
    pub document_bytes: Option<u64>,
    /// False between Create-Job and the last Send-Document.
    pub has_document: bool,
    /// Unix seconds.
    pub created_at: u64,
    pub processing_at: Option<u64>,
    pub completed_at: Option<u64>,
    /// For a dropped file: the claim token it was taken under, so a crash
    /// between spooling and deleting the claim never makes a second job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// See [`NewJob::tcp_peer`]; kept so the caps count the same after a
    /// restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_peer: Option<std::net::IpAddr>,
}
