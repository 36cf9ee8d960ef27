//! The request body, streamed to the handler: Content-Length or chunked
//! (RFC 9112 7.1), with a size limit, a timeout on every read and a
//! deadline for the whole body that moves with the data received (a
//! minimum average rate, as Apache's `mod_reqtimeout` `body=...,MinRate=`),
//! so a client sending a byte now and then cannot hold a connection, while
//! a large upload at any sane rate never hits it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, timeout_at};

use super::head::BodyFraming;

/// Longest chunk-size line (size plus extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Longest hex chunk size: 16 digits fill a u64.
const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// Why the request body could not be read. After an error the body stays
/// failed: further reads return the same error.
#[derive(Debug, Clone, Error)]
pub enum BodyError {
    #[error("no request body data within {0:?}")]
    Timeout(Duration),
    #[error("request body slower than {min_rate} bytes/s on average after the first {grace:?}")]
    TooSlow { min_rate: u64, grace: Duration },
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("malformed chunked encoding: {0}")]
    BadChunk(&'static str),
    #[error("connection closed before the end of the request body")]
    Truncated,
    #[error("reading the request body: {0}")]
    Io(Arc<io::Error>),
}

impl BodyError {
    /// The status the transport answers with in place of the handler's
    /// response; `None` when the client is gone and nothing can be sent.
    pub fn status(&self) -> Option<u16> {
        match self {
            BodyError::Timeout(_) | BodyError::TooSlow { .. } => Some(408),
            BodyError::TooLarge { .. } => Some(413),
            BodyError::BadChunk(_) => Some(400),
            BodyError::Truncated | BodyError::Io(_) => None,
        }
    }
}

/// The connection's read buffer. Reused across requests so a keep-alive
/// connection reads each request head without allocating; it starts small
/// so idle and slow clients cost little, and grows only up to `max`.
pub(crate) struct InBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl InBuf {
    const INITIAL: usize = 2048;

    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(MAX_CHUNK_LINE + 2);
        InBuf {
            data: vec![0; Self::INITIAL.min(max)],
            start: 0,
            end: 0,
            max,
        }
    }

    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// True when no more bytes fit without consuming some first.
    pub(crate) fn is_full(&self) -> bool {
        self.end - self.start >= self.max
    }

    /// Reads once from `stream` into free space; `Ok(0)` at end of stream
    /// or when the buffer is full (check [`InBuf::is_full`]).
    pub(crate) async fn read_from<S>(&mut self, stream: &mut S) -> io::Result<usize>
    where
        S: AsyncRead + Unpin + ?Sized,
    {
        self.make_room();
        if self.end == self.data.len() {
            return Ok(0);
        }
        let n = stream.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self) {
        if self.end < self.data.len() {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else if self.data.len() < self.max {
            let grown = (self.data.len() * 2).min(self.max);
            self.data.resize(grown, 0);
        }
    }

    /// Copies up to `out.len()` buffered bytes into `out`.
    fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.data[self.start..self.start + n]);
        self.consume(n);
        n
    }
}

#[derive(Clone, Copy)]
enum BodyProgress {
    Length { remaining: u64 },
    Chunked(Chunk),
    Done,
}

/// Where the chunked decoder is (RFC 9112 7.1).
#[derive(Clone, Copy)]
enum Chunk {
    SizeLine,
    Data { remaining: u64 },
    DataEnd,
    Trailers { seen: usize },
}

/// How fast a body must arrive: every read within `read_timeout`, and
/// the whole body within `grace` plus one second per `min_rate` bytes
/// received so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub read_timeout: Duration,
    pub grace: Duration,
    pub min_rate: u64,
}

impl Pace {
    /// Only a timeout per read (tests of the framing).
    #[cfg(test)]
    pub(crate) fn per_read(read_timeout: Duration) -> Self {
        Pace {
            read_timeout,
            grace: Duration::from_secs(3600),
            min_rate: 1,
        }
    }
}

/// The request body, decoded (chunked or Content-Length), streamed.
pub struct Body<'a> {
    stream: &'a mut (dyn AsyncRead + Unpin + Send),
    input: &'a mut InBuf,
    state: BodyProgress,
    content_length: Option<u64>,
    received: u64,
    limit: u64,
    pace: Pace,
    /// When the body started, and the bytes read for it from the socket
    /// (framing included): the whole-body deadline follows from both.
    started: Instant,
    wire_bytes: u64,
    max_trailer_bytes: usize,
    error: Option<BodyError>,
}

