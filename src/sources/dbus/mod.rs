//! The D-Bus activation source: `org.printspoold.Spooler1` on the system
//! bus (or the session bus for a per-user spooler), feeding the same job
//! core as IPP.
//!
//! Start-up follows daemon(7) new-style recommendation 4 and "Bus-Based
//! Activation": [`DbusSource::export`] connects and exports the object
//! without a name, [`DbusSource::request_name`] takes the well-known name
//! as the very last step before `READY=1`. Until then the bus queues calls
//! for the name (or, with the activation file in `dbus/`, asks systemd to
//! start `dbus-org.printspoold.Spooler1.service`), so no call ever reaches
//! a half-started daemon. On shutdown [`DbusSource::release`] gives the
//! name up first, so new calls wait for the next instance instead of
//! failing against this one.

mod auth;
mod convert;
mod document;
mod errors;
mod interface;
mod signals;

#[cfg(test)]
mod tests;

use std::time::Duration;

use tokio::task::JoinHandle;
use zbus::Connection;
use zbus::fdo::{DBusProxy, RequestNameFlags, RequestNameReply};
use zbus::proxy::CacheProperties;

pub use errors::Error as MethodError;

use crate::core::Spooler;
use auth::Authority;
use interface::{CallCounter, Spooler1};

/// The well-known name; also in `dbus/org.printspoold.Spooler1.service`
/// (`Name=`), `dbus/org.printspoold.Spooler1.conf` (`own=`) and
/// `systemd/printspoold.service` (`BusName=`). A test keeps them equal.
pub const BUS_NAME: &str = "org.printspoold.Spooler1";
pub const OBJECT_PATH: &str = "/org/printspoold/Spooler1";
pub const INTERFACE: &str = "org.printspoold.Spooler1";

/// How long [`DbusSource::release`] waits for calls in flight before closing anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Longest wait for the bus: connecting (with its `Hello`), `RequestName`
/// and each call the service makes. A bus that never answers (a broken
/// policy, a wedged dbus-daemon) then fails start-up instead of hanging it.
/// 25 s is libdbus's default method call timeout.
const BUS_TIMEOUT: Duration = Duration::from_secs(25);

/// Which bus to serve on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bus {
    /// The system bus: the installed service.
    System,
    /// The session bus (`DBUS_SESSION_BUS_ADDRESS`): `--session-bus`.
    Session,
    /// A bus at this address, e.g. a private `dbus-daemon` in tests.
    Address(String),
}

impl std::fmt::Display for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::System => write!(f, "the system bus"),
            Bus::Session => write!(f, "the session bus"),
            Bus::Address(address) => write!(f, "the bus at {address}"),
        }
    }
}

/// Why the D-Bus source could not start.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    #[error("cannot connect to {bus}: {source}")]
    Connect {
        bus: Bus,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("cannot export {OBJECT_PATH} on D-Bus: {0}")]
    Export(#[source] Box<zbus::Error>),
    #[error("the bus name {BUS_NAME} is already owned by another process (another printspoold?)")]
    NameTaken,
    #[error(
        "the bus policy does not let this user own {BUS_NAME}: install dbus/{BUS_NAME}.conf and run as user printspoold or root"
    )]
    NotAllowed,
    #[error("cannot request the bus name {BUS_NAME}: {0}")]
    RequestName(#[source] Box<zbus::Error>),
    #[error("{bus} did not answer {what} within {after:?}")]
    Timeout {
        bus: Bus,
        what: &'static str,
        after: Duration,
    },
}

impl DbusError {
    /// True when the bus policy refused us the name: LSB status 4
    /// ("insufficient privilege") rather than a generic failure.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, DbusError::NotAllowed)
    }
}

fn export_error(e: zbus::Error) -> DbusError {
    DbusError::Export(Box::new(e))
}

fn request_name_error(e: zbus::Error) -> DbusError {
    match e {
        zbus::Error::NameTaken => DbusError::NameTaken,
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.DBus.Error.AccessDenied" =>
        {
            DbusError::NotAllowed
        }
        e => DbusError::RequestName(Box::new(e)),
    }
}

/// The running D-Bus source.
pub struct DbusSource {
    bus: Bus,
    timeout: Duration,
    connection: Connection,
    forwarder: JoinHandle<()>,
    calls: CallCounter,
}

