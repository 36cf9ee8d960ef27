//! The HTTP/1.1 transport that carries IPP (RFC 8010 section 4).
//!
//! One tokio task per connection, so a slow client only ever holds its own
//! task and a small buffer. Every limit a client could abuse is explicit
//! ([`crate::config::ServerLimits`]): head size, body size, time per read, a
//! deadline for a whole head and a minimum rate for a whole body, idle
//! keep-alive time, and the number of connections in all and per peer
//! (with slots kept for root on the Unix socket).
//!
//! - [`head`]: request head parsing (pure, fuzzable: [`parse_head`],
//!   [`head::interpret`]);
//! - [`body`]: the streamed request body (Content-Length or chunked);
//! - [`conn`]: the per-connection loop; [`server`]: accepting and shutdown.

pub mod body;
mod conn;
pub mod head;
mod response;
mod server;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use body::{Body, BodyError};
pub use head::{HeadError, RequestHead, parse_head};
pub use server::{HandedOff, Server};

/// A request as the handler sees it. The body is passed separately, as a
/// [`Body`] that streams from the socket.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST` or `OPTIONS`. A `HEAD` request reaches the handler as
    /// `GET`; the transport then sends the headers without the body.
    pub method: String,
    /// Decoded path without query: UTF-8, no control characters.
    pub path: String,
    /// The raw query string, not decoded.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub peer: Peer,
}

impl HttpRequest {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Host` header (the transport guarantees at most one).
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }
}

/// Who is on the other end of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(std::net::SocketAddr),
    /// Kernel-checked credentials of a local client (`SO_PEERCRED`).
    Unix {
        uid: u32,
        gid: u32,
        pid: Option<i32>,
    },
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix {
                uid,
                pid: Some(pid),
                ..
            } => write!(f, "unix uid {uid} pid {pid}"),
            Peer::Unix { uid, pid: None, .. } => write!(f, "unix uid {uid}"),
        }
    }
}

/// A complete response; the transport adds `Content-Length`, `Date`,
/// `Server` and `Connection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A 200 IPP response (`application/ipp`).
    pub fn ipp(body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type: "application/ipp",
            body,
            close: false,
        }
    }

    /// A 200 HTML page.
    pub fn html(body: String) -> Self {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
            close: false,
        }
    }

    /// A plain-text response with any status.
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            close: false,
        }
    }
}

/// Answers requests. The handler may read as much of the body as it wants;
/// the transport discards a small unread rest to keep the connection, or
/// closes it. If reading the body failed (malformed chunking, too large,
/// timed out), the transport answers 400/413/408 itself in place of the
/// handler's response and closes.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        req: &'a HttpRequest,
        body: &'a mut Body<'_>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>>;
}

/// Per-peer caps count clients the way the job core does.
pub use crate::core::address_group;