impl<'a> Body<'a> {
    pub(crate) fn new(
        stream: &'a mut (dyn AsyncRead + Unpin + Send),
        input: &'a mut InBuf,
        framing: BodyFraming,
        limit: u64,
        pace: Pace,
        max_trailer_bytes: usize,
    ) -> Self {
        let (state, content_length) = match framing {
            BodyFraming::Length(0) => (BodyProgress::Done, Some(0)),
            BodyFraming::Length(n) => (BodyProgress::Length { remaining: n }, Some(n)),
            BodyFraming::Chunked => (BodyProgress::Chunked(Chunk::SizeLine), None),
        };
        Body {
            stream,
            input,
            state,
            content_length,
            received: 0,
            limit,
            pace,
            started: Instant::now(),
            wire_bytes: 0,
            max_trailer_bytes,
            error: None,
        }
    }
}

impl Body<'_> {
    /// Reads the next piece of body into buf; Ok(0) at the end (or when
    /// `buf` is empty). Errors on malformed chunking, on a read that takes
    /// longer than the read timeout, on a body slower than its pace (see
    /// [`Pace`]), on a connection closed early, or when
    /// the total exceeds the limit. Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match self.read_inner(buf).await {
            Ok(n) => {
                self.received += n as u64;
                Ok(n)
            }
            Err(error) => {
                self.error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Reads until buf holds at least `want` bytes or the body ends;
    /// returns whether the body has ended. `false` can still be followed by
    /// an immediate end (a chunked body's last chunk not yet seen).
    /// Cancel-safe: `buf` only ever holds body bytes.
    pub async fn fill(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<bool, BodyError> {
        let mut target = TruncateOnDrop::new(buf);
        while target.filled < want {
            // Grow by what the framing says is coming, so a large `want`
            // costs no zeroing of memory the body will never fill.
            let end = want.min(target.filled.saturating_add(self.size_hint()));
            if target.buf.len() < end {
                target.buf.resize(end, 0);
            }
            let n = self.read(&mut target.buf[target.filled..end]).await?;
            if n == 0 {
                return Ok(true);
            }
            target.filled += n;
        }
        Ok(self.is_complete())
    }

    /// A good size for the next read: what is known to follow, capped.
    fn size_hint(&self) -> usize {
        const MAX_STEP: u64 = 1024 * 1024;
        const UNKNOWN: u64 = 16 * 1024;
        let known = match self.state {
            BodyProgress::Length { remaining }
            | BodyProgress::Chunked(Chunk::Data { remaining }) => remaining,
            _ => UNKNOWN,
        };
        usize::try_from(known.clamp(1, MAX_STEP)).unwrap_or(1)
    }

    /// The declared length, when the body is not chunked.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Body bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// True once the whole body has been read.
    pub fn is_complete(&self) -> bool {
        matches!(
            self.state,
            BodyProgress::Done | BodyProgress::Length { remaining: 0 }
        )
    }

    /// The error the body failed with, if any.
    pub fn error(&self) -> Option<&BodyError> {
        self.error.as_ref()
    }

    /// Reads and discards what the handler left unread, up to `cap` bytes,
    /// so the connection can carry the next request. Returns whether the
    /// body ended within the cap.
    pub(crate) async fn discard(&mut self, scratch: &mut [u8], cap: u64) -> bool {
        let mut discarded = 0u64;
        while discarded <= cap {
            match self.read(scratch).await {
                Ok(0) => return self.is_complete(),
                Ok(n) => discarded += n as u64,
                Err(_) => return false,
            }
        }
        false
    }

    async fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        loop {
            match self.state {
                BodyProgress::Done => return Ok(0),
                BodyProgress::Length { remaining: 0 } => {
                    self.state = BodyProgress::Done;
                    return Ok(0);
                }
                BodyProgress::Length { remaining } => {
                    let want = clamp(buf.len(), remaining);
                    let n = self.read_data(&mut buf[..want]).await?;
                    self.state = BodyProgress::Length {
                        remaining: remaining - n as u64,
                    };
                    return Ok(n);
                }
                BodyProgress::Chunked(Chunk::Data { remaining }) => {
                    let want = clamp(buf.len(), remaining);
                    let n = self.read_data(&mut buf[..want]).await?;
                    self.state = BodyProgress::Chunked(match remaining - n as u64 {
                        0 => Chunk::DataEnd,
                        remaining => Chunk::Data { remaining },
                    });
                    return Ok(n);
                }
                BodyProgress::Chunked(Chunk::SizeLine) => {
                    let line_len = self.buffer_line(MAX_CHUNK_LINE).await?;
                    let size = parse_chunk_size_line(&self.input.filled()[..line_len])?;
                    self.input.consume(line_len);
                    if self.received.saturating_add(size) > self.limit {
                        return Err(BodyError::TooLarge { limit: self.limit });
                    }
                    self.state = BodyProgress::Chunked(match size {
                        0 => Chunk::Trailers { seen: 0 },
                        size => Chunk::Data { remaining: size },
                    });
                }
                BodyProgress::Chunked(Chunk::DataEnd) => {
                    while self.input.filled().len() < 2 {
                        self.buffer_more().await?;
                    }
                    if &self.input.filled()[..2] != b"\r\n" {
                        return Err(BodyError::BadChunk("chunk data not followed by CRLF"));
                    }
                    self.input.consume(2);
                    self.state = BodyProgress::Chunked(Chunk::SizeLine);
                }
                BodyProgress::Chunked(Chunk::Trailers { seen }) => {
                    // The empty line that ends the body always fits.
                    let allowed = self.max_trailer_bytes.saturating_sub(seen).max(2);
                    let line_len = self.buffer_line(allowed.min(MAX_CHUNK_LINE)).await?;
                    let line = &self.input.filled()[..line_len];
                    let is_end = line == b"\r\n";
                    check_trailer_line(line)?;
                    self.input.consume(line_len);
                    self.state = if is_end {
                        BodyProgress::Done
                    } else {
                        BodyProgress::Chunked(Chunk::Trailers {
                            seen: seen + line_len,
                        })
                    };
                }
            }
        }
    }

    /// Delivers body bytes: from the buffer when it holds some, else
    /// straight from the socket into `out` (no copy for large bodies).
    async fn read_data(&mut self, out: &mut [u8]) -> Result<usize, BodyError> {
        if !self.input.is_empty() {
            return Ok(self.input.take_into(out));
        }
        let (deadline, late) = self.next_deadline();
        let read = timeout_at(deadline, self.stream.read(out)).await;
        match read {
            Err(_) => Err(late),
            Ok(Err(e)) => Err(BodyError::Io(Arc::new(e))),
            Ok(Ok(0)) => Err(BodyError::Truncated),
            Ok(Ok(n)) => {
                self.wire_bytes += n as u64;
                Ok(n)
            }
        }
    }

    /// Reads until the buffer holds a whole line (ending in LF) of at most
    /// `max` bytes; returns its length including the line end.
    async fn buffer_line(&mut self, max: usize) -> Result<usize, BodyError> {
        loop {
            let filled = self.input.filled();
            if let Some(lf) = filled.iter().take(max).position(|&b| b == b'\n') {
                return Ok(lf + 1);
            }
            if filled.len() >= max {
                return Err(BodyError::BadChunk("chunk line or trailer too long"));
            }
            self.buffer_more().await?;
        }
    }

    async fn buffer_more(&mut self) -> Result<(), BodyError> {
        let (deadline, late) = self.next_deadline();
        let read = timeout_at(deadline, self.input.read_from(&mut *self.stream)).await;
        if let Ok(Ok(n)) = read {
            self.wire_bytes += n as u64;
        }
        match read {
            Err(_) => Err(late),
            Ok(Err(e)) => Err(BodyError::Io(Arc::new(e))),
            Ok(Ok(0)) if self.input.is_full() => {
                Err(BodyError::BadChunk("chunk line or trailer too long"))
            }
            Ok(Ok(0)) => Err(BodyError::Truncated),
            Ok(Ok(_)) => Ok(()),
        }
    }
}

