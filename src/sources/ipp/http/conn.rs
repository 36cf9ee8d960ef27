//! One connection: read a head, run the handler with the streamed body,
//! write the response, repeat while keep-alive holds.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep, timeout, timeout_at};
use tracing::{debug, warn};

use super::body::{Body, InBuf, Pace};
use super::head::{ALLOWED_METHODS, RequestHead, Shape, interpret, parse_head};
use super::response::{self, DateCache};
use super::{Handler, HttpRequest, Peer, Response};

/// Unread body the transport discards after the handler to keep the
/// connection; beyond this it closes instead.
const DRAIN_CAP: u64 = 64 * 1024;
/// How long and how much a closing connection keeps reading what the
/// client still sends, so the kernel does not reset the connection before
/// the client has read the final response (the "lingering close").
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection limits, resolved from [`crate::config::ServerLimits`].
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    /// Time allowed for one body read, writing a response, or a new
    /// connection's first byte.
    pub read_timeout: Duration,
    /// Time allowed for a whole request head, from its first byte.
    pub head_timeout: Duration,
    /// Time allowed for a whole body beyond what its size earns (see
    /// [`Pace`]).
    pub body_grace: Duration,
    /// Bytes per second a body must keep up on average after the grace.
    pub body_min_rate: u64,
    /// Idle time between requests; zero disables keep-alive.
    pub keepalive_timeout: Duration,
}

/// How long a fresh connection may take to send its first request once
/// shutdown has begun (see [`Connection::wait_for_request`]).
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(2);

/// What happened while waiting for the first byte of a request.
enum Wait {
    Data,
    TimedOut,
    Closed,
    ShuttingDown,
    /// Shutdown with the hand-off on: the connection goes to the next
    /// instance (the file descriptor store) instead of being closed.
    HandOff,
}

enum Next {
    KeepAlive,
    Close,
}

pub(crate) struct Connection<'h, S> {
    stream: S,
    peer: Peer,
    settings: &'h Settings,
    handler: &'h dyn Handler,
    shutdown: watch::Receiver<bool>,
    /// Whether an idle connection is handed off at shutdown (see
    /// [`Connection::run`]); read when shutdown begins.
    hand_off: Arc<AtomicBool>,
    /// Set when the connection ended idle for the hand-off.
    handed_off: bool,
    /// Resolves once shutdown begins. Made once per connection so waiting
    /// between requests does not register a new waiter each time.
    stopping: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The idle timer, also made once: it is moved forward only when it
    /// fires early, not on every request (the "lazy timer"), which keeps
    /// the timer wheel out of the keep-alive fast path.
    idle_timer: Pin<Box<Sleep>>,
    input: InBuf,
    /// Reused for every response (and as scratch when discarding a body).
    out: Vec<u8>,
    date: DateCache,
}

