//! The two servers `transport` compares, each run as a child process of
//! its own (`transport-serve`), so their memory can be told apart:
//!
//! - ours: `printspoold::sources::ipp::http::Server`, the daemon's
//!   transport, with a [`Handler`] around [`GpaResponder`];
//! - hyper 1.x (`http1` server, `hyper-util`'s tokio glue), with a
//!   `service_fn` around the same [`GpaResponder`] and the limits hyper
//!   can express; what it cannot is glue here, listed in benches/README.md.
//!
//! Both run on the daemon's runtime shape: multi-threaded, one worker per
//! core up to four.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, SERVER};
use hyper_util::rt::{TokioIo, TokioTimer};
use printspoold::config::ServerLimits as DaemonLimits;
use printspoold::sources::ipp::http::{Body, Handler, HttpRequest, Response, Server};
use printspoold::sources::ipp::listeners::Listener;
use tokio::net::TcpListener;

use super::gpa::GpaResponder;
use crate::error::{BenchError, Context};

/// Which transport a child serves with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Ours,
    Hyper,
}

impl TransportKind {
    pub const BOTH: [TransportKind; 2] = [TransportKind::Ours, TransportKind::Hyper];

    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Ours => "ours",
            TransportKind::Hyper => "hyper",
        }
    }

    pub fn parse(text: &str) -> Option<TransportKind> {
        TransportKind::BOTH.into_iter().find(|k| k.name() == text)
    }
}

/// Which limits a child applies: the daemon's defaults for the load, or
/// short timeouts and small sizes so the limit probes run in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitProfile {
    Daemon,
    Probe,
}

impl LimitProfile {
    pub fn name(self) -> &'static str {
        match self {
            LimitProfile::Daemon => "daemon",
            LimitProfile::Probe => "probe",
        }
    }

    pub fn parse(text: &str) -> Option<LimitProfile> {
        [LimitProfile::Daemon, LimitProfile::Probe]
            .into_iter()
            .find(|p| p.name() == text)
    }

    /// The daemon's `[server.limits]`, as both servers get them.
    pub fn limits(self) -> DaemonLimits {
        match self {
            // All load comes from one address: the per-peer cap (64)
            // would refuse a round's connections while the last round's
            // are still being closed. hyper has no such cap to lift.
            LimitProfile::Daemon => DaemonLimits {
                max_connections_per_peer: DaemonLimits::default().max_connections,
                ..DaemonLimits::default()
            },
            // A 64 KiB body limit (document plus attributes).
            LimitProfile::Probe => DaemonLimits {
                max_document_bytes: 0,
                max_ipp_attribute_bytes: PROBE_MAX_BODY as usize,
                max_connections_per_peer: PROBE_PER_PEER,
                read_timeout: 2,
                head_timeout: 2,
                body_timeout: 2,
                keepalive_timeout: 2,
                ..DaemonLimits::default()
            },
        }
    }
}

/// The per-peer connection cap of the probe profile.
pub const PROBE_PER_PEER: usize = 4;
/// The body limit of the probe profile.
pub const PROBE_MAX_BODY: u64 = 64 * 1024;

/// The largest request body, as the daemon computes it (document plus
/// attribute section).
fn max_body_bytes(limits: &DaemonLimits) -> u64 {
    limits
        .max_document_bytes
        .saturating_add(limits.max_ipp_attribute_bytes as u64)
}

/// `transport-serve ours|hyper PORT ANSWER_FILE daemon|probe`: serves
/// until killed.
pub fn serve_main(args: &[String]) -> Result<(), BenchError> {
    let usage = || BenchError::Usage("transport-serve ours|hyper PORT ANSWER daemon|probe".into());
    let [kind, port, answer, profile] = args else {
        return Err(usage());
    };
    let kind = TransportKind::parse(kind).ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    let profile = LimitProfile::parse(profile).ok_or_else(usage)?;
    let answer = std::fs::read(Path::new(answer)).context(|| format!("reading {answer}"))?;
    let responder = Arc::new(GpaResponder::from_answer(&answer).map_err(BenchError::Setup)?);
    let runtime = crate::ceiling::server_runtime("the server")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let limits = profile.limits();
    runtime.block_on(async move {
        let listener = TcpListener::bind(addr)
            .await
            .context(|| format!("binding {addr}"))?;
        match kind {
            TransportKind::Ours => serve_ours(listener, limits, responder).await,
            TransportKind::Hyper => serve_hyper(listener, limits, responder).await,
        }
    })
}

