//! Accepting connections, counting them, and shutting down gracefully.
//!
//! Connection slots, so that one user cannot starve the others:
//! - `max_connections` in all, TCP and Unix together; of those,
//!   `reserved_root_connections` only root on the Unix socket may take, so
//!   the administrator always gets in;
//! - `max_connections_per_peer` per peer: one uid on the Unix socket (the
//!   kernel says who, `SO_PEERCRED`), one address group over TCP (see
//!   [`address_group`]). Root on the Unix socket is exempt.
//!
//! Beyond the total, TCP clients wait in the kernel backlog (accept waits
//! for a slot); a Unix client must be accepted to learn whether it is root,
//! so one that finds no slot gets 503 at once, as does any client over its
//! per-peer cap. Either way the slow clients' connections cost the others
//! nothing but the slots they hold.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::conn::{Connection, Settings};
use super::{Handler, Peer, address_group};
use crate::config::ServerLimits;
use crate::sources::ipp::listeners::Listener;

/// Pause after an accept error that is about resources (out of file
/// descriptors, memory), so the loop does not spin while they are short.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// After the shutdown grace, how long aborted connections get to go away.
const ABORT_WAIT: Duration = Duration::from_secs(1);
/// Refused connections being answered (503) at once; beyond this a refused
/// connection is closed without an answer, so refusing costs little.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// How long a refused client gets to take its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

struct ServerShared {
    settings: Settings,
    handler: Arc<dyn Handler>,
    /// One permit per open connection, but for the root reserve: when none
    /// is left, TCP accept waits (clients queue in the kernel backlog).
    permits: Arc<Semaphore>,
    /// The slots only root on the Unix socket may take.
    reserve: Arc<Semaphore>,
    /// Connections open per peer, and the most one peer may hold.
    peers: Mutex<HashMap<PeerKey, usize>>,
    per_peer: usize,
    /// Bounds the 503 answers being written to refused clients.
    refusals: Arc<Semaphore>,
    connections: watch::Sender<usize>,
    /// Stop accepting and close idle connections.
    stopping: watch::Sender<bool>,
    /// The grace period is over: drop every connection.
    aborting: watch::Sender<bool>,
    /// At shutdown, idle connections are kept for the next instance
    /// instead of closed ([`Server::hand_off_idle_connections`]).
    hand_off: Arc<AtomicBool>,
    /// The connections kept so, collected as their tasks end.
    handed_off: Mutex<Vec<HandedOff>>,
}

/// An idle client connection taken out of the server at shutdown, for the
/// file descriptor store.
#[derive(Debug)]
pub enum HandedOff {
    Tcp(OwnedFd),
    Unix(OwnedFd),
}

/// Serves connections from listeners with one handler. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    shared: Arc<ServerShared>,
}

