//! Accepting connections, counting them, and shutting down gracefully.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::conn::{Connection, Settings};
use super::{Handler, Peer};
use crate::config::Limits;
use crate::sources::listeners::Listener;

/// Pause after an accept error that is about resources (out of file
/// descriptors, memory), so the loop does not spin while they are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// After the shutdown grace, how long aborted connections get to go away.
const ABORT_WAIT: Duration = Duration::from_secs(1);

struct Shared {
    settings: Settings,
    handler: Arc<dyn Handler>,
    /// One permit per open connection: beyond `max_connections`, accept
    /// waits and further clients queue in the kernel backlog.
    permits: Arc<Semaphore>,
    connections: watch::Sender<usize>,
    /// Stop accepting and close idle connections.
    stopping: watch::Sender<bool>,
    /// The grace period is over: drop every connection.
    aborting: watch::Sender<bool>,
}

/// Serves connections from listeners with one handler. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// `max_body_bytes` bounds a request body (the document plus the IPP
    /// attributes in front of it).
    pub fn new(limits: Limits, max_body_bytes: u64, handler: Arc<dyn Handler>) -> Self {
        let settings = Settings {
            max_header_bytes: limits.max_header_bytes.max(64),
            max_body_bytes,
            read_timeout: Duration::from_secs(limits.read_timeout.max(1)),
            keepalive_timeout: Duration::from_secs(limits.keepalive_timeout),
        };
        let permits = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        Server {
            shared: Arc::new(Shared {
                settings,
                handler,
                permits: Arc::new(Semaphore::new(permits)),
                connections: watch::Sender::new(0),
                stopping: watch::Sender::new(false),
                aborting: watch::Sender::new(false),
            }),
        }
    }

    /// Accepts on `listener` until shutdown; spawns one task per connection.
    pub fn spawn_listener(&self, listener: Listener) -> JoinHandle<()> {
        tokio::spawn(accept_loop(Arc::clone(&self.shared), listener))
    }

    /// Connections open now (for idle exit).
    pub fn active_connections(&self) -> usize {
        *self.shared.connections.borrow()
    }

    /// A watch that changes whenever [`Server::active_connections`] changes.
    pub fn connections_watch(&self) -> watch::Receiver<usize> {
        self.shared.connections.subscribe()
    }

    /// Stops accepting; lets requests in flight finish (their responses are
    /// written), closes idle keep-alive connections; returns when all
    /// connections are gone or `grace` elapsed, after which the remaining
    /// ones are dropped.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stopping.send_replace(true);
        let mut connections = self.connections_watch();
        let drained = tokio::time::timeout(grace, connections.wait_for(|n| *n == 0))
            .await
            .is_ok();
        if !drained {
            warn!(
                open = self.active_connections(),
                "connections still open after the shutdown grace period; closing them"
            );
            self.shared.aborting.send_replace(true);
            let _ = tokio::time::timeout(ABORT_WAIT, connections.wait_for(|n| *n == 0)).await;
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: Listener) {
    let mut stopping = shared.stopping.subscribe();
    let name = listener_name(&listener);
    debug!(listener = %name, "accepting connections");
    loop {
        let permit = tokio::select! {
            biased;
            _ = stopping.wait_for(|stop| *stop) => break,
            permit = Arc::clone(&shared.permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = stopping.wait_for(|stop| *stop) => break,
            accepted = accept(&listener) => accepted,
        };
        match accepted {
            Ok(Some((stream, peer))) => spawn_connection(&shared, stream, peer, permit),
            Ok(None) => {}
            Err(error) if is_per_connection_error(&error) => {
                debug!(listener = %name, %error, "accept failed for one connection");
            }
            Err(error) => {
                warn!(listener = %name, %error, "accept failed; retrying shortly");
                drop(permit);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    info!(listener = %name, "stopped accepting connections");
}

/// Either kind of accepted stream.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Accepts one connection. `Ok(None)`: accepted but unusable (already
/// logged), e.g. peer credentials could not be read.
async fn accept(listener: &Listener) -> io::Result<Option<(Stream, Peer)>> {
    match listener {
        Listener::Tcp(listener) => {
            let (stream, addr) = listener.accept().await?;
            // Responses are written whole; waiting for more would only add
            // Nagle delay to every IPP answer.
            if let Err(error) = stream.set_nodelay(true) {
                debug!(peer = %addr, %error, "could not set TCP_NODELAY");
            }
            Ok(Some((Stream::Tcp(stream), Peer::Tcp(addr))))
        }
        Listener::Unix(listener) => {
            let (stream, _) = listener.accept().await?;
            match stream.peer_cred() {
                Ok(cred) => {
                    let peer = Peer::Unix {
                        uid: cred.uid(),
                        gid: cred.gid(),
                        pid: cred.pid(),
                    };
                    Ok(Some((Stream::Unix(stream), peer)))
                }
                Err(error) => {
                    warn!(%error, "cannot read peer credentials of a local client; closing");
                    Ok(None)
                }
            }
        }
    }
}

fn spawn_connection(
    shared: &Arc<Shared>,
    stream: Stream,
    peer: Peer,
    permit: OwnedSemaphorePermit,
) {
    let counted = Counted::new(Arc::clone(shared));
    tokio::spawn(async move {
        let _permit = permit;
        let counted = counted;
        let shared = &counted.shared;
        match stream {
            Stream::Tcp(stream) => serve(shared, stream, peer).await,
            Stream::Unix(stream) => serve(shared, stream, peer).await,
        }
    });
}

async fn serve<S>(shared: &Shared, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut aborting = shared.aborting.subscribe();
    let connection = Connection::new(
        stream,
        peer,
        &shared.settings,
        shared.handler.as_ref(),
        shared.stopping.subscribe(),
    );
    tokio::select! {
        () = connection.run() => {}
        _ = aborting.wait_for(|abort| *abort) => debug!("connection dropped at the end of the shutdown grace"),
    }
}

/// Counts a connection from accept until its task ends (also by panic or
/// abort), for idle exit and for shutdown.
struct Counted {
    shared: Arc<Shared>,
}

impl Counted {
    fn new(shared: Arc<Shared>) -> Self {
        shared.connections.send_modify(|n| *n += 1);
        Counted { shared }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.shared
            .connections
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Errors that concern one incoming connection, not the listener.
fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || error.raw_os_error() == Some(libc::EPROTO)
}

fn listener_name(listener: &Listener) -> String {
    match listener {
        Listener::Tcp(l) => l
            .local_addr()
            .map_or_else(|_| "tcp".to_string(), |a| a.to_string()),
        Listener::Unix(l) => l
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_else(|| "unix".to_string()),
    }
}
