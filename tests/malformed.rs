//! Hostile input over raw TCP, built byte by byte: truncated messages,
//! lengths past the end, deep and unterminated collections, unknown tags,
//! bad UTF-8, bad headers, huge requests. Each case must get a prompt,
//! well-formed refusal (or a closed connection where the brief allows it),
//! and afterwards a fresh client must still be served within one second.
//! These are the failure classes of CUPS's CVE history (see
//! LESSONS-FROM-PEERS.md, "IPP").

mod common;

use std::time::{Duration, Instant};

use common::*;

/// How long a refusal may take. The daemon's own read timeout is far longer,
/// so a server that waits for bytes that never come fails here.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// POSTs `ipp` to the default printer resource with an exact Content-Length.
fn send(server: &TestServer, ipp: &[u8]) -> Outcome {
    let mut request = post_head(server.addr(), "/ipp/print", ipp.len() as u64);
    request.extend_from_slice(ipp);
    exchange_raw(server.addr(), &request, ANSWER_TIMEOUT)
}

/// What a case accepts besides an IPP answer with one of its statuses.
#[derive(Clone, Copy)]
struct Also {
    closed: bool,
    http_statuses: &'static [u16],
}

const STRICT: Also = Also {
    closed: false,
    http_statuses: &[],
};

/// A closed connection or HTTP 400 are fair answers to bytes that are not
/// an IPP message at all.
const OR_CLOSED: Also = Also {
    closed: true,
    http_statuses: &[400],
};

