//! The one wall clock: every timestamp the daemon records or reports
//! (job times, `printer-state-change-time`, cleanup ages) reads it here.

/// Unix time in seconds; 0 if the clock is before 1970.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
