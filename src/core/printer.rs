//! What the core tells entry paths about a queue.

use serde::Serialize;

/// RFC 8011 printer states; discriminants are the IPP `printer-state` enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrinterState {
    Idle = 3,
    Processing = 4,
    Stopped = 5,
}

impl PrinterState {
    pub fn keyword(self) -> &'static str {
        match self {
            PrinterState::Idle => "idle",
            PrinterState::Processing => "processing",
            PrinterState::Stopped => "stopped",
        }
    }
}

/// A snapshot of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrinterInfo {
    pub name: String,
    pub is_default: bool,
    pub info: String,
    pub location: String,
    pub make_and_model: String,
    /// The device URI, shown to administrators only.
    pub device_uri: String,
    /// IEEE 1284 device ID, for USB printers.
    pub device_id: Option<String>,
    /// `document-format-supported`.
    pub formats: Vec<String>,
    pub state: PrinterState,
    /// `printer-state-reasons`; never empty (`none` when nothing).
    pub reasons: Vec<String>,
    pub message: String,
    pub accepting_jobs: bool,
    /// Jobs pending, held or processing on this queue.
    pub queued_jobs: usize,
    /// Unix seconds at which the state last changed.
    pub state_changed_at: u64,
    /// Unix seconds at which the queue was created (this run).
    pub up_since: u64,
}
