//! Decodes arbitrary bytes as an IPP request.
//! The invariants live in `checks/ipp_decode.rs`, which
//! `tests/fuzz_regressions.rs` replays on `regressions/ipp_decode/`.
#![no_main]

#[path = "../checks/ipp_decode.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
