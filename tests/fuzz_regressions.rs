//! Replays the inputs kept from fuzzing through the same checks the
//! `cargo fuzz` targets run (`fuzz/checks/<target>.rs`), so a crash that was
//! fixed stays fixed in a plain `cargo test`, without nightly or libFuzzer.
//!
//! Each target replays every file under `fuzz/regressions/<target>/` (crash
//! reproducers, minimised with `cargo fuzz tmin`, and other minimal inputs
//! worth keeping) and the committed seeds `fuzz/corpus/<target>/seed-*`. A
//! parser panic or a broken invariant fails the test and names the file.
//! The IPP codec's target lives with its crate, in `crates/ipp-proto/fuzz/`
//! (fuzzing it builds no daemon), and is replayed from there.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/config.rs"]
mod config;
#[path = "../fuzz/checks/device_id.rs"]
mod device_id;
#[path = "../fuzz/checks/http_head.rs"]
mod http_head;
#[path = "../crates/ipp-proto/fuzz/checks/ipp_decode.rs"]
mod ipp_decode;

#[test]
fn ipp_decode_regressions() {
    replay_in("crates/ipp-proto/fuzz", "ipp_decode", ipp_decode::check);
}

#[test]
fn device_id_regressions() {
    replay("device_id", device_id::check);
}

#[test]
fn http_head_regressions() {
    replay("http_head", http_head::check);
}

#[test]
fn config_regressions() {
    replay("config", config::check);
}

/// Runs `check` on every regression input and seed of the daemon's fuzz
/// `target` (in `fuzz/`).
fn replay(target: &str, check: fn(&[u8])) {
    replay_in("fuzz", target, check);
}

/// Runs `check` on every regression input and seed of `target` in the
/// cargo-fuzz package at `package` (relative to the repository); fails
/// with the list of files that panicked.
fn replay_in(package: &str, target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join(package);
    let regressions = files_in(&fuzz.join("regressions").join(target));
    assert!(
        !regressions.is_empty(),
        "{package}/regressions/{target}/ holds no input"
    );
    let seeds = files_in(&fuzz.join("corpus").join(target))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        });
    let mut failed = Vec::new();
    for path in regressions.into_iter().chain(seeds) {
        let data =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        // The panic message itself goes to stderr through the panic hook.
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target}: checks failed on {failed:#?}");
}

/// The regular files directly in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
