//! Response encoding: status line, headers and body into one buffer, so a
//! response leaves in a single write.

use std::time::{SystemTime, UNIX_EPOCH};

/// How a response is framed on the wire, beyond what the handler chose.
pub(crate) struct ResponseFraming<'a> {
    /// Send `Connection: close` (and close after writing).
    pub close: bool,
    /// HTTP/1.0 client that asked for keep-alive: must be told it is kept.
    pub announce_keep_alive: bool,
    /// A HEAD request: headers as for GET, no body.
    pub head_only: bool,
    /// Extra header lines, each ending in CRLF (e.g. `Allow:`).
    pub extra_headers: &'a str,
}

/// Encodes a whole response into `out` (cleared first).
pub(crate) fn encode(
    out: &mut Vec<u8>,
    date: &mut DateCache,
    status: u16,
    content_type: &str,
    body: &[u8],
    framing: &ResponseFraming<'_>,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nServer: printspoold\r\nDate: ");
    out.extend_from_slice(date.now().as_bytes());
    out.extend_from_slice(b"\r\n");
    let bodiless = status == 204 || status == 304;
    if !bodiless {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        push_decimal(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if framing.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if framing.announce_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(framing.extra_headers.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !bodiless && !framing.head_only {
        out.extend_from_slice(body);
    }
}

/// Appends `n` in decimal, without the formatting machinery (this runs
/// for every response).
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// The reason phrase; clients ignore it, but humans read it in traces.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The `Date` header value (RFC 9110 5.6.7), formatted at most once a
/// second per connection.
pub(crate) struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    pub(crate) fn new() -> Self {
        DateCache {
            second: u64::MAX,
            text: String::new(),
        }
    }

    fn now(&mut self) -> &str {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = http_date(second);
        }
        &self.text
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
fn http_date(epoch_seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = epoch_seconds / 86_400;
    let secs = epoch_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_767_225_599), "Wed, 31 Dec 2025 23:59:59 GMT");
    }

    #[test]
    fn writes_decimals() {
        for n in [0, 7, 10, 413, 1_000_000, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn encodes_head_and_body_in_one_buffer() {
        let mut out = Vec::new();
        let framing = ResponseFraming {
            close: true,
            announce_keep_alive: false,
            head_only: false,
            extra_headers: "Allow: GET\r\n",
        };
        encode(
            &mut out,
            &mut DateCache::new(),
            405,
            "text/plain",
            b"no",
            &framing,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\nServer: printspoold\r\n"));
        assert!(
            text.contains("\r\nContent-Length: 2\r\nConnection: close\r\nAllow: GET\r\n\r\nno")
        );
    }

    #[test]
    fn head_response_keeps_length_but_drops_body() {
        let mut out = Vec::new();
        let framing = ResponseFraming {
            close: false,
            announce_keep_alive: true,
            head_only: true,
            extra_headers: "",
        };
        encode(
            &mut out,
            &mut DateCache::new(),
            200,
            "text/html",
            b"hello",
            &framing,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("Content-Length: 5\r\nConnection: keep-alive\r\n\r\n"));
    }
}
