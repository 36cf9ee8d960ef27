//! A private `dbus-daemon` in a scratch directory, and root's client of the
//! daemon's service on it: shared by the D-Bus and identity tests.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use printspoold::sources::dbus::{BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::fdo::DBusProxy;
use zbus::names::BusName;
use zbus::{Connection, Proxy};

use super::process::die_with_parent;

/// Everyone may connect, own and send: only the daemon's checks apply.
pub const OPEN_POLICY: &str = r#"
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
"#;

/// A `dbus-daemon` listening on a socket in a scratch directory, killed on
/// drop.
pub struct DbusTestBus {
    child: Child,
    /// Kept open: the daemon (and what it activates) may write to stdout.
    _stdout: BufReader<ChildStdout>,
    pub address: String,
}

impl DbusTestBus {
    /// `extra` goes inside `<busconfig>` (policies, includes, servicedirs).
    pub fn start(dir: &Path, extra: &str) -> DbusTestBus {
        // nobody must reach the socket.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.join("bus.conf");
        let socket = dir.join("bus.socket");
        fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  \
                 <auth>EXTERNAL</auth>\n{extra}</busconfig>\n",
                socket.display()
            ),
        )
        .unwrap();
        let mut command = Command::new("dbus-daemon");
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address"])
            .stdout(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("dbus-daemon (apt-get install dbus)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("unix:"), "dbus-daemon printed {line:?}");
        DbusTestBus {
            child,
            _stdout: stdout,
            address: format!("unix:path={}", socket.display()),
        }
    }

    /// A bus with [`OPEN_POLICY`].
    pub fn open(dir: &Path) -> DbusTestBus {
        DbusTestBus::start(dir, OPEN_POLICY)
    }

    pub async fn connect(&self) -> Connection {
        connect_to(&self.address).await
    }
}

impl Drop for DbusTestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client connection to the bus at `address`.
pub async fn connect_to(address: &str) -> Connection {
    zbus::connection::Builder::address(address)
        .unwrap()
        .build()
        .await
        .unwrap()
}

/// The daemon's service object, properties read afresh on every call.
pub async fn service_proxy(client: &Connection) -> Proxy<'static> {
    zbus::proxy::Builder::new(client)
        .destination(BUS_NAME)
        .unwrap()
        .path(OBJECT_PATH)
        .unwrap()
        .interface(INTERFACE)
        .unwrap()
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

pub fn bus_name() -> BusName<'static> {
    BusName::try_from(BUS_NAME).unwrap()
}

/// Waits up to `within` until `daemon` owns the service name on the bus at
/// `address`: false if it exits first or never does. The owner's pid is
/// compared, so a killed predecessor's name the bus has not yet dropped
/// does not count.
pub async fn wait_for_name(address: &str, daemon: &mut Child, within: Duration) -> bool {
    let client = connect_to(address).await;
    let dbus = DBusProxy::new(&client).await.unwrap();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if daemon.try_wait().unwrap().is_some() {
            return false;
        }
        if let Ok(pid) = dbus.get_connection_unix_process_id(bus_name()).await
            && pid == daemon.id()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