fn check(server: &TestServer, case: &str, outcome: Outcome, ipp_statuses: &[u16], also: Also) {
    match &outcome {
        Outcome::Response(r) if r.status == 200 => {
            let status = r.ipp_status();
            assert!(
                status.is_some_and(|s| ipp_statuses.contains(&s)),
                "{case}: IPP status {} (wanted one of {}); body {:02x?}",
                status.map_or("none".to_string(), |s| format!("0x{s:04x}")),
                ipp_statuses
                    .iter()
                    .map(|s| format!("0x{s:04x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                &r.body[..r.body.len().min(64)]
            );
            // The answer must itself be a whole IPP message.
            IppResponse::parse(&r.body)
                .unwrap_or_else(|e| panic!("{case}: answer is not valid IPP: {e}"));
        }
        Outcome::Response(r) if also.http_statuses.contains(&r.status) => {}
        Outcome::Closed(_) if also.closed => {}
        other => panic!(
            "{case}: unexpected outcome {other:?} (wanted IPP {ipp_statuses:04x?}); log:\n{}",
            server.log()
        ),
    }
    assert_still_serving(server, case);
}

/// A valid Get-Printer-Attributes request.
fn valid_request(server: &TestServer) -> Vec<u8> {
    get_printer_attributes(&server.daemon.uri("/ipp/print"))
}

/// Operation attributes up to and including printer-uri, left open so a
/// case can append its own.
fn open_request(server: &TestServer, request_id: u32) -> IppRequest {
    IppRequest::new(op::GET_PRINTER_ATTRIBUTES, request_id)
        .group(tag::OPERATION)
        .text(tag::CHARSET, "attributes-charset", "utf-8")
        .text(tag::LANGUAGE, "attributes-natural-language", "en")
        .text(tag::URI, "printer-uri", &server.daemon.uri("/ipp/print"))
}

#[test]
fn the_valid_request_these_cases_start_from_succeeds() {
    // Without this, every refusal below could come from a broken baseline.
    let server = TestServer::start("malformed-baseline");
    let outcome = send(&server, &valid_request(&server));
    check(&server, "valid request", outcome, &[status::OK], STRICT);
}

#[test]
fn truncated_messages_are_bad_requests() {
    let server = TestServer::start("malformed-truncated");
    let full = valid_request(&server);
    let len = full.len();
    // Inside the header, at a tag, inside a name length, inside a name,
    // inside a value, and just before the end tag.
    for cut in [1, 4, 7, 8, 9, 10, 12, 20, len / 2, len - 2, len - 1] {
        let outcome = send(&server, &full[..cut]);
        // Fewer than 8 bytes carry no request-id to answer with.
        let also = if cut < 8 {
            OR_CLOSED
        } else {
            Also {
                closed: true,
                http_statuses: &[],
            }
        };
        check(
            &server,
            &format!("request cut at {cut} of {len} bytes"),
            outcome,
            &[status::BAD_REQUEST],
            also,
        );
    }
}

#[test]
fn a_body_shorter_than_its_content_length_is_not_waited_for_after_eof() {
    let server = TestServer::start("malformed-short-body");
    let full = valid_request(&server);
    let mut request = post_head(server.addr(), "/ipp/print", full.len() as u64 + 100);
    request.extend_from_slice(&full);
    let outcome = exchange_raw_then_shutdown(server.addr(), &request, ANSWER_TIMEOUT);
    check(
        &server,
        "body 100 bytes short, then EOF",
        outcome,
        &[status::BAD_REQUEST],
        OR_CLOSED,
    );
}

#[test]
fn lengths_pointing_past_the_end_are_bad_requests() {
    let server = TestServer::start("malformed-lengths");
    let past_the_end =
        |request_id: u32, tail: &[u8]| open_request(&server, request_id).raw(tail).into_bytes();
    let cases: [(&str, Vec<u8>, &[u16]); 4] = [
        (
            "name length 0x0100 with 3 bytes of name",
            past_the_end(7, &[tag::KEYWORD, 0x01, 0x00, b'a', b'b', b'c', tag::END]),
            &[status::BAD_REQUEST],
        ),
        (
            "value length 0x0200 with 2 bytes of value",
            past_the_end(
                8,
                &[
                    tag::KEYWORD,
                    0x00,
                    0x01,
                    b'x',
                    0x02,
                    0x00,
                    b'a',
                    b'b',
                    tag::END,
                ],
            ),
            &[status::BAD_REQUEST],
        ),
        (
            // Also beyond the 32767-byte wire maximum, so "value too long"
            // is a fair answer too.
            "value length 0xffff with 2 bytes of value",
            past_the_end(
                9,
                &[
                    tag::KEYWORD,
                    0x00,
                    0x01,
                    b'x',
                    0xff,
                    0xff,
                    b'a',
                    b'b',
                    tag::END,
                ],
            ),
            &[status::BAD_REQUEST, status::REQUEST_VALUE_TOO_LONG],
        ),
        (
            "integer of length 4 cut after 2 bytes",
            past_the_end(
                10,
                &[tag::INTEGER, 0x00, 0x01, b'n', 0x00, 0x04, 0x00, 0x01],
            ),
            &[status::BAD_REQUEST],
        ),
    ];
    for (case, bytes, statuses) in cases {
        let outcome = send(&server, &bytes);
        check(
            &server,
            case,
            outcome,
            statuses,
            Also {
                closed: true,
                http_statuses: &[],
            },
        );
    }
}

/// `media-col`-like nesting `depth` collections deep in the operation group.
fn nested_collections(server: &TestServer, depth: usize, terminated: bool) -> Vec<u8> {
    let mut request = open_request(server, 11).attr(tag::BEGIN_COLLECTION, "x-nested", b"");
    for _ in 1..depth {
        request = request
            .attr(tag::MEMBER_NAME, "", b"inner")
            .attr(tag::BEGIN_COLLECTION, "", b"");
    }
    request =
        request
            .attr(tag::MEMBER_NAME, "", b"leaf")
            .attr(tag::INTEGER, "", &1i32.to_be_bytes());
    if terminated {
        for _ in 0..depth {
            request = request.attr(tag::END_COLLECTION, "", b"");
        }
    }
    request.finish(&[])
}

#[test]
fn ten_deep_collections_decode_and_eleven_deep_are_refused() {
    let server = TestServer::start("malformed-deep");
    let outcome = send(&server, &nested_collections(&server, 10, true));
    check(
        &server,
        "10-deep collection",
        outcome,
        &[status::OK, status::OK_IGNORED_OR_SUBSTITUTED],
        STRICT,
    );
    let outcome = send(&server, &nested_collections(&server, 11, true));
    check(
        &server,
        "11-deep collection",
        outcome,
        &[status::BAD_REQUEST],
        STRICT,
    );
}

#[test]
fn an_unterminated_collection_is_a_bad_request() {
    let server = TestServer::start("malformed-unterminated");
    let outcome = send(&server, &nested_collections(&server, 2, false));
    check(
        &server,
        "collection without endCollection",
        outcome,
        &[status::BAD_REQUEST],
        STRICT,
    );
}

#[test]
fn two_unknown_value_tags_in_a_row_decode_and_are_answered() {
    let server = TestServer::start("malformed-unknown-tags");
    // 0x3e and 0x5e are unassigned (octetString and character-string
    // ranges); 0x2f is unassigned in the integer range.
    let ipp = open_request(&server, 12)
        .attr(0x3e, "x-unknown-one", b"abc")
        .value(0x5e, b"def")
        .attr(0x2f, "x-unknown-two", &[0, 0, 0, 1])
        .finish(&[]);
    let outcome = send(&server, &ipp);
    check(
        &server,
        "two unknown value tags",
        outcome,
        &[status::OK, status::OK_IGNORED_OR_SUBSTITUTED],
        STRICT,
    );
}

#[test]
fn invalid_utf8_in_requesting_user_name_is_a_bad_request() {
    let server = TestServer::start("malformed-utf8");
    let ipp = open_request(&server, 13)
        .attr(tag::NAME, "requesting-user-name", b"ro\xffot\xc3")
        .finish(&[]);
    let outcome = send(&server, &ipp);
    check(
        &server,
        "invalid UTF-8 user name",
        outcome,
        &[status::BAD_REQUEST],
        STRICT,
    );
}

#[test]
fn request_id_zero_is_a_bad_request() {
    let server = TestServer::start("malformed-request-id");
    let ipp = open_request(&server, 0).finish(&[]);
    let outcome = send(&server, &ipp);
    check(
        &server,
        "request-id 0",
        outcome,
        &[status::BAD_REQUEST],
        STRICT,
    );
}

#[test]
fn a_missing_charset_is_a_bad_request() {
    let server = TestServer::start("malformed-charset");
    let ipp = IppRequest::new(op::GET_PRINTER_ATTRIBUTES, 14)
        .group(tag::OPERATION)
        .text(tag::LANGUAGE, "attributes-natural-language", "en")
        .text(tag::URI, "printer-uri", &server.daemon.uri("/ipp/print"))
        .finish(&[]);
    let outcome = send(&server, &ipp);
    check(
        &server,
        "no attributes-charset",
        outcome,
        &[status::BAD_REQUEST],
        STRICT,
    );
}

#[test]
fn version_9_9_is_not_supported() {
    let server = TestServer::start("malformed-version");
    let ipp = IppRequest::with_version((9, 9), op::GET_PRINTER_ATTRIBUTES, 15)
        .group(tag::OPERATION)
        .text(tag::CHARSET, "attributes-charset", "utf-8")
        .text(tag::LANGUAGE, "attributes-natural-language", "en")
        .text(tag::URI, "printer-uri", &server.daemon.uri("/ipp/print"))
        .finish(&[]);
    let outcome = send(&server, &ipp);
    check(
        &server,
        "version 9.9",
        outcome,
        &[status::VERSION_NOT_SUPPORTED],
        STRICT,
    );
}

#[test]
fn a_hundred_thousand_attributes_are_too_large() {
    let server = TestServer::start("malformed-many");
    let mut request = open_request(&server, 16);
    for i in 0..100_000 {
        request = request.text(tag::KEYWORD, &format!("x-{i}"), "v");
    }
    let ipp = request.finish(&[]);
    let started = Instant::now();
    let outcome = send(&server, &ipp);
    check(
        &server,
        &format!("100000 attributes ({} bytes)", ipp.len()),
        outcome,
        &[status::REQUEST_ENTITY_TOO_LARGE],
        Also {
            closed: true,
            http_statuses: &[413],
        },
    );
    assert!(started.elapsed() < ANSWER_TIMEOUT);
}

#[test]
fn a_ten_gigabyte_content_length_is_refused_without_reading_the_body() {
    let server = TestServer::start("malformed-huge");
    let head = post_head(server.addr(), "/ipp/print", 10_000_000_000);
    let started = Instant::now();
    // Only the head is sent: a server that waits for the body times out.
    let outcome = exchange_raw(server.addr(), &head, Duration::from_secs(2));
    match &outcome {
        Outcome::Response(r) => assert_eq!(r.status, 413, "{r:?}"),
        other => panic!(
            "Content-Length 10000000000: wanted HTTP 413 at once, got {other:?} after {:?}; log:\n{}",
            started.elapsed(),
            server.log()
        ),
    }
    assert_still_serving(&server, "Content-Length 10000000000");
}

#[test]
fn bytes_that_are_not_http_are_refused() {
    let server = TestServer::start("malformed-http");
    for (case, bytes) in [
        ("binary garbage", &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..]),
        ("no version", &b"POST /ipp/print\r\n\r\n"[..]),
        (
            "negative Content-Length",
            &b"POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"[..],
        ),
        (
            "two different Content-Lengths",
            &b"POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                [..],
        ),
    ] {
        let outcome = exchange_raw(server.addr(), bytes, ANSWER_TIMEOUT);
        match &outcome {
            Outcome::Response(r) => assert!(
                (400..500).contains(&r.status),
                "{case}: wanted an HTTP 4xx, got {r:?}"
            ),
            Outcome::Closed(_) => {}
            Outcome::TimedOut => panic!("{case}: no answer within {ANSWER_TIMEOUT:?}"),
        }
        assert_still_serving(&server, case);
    }
}