impl Server {
    /// `max_body_bytes` bounds a request body (the document plus the IPP
    /// attributes in front of it).
    pub fn new(limits: ServerLimits, max_body_bytes: u64, handler: Arc<dyn Handler>) -> Self {
        let settings = Settings {
            max_header_bytes: limits.max_header_bytes.max(64),
            max_body_bytes,
            read_timeout: Duration::from_secs(limits.read_timeout.max(1)),
            head_timeout: Duration::from_secs(limits.head_timeout.max(1)),
            body_grace: Duration::from_secs(limits.body_timeout.max(1)),
            body_min_rate: limits.body_min_rate.max(1),
            keepalive_timeout: Duration::from_secs(limits.keepalive_timeout),
        };
        let total = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let general = total
            .saturating_sub(limits.reserved_root_connections)
            .max(1);
        Server {
            shared: Arc::new(ServerShared {
                settings,
                handler,
                permits: Arc::new(Semaphore::new(general)),
                reserve: Arc::new(Semaphore::new(total - general)),
                peers: Mutex::new(HashMap::new()),
                per_peer: limits.max_connections_per_peer.clamp(1, general),
                refusals: Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT)),
                connections: watch::Sender::new(0),
                stopping: watch::Sender::new(false),
                aborting: watch::Sender::new(false),
                hand_off: Arc::new(AtomicBool::new(false)),
                handed_off: Mutex::new(Vec::new()),
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

    /// From now on, [`Server::shutdown`] keeps idle connections (waiting
    /// for a request, nothing of one read) instead of closing them, and
    /// requests in flight finish and then are kept too; collect them with
    /// [`Server::take_handed_off`] (daemon(7)'s file descriptor store).
    pub fn hand_off_idle_connections(&self) {
        self.shared.hand_off.store(true, Ordering::Release);
    }

    /// The connections kept by a shutdown with the hand-off on.
    pub fn take_handed_off(&self) -> Vec<HandedOff> {
        std::mem::take(&mut *lock(&self.shared.handed_off))
    }

    /// Serves a connection accepted by a previous instance (passed back by
    /// systemd's file descriptor store) as if just accepted here: it takes
    /// its slots like any other, and is refused with 503 when there are
    /// none. Call inside the runtime.
    pub fn adopt_connection(&self, connection: HandedOff) -> io::Result<()> {
        let (stream, peer) = match connection {
            HandedOff::Tcp(fd) => {
                let std_stream = std::net::TcpStream::from(fd);
                std_stream.set_nonblocking(true)?;
                let addr = std_stream.peer_addr()?;
                let stream = TcpStream::from_std(std_stream)?;
                let _ = stream.set_nodelay(true);
                (Stream::Tcp(stream), Peer::Tcp(addr))
            }
            HandedOff::Unix(fd) => {
                let std_stream = std::os::unix::net::UnixStream::from(fd);
                std_stream.set_nonblocking(true)?;
                let stream = UnixStream::from_std(std_stream)?;
                let cred = stream.peer_cred()?;
                let peer = Peer::Unix {
                    uid: cred.uid(),
                    gid: cred.gid(),
                    pid: cred.pid(),
                };
                (Stream::Unix(stream), peer)
            }
        };
        admit(&self.shared, stream, peer, true);
        Ok(())
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

async fn accept_loop(shared: Arc<ServerShared>, listener: Listener) {
    let mut stopping = shared.stopping.subscribe();
    let name = listener_name(&listener);
    debug!(listener = %name, "accepting connections");
    // Only TCP waits for a slot before accepting: see the module comment.
    // It takes the slot only after accepting, so an idle listener holds
    // none; a Unix client taking it meanwhile makes this one a 503.
    let wait_for_slot = matches!(listener, Listener::Tcp(_));
    loop {
        if wait_for_slot {
            tokio::select! {
                biased;
                _ = stopping.wait_for(|stop| *stop) => break,
                permit = shared.permits.acquire() => match permit {
                    Ok(permit) => drop(permit),
                    Err(_) => break,
                },
            }
        }
        let accepted = tokio::select! {
            biased;
            _ = stopping.wait_for(|stop| *stop) => break,
            accepted = accept(&listener) => accepted,
        };
        match accepted {
            Ok(Some((stream, peer))) => admit(&shared, stream, peer, false),
            Ok(None) => {}
            Err(error) if is_per_connection_error(&error) => {
                debug!(listener = %name, %error, "accept failed for one connection");
            }
            Err(error) => {
                warn!(listener = %name, %error, "accept failed; retrying shortly");
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

/// Gives an accepted connection its slots, or refuses it with 503.
/// `resumed`: taken over from a previous instance (see
/// [`Server::adopt_connection`]).
fn admit(shared: &Arc<ServerShared>, stream: Stream, peer: Peer, resumed: bool) {
    let is_root = matches!(peer, Peer::Unix { uid: 0, .. });
    let permit = Arc::clone(&shared.permits)
        .try_acquire_owned()
        .ok()
        .or_else(|| {
            is_root
                .then(|| Arc::clone(&shared.reserve).try_acquire_owned().ok())
                .flatten()
        });
    let Some(permit) = permit else {
        debug!(%peer, "no connection slot left; refused");
        return refuse(
            shared,
            stream,
            "all connection slots are taken; try again shortly",
        );
    };
    let Some(peer_slot) = PeerSlot::take(shared, PeerKey::of(&peer), is_root) else {
        debug!(%peer, "too many connections from this peer; refused");
        return refuse(
            shared,
            stream,
            "too many connections from your address or user",
        );
    };
    spawn_connection(shared, stream, peer, permit, peer_slot, resumed);
}

/// Answers 503 and closes, in a task of its own with a short deadline; or,
/// with many refusals in flight, closes at once.
fn refuse(shared: &ServerShared, stream: Stream, why: &'static str) {
    let Ok(permit) = Arc::clone(&shared.refusals).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        match stream {
            Stream::Tcp(stream) => answer_503(stream, why).await,
            Stream::Unix(stream) => answer_503(stream, why).await,
        }
    });
}

async fn answer_503<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, why: &str) {
    let body = format!("503 Service Unavailable: {why}\n");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let deadline = tokio::time::Instant::now() + REFUSAL_TIME;
    let _ = tokio::time::timeout_at(deadline, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the
        // connection before it has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// Whom the per-peer cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKey {
    Uid(u32),
    Address(IpAddr),
}

impl PeerKey {
    fn of(peer: &Peer) -> PeerKey {
        match peer {
            Peer::Unix { uid, .. } => PeerKey::Uid(*uid),
            Peer::Tcp(addr) => PeerKey::Address(address_group(addr.ip())),
        }
    }
}

/// One connection counted against its peer until dropped.
struct PeerSlot {
    shared: Arc<ServerShared>,
    key: PeerKey,
}

impl PeerSlot {
    /// `None` when the peer already holds its cap (`exempt`: root).
    fn take(shared: &Arc<ServerShared>, key: PeerKey, exempt: bool) -> Option<PeerSlot> {
        let mut peers = lock_peers(shared);
        let open = peers.entry(key).or_insert(0);
        if *open >= shared.per_peer && !exempt {
            return None;
        }
        *open += 1;
        Some(PeerSlot {
            shared: Arc::clone(shared),
            key,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = lock_peers(&self.shared);
        if let Some(open) = peers.get_mut(&self.key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                peers.remove(&self.key);
            }
        }
    }
}

fn lock_peers(shared: &ServerShared) -> std::sync::MutexGuard<'_, HashMap<PeerKey, usize>> {
    // Only counters, updated in one step each: still right after a panic.
    shared
        .peers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spawn_connection(
    shared: &Arc<ServerShared>,
    stream: Stream,
    peer: Peer,
    permit: OwnedSemaphorePermit,
    peer_slot: PeerSlot,
    resumed: bool,
) {
    let counted = Counted::new(Arc::clone(shared));
    tokio::spawn(async move {
        let _permit = permit;
        let _peer_slot = peer_slot;
        let counted = counted;
        let shared = &counted.shared;
        match stream {
            Stream::Tcp(stream) => serve(shared, stream, peer, resumed).await,
            Stream::Unix(stream) => serve(shared, stream, peer, resumed).await,
        }
    });
}

async fn serve<S>(shared: &ServerShared, stream: S, peer: Peer, resumed: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + IntoHandedOff,
{
    let mut aborting = shared.aborting.subscribe();
    let connection = Connection::new(
        stream,
        peer,
        &shared.settings,
        shared.handler.as_ref(),
        shared.stopping.subscribe(),
        Arc::clone(&shared.hand_off),
    );
    let kept = tokio::select! {
        kept = connection.run(resumed) => kept,
        _ = aborting.wait_for(|abort| *abort) => {
            debug!("connection dropped at the end of the shutdown grace");
            None
        }
    };
    if let Some(stream) = kept {
        match stream.into_handed_off() {
            Ok(kept) => lock(&shared.handed_off).push(kept),
            Err(error) => debug!(%error, "an idle connection could not be kept; closed"),
        }
    }
}

/// A stream that can leave the runtime as a plain descriptor.
trait IntoHandedOff {
    fn into_handed_off(self) -> io::Result<HandedOff>;
}

impl IntoHandedOff for TcpStream {
    fn into_handed_off(self) -> io::Result<HandedOff> {
        Ok(HandedOff::Tcp(self.into_std()?.into()))
    }
}

impl IntoHandedOff for UnixStream {
    fn into_handed_off(self) -> io::Result<HandedOff> {
        Ok(HandedOff::Unix(self.into_std()?.into()))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A list only pushed to and taken whole: still right after a panic.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a connection from accept until its task ends (also by panic or
/// abort), for idle exit and for shutdown.
struct Counted {
    shared: Arc<ServerShared>,
}

impl Counted {
    fn new(shared: Arc<ServerShared>) -> Self {
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