impl<'h, S> Connection<'h, S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(crate) fn new(
        stream: S,
        peer: Peer,
        settings: &'h Settings,
        handler: &'h dyn Handler,
        shutdown: watch::Receiver<bool>,
        hand_off: Arc<AtomicBool>,
    ) -> Self {
        let mut stop = shutdown.clone();
        let stopping = Box::pin(async move {
            // An error means the server is gone: stop as well.
            let _ = stop.wait_for(|stop| *stop).await;
        });
        Connection {
            stopping,
            idle_timer: Box::pin(tokio::time::sleep(settings.read_timeout)),
            input: InBuf::new(settings.max_header_bytes),
            out: Vec::with_capacity(1024),
            date: DateCache::new(),
            stream,
            peer,
            settings,
            handler,
            shutdown,
            hand_off,
            handed_off: false,
        }
    }

    /// Serves requests until the client leaves, a limit is hit, keep-alive
    /// ends or the server shuts down. Returns the stream when shutdown found
    /// it waiting for a request, nothing of one read, and the hand-off on:
    /// a request in progress is finished first, then the idle connection
    /// goes to the next instance instead of being closed.
    ///
    /// `resumed`: a connection taken over from a previous instance, idle
    /// between requests, so its wait is the keep-alive one, not a new
    /// connection's first-request wait.
    pub(crate) async fn run(mut self, resumed: bool) -> Option<S> {
        debug!(peer = %self.peer, resumed, "connection opened");
        let mut first = !resumed;
        while let Some(head) = self.next_head(first).await {
            first = false;
            if let Next::Close = self.exchange(head).await {
                break;
            }
        }
        if self.handed_off && self.input.is_empty() {
            debug!(peer = %self.peer, "idle connection kept for the next instance");
            return Some(self.stream);
        }
        debug!(peer = %self.peer, "connection closed");
        None
    }

    /// Reads the next request head. Refusals (408, 400, 431) are answered
    /// here; `None` means the connection is to be closed.
    async fn next_head(&mut self, first: bool) -> Option<RequestHead> {
        if self.input.is_empty() {
            let idle = if first {
                self.settings.read_timeout
            } else {
                self.settings.keepalive_timeout
            };
            match self.wait_for_request(idle, first).await {
                Wait::Data => {}
                Wait::TimedOut if first => {
                    self.refuse(408, "no request within the read timeout", "")
                        .await;
                    return None;
                }
                Wait::HandOff => {
                    self.handed_off = true;
                    return None;
                }
                Wait::TimedOut | Wait::Closed | Wait::ShuttingDown => return None,
            }
        }
        // The whole head must arrive within the head timeout, however the
        // bytes trickle in, so a client sending a byte now and then cannot
        // hold the connection (the "slow loris").
        let mut deadline = None;
        let mut scanned = 0;
        loop {
            let filled = self.input.filled();
            if may_hold_whole_head(filled, scanned)
                || filled.len() >= self.settings.max_header_bytes
            {
                match parse_head(filled, self.settings.max_header_bytes) {
                    Ok(Some((head, used))) => {
                        self.input.consume(used);
                        return Some(head);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        warn!(peer = %self.peer, %error, "refused request head");
                        self.refuse(error.status(), &error.to_string(), "").await;
                        return None;
                    }
                }
            }
            scanned = filled.len();
            // Taken when a head needs more than one read, which is rare.
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + self.settings.head_timeout);
            match timeout_at(deadline, self.input.read_from(&mut self.stream)).await {
                Ok(Ok(0)) => {
                    debug!(peer = %self.peer, "client closed the connection inside a request head");
                    return None;
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    debug!(peer = %self.peer, %error, "reading a request head failed");
                    return None;
                }
                Err(_) => {
                    warn!(peer = %self.peer, "request head not complete within the head timeout");
                    self.refuse(408, "request head not complete within the head timeout", "")
                        .await;
                    return None;
                }
            }
        }
    }

    /// Waits for the first byte of a request. Shutdown closes an idle
    /// keep-alive connection at once, but a connection that has not sent
    /// its first request yet was accepted for a client that is about to
    /// send one: closing it would lose that request across a restart or an
    /// idle exit, so it gets [`FIRST_REQUEST_GRACE`] to arrive.
    async fn wait_for_request(&mut self, idle: Duration, first: bool) -> Wait {
        if idle.is_zero() {
            return Wait::TimedOut;
        }
        let mut deadline = Instant::now() + idle;
        // Also keeps `stopping` from being polled after it has completed.
        let mut stopping_seen = *self.shutdown.borrow();
        if stopping_seen {
            if self.hand_off.load(Ordering::Acquire) {
                return Wait::HandOff;
            }
            if !first {
                return Wait::ShuttingDown;
            }
            deadline = deadline.min(Instant::now() + FIRST_REQUEST_GRACE);
        }
        if self.idle_timer.deadline() > deadline {
            self.idle_timer.as_mut().reset(deadline);
        }
        let read = self.input.read_from(&mut self.stream);
        tokio::pin!(read);
        loop {
            tokio::select! {
                biased;
                read = &mut read => return match read {
                    Ok(0) => Wait::Closed,
                    Ok(_) => Wait::Data,
                    Err(error) => {
                        debug!(peer = %self.peer, %error, "reading from the client failed");
                        Wait::Closed
                    }
                },
                () = &mut self.stopping, if !stopping_seen => {
                    if self.hand_off.load(Ordering::Acquire) {
                        return Wait::HandOff;
                    }
                    if !first {
                        return Wait::ShuttingDown;
                    }
                    stopping_seen = true;
                    deadline = deadline.min(Instant::now() + FIRST_REQUEST_GRACE);
                    self.idle_timer.as_mut().reset(deadline);
                }
                () = &mut self.idle_timer => {
                    if Instant::now() >= deadline {
                        return Wait::TimedOut;
                    }
                    // Set for an earlier wait: move on to this one's end.
                    self.idle_timer.as_mut().reset(deadline);
                }
            }
        }
    }

    /// One request and its response.
    async fn exchange(&mut self, head: RequestHead) -> Next {
        let shape = match interpret(&head, self.settings.max_body_bytes) {
            Ok(shape) => shape,
            Err(refusal) => {
                warn!(
                    peer = %self.peer,
                    method = %head.method.escape_debug(),
                    path = %head.path.escape_debug(),
                    status = refusal.status,
                    reason = refusal.reason,
                    "refused request"
                );
                let extra = if refusal.status == 405 {
                    ALLOW_HEADER
                } else {
                    ""
                };
                self.refuse(refusal.status, refusal.reason, extra).await;
                return Next::Close;
            }
        };
        if shape.expect_continue && shape.has_body() && self.write_interim(CONTINUE).await.is_err()
        {
            return Next::Close;
        }
        let head_only = head.method == "HEAD";
        let http10 = head.minor_version == 0;
        let request = HttpRequest {
            method: if head_only {
                "GET".to_string()
            } else {
                head.method
            },
            path: head.path,
            query: head.query,
            headers: head.headers,
            peer: self.peer.clone(),
        };
        // OPTIONS is answered by the transport: only `Allow` matters.
        let handler = (request.method != "OPTIONS").then_some(self.handler);
        let (response, body_state) = self.read_body(&shape, handler, &request).await;
        let reply = ResponseMode { head_only, http10 };
        self.finish(&request, &shape, response, body_state, reply)
            .await
    }

    /// Runs the handler (or nothing, for OPTIONS) with the body, then
    /// discards what it left unread.
    async fn read_body(
        &mut self,
        shape: &Shape,
        handler: Option<&dyn Handler>,
        request: &HttpRequest,
    ) -> (Option<Response>, BodyState) {
        let mut body = Body::new(
            &mut self.stream,
            &mut self.input,
            shape.framing,
            self.settings.max_body_bytes,
            Pace {
                read_timeout: self.settings.read_timeout,
                grace: self.settings.body_grace,
                min_rate: self.settings.body_min_rate,
            },
            self.settings.max_header_bytes,
        );
        let response = match handler {
            Some(handler) => Some(handler.handle(request, &mut body).await),
            None => None,
        };
        let state = if let Some(error) = body.error() {
            BodyState::Failed(error.clone())
        } else if body.is_complete() {
            BodyState::Complete
        } else {
            self.out.resize(8192, 0);
            // A failure here is not the handler's concern: its response
            // still goes out, and the connection closes.
            match body.discard(&mut self.out, DRAIN_CAP).await {
                true => BodyState::Complete,
                false => BodyState::LeftUnread,
            }
        };
        (response, state)
    }

    async fn finish(
        &mut self,
        request: &HttpRequest,
        shape: &Shape,
        response: Option<Response>,
        body_state: BodyState,
        reply: ResponseMode,
    ) -> Next {
        if let BodyState::Failed(error) = body_state {
            return match error.status() {
                Some(status) => {
                    warn!(peer = %self.peer, path = %request.path.escape_debug(), %error, "refused request body");
                    self.refuse(status, &error.to_string(), "").await;
                    Next::Close
                }
                None => {
                    debug!(peer = %self.peer, %error, "request body lost");
                    Next::Close
                }
            };
        }
        let response = response.unwrap_or_else(|| Response::text(200, ""));
        let status = checked_status(response.status, &request.path);
        let close = response.close
            || !shape.keep_alive
            || matches!(body_state, BodyState::LeftUnread)
            || self.settings.keepalive_timeout.is_zero()
            || (*self.shutdown.borrow() && !self.hand_off.load(Ordering::Acquire));
        let is_options = request.method == "OPTIONS";
        let framing = response::ResponseFraming {
            close,
            announce_keep_alive: !close && reply.http10,
            head_only: reply.head_only,
            extra_headers: if is_options { ALLOW_HEADER } else { "" },
        };
        response::encode(
            &mut self.out,
            &mut self.date,
            status,
            response.content_type,
            &response.body,
            &framing,
        );
        let written = self.write_response().await;
        if written.is_err() || close {
            self.linger().await;
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// Answers with an error status and `Connection: close`.
    async fn refuse(&mut self, status: u16, message: &str, extra_headers: &str) {
        let framing = response::ResponseFraming {
            close: true,
            announce_keep_alive: false,
            head_only: false,
            extra_headers,
        };
        let body = format!("{} {}: {message}\n", status, response::reason(status));
        response::encode(
            &mut self.out,
            &mut self.date,
            status,
            "text/plain; charset=utf-8",
            body.as_bytes(),
            &framing,
        );
        if self.write_response().await.is_ok() {
            self.linger().await;
        }
    }

    async fn write_response(&mut self) -> io::Result<()> {
        let limit = self.settings.read_timeout;
        match timeout(limit, self.stream.write_all(&self.out)).await {
            Ok(result) => result,
            Err(_) => {
                debug!(peer = %self.peer, "client did not take the response in time");
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }

    async fn write_interim(&mut self, bytes: &[u8]) -> io::Result<()> {
        let limit = self.settings.read_timeout;
        timeout(limit, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }

    /// Half-closes and reads what the client still sends, briefly, so the
    /// final response is not destroyed by a reset (RFC 9112 9.6).
    async fn linger(&mut self) {
        let _ = timeout(LINGER_TIME, self.stream.shutdown()).await;
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        self.out.resize(8192, 0);
        while discarded < LINGER_BYTES {
            match timeout_at(deadline, self.stream.read(&mut self.out)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}

const ALLOW_HEADER: &str = "Allow: GET, HEAD, POST, OPTIONS\r\n";
const _: () = assert!(ALLOW_HEADER.len() == "Allow: \r\n".len() + ALLOWED_METHODS.len());

/// How the request body ended up after the handler.
enum BodyState {
    Complete,
    /// More than [`DRAIN_CAP`] left unread, or the rest could not be read:
    /// the connection must close.
    LeftUnread,
    Failed(super::BodyError),
}

/// How the response must be sent, from the request's head.
struct ResponseMode {
    head_only: bool,
    http10: bool,
}

/// A handler status outside 200..=599 is a bug; the client gets 500.
fn checked_status(status: u16, path: &str) -> u16 {
    if (200..=599).contains(&status) {
        status
    } else {
        warn!(status, path = %path.escape_debug(), "handler returned an invalid status");
        500
    }
}

/// A head can only be complete once an empty line has arrived; checking
/// just the new bytes keeps a byte-at-a-time client from costing a full
/// parse per byte.
fn may_hold_whole_head(filled: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3).min(filled.len());
    let new = &filled[from..];
    new.windows(2).any(|w| w == b"\n\n") || new.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_head_is_found_across_reads() {
        let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(may_hold_whole_head(head, 0));
        assert!(may_hold_whole_head(head, head.len() - 1));
        assert!(!may_hold_whole_head(&head[..head.len() - 1], 0));
        assert!(may_hold_whole_head(b"GET / HTTP/1.0\n\n", 15));
        assert!(!may_hold_whole_head(b"", 10));
    }
}
