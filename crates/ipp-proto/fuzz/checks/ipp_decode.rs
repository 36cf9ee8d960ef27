//! Invariants of the `ipp_decode` fuzz target, shared with
//! `tests/fuzz_regressions.rs`.
//!
//! Decodes arbitrary bytes as an IPP request. The decoder must never panic,
//! and whatever it accepts must encode and decode back to the same message,
//! under the default limits and under tight ones that the input often hits.

use ipp_proto::{DecodeLimits, decode_request, encode_message};

pub fn check(data: &[u8]) {
    let tight = DecodeLimits {
        max_attributes: 8,
        max_value_bytes: 64,
        max_collection_depth: 2,
        max_total_bytes: 512,
    };
    for limits in [DecodeLimits::default(), tight] {
        assert_round_trip(data, &limits);
    }
}

fn assert_round_trip(data: &[u8], limits: &DecodeLimits) {
    let Ok((message, consumed)) = decode_request(data, limits) else {
        return;
    };
    assert!(consumed <= data.len());
    let mut encoded = Vec::new();
    encode_message(&message, &mut encoded);
    assert!(encoded.len() <= consumed, "re-encoding grew the message");
    match decode_request(&encoded, limits) {
        Ok((again, n)) => {
            assert_eq!(n, encoded.len());
            assert_eq!(again, message);
        }
        Err(e) => panic!("re-encoded message does not decode: {e}\n{message:?}"),
    }
}