impl DbusSource {
    /// Connects, exports the object (no name yet) and starts forwarding
    /// core events as signals.
    pub async fn export(
        bus: Bus,
        spooler: Spooler,
        admin_gid: Option<u32>,
    ) -> Result<DbusSource, DbusError> {
        DbusSource::export_within(bus, spooler, admin_gid, BUS_TIMEOUT).await
    }

    /// [`DbusSource::export`] with `timeout` for the bus instead of [`BUS_TIMEOUT`].
    async fn export_within(
        bus: Bus,
        spooler: Spooler,
        admin_gid: Option<u32>,
        timeout: Duration,
    ) -> Result<DbusSource, DbusError> {
        let connection = match tokio::time::timeout(timeout, connect(&bus, timeout)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                return Err(DbusError::Connect {
                    bus,
                    source: Box::new(e),
                });
            }
            Err(_) => {
                return Err(DbusError::Timeout {
                    bus,
                    what: "the connection",
                    after: timeout,
                });
            }
        };
        let bus_proxy = DBusProxy::builder(&connection)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(export_error)?;
        // Subscribe before exporting, so no change after export is missed.
        let events = spooler.subscribe();
        let calls = CallCounter::default();
        let supervisor = spooler.supervisor().clone();
        let object = Spooler1::new(spooler, Authority::new(bus_proxy, admin_gid), calls.clone());
        let server = connection.object_server();
        server.at(OBJECT_PATH, object).await.map_err(export_error)?;
        let iface = server
            .interface::<_, Spooler1>(OBJECT_PATH)
            .await
            .map_err(export_error)?;
        let forwarder = signals::spawn_forwarder(&supervisor, iface, events);
        tracing::debug!(
            unique_name = ?connection.unique_name().map(|n| n.as_str()),
            "D-Bus object {OBJECT_PATH} exported"
        );
        Ok(DbusSource {
            bus,
            timeout,
            connection,
            forwarder,
            calls,
        })
    }

    /// Requests the well-known name (DoNotQueue; error if taken). Call
    /// last, just before `READY=1` (daemon(7) new-style recommendation 4).
    pub async fn request_name(&self) -> Result<(), DbusError> {
        let request = self
            .connection
            .request_name_with_flags(BUS_NAME, RequestNameFlags::DoNotQueue.into());
        let reply = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| DbusError::Timeout {
                bus: self.bus.clone(),
                what: "RequestName",
                after: self.timeout,
            })?
            .map_err(request_name_error)?;
        match reply {
            RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner => {
                tracing::info!("serving D-Bus as {BUS_NAME}");
                Ok(())
            }
            RequestNameReply::Exists | RequestNameReply::InQueue => Err(DbusError::NameTaken),
        }
    }

    /// Releases the name first on shutdown (so the bus queues new calls
    /// for the next instance or activation), then stops the signals and
    /// closes the connection once calls in flight are answered.
    pub async fn release(self) {
        match tokio::time::timeout(CLOSE_GRACE, self.connection.release_name(BUS_NAME)).await {
            Ok(Ok(_)) => tracing::debug!("released {BUS_NAME}"),
            Ok(Err(e)) => tracing::warn!("cannot release {BUS_NAME}: {e}"),
            Err(_) => tracing::warn!("the bus did not answer ReleaseName; closing anyway"),
        }
        self.forwarder.abort();
        let server = self.connection.object_server();
        if let Err(e) = server.remove::<Spooler1, _>(OBJECT_PATH).await {
            tracing::debug!("removing {OBJECT_PATH}: {e}");
        }
        if tokio::time::timeout(CLOSE_GRACE, self.connection.graceful_shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "D-Bus calls still running after {CLOSE_GRACE:?}; closing the connection anyway"
            );
        }
    }

    /// True while a method that changes state is being answered (a
    /// `SubmitJob` may still be reading its document): idle exit waits.
    pub fn is_busy(&self) -> bool {
        self.calls_in_flight() > 0
    }

    /// Method calls that change state, being answered now.
    pub fn calls_in_flight(&self) -> usize {
        self.calls.in_flight()
    }

    /// This connection's unique name on the bus (`:1.42`), for logs.
    pub fn unique_name(&self) -> Option<String> {
        self.connection.unique_name().map(|n| n.to_string())
    }
}

async fn connect(bus: &Bus, timeout: Duration) -> zbus::Result<Connection> {
    let builder = match bus {
        Bus::System => zbus::connection::Builder::system()?,
        Bus::Session => zbus::connection::Builder::session()?,
        Bus::Address(address) => zbus::connection::Builder::address(address.as_str())?,
    };
    builder.method_timeout(timeout).build().await
}
