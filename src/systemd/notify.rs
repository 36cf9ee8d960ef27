//! Telling systemd how we are doing: sd_notify(3), daemon(7) new-style
//! recommendation 9.
//!
//! systemd names an `AF_UNIX` datagram socket in `NOTIFY_SOCKET`; each
//! message is one datagram of newline-separated `VARIABLE=value` lines.
//! With `Type=notify`, systemd counts the service as started only when
//! `READY=1` arrives, so units ordered after us find us serving; `STATUS=`
//! is the line `systemctl status` shows; `RELOADING=1` and `STOPPING=1`
//! make `systemctl` show what we are doing; `WATCHDOG=1` is the keep-alive
//! (see [`super::watchdog`]).
//!
//! Written directly on std's `UnixDatagram` rather than through a crate so
//! the whole protocol is visible here, abstract sockets included.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::watchdog::parse_watchdog_env;
use super::{env_value, unset_env};

/// How long a message may wait for room in systemd's receive queue before
/// it is dropped, so a busy PID 1 cannot stall our event loop for long.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The variables this module consumes; removed so children never see them.
const NOTIFY_VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The channel to systemd. Cheap to clone; every method is a no-op when
/// `NOTIFY_SOCKET` was unset (run by hand, or by an init without the
/// protocol). Sending never fails loudly: systemd may already be gone at
/// shutdown, so errors are logged at debug level and otherwise ignored.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    channel: Option<Arc<Channel>>,
    watchdog_interval: Option<Duration>,
}

#[derive(Debug)]
struct Channel {
    socket: UnixDatagram,
    /// `NOTIFY_SOCKET` as given, for log messages.
    address: String,
}

/// Where `NOTIFY_SOCKET` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyAddress {
    /// An absolute path in the file system, e.g. `/run/systemd/notify`.
    Path(PathBuf),
    /// A Linux abstract socket, written `@name` (the `@` stands for the
    /// leading NUL byte of the real address).
    Abstract(Vec<u8>),
}

/// Why the notification socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifySocketError {
    #[error(
        "NOTIFY_SOCKET={value:?} is neither an absolute path nor an abstract socket name (@name)"
    )]
    Unsupported { value: String },
    #[error("cannot connect to NOTIFY_SOCKET {address}: {source}")]
    Connect { address: String, source: io::Error },
}

