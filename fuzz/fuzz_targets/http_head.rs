//! Parses arbitrary bytes as an HTTP request head, then interprets it.
//! The invariants live in `checks/http_head.rs`, which
//! `tests/fuzz_regressions.rs` replays on `regressions/http_head/`.
#![no_main]

#[path = "../checks/http_head.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
