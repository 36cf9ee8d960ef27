//! The request head (request line and header fields) and what it asks of
//! the transport: body framing, keep-alive, `Expect: 100-continue`.
//!
//! Both functions here are pure and total so they can be fuzzed:
//! [`parse_head`] turns bytes into a [`RequestHead`], [`interpret`] decides
//! whether the transport accepts the request and how its body is framed.

use std::mem::MaybeUninit;

use thiserror::Error;

/// Header fields accepted in one request head; more is answered with 431.
pub const MAX_HEADERS: usize = 100;

/// A parsed request head. Header values that are not UTF-8 are converted
/// lossily: they are only ever compared or displayed, never executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// Percent-decoded path, without the query; `*` for `OPTIONS *`.
    pub path: String,
    /// The raw query string after `?`, not decoded.
    pub query: Option<String>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// All values of header `name` (case-insensitive), in order.
    pub fn values<'h>(&'h self, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head was refused. Each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    #[error("request head larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
    #[error("malformed request target: {0}")]
    BadTarget(&'static str),
}

impl HeadError {
    /// The status the client is told before the connection is closed.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge { .. } | HeadError::TooManyHeaders => 431,
            HeadError::Malformed(_) | HeadError::BadTarget(_) => 400,
        }
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and shorter than
/// `max_header_bytes`; `Ok(Some((head, length)))` once complete, where
/// `length` is the number of bytes the head used (the body starts there).
/// Never panics, whatever `buf` holds.
pub fn parse_head(
    buf: &[u8],
    max_header_bytes: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let window = &buf[..buf.len().min(max_header_bytes)];
    // Uninitialised slots: no zeroing of the whole array on every request.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let length = match request.parse_with_uninit_headers(window, &mut headers) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buf.len() >= max_header_bytes => {
            return Err(HeadError::TooLarge {
                limit: max_header_bytes,
            });
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e)),
    };
    let (Some(method), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Err(HeadError::Malformed(httparse::Error::Token));
    };
    let (path, query) = split_target(method, target)?;
    let headers = request
        .headers
        .iter()
        .map(|h| {
            let value = match std::str::from_utf8(h.value) {
                Ok(text) => text.to_string(),
                Err(_) => String::from_utf8_lossy(h.value).into_owned(),
            };
            (h.name.to_string(), value)
        })
        .collect();
    let head = RequestHead {
        method: method.to_string(),
        path,
        query,
        minor_version: version,
        headers,
    };
    Ok(Some((head, length)))
}

/// Splits a request target into a decoded path and a raw query. Accepts
/// origin-form (`/p?q`), absolute-form (`http://host/p`, RFC 9112 3.2.2
/// says servers must) and `*` for OPTIONS.
fn split_target(method: &str, target: &str) -> Result<(String, Option<String>), HeadError> {
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(("*".to_string(), None))
        } else {
            Err(HeadError::BadTarget("'*' is only allowed with OPTIONS"))
        };
    }
    let origin = if target.starts_with('/') {
        target
    } else {
        strip_scheme_and_authority(target)?
    };
    if origin.contains('#') {
        return Err(HeadError::BadTarget("fragment in request target"));
    }
    let (raw_path, query) = match origin.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (origin, None),
    };
    Ok((percent_decode_path(raw_path)?, query))
}

/// `http://host:631/printers/x` → `/printers/x` (`/` when no path).
fn strip_scheme_and_authority(target: &str) -> Result<&str, HeadError> {
    let rest = ["http://", "https://", "ipp://", "ipps://"]
        .iter()
        .find_map(|scheme| {
            let head = target.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme)
                .then(|| &target[scheme.len()..])
        })
        .ok_or(HeadError::BadTarget("not a path or an absolute http URI"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    if authority_end == 0 {
        return Err(HeadError::BadTarget("empty authority"));
    }
    match &rest[authority_end..] {
        "" => Ok("/"),
        path if path.starts_with('/') => Ok(path),
        _ => Err(HeadError::BadTarget("query without path in absolute URI")),
    }
}

/// Decodes `%XX` escapes. The result must be UTF-8 without control
/// characters, so handlers can compare and log it safely.
fn percent_decode_path(raw: &str) -> Result<String, HeadError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(HeadError::BadTarget("truncated percent escape"))?;
            let (Some(high), Some(low)) = (hex_value(hex[0]), hex_value(hex[1])) else {
                return Err(HeadError::BadTarget("invalid percent escape"));
            };
            decoded.push((high << 4) | low);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let path = String::from_utf8(decoded).map_err(|_| HeadError::BadTarget("path is not UTF-8"))?;
    if path.chars().any(char::is_control) {
        return Err(HeadError::BadTarget("control character in path"));
    }
    Ok(path)
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// How the request body is delimited (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    Length(u64),
    Chunked,
}