/// Parses a `NOTIFY_SOCKET` value. `vsock:` addresses (systemd 253+, for
/// virtual machines) are not supported and return `None`, like anything
/// that is not an absolute path or `@name`.
pub fn parse_notify_socket(value: &OsStr) -> Option<NotifyAddress> {
    match value.as_bytes() {
        [b'@', name @ ..] if !name.is_empty() => Some(NotifyAddress::Abstract(name.to_vec())),
        [b'/', ..] => Some(NotifyAddress::Path(PathBuf::from(value))),
        _ => None,
    }
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Reads `NOTIFY_SOCKET` (a path or an abstract `@name`) and the
    /// watchdog variables, connects a `SOCK_DGRAM | SOCK_CLOEXEC` socket,
    /// and removes all three variables so children never inherit them. An
    /// unusable socket is logged as a warning and gives a disabled notifier.
    ///
    /// Call this at the top of `main`, before any thread exists: it edits
    /// the environment.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let watchdog = parse_watchdog_env(
            env_value("WATCHDOG_USEC").as_deref(),
            env_value("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        unset_env(&NOTIFY_VARIABLES);

        let Some(socket) = socket else {
            return Notifier::disabled();
        };
        let channel = match Channel::connect(&socket) {
            Ok(channel) => channel,
            Err(error) => {
                tracing::warn!("not notifying systemd: {error}");
                return Notifier::disabled();
            }
        };
        let watchdog_interval = watchdog.unwrap_or_else(|error| {
            tracing::warn!("ignoring the watchdog: {error}");
            None
        });
        Notifier {
            channel: Some(Arc::new(channel)),
            watchdog_interval,
        }
    }

    /// A notifier for an explicit socket, for tests. A path starting with
    /// `@` names an abstract socket, as in `NOTIFY_SOCKET`.
    pub fn for_socket(path: &Path) -> io::Result<Notifier> {
        let channel = Channel::connect(path.as_os_str()).map_err(|error| match error {
            NotifySocketError::Connect { source, .. } => source,
            unsupported => io::Error::new(io::ErrorKind::InvalidInput, unsupported),
        })?;
        Ok(Notifier {
            channel: Some(Arc::new(channel)),
            watchdog_interval: None,
        })
    }

    /// The same notifier with a watchdog interval, for tests and for
    /// callers that read the interval elsewhere.
    pub fn with_watchdog_interval(self, interval: Duration) -> Notifier {
        Notifier {
            watchdog_interval: Some(interval),
            ..self
        }
    }

    /// Whether messages go anywhere.
    pub fn is_active(&self) -> bool {
        self.channel.is_some()
    }

    /// The socket's descriptor, for `sysv::Options::keep_fds`: SysV step 1
    /// closes every descriptor it is not told to spare.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.channel
            .as_ref()
            .map(|channel| channel.socket.as_raw_fd())
    }

    /// `READY=1`: start-up is finished and we are serving.
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// `READY=1` with a status line, in one datagram.
    pub fn ready_with_status(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// `STATUS=...`: the line `systemctl status` shows. Line breaks and
    /// other control characters become spaces, since each line of a message
    /// is a separate assignment.
    pub fn status(&self, line: &str) {
        self.send(&format!("STATUS={}", one_line(line)));
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (needed by `Type=notify-reload`,
    /// systemd 253+). Send [`Notifier::ready`] when the reload is done.
    pub fn reloading(&self) {
        match monotonic_usec() {
            Some(now) => self.send(&format!("RELOADING=1\nMONOTONIC_USEC={now}")),
            None => self.send("RELOADING=1"),
        }
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// `WATCHDOG=1`: the keep-alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `MAINPID=`: which process is the service's main process.
    pub fn mainpid(&self, pid: u32) {
        self.send(&format!("MAINPID={pid}"));
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when that
    /// was set and `WATCHDOG_PID` was unset or ours. Read (and the
    /// variables removed) by [`Notifier::from_env`]; `None` without an
    /// active channel, since pings could not go anywhere.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_interval.filter(|_| self.is_active())
    }

    fn send(&self, message: &str) {
        let Some(channel) = &self.channel else {
            return;
        };
        if let Err(error) = channel.socket.send(message.as_bytes()) {
            tracing::debug!(
                "sd_notify message {message:?} to {} not delivered: {error}",
                channel.address
            );
        }
    }
}

impl Channel {
    fn connect(value: &OsStr) -> Result<Channel, NotifySocketError> {
        let address = value.to_string_lossy().into_owned();
        let Some(target) = parse_notify_socket(value) else {
            return Err(NotifySocketError::Unsupported { value: address });
        };
        match connect_datagram(&target) {
            Ok(socket) => Ok(Channel { socket, address }),
            Err(source) => Err(NotifySocketError::Connect { address, source }),
        }
    }
}

fn connect_datagram(target: &NotifyAddress) -> io::Result<UnixDatagram> {
    let address = match target {
        NotifyAddress::Path(path) => SocketAddr::from_pathname(path)?,
        NotifyAddress::Abstract(name) => SocketAddr::from_abstract_name(name)?,
    };
    // std creates every socket with SOCK_CLOEXEC, so print backends do not
    // inherit a way to speak for us.
    let socket = UnixDatagram::unbound()?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    socket.connect_addr(&address)?;
    Ok(socket)
}

/// `text` with control characters (line breaks included) made spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares
/// `MONOTONIC_USEC=` against.
fn monotonic_usec() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return None;
    }
    let seconds = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    seconds.checked_mul(1_000_000)?.checked_add(nanos / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TempDir, unique_name};

    /// A bound receiver standing in for systemd, and a notifier aimed at it.
    fn path_pair(dir: &TempDir) -> (UnixDatagram, Notifier) {
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        (receiver, Notifier::for_socket(&path).unwrap())
    }

    fn receive(receiver: &UnixDatagram) -> String {
        let mut buffer = [0u8; 4096];
        let len = receiver.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..len].to_vec()).unwrap()
    }

    #[test]
    fn each_message_is_one_exact_datagram() {
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        assert!(notifier.is_active());
        assert!(notifier.as_raw_fd().is_some_and(|fd| fd > 2));

        notifier.ready();
        assert_eq!(receive(&receiver), "READY=1");
        notifier.ready_with_status("serving 2 printers");
        assert_eq!(receive(&receiver), "READY=1\nSTATUS=serving 2 printers");
        notifier.status("idle");
        assert_eq!(receive(&receiver), "STATUS=idle");
        notifier.stopping();
        assert_eq!(receive(&receiver), "STOPPING=1");
        notifier.watchdog();
        assert_eq!(receive(&receiver), "WATCHDOG=1");
        notifier.mainpid(1234);
        assert_eq!(receive(&receiver), "MAINPID=1234");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        let before = monotonic_usec().unwrap();
        notifier.reloading();
        let after = monotonic_usec().unwrap();

        let message = receive(&receiver);
        let usec = message
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap_or_else(|| panic!("unexpected {message:?}"));
        let usec: u64 = usec.parse().unwrap();
        assert!(
            (before..=after).contains(&usec),
            "{before} <= {usec} <= {after}"
        );
    }

    #[test]
    fn status_is_kept_on_one_line() {
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        notifier.status("two\nlines\r\0and a NUL");
        assert_eq!(receive(&receiver), "STATUS=two lines  and a NUL");
        // A forged assignment cannot sneak in through the status text.
        notifier.ready_with_status("ok\nSTOPPING=1");
        assert_eq!(receive(&receiver), "READY=1\nSTATUS=ok STOPPING=1");
    }

    #[test]
    fn abstract_sockets_work() {
        let name = unique_name("notify");
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();

        let notifier = Notifier::for_socket(Path::new(&format!("@{name}"))).unwrap();
        notifier.ready();
        assert_eq!(receive(&receiver), "READY=1");
    }

    #[test]
    fn addresses_are_parsed_like_systemd() {
        let parse = |text: &str| parse_notify_socket(OsStr::new(text));
        assert_eq!(
            parse("/run/systemd/notify"),
            Some(NotifyAddress::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            parse("@sd-notify"),
            Some(NotifyAddress::Abstract(b"sd-notify".to_vec()))
        );
        for unsupported in ["", "@", "relative/path", "vsock:2:1234"] {
            assert_eq!(parse(unsupported), None, "{unsupported:?}");
        }
    }

    #[test]
    fn unusable_sockets_are_errors_not_panics() {
        let dir = TempDir::new("notify");
        let missing = Notifier::for_socket(&dir.path().join("missing.sock")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let relative = Notifier::for_socket(Path::new("notify.sock")).unwrap_err();
        assert_eq!(relative.kind(), io::ErrorKind::InvalidInput);
        let too_long = format!("/{}", "x".repeat(200));
        assert!(Notifier::for_socket(Path::new(&too_long)).is_err());
    }

    #[test]
    fn a_vanished_systemd_is_ignored() {
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        drop(receiver);
        // ECONNREFUSED is logged at debug level; nothing panics or blocks.
        notifier.stopping();
        notifier.ready();
    }

    #[test]
    fn disabled_notifier_sends_nothing() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_active());
        assert_eq!(notifier.as_raw_fd(), None);
        notifier.ready();
        let with_interval = notifier.with_watchdog_interval(Duration::from_secs(1));
        assert_eq!(with_interval.watchdog_interval(), None);
    }

    #[test]
    fn clones_share_the_socket() {
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        let clone = notifier.clone();
        drop(notifier);
        clone.watchdog();
        assert_eq!(receive(&receiver), "WATCHDOG=1");
    }
}