impl Body<'_> {
    /// When the next read must have returned, and the error if it has not:
    /// the read timeout, or the whole body's deadline when that is sooner.
    fn next_deadline(&self) -> (Instant, BodyError) {
        let per_read = Instant::now() + self.pace.read_timeout;
        let earned =
            Duration::from_millis(self.wire_bytes.saturating_mul(1000) / self.pace.min_rate.max(1));
        let whole = self.started + self.pace.grace.saturating_add(earned);
        if whole < per_read {
            let late = BodyError::TooSlow {
                min_rate: self.pace.min_rate,
                grace: self.pace.grace,
            };
            (whole, late)
        } else {
            (per_read, BodyError::Timeout(self.pace.read_timeout))
        }
    }
}

fn clamp(len: usize, remaining: u64) -> usize {
    usize::try_from(remaining).map_or(len, |r| r.min(len))
}

/// Parses `1a;name=value\r\n`. Extensions are skipped (RFC 9112 7.1.1: a
/// recipient must ignore unrecognised ones) but must hold no control
/// characters; bare LF line ends are refused, as they enable smuggling.
fn parse_chunk_size_line(line: &[u8]) -> Result<u64, BodyError> {
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or(BodyError::BadChunk("chunk size line not ended by CRLF"))?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BodyError::BadChunk("chunk size is not hexadecimal"));
    }
    if digits > MAX_CHUNK_SIZE_DIGITS {
        return Err(BodyError::BadChunk("chunk size too large"));
    }
    let mut size = 0u64;
    for &b in &line[..digits] {
        let digit = (b as char).to_digit(16).map_or(0, u64::from);
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit))
            .ok_or(BodyError::BadChunk("chunk size too large"))?;
    }
    let rest = &line[digits..];
    let extensions = rest.trim_ascii_start();
    if !extensions.is_empty() && extensions[0] != b';' {
        return Err(BodyError::BadChunk("garbage after chunk size"));
    }
    if extensions.iter().any(|&b| is_forbidden_control(b)) {
        return Err(BodyError::BadChunk("control character in chunk extension"));
    }
    Ok(size)
}

