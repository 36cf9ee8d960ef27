//! The IPP entry path, in one place: a request goes from the listening
//! socket ([`listeners`]) through the HTTP/1.1 transport ([`http`]) to the
//! IPP operations ([`service`]), which submit to the job core.
//!
//! [`IppSource`] is what the daemon starts and stops: it takes the sockets
//! (passed by systemd, or bound here), puts one HTTP [`Server`] with the
//! [`IppService`] on all of them, and moves idle connections and its own
//! listening sockets through systemd's file descriptor store across a
//! restart.

pub mod http;
pub mod listeners;
pub mod service;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use self::http::{HandedOff, Server};
use self::listeners::{Bound, ListenError, Listener, StdBound};
use self::service::{IppService, ServiceSettings};
use crate::config::ServerConfig;
use crate::core::Spooler;
use crate::identity;
use crate::systemd::Notifier;

/// Listening sockets taken before the async runtime exists.
pub enum EarlyListeners {
    /// From systemd: adopted inside the runtime (or bound there when empty).
    Passed(Vec<(OwnedFd, String)>),
    /// Bound before daemonizing (SysV mode).
    Bound(Vec<StdBound>),
}

impl EarlyListeners {
    /// For SysV mode: binds the configured sockets now, as the invoking
    /// user, unless systemd passed some.
    pub fn bind_before_fork(
        passed: Vec<(OwnedFd, String)>,
        listen: &[String],
    ) -> Result<EarlyListeners, ListenError> {
        if passed.is_empty() {
            Ok(EarlyListeners::Bound(listeners::bind_all_std(listen)?))
        } else {
            Ok(EarlyListeners::Passed(passed))
        }
    }

    /// The descriptors SysV step 1 must spare.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        match self {
            EarlyListeners::Passed(fds) => fds.iter().map(|(fd, _)| fd.as_raw_fd()).collect(),
            EarlyListeners::Bound(bound) => bound.iter().map(|b| b.as_raw_fd()).collect(),
        }
    }
}

/// The IPP source: one HTTP server for every listener.
pub struct IppSource {
    server: Server,
    bound: Vec<Bound>,
    /// Idle client connections a previous instance left in the store,
    /// served once accepting starts.
    stored_connections: Vec<HandedOff>,
    /// How many of our own listening sockets are in the store.
    stored_listeners: usize,
    socket_activated: bool,
}

impl IppSource {
    /// Takes the listening sockets and builds the server, not yet
    /// accepting: connections wait in the kernel's backlog until
    /// [`IppSource::start_accepting`].
    pub fn prepare(
        early: EarlyListeners,
        listen: &[String],
        spooler: &Spooler,
        config: &ServerConfig,
        notifier: &Notifier,
    ) -> Result<IppSource, ListenError> {
        let (early, stored_connections) = split_stored_connections(early);
        let (bound, socket_activated) = take_listeners(early, listen)?;
        let stored_listeners = store_own_listeners(&bound, notifier);
        Ok(IppSource {
            server: ipp_server(spooler, config),
            bound,
            stored_connections,
            stored_listeners,
            socket_activated,
        })
    }

    /// Whether systemd passed the listening sockets (idle exit applies
    /// only then: systemd keeps listening while the daemon is gone).
    pub fn socket_activated(&self) -> bool {
        self.socket_activated
    }

    /// Starts accepting on every listener, then serves the connections a
    /// previous instance handed over.
    pub fn start_accepting(&mut self, notifier: &Notifier) {
        for b in &self.bound {
            self.server.spawn_listener(b.listener.clone_for_serving());
        }
        let stored = std::mem::take(&mut self.stored_connections);
        resume_stored_connections(&self.server, stored, notifier);
    }

    /// No client connected.
    pub fn is_idle(&self) -> bool {
        self.server.active_connections() == 0
    }

    /// Stops accepting and gives requests in flight `grace` to finish. Idle
    /// connections go to the file descriptor store while it has room.
    pub async fn stop(&self, grace: Duration, notifier: &Notifier) {
        let store_room = notifier
            .fd_store_capacity()
            .saturating_sub(self.stored_listeners);
        if store_room > 0 {
            self.server.hand_off_idle_connections();
        }
        self.server.shutdown(grace).await;
        store_idle_connections(self.server.take_handed_off(), store_room, notifier);
    }

    /// Closes the listening sockets. Passed sockets belong to systemd: only
    /// our own socket files go (daemon(7) porting step 2), unless the store
    /// keeps them for the next instance.
    pub fn close(self) {
        if self.stored_listeners == 0 {
            listeners::remove_own_socket_files(&self.bound);
        }
    }

    /// Tells a person at a terminal where to print.
    pub fn announce(&self, spooler: &Spooler) {
        announce(&self.bound, spooler);
    }
}

/// The IPP service behind one HTTP server for every listener.
fn ipp_server(spooler: &Spooler, config: &ServerConfig) -> Server {
    let limits = config.limits.clone();
    let service = IppService::new(
        spooler.clone(),
        ServiceSettings {
            decode_limits: ipp_proto::decode::DecodeLimits {
                max_attributes: limits.max_attributes,
                max_value_bytes: limits.max_value_bytes,
                max_total_bytes: limits.max_ipp_attribute_bytes,
                ..ipp_proto::decode::DecodeLimits::default()
            },
            admin_group_gid: identity::group_id(&config.admin_group),
        },
    );
    // The body carries the IPP attributes and the document.
    let max_body = limits
        .max_document_bytes
        .saturating_add(limits.max_ipp_attribute_bytes as u64);
    Server::new(limits, max_body, Arc::new(service))
}

