//! `[history]`: finished jobs (completed, canceled, aborted).
//!
//! - `retention` and `max_spool_bytes` say how long their records and
//!   documents stay on disk; `printspoold cleanup` (the timer) enforces them.
//! - `max_jobs_in_memory` bounds how many of them the running daemon keeps
//!   in memory, like CUPS's `MaxJobs`, so memory does not grow with the
//!   number of jobs ever printed. The newest ones (by job id) stay; Get-Jobs
//!   `which-jobs=completed` and D-Bus `ListJobs` show those. The others
//!   stay on disk until cleanup purges them, and a request naming one by id
//!   (Get-Job-Attributes) is answered from its record on disk.
//!
//! ```toml
//! [history]
//! retention = 604800
//! max_spool_bytes = 1073741824
//! max_jobs_in_memory = 500
//! ```

use serde::Deserialize;

/// Finished jobs kept in memory when the key is not set.
pub const DEFAULT_MAX_JOBS_IN_MEMORY: usize = 500;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Completed, canceled and aborted jobs older than this many seconds are
    /// purged by `printspoold cleanup`.
    pub retention: u64,
    /// Optional cap on the spool's size in bytes; finished jobs are purged
    /// oldest first to stay under it.
    pub max_spool_bytes: Option<u64>,
    /// At most this many finished jobs stay in the daemon's memory (the
    /// newest); 0 keeps none. Jobs not yet finished are always in memory.
    pub max_jobs_in_memory: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention: 7 * 24 * 3600,
            max_spool_bytes: None,
            max_jobs_in_memory: DEFAULT_MAX_JOBS_IN_MEMORY,
        }
    }
}