/// Trailer fields are ignored, but each line must be CRLF-ended and free of
/// control characters.
fn check_trailer_line(line: &[u8]) -> Result<(), BodyError> {
    let content = line
        .strip_suffix(b"\r\n")
        .ok_or(BodyError::BadChunk("trailer line not ended by CRLF"))?;
    if content.iter().any(|&b| is_forbidden_control(b)) {
        return Err(BodyError::BadChunk("control character in trailer"));
    }
    if !content.is_empty() && !content.contains(&b':') {
        return Err(BodyError::BadChunk("trailer line is not a field"));
    }
    Ok(())
}

fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Shortens a vector back to the bytes actually read, also when the
/// reading future is dropped half way.
struct TruncateOnDrop<'v> {
    buf: &'v mut Vec<u8>,
    filled: usize,
}

impl<'v> TruncateOnDrop<'v> {
    fn new(buf: &'v mut Vec<u8>) -> Self {
        let filled = buf.len();
        TruncateOnDrop { buf, filled }
    }
}

impl Drop for TruncateOnDrop<'_> {
    fn drop(&mut self) {
        self.buf.truncate(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    /// Decodes `wire` (sent over a real socket pair, then closed) with the
    /// given framing and limit, reading `step` bytes at a time.
    async fn decode(
        wire: &[u8],
        framing: BodyFraming,
        limit: u64,
        step: usize,
    ) -> Result<Vec<u8>, BodyError> {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let wire = wire.to_vec();
        // Closing after the write lets a short body end as truncated.
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&wire).await;
        });
        let mut input = InBuf::new(1024);
        let mut body = Body::new(
            &mut server,
            &mut input,
            framing,
            limit,
            Pace::per_read(Duration::from_secs(5)),
            1024,
        );
        let mut out = Vec::new();
        let mut piece = vec![0u8; step];
        let result = loop {
            match body.read(&mut piece).await {
                Ok(0) => break Ok(out),
                Ok(n) => out.extend_from_slice(&piece[..n]),
                Err(e) => break Err(e),
            }
        };
        writer.await.unwrap();
        result
    }

    #[tokio::test]
    async fn decodes_chunks_with_extensions_and_trailers() {
        let wire = b"3;name=value\r\nabc\r\nA ; x\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
        for step in [1, 2, 7, 4096] {
            let got = decode(wire, BodyFraming::Chunked, 100, step).await.unwrap();
            assert_eq!(got, b"abc0123456789", "step {step}");
        }
    }

    #[tokio::test]
    async fn refuses_malformed_chunks() {
        for wire in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3x\r\nabc\r\n0\r\n\r\n",
            b"11111111111111111\r\n",
            b"3;\x01\r\nabc\r\n0\r\n\r\n",
            b"0\r\nnot a field\r\n\r\n",
        ] {
            let err = decode(wire, BodyFraming::Chunked, 1 << 40, 16)
                .await
                .unwrap_err();
            assert!(matches!(err, BodyError::BadChunk(_)), "{wire:?}: {err}");
            assert_eq!(err.status(), Some(400));
        }
    }

    #[tokio::test]
    async fn chunked_total_over_limit_is_too_large() {
        let err = decode(
            b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
            BodyFraming::Chunked,
            10,
            64,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 10 }));
    }

    #[tokio::test]
    async fn content_length_body_and_truncation() {
        assert_eq!(
            decode(b"hello", BodyFraming::Length(5), 5, 2)
                .await
                .unwrap(),
            b"hello"
        );
        let err = decode(b"hel", BodyFraming::Length(5), 5, 2)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Truncated));
        let err = decode(b"3\r\nab", BodyFraming::Chunked, 100, 2)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyError::Truncated));
    }

    #[tokio::test]
    async fn fill_reads_until_want_or_end() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client
            .write_all(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            .await
            .unwrap();
        let mut input = InBuf::new(1024);
        let mut body = Body::new(
            &mut server,
            &mut input,
            BodyFraming::Chunked,
            100,
            Pace::per_read(Duration::from_secs(5)),
            1024,
        );
        let mut buf = b"x".to_vec();
        assert!(!body.fill(&mut buf, 4).await.unwrap());
        assert_eq!(buf, b"xhel");
        assert!(body.fill(&mut buf, 100).await.unwrap());
        assert_eq!(buf, b"xhello world");
        assert_eq!(body.received(), 11);
    }

    #[tokio::test]
    async fn stalled_body_times_out() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client.write_all(b"ab").await.unwrap();
        let mut input = InBuf::new(1024);
        let mut body = Body::new(
            &mut server,
            &mut input,
            BodyFraming::Length(5),
            5,
            Pace::per_read(Duration::from_millis(100)),
            1024,
        );
        let mut buf = Vec::new();
        let err = body.fill(&mut buf, 5).await.unwrap_err();
        assert!(matches!(err, BodyError::Timeout(_)));
        assert_eq!(buf, b"ab");
        assert!(matches!(
            body.read(&mut [0; 4]).await,
            Err(BodyError::Timeout(_))
        ));
    }
}

