//! Hostile input over raw TCP: truncated messages, lengths past the end,
//! deep and unterminated collections, unknown tags, bad UTF-8, bad headers,
//! huge requests. Each case must get a prompt, well-formed refusal (or a
//! closed connection where the brief allows it), and afterwards a fresh
//! client must still be served within one second. These are the failure
//! classes of CUPS's CVE history (see LESSONS-FROM-PEERS.md, "IPP").
//!
//! One table, one daemon: every row runs against the same server, one after
//! the other, so each row also proves the ones before it left the daemon
//! serving. Every failing row is reported by name.

mod common;

use std::time::{Duration, Instant};

use ipp_proto::value::END_OF_ATTRIBUTES;
use ipp_proto::{Attribute, DelimiterTag, Value, ValueTag};

use common::*;

/// How long a refusal may take. The daemon's own read timeout is far longer,
/// so a server that waits for bytes that never come fails here.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// How a row's bytes go out.
enum Delivery {
    /// As the body of a POST to the printer with an exact Content-Length.
    Posted(Vec<u8>),
    /// As the body of a POST claiming 100 bytes more, then end-of-file.
    ShortThenEof(Vec<u8>),
    /// As they are, a whole HTTP request or not, within this timeout.
    Raw(Vec<u8>, Duration),
}