/// Adopts passed sockets, or binds the configured ones. Returns whether the
/// daemon was socket-activated (idle exit applies only then).
fn take_listeners(
    early: EarlyListeners,
    listen: &[String],
) -> Result<(Vec<Bound>, bool), ListenError> {
    match early {
        EarlyListeners::Passed(fds) if !fds.is_empty() => Ok((listeners::adopt_passed(fds)?, true)),
        EarlyListeners::Passed(_) => Ok((listeners::bind_all(listen)?, false)),
        EarlyListeners::Bound(bound) => Ok((listeners::adopt_std(bound)?, false)),
    }
}

/// Separates the idle client connections a previous instance left in the
/// file descriptor store from the listening sockets.
fn split_stored_connections(early: EarlyListeners) -> (EarlyListeners, Vec<HandedOff>) {
    let EarlyListeners::Passed(fds) = early else {
        return (early, Vec::new());
    };
    let (connections, listening): (Vec<_>, Vec<_>) = fds
        .into_iter()
        .partition(|(_, name)| listeners::is_stored_connection(name));
    let connections = connections
        .into_iter()
        .map(|(fd, name)| match name.as_str() {
            listeners::STORED_TCP_CONNECTION => HandedOff::Tcp(fd),
            _ => HandedOff::Unix(fd),
        })
        .collect();
    (EarlyListeners::Passed(listening), connections)
}

/// Puts the sockets this process bound itself into the file descriptor
/// store (systemd 254+ announces it in `$FDSTORE`), under the names a socket
/// unit would give them, so a restart takes them over instead of binding
/// anew and the backlog survives. Returns how many were stored.
fn store_own_listeners(bound: &[Bound], notifier: &Notifier) -> usize {
    if notifier.fd_store_capacity() < bound.len() {
        return 0;
    }
    let mut stored = 0;
    for b in bound.iter().filter(|b| !b.passed) {
        stored += match &b.listener {
            Listener::Tcp(l) => notifier.store_fds(listeners::PASSED_TCP_NAME, &[l.as_fd()]),
            Listener::Unix(l) => notifier.store_fds(listeners::PASSED_UNIX_NAME, &[l.as_fd()]),
        };
    }
    if stored > 0 {
        tracing::info!(
            "{stored} listening socket(s) kept in the service manager's file descriptor store"
        );
    }
    stored
}

/// Serves the idle connections a previous instance handed to the store, as
/// if just accepted, and has systemd drop its copies: otherwise closing
/// ours would not close the connection.
fn resume_stored_connections(server: &Server, connections: Vec<HandedOff>, notifier: &Notifier) {
    if connections.is_empty() {
        return;
    }
    let count = connections.len();
    let mut resumed = 0;
    for connection in connections {
        match server.adopt_connection(connection) {
            Ok(()) => resumed += 1,
            Err(error) => tracing::warn!("a stored client connection is unusable: {error}; closed"),
        }
    }
    notifier.remove_stored(listeners::STORED_TCP_CONNECTION);
    notifier.remove_stored(listeners::STORED_UNIX_CONNECTION);
    tracing::info!(
        "resumed {resumed} of {count} idle client connection(s) from the file descriptor store"
    );
}

/// Hands the idle connections kept at shutdown to systemd (`FDSTORE=1`),
/// at most `room` of them; the others close as without a store.
fn store_idle_connections(kept: Vec<HandedOff>, room: usize, notifier: &Notifier) {
    if kept.is_empty() {
        return;
    }
    let total = kept.len();
    let (mut tcp, mut unix) = (Vec::new(), Vec::new());
    for connection in kept.into_iter().take(room) {
        match connection {
            HandedOff::Tcp(fd) => tcp.push(fd),
            HandedOff::Unix(fd) => unix.push(fd),
        }
    }
    let stored = notifier.store_fds(listeners::STORED_TCP_CONNECTION, &borrowed(&tcp))
        + notifier.store_fds(listeners::STORED_UNIX_CONNECTION, &borrowed(&unix));
    tracing::info!(
        "handed {stored} of {total} idle client connection(s) to the service manager's file descriptor store"
    );
}

fn borrowed(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(AsFd::as_fd).collect()
}

/// Tells a person at a terminal where to print.
fn announce(bound: &[Bound], spooler: &Spooler) {
    let queue = spooler.default_printer();
    for b in bound {
        let how = if b.passed {
            "passed by systemd"
        } else {
            "bound"
        };
        tracing::info!("listening on {} ({how})", b.name);
        if let Some(addr) = b
            .name
            .strip_prefix("127.0.0.1:")
            .or(b.name.strip_prefix("localhost:"))
        {
            tracing::info!(
                "print with: lp -h 127.0.0.1:{addr} -d {queue} FILE   (or ipp://127.0.0.1:{addr}/ipp/print)"
            );
        }
    }
}
