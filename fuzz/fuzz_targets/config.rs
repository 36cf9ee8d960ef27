//! Parses arbitrary UTF-8 text as the configuration file.
//! The invariants live in `checks/config.rs`, which
//! `tests/fuzz_regressions.rs` replays on `regressions/config/`.
#![no_main]

#[path = "../checks/config.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
