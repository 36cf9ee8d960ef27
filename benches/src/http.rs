//! A keep-alive HTTP/1.1 client connection that sends prepared requests
//! and reads whole responses (Content-Length or chunked), the way an IPP
//! client does: one request at a time, no pipelining.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted (a full Get-Printer-Attributes answer
/// is tens of KiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A POST of `ipp` (then `document`) to `path`, as one buffer ready to write.
pub fn post(host: &str, path: &str, ipp: &[u8], document: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/ipp\r\n\
         Content-Length: {}\r\nUser-Agent: printspool-bench\r\n\r\n",
        ipp.len() + document.len()
    );
    let mut bytes = Vec::with_capacity(head.len() + ipp.len() + document.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(ipp);
    bytes.extend_from_slice(document);
    bytes
}

/// What came back for one request.
#[derive(Debug, Clone, Copy)]
pub struct BenchReply {
    pub http_status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

pub struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    /// Bytes of `input` already consumed.
    start: usize,
    body: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        // Every request is written whole; Nagle would only add delay.
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            input: Vec::with_capacity(16 * 1024),
            start: 0,
            body: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads the response; its body is then in
    /// [`Conn::body`].
    pub async fn exchange(&mut self, request: &[u8]) -> io::Result<BenchReply> {
        self.stream.write_all(request).await?;
        loop {
            let reply = self.read_response().await?;
            // An interim 1xx (e.g. 100 Continue) is followed by the real one.
            if !(100..200).contains(&reply.http_status) {
                return Ok(reply);
            }
        }
    }

    /// [`Conn::exchange`] bounded by `limit`.
    pub async fn exchange_within(
        &mut self,
        request: &[u8],
        limit: Duration,
    ) -> io::Result<BenchReply> {
        tokio::time::timeout(limit, self.exchange(request))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
    }

    /// The body of the last response.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    async fn read_response(&mut self) -> io::Result<BenchReply> {
        let head_len = self.fill_until_head().await?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response
            .parse(&self.input[self.start..self.start + head_len])
            .map_err(|e| invalid(format!("bad response head: {e}")))?;
        if parsed.is_partial() {
            return Err(invalid("response head cut short".into()));
        }
        let http_status = response.code.unwrap_or(0);
        let mut close = response.version == Some(0);
        let mut length = None;
        let mut chunked = false;
        for header in response.headers.iter() {
            let value = String::from_utf8_lossy(header.value).to_ascii_lowercase();
            if header.name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?,
                );
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.contains("chunked");
            } else if header.name.eq_ignore_ascii_case("connection") {
                close = value.contains("close");
            }
        }
        self.start += head_len;
        self.body.clear();
        if (100..200).contains(&http_status) || http_status == 204 || http_status == 304 {
            // No body.
        } else if chunked {
            self.read_chunked().await?;
        } else if let Some(length) = length {
            self.read_exact_body(length).await?;
        } else {
            return Err(invalid("response without a length".into()));
        }
        self.compact();
        Ok(BenchReply { http_status, close })
    }

    /// Reads until the buffered input holds a whole head; returns its length.
    async fn fill_until_head(&mut self) -> io::Result<usize> {
        loop {
            if let Some(at) = find(&self.input[self.start..], b"\r\n\r\n") {
                return Ok(at + 4);
            }
            if self.input.len() - self.start > MAX_HEAD {
                return Err(invalid("response head too long".into()));
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> io::Result<()> {
        let len = self.input.len();
        self.input.resize(len + 16 * 1024, 0);
        let n = self.stream.read(&mut self.input[len..]).await?;
        self.input.truncate(len + n);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        Ok(())
    }

    async fn read_exact_body(&mut self, length: usize) -> io::Result<()> {
        if length > MAX_BODY {
            return Err(invalid(format!("response body of {length} bytes")));
        }
        while self.input.len() - self.start < length {
            self.read_more().await?;
        }
        self.body
            .extend_from_slice(&self.input[self.start..self.start + length]);
        self.start += length;
        Ok(())
    }

    async fn read_chunked(&mut self) -> io::Result<()> {
        loop {
            let line_len = loop {
                if let Some(at) = find(&self.input[self.start..], b"\r\n") {
                    break at;
                }
                self.read_more().await?;
            };
            let line = String::from_utf8_lossy(&self.input[self.start..self.start + line_len]);
            let size_text = line.split(';').next().unwrap_or("").trim().to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
            self.start += line_len + 2;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(at) = find(&self.input[self.start..], b"\r\n") {
                        self.start += at + 2;
                        if at == 0 {
                            return Ok(());
                        }
                    } else {
                        self.read_more().await?;
                    }
                }
            }
            if self.body.len() + size > MAX_BODY {
                return Err(invalid("chunked body too large".into()));
            }
            while self.input.len() - self.start < size + 2 {
                self.read_more().await?;
            }
            self.body
                .extend_from_slice(&self.input[self.start..self.start + size]);
            self.start += size + 2;
        }
    }

    /// Drops consumed input so the buffer does not grow.
    fn compact(&mut self) {
        self.input.drain(..self.start);
        self.start = 0;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
