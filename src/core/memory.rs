//! Giving memory back to the kernel after a burst of jobs.
//!
//! Every job waiting to print is in memory ([`history`](super::history) bounds only the
//! finished ones), so a burst of submissions grows the heap to the size of
//! the backlog. Once the backlog has printed, that memory is free inside
//! the process, but glibc returns to the kernel only what lies at the top
//! of its main heap; the rest stays resident, and a daemon that saw one
//! burst would keep much of its peak for the rest of its life. So when a
//! queue runs dry, whether its last job printed, was cancelled or was
//! aborted, the core asks glibc to give back every free page (`malloc_trim(0)`, which also covers the per-thread arenas the
//! blocking pool's threads allocate from).
//!
//! The trim runs [`TRIM_DELAY`] after the queue ran dry: by then tokio's
//! idle blocking threads have exited (10 s keep-alive) and handed their
//! cached chunks back to the arenas, so there is more to give back, and a
//! queue that runs dry again meanwhile costs no second trim. It walks every
//! arena under its lock, so it runs on a blocking thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long after a queue ran dry the trim runs.
const TRIM_DELAY: Duration = Duration::from_secs(12);

#[derive(Debug, Default)]
pub struct Trimmer {
    /// A trim is scheduled and has not run yet.
    scheduled: Arc<AtomicBool>,
}

impl Trimmer {
    /// A queue ran dry (its last job printed, was cancelled or aborted):
    /// trims after [`TRIM_DELAY`] unless a trim is already on its way. Must be called inside the tokio runtime.
    pub fn after_burst(&self) {
        if self.scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let scheduled = Arc::clone(&self.scheduled);
        drop(tokio::spawn(async move {
            tokio::time::sleep(TRIM_DELAY).await;
            scheduled.store(false, Ordering::SeqCst);
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }));
    }

    /// Tests: whether a trim is scheduled and has not run yet.
    #[cfg(test)]
    pub fn is_scheduled(&self) -> bool {
        self.scheduled.load(Ordering::SeqCst)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim has no preconditions; it only works on glibc's
    // own allocator state, under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl) give memory back on their own, or cannot.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