/// What an accepted request head asks of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub framing: BodyFraming,
    /// The client wants the connection kept open after the response.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub expect_continue: bool,
}

impl Shape {
    pub fn has_body(&self) -> bool {
        self.framing != BodyFraming::Length(0)
    }
}

/// A request the transport answers itself, then closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadRefusal {
    pub status: u16,
    pub reason: &'static str,
}

const fn refuse(status: u16, reason: &'static str) -> HeadRefusal {
    HeadRefusal { status, reason }
}

/// Methods the transport lets through; HEAD is served as GET.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, OPTIONS";

/// Decides whether a parsed head is acceptable and how its body is framed.
/// Refuses the request-smuggling shapes (Transfer-Encoding with
/// Content-Length, conflicting lengths, codings other than chunked) and a
/// declared length over `max_body_bytes` before any body byte is read.
pub fn interpret(head: &RequestHead, max_body_bytes: u64) -> Result<Shape, HeadRefusal> {
    if !matches!(head.method.as_str(), "GET" | "HEAD" | "POST" | "OPTIONS") {
        return Err(refuse(405, "method not allowed"));
    }
    check_host(head)?;
    let framing = framing(head)?;
    if let BodyFraming::Length(length) = framing
        && length > max_body_bytes
    {
        return Err(refuse(413, "declared Content-Length exceeds the limit"));
    }
    Ok(Shape {
        framing,
        keep_alive: wants_keep_alive(head),
        expect_continue: expects_continue(head)?,
    })
}

/// RFC 9112 3.2: HTTP/1.1 requests carry exactly one Host.
fn check_host(head: &RequestHead) -> Result<(), HeadRefusal> {
    match head.values("host").count() {
        0 if head.minor_version >= 1 => Err(refuse(400, "missing Host header")),
        0 | 1 => Ok(()),
        _ => Err(refuse(400, "more than one Host header")),
    }
}

fn framing(head: &RequestHead) -> Result<BodyFraming, HeadRefusal> {
    let has_transfer_encoding = head.values("transfer-encoding").next().is_some();
    let length = content_length(head)?;
    match (has_transfer_encoding, length) {
        (true, Some(_)) => Err(refuse(
            400,
            "both Transfer-Encoding and Content-Length (request smuggling shape)",
        )),
        (true, None) if head.minor_version == 0 => {
            Err(refuse(400, "Transfer-Encoding in an HTTP/1.0 request"))
        }
        (true, None) if is_only_chunked(head) => Ok(BodyFraming::Chunked),
        (true, None) => Err(refuse(501, "transfer coding other than chunked")),
        (false, length) => Ok(BodyFraming::Length(length.unwrap_or(0))),
    }
}

/// The Content-Length, if any. Repeated headers must agree; only plain
/// digits are accepted (no sign, no list, no spaces inside).
fn content_length(head: &RequestHead) -> Result<Option<u64>, HeadRefusal> {
    let mut length = None;
    for value in head.values("content-length") {
        let parsed = parse_decimal(value).ok_or(refuse(400, "invalid Content-Length"))?;
        if length.is_some_and(|previous| previous != parsed) {
            return Err(refuse(400, "conflicting Content-Length headers"));
        }
        length = Some(parsed);
    }
    Ok(length)
}

fn parse_decimal(value: &str) -> Option<u64> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn is_only_chunked(head: &RequestHead) -> bool {
    let mut codings = head
        .values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim_matches([' ', '\t']))
        .filter(|c| !c.is_empty());
    matches!(
        (codings.next(), codings.next()),
        (Some(only), None) if only.eq_ignore_ascii_case("chunked")
    )
}

