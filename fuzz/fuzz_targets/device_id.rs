//! Parses arbitrary bytes as an IEEE 1284 device ID.
//! The invariants live in `checks/device_id.rs`, which
//! `tests/fuzz_regressions.rs` replays on `regressions/device_id/`.
#![no_main]

#[path = "../checks/device_id.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
