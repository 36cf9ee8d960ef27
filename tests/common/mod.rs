//! Shared helpers for the end-to-end tests: start the real `printspoold` as
//! systemd would (sockets passed, `READY=1` awaited), with its own spool,
//! speak IPP to it over a small blocking HTTP/1.1 client, and decode the
//! answers. Nothing is mocked: every test talks to the binary cargo built.
//!
//! One file per concern:
//! - [`daemon`]: sockets, start-up, readiness, stopping;
//! - [`ipp`]: requests (built with `ipp_proto`) and answers;
//! - [`http`]: the HTTP client and raw exchanges;
//! - [`fs`]: scratch directories, seeds, spool inspection, mounts;
//! - [`process`]: other child processes, bounded in time;
//! - [`bus`]: a private D-Bus daemon and clients of the service;
//! - [`spool`]: a stopped daemon's spool, read through `check-spool`.
//!
//! Every integration test crate compiles this module and uses a different
//! part of it, so what one crate leaves unused is not dead code: each
//! module says so once, on its `mod` line, instead of item by item.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod bus;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod daemon;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod fs;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod http;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod ipp;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod process;
#[allow(dead_code, reason = "each test crate uses a different part")]
pub mod spool;

#[allow(unused_imports, reason = "each test crate uses a different part")]
pub use self::{daemon::*, fs::*, http::*, ipp::*, process::*};

/// The daemon binary under test.
pub const DAEMON: &str = env!("CARGO_BIN_EXE_printspoold");

/// How long a daemon may take from its start to `READY=1`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one ordinary request may take before a test calls it a hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Sample documents (the ones ipptool's test files name, and ours).
#[allow(dead_code, reason = "each test crate uses a different part")]
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[allow(dead_code, reason = "each test crate uses a different part")]
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns
/// whether it held. For states only observable by looking (a file, a job
/// state); a process's own events are awaited directly (see [`daemon`]).
#[allow(dead_code, reason = "each test crate uses a different part")]
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[allow(dead_code, reason = "each test crate uses a different part")]
pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    | {l}\n")).collect()
}
