//! Invariants of the HTTP request head parser (`src/http/head.rs`), shared
//! by the `http_head` fuzz target and `tests/fuzz_regressions.rs`.
//!
//! The first input byte picks tight limits; the rest is what a client sent.
//! `parse_head` then `interpret` must never panic, and what they accept must
//! respect the limits they were given.

use printspoold::sources::ipp::http::head::{
    BodyFraming, HeadError, MAX_HEADERS, RequestHead, Shape, interpret, parse_head,
};

/// Limits the daemon runs with by default (`[server.limits]`).
const DEFAULT_HEADER_BYTES: usize = 16 * 1024;
const DEFAULT_BODY_BYTES: u64 = 256 * 1024 * 1024;

pub fn check(data: &[u8]) {
    let Some((&selector, request)) = data.split_first() else {
        return;
    };
    let tight_header_bytes = 1 + 4 * usize::from(selector);
    let tight_body_bytes = u64::from(selector);
    for max_header_bytes in [DEFAULT_HEADER_BYTES, tight_header_bytes] {
        for max_body_bytes in [DEFAULT_BODY_BYTES, tight_body_bytes] {
            check_with(request, max_header_bytes, max_body_bytes);
        }
    }
}

fn check_with(buf: &[u8], max_header_bytes: usize, max_body_bytes: u64) {
    let parsed = parse_head(buf, max_header_bytes);
    assert_eq!(
        parsed,
        parse_head(buf, max_header_bytes),
        "not deterministic"
    );
    match parsed {
        Ok(None) => assert!(buf.len() < max_header_bytes, "incomplete past the limit"),
        Ok(Some((head, length))) => {
            check_head(&head, length, buf, max_header_bytes);
            check_split_delivery(buf, length, max_header_bytes);
            check_shape(&head, max_body_bytes);
        }
        Err(e) => check_error(&e, buf, max_header_bytes),
    }
}

fn check_head(head: &RequestHead, length: usize, buf: &[u8], max_header_bytes: usize) {
    assert!(
        length <= buf.len() && length <= max_header_bytes,
        "head length {length}"
    );
    assert!(head.headers.len() <= MAX_HEADERS);
    assert!(head.minor_version <= 1, "HTTP/1.{}", head.minor_version);
    assert!(!head.method.is_empty());
    assert!(
        head.path == "*" || head.path.starts_with('/'),
        "path {:?}",
        head.path
    );
    assert!(head.path != "*" || head.method == "OPTIONS");
    assert!(
        !head.path.chars().any(char::is_control),
        "path {:?}",
        head.path
    );
    // The body bytes after the head do not change the head.
    assert_eq!(
        parse_head(&buf[..length], max_header_bytes),
        Ok(Some((head.clone(), length)))
    );
}

/// A head that arrives in pieces is waited for, never refused: every
/// proper prefix of an accepted head is "incomplete".
fn check_split_delivery(buf: &[u8], length: usize, max_header_bytes: usize) {
    for cut in [0, 1, length / 2, length.saturating_sub(2), length - 1] {
        if cut < length {
            assert_eq!(
                parse_head(&buf[..cut], max_header_bytes),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
    }
}

fn check_shape(head: &RequestHead, max_body_bytes: u64) {
    let shape = interpret(head, max_body_bytes);
    assert_eq!(shape, interpret(head, max_body_bytes), "not deterministic");
    match shape {
        Ok(shape) => check_accepted(head, &shape, max_body_bytes),
        Err(refusal) => {
            assert!(
                [400, 405, 413, 417, 501].contains(&refusal.status),
                "status {}",
                refusal.status
            );
            assert!(!refusal.reason.is_empty());
        }
    }
}

fn check_accepted(head: &RequestHead, shape: &Shape, max_body_bytes: u64) {
    assert!(["GET", "HEAD", "POST", "OPTIONS"].contains(&head.method.as_str()));
    match shape.framing {
        BodyFraming::Length(length) => {
            assert!(length <= max_body_bytes, "{length} > {max_body_bytes}");
            assert!(length == 0 || head.values("content-length").next().is_some());
            assert!(head.values("transfer-encoding").next().is_none());
        }
        BodyFraming::Chunked => {
            assert_eq!(head.minor_version, 1, "chunked in HTTP/1.0");
            assert!(
                head.values("content-length").next().is_none(),
                "smuggling shape"
            );
        }
    }
    assert!(!shape.expect_continue || head.minor_version == 1);
    assert!(head.values("host").count() <= 1);
    assert!(head.minor_version == 0 || head.values("host").count() == 1);
}

fn check_error(e: &HeadError, buf: &[u8], max_header_bytes: usize) {
    assert!([400, 431].contains(&e.status()));
    assert!(!e.to_string().is_empty());
    if let HeadError::TooLarge { limit } = e {
        assert_eq!(*limit, max_header_bytes);
        assert!(buf.len() >= max_header_bytes);
    }
}