/// What a row accepts.
enum Expected {
    /// An IPP answer with one of these statuses, or what `Also` allows.
    Ipp(&'static [u16], Also),
    /// An HTTP error status at once, without waiting for a body.
    Http(u16),
    /// Any HTTP 4xx, or a closed connection, but never silence.
    HttpRefusal,
}

/// What a row accepts besides an IPP answer with one of its statuses.
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

const CLOSED_ONLY: Also = Also {
    closed: true,
    http_statuses: &[],
};

struct MalformedCase {
    name: String,
    delivery: Delivery,
    expected: Expected,
}

fn case(name: impl Into<String>, delivery: Delivery, expected: Expected) -> MalformedCase {
    MalformedCase {
        name: name.into(),
        delivery,
        expected,
    }
}

fn posted(
    name: impl Into<String>,
    ipp: Vec<u8>,
    statuses: &'static [u16],
    also: Also,
) -> MalformedCase {
    case(name, Delivery::Posted(ipp), Expected::Ipp(statuses, also))
}

#[test]
fn every_malformed_request_is_refused_promptly_and_the_daemon_keeps_serving() {
    let server = TestServer::start("malformed");
    let uri = server.daemon.uri("/ipp/print");
    let table = table(&server, &uri);
    let rows = table.len();
    let failures: Vec<String> = table
        .into_iter()
        .filter_map(|row| run(&server, &row).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every row; the valid request comes first, since without it every
/// refusal below could come from a broken baseline.
fn table(server: &TestServer, uri: &str) -> Vec<MalformedCase> {
    let mut rows = vec![posted(
        "valid request",
        valid_request(uri),
        &[status::OK],
        STRICT,
    )];
    rows.extend(truncated(uri));
    rows.push(case(
        "body 100 bytes short, then EOF",
        Delivery::ShortThenEof(valid_request(uri)),
        Expected::Ipp(&[status::BAD_REQUEST], OR_CLOSED),
    ));
    rows.extend(lengths_past_the_end(uri));
    rows.extend(collections(uri));
    rows.extend(bad_values(uri));
    rows.extend(headers_and_sizes(server, uri));
    rows
}

/// A valid Get-Printer-Attributes request.
fn valid_request(uri: &str) -> Vec<u8> {
    open_request(uri, 1).encode()
}

/// Operation attributes up to and including printer-uri, so a case can
/// add its own.
fn open_request(uri: &str, request_id: u32) -> RequestBuilder {
    RequestBuilder::new(op::GET_PRINTER_ATTRIBUTES, request_id).operation_group(uri)
}

/// The encoding without its end-of-attributes tag, for a tail of broken
/// bytes.
fn without_end(request: RequestBuilder) -> Vec<u8> {
    let mut bytes = request.encode();
    assert_eq!(bytes.pop(), Some(END_OF_ATTRIBUTES));
    bytes
}

/// Cut inside the header, at a tag, inside a name length, inside a name,
/// inside a value, and just before the end tag.
fn truncated(uri: &str) -> Vec<MalformedCase> {
    let full = valid_request(uri);
    let len = full.len();
    [1, 4, 7, 8, 9, 10, 12, 20, len / 2, len - 2, len - 1]
        .into_iter()
        .map(|cut| {
            // Fewer than 8 bytes carry no request-id to answer with.
            let also = if cut < 8 { OR_CLOSED } else { CLOSED_ONLY };
            posted(
                format!("request cut at {cut} of {len} bytes"),
                full[..cut].to_vec(),
                &[status::BAD_REQUEST],
                also,
            )
        })
        .collect()
}

fn lengths_past_the_end(uri: &str) -> Vec<MalformedCase> {
    let past_the_end = |request_id: u32, tail: &[u8]| {
        let mut bytes = without_end(open_request(uri, request_id));
        bytes.extend_from_slice(tail);
        bytes
    };
    let keyword = ValueTag::KEYWORD;
    vec![
        posted(
            "name length 0x0100 with 3 bytes of name",
            past_the_end(
                7,
                &[keyword, 0x01, 0x00, b'a', b'b', b'c', END_OF_ATTRIBUTES],
            ),
            &[status::BAD_REQUEST],
            CLOSED_ONLY,
        ),
        posted(
            "value length 0x0200 with 2 bytes of value",
            past_the_end(
                8,
                &[
                    keyword,
                    0x00,
                    0x01,
                    b'x',
                    0x02,
                    0x00,
                    b'a',
                    b'b',
                    END_OF_ATTRIBUTES,
                ],
            ),
            &[status::BAD_REQUEST],
            CLOSED_ONLY,
        ),
        // Also beyond the 32767-byte wire maximum, so "value too long" is a
        // fair answer too.
        posted(
            "value length 0xffff with 2 bytes of value",
            past_the_end(
                9,
                &[
                    keyword,
                    0x00,
                    0x01,
                    b'x',
                    0xff,
                    0xff,
                    b'a',
                    b'b',
                    END_OF_ATTRIBUTES,
                ],
            ),
            &[status::BAD_REQUEST, status::REQUEST_VALUE_TOO_LONG],
            CLOSED_ONLY,
        ),
        posted(
            "integer of length 4 cut after 2 bytes",
            past_the_end(
                10,
                &[ValueTag::INTEGER, 0x00, 0x01, b'n', 0x00, 0x04, 0x00, 0x01],
            ),
            &[status::BAD_REQUEST],
            CLOSED_ONLY,
        ),
    ]
}

/// `media-col`-like nesting `depth` collections deep in the operation
/// group, as one attribute `x-nested`.
fn nested_collections(uri: &str, depth: usize) -> RequestBuilder {
    let mut value = Value::Collection(vec![Attribute::new("leaf", Value::Integer(1))]);
    for _ in 1..depth {
        value = Value::Collection(vec![Attribute::new("inner", value)]);
    }
    open_request(uri, 11).attr("x-nested", value)
}

/// One endCollection as encoded: the tag, an empty name, an empty value.
const END_COLLECTION: [u8; 5] = [ValueTag::END_COLLECTION, 0, 0, 0, 0];

fn collections(uri: &str) -> Vec<MalformedCase> {
    // Two levels whose endCollection values are cut out.
    let mut unterminated = without_end(nested_collections(uri, 2));
    for _ in 0..2 {
        let end = unterminated.len() - END_COLLECTION.len();
        assert_eq!(unterminated[end..], END_COLLECTION);
        unterminated.truncate(end);
    }
    unterminated.push(END_OF_ATTRIBUTES);
    vec![
        posted(
            "10-deep collection",
            nested_collections(uri, 10).encode(),
            &[status::OK, status::OK_IGNORED_OR_SUBSTITUTED],
            STRICT,
        ),
        posted(
            "11-deep collection",
            nested_collections(uri, 11).encode(),
            &[status::BAD_REQUEST],
            STRICT,
        ),
        posted(
            "collection without endCollection",
            unterminated,
            &[status::BAD_REQUEST],
            STRICT,
        ),
    ]
}

fn other(tag: u8, data: &[u8]) -> Value {
    Value::Other {
        tag,
        data: data.to_vec(),
    }
}

fn bad_values(uri: &str) -> Vec<MalformedCase> {
    // 0x3e and 0x5e are unassigned (octetString and character-string
    // ranges); 0x2f is unassigned in the integer range.
    let unknown_tags = open_request(uri, 12)
        .attr("x-unknown-one", other(0x3e, b"abc"))
        .also(other(0x5e, b"def"))
        .attr("x-unknown-two", other(0x2f, &[0, 0, 0, 1]));
    let bad_utf8 = open_request(uri, 13).attr(
        "requesting-user-name",
        other(ValueTag::NAME_WITHOUT_LANGUAGE, b"ro\xffot\xc3"),
    );
    let no_charset = RequestBuilder::new(op::GET_PRINTER_ATTRIBUTES, 14)
        .group(DelimiterTag::Operation)
        .attr(
            "attributes-natural-language",
            Value::NaturalLanguage("en".into()),
        )
        .attr("printer-uri", Value::Uri(uri.into()));
    let version_9_9 = open_request(uri, 15).version(9, 9);
    vec![
        posted(
            "two unknown value tags",
            unknown_tags.encode(),
            &[status::OK, status::OK_IGNORED_OR_SUBSTITUTED],
            STRICT,
        ),
        posted(
            "invalid UTF-8 user name",
            bad_utf8.encode(),
            &[status::BAD_REQUEST],
            STRICT,
        ),
        posted(
            "request-id 0",
            open_request(uri, 0).encode(),
            &[status::BAD_REQUEST],
            STRICT,
        ),
        posted(
            "no attributes-charset",
            no_charset.encode(),
            &[status::BAD_REQUEST],
            STRICT,
        ),
        posted(
            "version 9.9",
            version_9_9.encode(),
            &[status::VERSION_NOT_SUPPORTED],
            STRICT,
        ),
    ]
}

fn headers_and_sizes(server: &TestServer, uri: &str) -> Vec<MalformedCase> {
    let mut many = open_request(uri, 16);
    for i in 0..100_000 {
        many = many.attr(&format!("x-{i}"), Value::Keyword("v".into()));
    }
    let many = many.encode();
    let mut rows = vec![
        posted(
            format!("100000 attributes ({} bytes)", many.len()),
            many,
            &[status::REQUEST_ENTITY_TOO_LARGE],
            Also {
                closed: true,
                http_statuses: &[413],
            },
        ),
        // Only the head is sent: a server that waits for the body times
        // out.
        case(
            "Content-Length 10000000000",
            Delivery::Raw(
                post_head(server.addr(), "/ipp/print", 10_000_000_000),
                Duration::from_secs(2),
            ),
            Expected::Http(413),
        ),
    ];
    let not_http: [(&str, &[u8]); 4] = [
        (
            "binary garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ),
        ("no version", b"POST /ipp/print\r\n\r\n"),
        (
            "negative Content-Length",
            b"POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        ),
        (
            "two different Content-Lengths",
            b"POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        ),
    ];
    rows.extend(not_http.into_iter().map(|(name, bytes)| {
        case(
            name,
            Delivery::Raw(bytes.to_vec(), ANSWER_TIMEOUT),
            Expected::HttpRefusal,
        )
    }));
    rows
}

/// Sends one row, checks the answer came in time and fits, then that a
/// fresh client is still served.
fn run(server: &TestServer, row: &MalformedCase) -> Result<(), String> {
    let started = Instant::now();
    let outcome = match &row.delivery {
        Delivery::Posted(ipp) => {
            let mut request = post_head(server.addr(), "/ipp/print", ipp.len() as u64);
            request.extend_from_slice(ipp);
            exchange_raw(server.addr(), &request, ANSWER_TIMEOUT)
        }
        Delivery::ShortThenEof(ipp) => {
            let mut request = post_head(server.addr(), "/ipp/print", ipp.len() as u64 + 100);
            request.extend_from_slice(ipp);
            exchange_raw_then_shutdown(server.addr(), &request, ANSWER_TIMEOUT)
        }
        Delivery::Raw(bytes, timeout) => exchange_raw(server.addr(), bytes, *timeout),
    };
    let elapsed = started.elapsed();
    let name = &row.name;
    check(server, name, &outcome, &row.expected)
        .map_err(|why| format!("- {name}: {why} (after {elapsed:?})"))?;
    if elapsed >= ANSWER_TIMEOUT {
        return Err(format!("- {name}: answered only after {elapsed:?}"));
    }
    still_serving(server, name).map_err(|why| format!("- {name}: {why}"))
}

fn check(
    server: &TestServer,
    name: &str,
    outcome: &RawOutcome,
    expected: &Expected,
) -> Result<(), String> {
    match (expected, outcome) {
        (Expected::Ipp(statuses, _), RawOutcome::Response(r)) if r.status == 200 => {
            check_ipp_answer(&r.body, statuses)
        }
        (Expected::Ipp(_, also), RawOutcome::Response(r))
            if also.http_statuses.contains(&r.status) =>
        {
            Ok(())
        }
        (Expected::Ipp(_, also), RawOutcome::Closed(_)) if also.closed => Ok(()),
        (Expected::Http(status), RawOutcome::Response(r)) if r.status == *status => Ok(()),
        (Expected::HttpRefusal, RawOutcome::Response(r)) if (400..500).contains(&r.status) => {
            Ok(())
        }
        (Expected::HttpRefusal, RawOutcome::Closed(_)) => Ok(()),
        (Expected::Ipp(statuses, _), other) => Err(format!(
            "unexpected outcome {other:?} (wanted IPP {statuses:04x?}); log:\n{}",
            server.log()
        )),
        (Expected::Http(status), other) => Err(format!(
            "wanted HTTP {status} at once, got {other:?}; log:\n{}",
            server.log()
        )),
        (Expected::HttpRefusal, other) => Err(format!(
            "wanted an HTTP 4xx or a close, got {other:?} ({name})"
        )),
    }
}

/// The answer has one of `statuses` and is itself a whole IPP message.
fn check_ipp_answer(body: &[u8], statuses: &[u16]) -> Result<(), String> {
    let status = body.get(2..4).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if !status.is_some_and(|s| statuses.contains(&s)) {
        return Err(format!(
            "IPP status {} (wanted one of {}); body {:02x?}",
            status.map_or("none".to_string(), |s| format!("0x{s:04x}")),
            statuses
                .iter()
                .map(|s| format!("0x{s:04x}"))
                .collect::<Vec<_>>()
                .join(", "),
            &body[..body.len().min(64)]
        ));
    }
    IppResponse::parse(body)
        .map(|_| ())
        .map_err(|e| format!("answer is not valid IPP: {e}"))
}