#[cfg(test)]
mod pace_tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    fn pace(grace_ms: u64, min_rate: u64) -> Pace {
        Pace {
            read_timeout: Duration::from_secs(5),
            grace: Duration::from_millis(grace_ms),
            min_rate,
        }
    }

    /// A byte now and then, each well within the read timeout, still ends
    /// once the whole body falls behind its pace.
    #[tokio::test]
    async fn a_trickle_is_cut_off_by_the_whole_body_deadline() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let trickle = tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let mut input = InBuf::new(1024);
        let mut body = Body::new(
            &mut server,
            &mut input,
            BodyFraming::Length(100),
            100,
            pace(1000, 1000),
            1024,
        );
        let started = Instant::now();
        let mut buf = Vec::new();
        let err = body.fill(&mut buf, 100).await.unwrap_err();
        assert!(matches!(err, BodyError::TooSlow { .. }), "{err}");
        assert_eq!(err.status(), Some(408));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1000) && took < Duration::from_secs(4),
            "{took:?}"
        );
        assert!(buf.len() < 20, "{} bytes", buf.len());
        trickle.abort();
    }

    /// A body far larger than grace × rate passes when it keeps the pace
    /// (here twenty times the minimum rate, for a loaded machine).
    #[tokio::test]
    async fn a_steady_upload_longer_than_the_grace_passes() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let total = 64 * 1024;
        let writer = tokio::spawn(async move {
            for _ in 0..32 {
                client.write_all(&[b'y'; 2048]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut input = InBuf::new(1024);
        let mut body = Body::new(
            &mut server,
            &mut input,
            BodyFraming::Length(total),
            total,
            pace(500, 1024),
            1024,
        );
        let started = Instant::now();
        let mut buf = Vec::new();
        assert!(body.fill(&mut buf, total as usize).await.unwrap());
        assert_eq!(buf.len(), total as usize);
        assert!(started.elapsed() > Duration::from_millis(500));
        writer.await.unwrap();
    }
}
