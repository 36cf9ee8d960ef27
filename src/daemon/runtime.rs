//! The async runtime the daemon runs on, and what its shape costs.
//!
//! tokio's multi-thread scheduler with one worker per core, at most four.
//! Its memory was measured against the alternatives on the 2-core
//! development machine (an opt-level 3 release build started as
//! `benches/` starts it, VmRSS 1 s after one full Get-Printer-Attributes,
//! median of 3 starts):
//!
//! | runtime | idle VmRSS | threads |
//! | --- | --- | --- |
//! | multi-thread, 2 workers (this one) | 5.47 MiB | 5 |
//! | multi-thread, 1 worker | 5.53 MiB | 4 |
//! | current-thread | 5.17 MiB | 3 |
//!
//! The current-thread scheduler saves about 0.3 MiB: two worker stacks and
//! their glibc arenas, and the pages of libm the work-stealing scheduler's
//! `powf` touches (its poll-time average) are never faulted in. It was not
//! kept because it cost throughput on a shared 2-core machine: with
//! `printspool-bench load ... 8` in alternating runs, full
//! Get-Printer-Attributes fell to about 0.85x of this runtime and Print-Job
//! 1 KiB to about 0.8x, and the benchmark's throughput targets come first.
//! One worker saves nothing measurable.

use tokio::runtime::{Builder, Runtime};

/// The most worker threads, whatever the core count: the request path is
/// short and slow work runs on the blocking pool and the spool's sync
/// thread.
const MAX_WORKERS: usize = 4;

/// Builds the runtime `daemon::run` blocks on, with every driver (I/O,
/// timers, signals) enabled.
pub fn build() -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .thread_name("printspoold")
        .enable_all()
        .build()
}

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().min(MAX_WORKERS))
        .unwrap_or(2)
}
