//! A small blocking HTTP/1.1 client: one request per connection, over TCP
//! or a Unix socket, and raw exchanges for hostile requests.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use super::REQUEST_TIMEOUT;
use super::ipp::IppResponse;

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as IPP; panics with the raw bytes when it is not.
    pub fn ipp(&self) -> IppResponse {
        IppResponse::parse(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not IPP ({e}): {:02x?}",
                self.status,
                &self.body[..self.body.len().min(64)]
            )
        })
    }

    /// The IPP status code: bytes 2..4 of the body.
    pub fn ipp_status(&self) -> Option<u16> {
        self.body
            .get(2..4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// The head of a POST of `body_len` bytes of `application/ipp` (`host`:
/// the Host header's value, e.g. the daemon's address).
pub fn post_head(host: impl std::fmt::Display, path: &str, body_len: u64) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/ipp\r\n\
         Content-Length: {body_len}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// POSTs `ipp` to `addr` at `path` with a Content-Length and reads the
/// whole response, all within `REQUEST_TIMEOUT` per read/write.
pub fn post(addr: SocketAddr, path: &str, ipp: &[u8]) -> io::Result<HttpResponse> {
    post_with_timeout(addr, path, ipp, REQUEST_TIMEOUT)
}

pub fn post_with_timeout(
    addr: SocketAddr,
    path: &str,
    ipp: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = connect(addr, timeout)?;
    stream.write_all(&post_request(addr, path, ipp))?;
    read_response(&mut BufReader::new(stream))
}

/// POSTs and decodes the IPP answer, panicking on transport errors or a
/// non-200 status: for requests that must simply work.
pub fn ipp_call(addr: SocketAddr, path: &str, ipp: &[u8]) -> IppResponse {
    let response =
        post(addr, path, ipp).unwrap_or_else(|e| panic!("POST {path} to {addr} failed: {e}"));
    assert_eq!(response.status, 200, "HTTP status of POST {path}");
    response.ipp()
}

pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one response (skipping `100 Continue`), with its body framed by
/// Content-Length, chunked coding, or the end of the connection.
pub fn read_response(reader: &mut impl BufRead) -> io::Result<HttpResponse> {
    loop {
        let (status, headers) = read_head(reader)?;
        if status == 100 {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked = header("transfer-encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false);
        let body = if chunked {
            read_chunked(reader)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length
                .trim()
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        };
        return Ok(HttpResponse {
            status,
            headers,
            body,
        });
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, message)
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(16 * 1024)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed before a complete response",
        ));
    }
    if !line.ends_with(b"\n") {
        return Err(invalid("response line too long or cut".into()));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("response head is not UTF-8".into()))
}

fn read_head(reader: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad status line {status_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status = code
        .parse()
        .map_err(|_| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok((status, headers));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF".into()));
        }
    }
}

/// What came back for a hostile request.
#[derive(Debug)]
pub enum RawOutcome {
    Response(HttpResponse),
    /// The server closed (or reset) the connection without a response.
    Closed(String),
    /// Nothing within the timeout: the server is waiting for more.
    TimedOut,
}

/// Sends `bytes` as they are (a whole HTTP request, well-formed or not) and
/// reads what comes back within `timeout`. Write errors are expected (the
/// server may answer early and close) and do not stop the read.
pub fn exchange_raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> RawOutcome {
    exchange(addr, bytes, timeout, false)
}

/// Like `exchange_raw` but half-closes the sending side after `bytes`, for
/// bodies shorter than they claim: the server then sees end-of-file.
pub fn exchange_raw_then_shutdown(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> RawOutcome {
    exchange(addr, bytes, timeout, true)
}

fn exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration, half_close: bool) -> RawOutcome {
    let mut stream = connect(addr, timeout).unwrap();
    let _ = stream.write_all(bytes);
    let _ = if half_close {
        stream.shutdown(Shutdown::Write)
    } else {
        stream.flush()
    };
    match read_response(&mut BufReader::new(stream)) {
        Ok(response) => RawOutcome::Response(response),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            RawOutcome::TimedOut
        }
        Err(e) => RawOutcome::Closed(e.to_string()),
    }
}

/// A whole POST of `ipp` to `path`, head ([`post_head`]) and body.
pub fn post_request(host: impl std::fmt::Display, path: &str, ipp: &[u8]) -> Vec<u8> {
    let mut request = post_head(host, path, ipp.len() as u64);
    request.extend_from_slice(ipp);
    request
}

/// [`post`] over the Unix socket at `socket`, as this process.
pub fn post_unix(
    socket: &Path,
    path: &str,
    ipp: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&post_request("localhost", path, ipp))?;
    read_response(&mut BufReader::new(stream))
}