/// Our transport, set up as `src/daemon.rs` sets it up.
async fn serve_ours(
    listener: TcpListener,
    limits: DaemonLimits,
    responder: Arc<GpaResponder>,
) -> Result<(), BenchError> {
    let max_body = max_body_bytes(&limits);
    let server = Server::new(limits, max_body, Arc::new(OwnHandler(responder)));
    server
        .spawn_listener(Listener::Tcp(Arc::new(listener)))
        .await
        .map_err(|e| BenchError::Setup(format!("the accept loop ended: {e}")))
}

/// [`GpaResponder`] behind our transport's [`Handler`].
struct OwnHandler(Arc<GpaResponder>);

impl Handler for OwnHandler {
    fn handle<'a>(
        &'a self,
        req: &'a HttpRequest,
        body: &'a mut Body<'_>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        Box::pin(async move {
            if req.method != "POST" {
                return Response::text(405, "POST only\n");
            }
            // The attribute section only, as the daemon's service reads it.
            let mut buf = Vec::new();
            match body.fill(&mut buf, self.0.max_request_bytes()).await {
                Ok(_) => Response::ipp(self.0.answer(&buf)),
                // The transport answers in place of this (408, 413, 400).
                Err(e) => Response::text(e.status().unwrap_or(400), &e.to_string()),
            }
        })
    }
}

/// hyper with every limit of [`DaemonLimits`] it has a setting for.
async fn serve_hyper(
    listener: TcpListener,
    limits: DaemonLimits,
    responder: Arc<GpaResponder>,
) -> Result<(), BenchError> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also bounds the idle wait between requests: hyper has no
        // separate keep-alive timeout.
        .header_read_timeout(Duration::from_secs(limits.head_timeout))
        .keep_alive(limits.keepalive_timeout > 0)
        // hyper's floor is 8 KiB; ours is 16 KiB by default.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(printspoold::sources::ipp::http::head::MAX_HEADERS);
    let glue = Arc::new(HyperGlue {
        responder,
        max_body: usize::try_from(max_body_bytes(&limits)).unwrap_or(usize::MAX),
        body_timeout: Duration::from_secs(limits.read_timeout),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // As ours: answers are written whole, Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let glue = Arc::clone(&glue);
        let service = hyper::service::service_fn(move |req| {
            let glue = Arc::clone(&glue);
            async move { Ok::<_, Infallible>(glue.answer(req).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // A client going away is the normal end of a connection.
            let _ = connection.await;
        });
    }
}

/// What the hyper server needs beyond hyper's own settings: the body size
/// limit and a body timeout, which hyper leaves to the service.
struct HyperGlue {
    responder: Arc<GpaResponder>,
    max_body: usize,
    /// A deadline for the whole body: hyper has no per-read timeout and
    /// no minimum rate.
    body_timeout: Duration,
}

type HyperReply = hyper::Response<Full<Bytes>>;

impl HyperGlue {
    async fn answer(&self, req: hyper::Request<Incoming>) -> HyperReply {
        if req.method() != hyper::Method::POST {
            return text_reply(405, "POST only\n");
        }
        // A declared length over the limit is refused before the body is
        // polled, so no 100 Continue goes out (hyper sends it on first poll).
        if req
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return text_reply(413, "declared Content-Length exceeds the limit\n");
        }
        let body = Limited::new(req.into_body(), self.max_body);
        match tokio::time::timeout(self.body_timeout, body.collect()).await {
            Err(_) => text_reply(408, "request body not complete in time\n"),
            Ok(Err(e)) if e.is::<LengthLimitError>() => {
                text_reply(413, "request body larger than the limit\n")
            }
            Ok(Err(_)) => text_reply(400, "malformed request body\n"),
            Ok(Ok(collected)) => {
                let answer = self.responder.answer(&collected.to_bytes());
                reply(200, "application/ipp", answer, false)
            }
        }
    }
}

/// An error answer; the connection closes after it, as ours does.
fn text_reply(status: u16, text: &'static str) -> HyperReply {
    reply(
        status,
        "text/plain; charset=utf-8",
        text.as_bytes().to_vec(),
        true,
    )
}

fn reply(status: u16, content_type: &'static str, body: Vec<u8>, close: bool) -> HyperReply {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        SERVER,
        hyper::header::HeaderValue::from_static("printspoold"),
    );
    if close {
        headers.insert(CONNECTION, hyper::header::HeaderValue::from_static("close"));
    }
    response
}