fn connection_has(head: &RequestHead, token: &str) -> bool {
    head.values("connection")
        .flat_map(|v| v.split(','))
        .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

/// HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 only
/// when asked to.
fn wants_keep_alive(head: &RequestHead) -> bool {
    if connection_has(head, "close") {
        false
    } else {
        head.minor_version >= 1 || connection_has(head, "keep-alive")
    }
}

/// RFC 9110 10.1.1: `100-continue` is the only expectation defined;
/// anything else gets 417.
fn expects_continue(head: &RequestHead) -> Result<bool, HeadRefusal> {
    let mut expect = false;
    for value in head.values("expect") {
        if value
            .trim_matches([' ', '\t'])
            .eq_ignore_ascii_case("100-continue")
        {
            expect = true;
        } else {
            return Err(refuse(417, "unsupported Expect value"));
        }
    }
    // An HTTP/1.0 client cannot understand an interim response.
    Ok(expect && head.minor_version >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<(RequestHead, usize)>, HeadError> {
        parse_head(text.as_bytes(), 16 * 1024)
    }

    fn head(text: &str) -> RequestHead {
        parse(text).unwrap().unwrap().0
    }

    #[test]
    fn parses_a_complete_head_and_reports_its_length() {
        let text = "POST /ipp/print?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let (head, length) = parse(text).unwrap().unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/ipp/print");
        assert_eq!(head.query.as_deref(), Some("x=1"));
        assert_eq!(head.minor_version, 1);
        assert_eq!(head.headers.len(), 2);
        assert_eq!(&text[length..], "abc");
    }

    #[test]
    fn incomplete_head_asks_for_more_until_the_limit() {
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(200));
        assert_eq!(
            parse_head(long.as_bytes(), 100),
            Err(HeadError::TooLarge { limit: 100 })
        );
    }

    #[test]
    fn decodes_percent_escapes_and_refuses_bad_ones() {
        assert_eq!(
            head("GET /printers/a%20b HTTP/1.1\r\n\r\n").path,
            "/printers/a b"
        );
        for bad in ["/a%2", "/a%zz", "/a%00", "/a%ff", "/a%0a"] {
            let text = format!("GET {bad} HTTP/1.1\r\n\r\n");
            assert!(
                matches!(parse(&text), Err(HeadError::BadTarget(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn accepts_absolute_form_and_asterisk_for_options_only() {
        assert_eq!(
            head("GET http://h:631/ipp/print HTTP/1.1\r\n\r\n").path,
            "/ipp/print"
        );
        assert_eq!(head("GET HTTP://h HTTP/1.1\r\n\r\n").path, "/");
        assert_eq!(head("OPTIONS * HTTP/1.1\r\n\r\n").path, "*");
        assert!(parse("GET * HTTP/1.1\r\n\r\n").is_err());
        assert!(parse("GET ftp://h/x HTTP/1.1\r\n\r\n").is_err());
        assert!(parse("GET http:///x HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut text = "GET / HTTP/1.1\r\n".to_string();
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("X-{i}: v\r\n"));
        }
        text.push_str("\r\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err, HeadError::TooManyHeaders);
        assert_eq!(err.status(), 431);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"GET /%?#:\r\n \t\x00\xff\x80HTTP/1.01chunked-";
        for round in 0..20_000 {
            let len = round % 300;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    if seed.is_multiple_of(3) {
                        (seed >> 8) as u8
                    } else {
                        alphabet[(seed >> 16) as usize % alphabet.len()]
                    }
                })
                .collect();
            for limit in [0, 1, 64, 16 * 1024] {
                if let Ok(Some((head, used))) = parse_head(&input, limit) {
                    assert!(used <= input.len() && used <= limit);
                    let _ = interpret(&head, 1024);
                }
            }
        }
        for fixed in [
            &b""[..],
            b"\r\n\r\n",
            b"GET",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"\xff\xfe\xfd\r\n\r\n",
            b"GET /%\r\n\r\n",
            b"GET /% HTTP/1.1\r\n\r\n",
            b"GET /\xc3 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:\xff\r\n\r\n",
            b"GET / HTTP/1.1\r\n: v\r\n\r\n",
        ] {
            let _ = parse_head(fixed, 16 * 1024);
        }
    }

    fn shape(text: &str) -> Result<Shape, HeadRefusal> {
        interpret(&head(text), 1000)
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let both =
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(shape(both).unwrap_err().status, 400);
        let gzip = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(shape(gzip).unwrap_err().status, 501);
        let twice = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(shape(twice).unwrap_err().status, 501);
        let conflict =
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(shape(conflict).unwrap_err().status, 400);
        for bad in ["+5", "5,5", "0x5", "", "99999999999999999999999"] {
            let text = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(shape(&text).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn framing_keep_alive_and_expect_are_read_from_headers() {
        let chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nExpect: 100-Continue\r\n\r\n";
        assert_eq!(
            shape(chunked).unwrap(),
            Shape {
                framing: BodyFraming::Chunked,
                keep_alive: true,
                expect_continue: true
            }
        );
        let old = shape("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!old.keep_alive && !old.has_body());
        assert!(
            shape("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            !shape("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert_eq!(
            shape("GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\n\r\n")
                .unwrap_err()
                .status,
            417
        );
    }

    #[test]
    fn method_host_and_size_refusals() {
        assert_eq!(
            shape("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(shape("GET / HTTP/1.1\r\n\r\n").unwrap_err().status, 400);
        assert_eq!(
            shape("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        let huge = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000000\r\n\r\n";
        assert_eq!(shape(huge).unwrap_err().status, 413);
        assert_eq!(
            shape("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n")
                .unwrap()
                .framing,
            BodyFraming::Length(1000)
        );
    }
}
