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
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
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
const NOTIFY_VARIABLES: [&str; 4] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "FDSTORE"];

/// The most descriptors one `SCM_RIGHTS` message may carry (`SCM_MAX_FD`).
const MAX_FDS_PER_MESSAGE: usize = 253;

/// The channel to systemd. Cheap to clone; every method is a no-op when
/// `NOTIFY_SOCKET` was unset (run by hand, or by an init without the
/// protocol). Sending never fails loudly: systemd may already be gone at
/// shutdown, so errors are logged at debug level and otherwise ignored.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    channel: Option<Arc<Channel>>,
    watchdog_interval: Option<Duration>,
    /// `$FDSTORE` (systemd 254+): how many descriptors the service's file
    /// descriptor store takes; 0 when unset.
    fd_store_max: usize,
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
        let fd_store_max = parse_fd_store(env_value("FDSTORE").as_deref());
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
            fd_store_max,
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
            fd_store_max: 0,
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

    /// The same notifier with a file descriptor store of `max` entries, for
    /// tests (systemd says so in `$FDSTORE`).
    pub fn with_fd_store(self, max: usize) -> Notifier {
        Notifier {
            fd_store_max: max,
            ..self
        }
    }

    /// How many descriptors systemd keeps for us across a restart
    /// (`FileDescriptorStoreMax=`, announced in `$FDSTORE` since systemd
    /// 254); 0 when there is no store or it was not announced (systemd 252
    /// has the store but does not say so, and an unannounced store is not
    /// relied on).
    pub fn fd_store_capacity(&self) -> usize {
        if self.is_active() {
            self.fd_store_max
        } else {
            0
        }
    }

    /// `FDSTORE=1` with `FDNAME=name`: systemd keeps a duplicate of each
    /// descriptor and passes it back, named, in `LISTEN_FDS` at the next
    /// start (sd_pid_notify_with_fds(3)). Returns how many were sent.
    pub fn store_fds(&self, name: &str, fds: &[BorrowedFd<'_>]) -> usize {
        let Some(channel) = &self.channel else {
            return 0;
        };
        let message = format!("FDSTORE=1\nFDNAME={name}");
        let mut sent = 0;
        for chunk in fds.chunks(MAX_FDS_PER_MESSAGE) {
            match send_with_fds(&channel.socket, message.as_bytes(), chunk) {
                Ok(()) => sent += chunk.len(),
                Err(error) => tracing::warn!(
                    "{} descriptor(s) named {name} not stored in {}: {error}",
                    chunk.len(),
                    channel.address
                ),
            }
        }
        sent
    }

    /// `FDSTOREREMOVE=1` with `FDNAME=name`: systemd closes its copies of
    /// every stored descriptor of that name. Sent once the descriptors were
    /// taken back, so that closing ours really closes the connection.
    pub fn remove_stored(&self, name: &str) {
        self.send(&format!("FDSTOREREMOVE=1\nFDNAME={name}"));
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

/// `$FDSTORE`: a count, or 0 when unset or not a number.
fn parse_fd_store(value: Option<&str>) -> usize {
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// One datagram carrying `fds` as `SCM_RIGHTS`.
fn send_with_fds(socket: &UnixDatagram, message: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let fd_bytes = std::mem::size_of_val(raw.as_slice());
    let fd_bytes_u32 = u32::try_from(fd_bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes_u32) } as usize;
    // u64 elements keep the buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: message.as_ptr() as *mut libc::c_void,
        iov_len: message.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = space;
    // SAFETY: the control buffer is `space` bytes, room for one header with
    // `fd_bytes` of data (CMSG_SPACE), so CMSG_FIRSTHDR is non-null and
    // CMSG_DATA points inside it; the descriptors are borrowed, so open.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        if cmsg.is_null() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes_u32) as usize;
        std::ptr::copy_nonoverlapping(raw.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
    }
    // SAFETY: every pointer in `header` is valid for the call's duration.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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

    /// Receives one datagram and the descriptors it carries, as systemd
    /// does for `FDSTORE=1`.
    fn receive_with_fds(receiver: &UnixDatagram) -> (String, Vec<std::os::fd::OwnedFd>) {
        use std::os::fd::FromRawFd;
        let mut data = [0u8; 4096];
        let mut control = vec![0u64; 256];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len() * 8;
        let len =
            unsafe { libc::recvmsg(receiver.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        assert!(len >= 0, "{}", io::Error::last_os_error());
        let mut fds = Vec::new();
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        fds.push(std::os::fd::OwnedFd::from_raw_fd(
                            data.add(i).read_unaligned(),
                        ));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        (
            String::from_utf8(data[..len as usize].to_vec()).unwrap(),
            fds,
        )
    }

    #[test]
    fn stored_descriptors_arrive_with_their_name() {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let dir = TempDir::new("notify");
        let (receiver, notifier) = path_pair(&dir);
        let notifier = notifier.with_fd_store(16);
        assert_eq!(notifier.fd_store_capacity(), 16);
        let files: Vec<std::fs::File> = (0..3)
            .map(|i| {
                let path = dir.path().join(format!("f{i}"));
                std::fs::write(&path, b"x").unwrap();
                std::fs::File::open(path).unwrap()
            })
            .collect();
        let borrowed: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
        assert_eq!(notifier.store_fds("ipp-connection", &borrowed), 3);
        let (message, fds) = receive_with_fds(&receiver);
        assert_eq!(message, "FDSTORE=1\nFDNAME=ipp-connection");
        assert_eq!(fds.len(), 3);
        for (sent, got) in files.iter().zip(fds) {
            let got = std::fs::File::from(got);
            assert_eq!(
                sent.metadata().unwrap().ino(),
                got.metadata().unwrap().ino()
            );
        }
        notifier.remove_stored("ipp-connection");
        assert_eq!(receive(&receiver), "FDSTOREREMOVE=1\nFDNAME=ipp-connection");
    }

    #[test]
    fn the_store_is_used_only_when_announced() {
        assert_eq!(parse_fd_store(None), 0);
        assert_eq!(parse_fd_store(Some("x")), 0);
        assert_eq!(parse_fd_store(Some("1040")), 1040);
        let dir = TempDir::new("notify");
        let (_receiver, notifier) = path_pair(&dir);
        assert_eq!(notifier.fd_store_capacity(), 0);
        assert_eq!(Notifier::disabled().with_fd_store(8).fd_store_capacity(), 0);
    }
}
