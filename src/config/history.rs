//! `[history]`: how long finished jobs are kept, read by `printspoold cleanup`.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Completed, canceled and aborted jobs older than this many seconds are
    /// purged by `printspoold cleanup`.
    pub retention: u64,
    /// Optional cap on the spool's size in bytes; finished jobs are purged
    /// oldest first to stay under it.
    pub max_spool_bytes: Option<u64>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention: 7 * 24 * 3600,
            max_spool_bytes: None,
        }
    }
}
