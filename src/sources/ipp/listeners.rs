//! The IPP listening sockets: passed in by systemd (daemon(7): socket
//! activation), or bound here from `[server] listen` when none are passed,
//! so the same binary works both ways.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use tokio::net::{TcpListener, UnixListener};
use tracing::{debug, warn};

/// Connections the kernel queues while all `max_connections` are busy.
const BACKLOG: libc::c_int = 1024;

/// `FileDescriptorName=` of the TCP socket in the socket unit.
pub const PASSED_TCP_NAME: &str = "ipp";
/// `FileDescriptorName=` of the Unix socket in the socket unit.
pub const PASSED_UNIX_NAME: &str = "ipp-unix";
/// `FDNAME=` of an idle TCP client connection in the file descriptor store.
pub const STORED_TCP_CONNECTION: &str = "ipp-connection";
/// `FDNAME=` of an idle Unix client connection in the file descriptor store.
pub const STORED_UNIX_CONNECTION: &str = "ipp-unix-connection";

/// Whether a passed descriptor's name is a stored client connection rather
/// than a listening socket.
pub fn is_stored_connection(name: &str) -> bool {
    name == STORED_TCP_CONNECTION || name == STORED_UNIX_CONNECTION
}

/// A listening socket, ready for [`crate::sources::ipp::http::Server::spawn_listener`].
/// Shared, so the daemon can keep its [`Bound`] (name, socket file) while
/// the server accepts on the same socket.
#[derive(Debug, Clone)]
pub enum Listener {
    Tcp(Arc<TcpListener>),
    Unix(Arc<UnixListener>),
}

impl Listener {
    /// Another handle on the same socket, for the server.
    pub fn clone_for_serving(&self) -> Listener {
        self.clone()
    }
}

/// A listener and where it came from.
#[derive(Debug)]
pub struct Bound {
    pub listener: Listener,
    /// Human label: `127.0.0.1:8631`, `[::1]:631` or the socket path.
    pub name: String,
    /// Passed by systemd rather than bound by this process.
    pub passed: bool,
    socket_file: Option<SocketFile>,
}

impl Bound {
    /// The socket file this process created, to remove on exit. Keep it
    /// before handing the listener to the server.
    pub fn own_socket_file(&self) -> Option<SocketFile> {
        self.socket_file.clone()
    }
}

/// A socket bound before the tokio runtime exists: SysV mode binds before
/// forking, so `--user` can drop privileges after taking port 631.
#[derive(Debug)]
pub struct StdBound {
    listener: StdListener,
    /// As [`Bound::name`].
    pub name: String,
    socket_file: Option<SocketFile>,
}

#[derive(Debug)]
enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl StdBound {
    /// As [`Bound::own_socket_file`].
    pub fn own_socket_file(&self) -> Option<SocketFile> {
        self.socket_file.clone()
    }
}

impl AsRawFd for StdBound {
    fn as_raw_fd(&self) -> RawFd {
        match &self.listener {
            StdListener::Tcp(l) => l.as_raw_fd(),
            StdListener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// A Unix socket file this process bound, identified by inode so that exit
/// never removes a file a newer instance has bound at the same path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketFile {
    pub path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    fn of(path: &Path) -> io::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    /// Removes the file if it is still the socket this process bound.
    pub fn remove(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta)
                if meta.file_type().is_socket()
                    && meta.dev() == self.device
                    && meta.ino() == self.inode =>
            {
                match std::fs::remove_file(&self.path) {
                    Ok(()) => debug!(path = %self.path.display(), "removed socket file"),
                    Err(error) => {
                        warn!(path = %self.path.display(), %error, "cannot remove socket file")
                    }
                }
            }
            Ok(_) => {
                debug!(path = %self.path.display(), "socket file replaced meanwhile; left alone")
            }
            Err(_) => {}
        }
    }
}

#[derive(Debug, Error)]
pub enum ListenError {
    #[error("listeners must be created inside the tokio runtime")]
    NoRuntime,
    #[error(
        "listen address \"{addr}\" is neither HOST:PORT, [IPv6]:PORT nor an absolute socket path"
    )]
    BadAddress { addr: String },
    #[error("cannot resolve listen address \"{addr}\": {source}")]
    Resolve { addr: String, source: io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("cannot create the directory for socket {}: {source}", path.display())]
    SocketDir { path: PathBuf, source: io::Error },
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket { path: PathBuf },
    #[error("{} is in use: another process answers on it", path.display())]
    InUse { path: PathBuf },
    #[error("cannot check or remove the old socket {}: {source}", path.display())]
    Stale { path: PathBuf, source: io::Error },
    #[error("socket passed as fd {fd} (name \"{name}\"): {problem}")]
    Passed {
        fd: RawFd,
        name: String,
        problem: String,
    },
}

impl ListenError {
    /// Binding failed for lack of privilege (a port below 1024, a socket
    /// directory owned by root): the daemon exits with the privilege code.
    pub fn is_permission_denied(&self) -> bool {
        match self {
            ListenError::Bind { source, .. }
            | ListenError::SocketDir { source, .. }
            | ListenError::Stale { source, .. } => source.kind() == io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
}

/// Binds the configured addresses: `HOST:PORT`, `[v6]:PORT`, or an
/// absolute Unix socket path. Call inside the tokio runtime.
pub fn bind_all(addrs: &[String]) -> Result<Vec<Bound>, ListenError> {
    require_runtime()?;
    adopt_std(bind_all_std(addrs)?)
}

/// Binds like [`bind_all`] but without the runtime, for binding before
/// forking; hand the result to [`adopt_std`] once the runtime runs. On
/// error, socket files bound so far are removed again.
pub fn bind_all_std(addrs: &[String]) -> Result<Vec<StdBound>, ListenError> {
    let mut bound = Vec::new();
    for addr in addrs {
        let result = if addr.starts_with('/') {
            bind_unix(Path::new(addr)).map(|b| vec![b])
        } else {
            resolve(addr).and_then(|resolved| {
                resolved
                    .into_iter()
                    .map(|socket_addr| bind_tcp(addr, socket_addr))
                    .collect()
            })
        };
        match result {
            Ok(more) => bound.extend(more),
            Err(error) => {
                for file in bound
                    .iter()
                    .filter_map(|b: &StdBound| b.socket_file.as_ref())
                {
                    file.remove();
                }
                return Err(error);
            }
        }
    }
    Ok(bound)
}

/// Registers sockets from [`bind_all_std`] with the tokio runtime.
pub fn adopt_std(bound: Vec<StdBound>) -> Result<Vec<Bound>, ListenError> {
    require_runtime()?;
    bound.into_iter().map(register).collect()
}

fn register(bound: StdBound) -> Result<Bound, ListenError> {
    let StdBound {
        listener,
        name,
        socket_file,
    } = bound;
    let error = |source| ListenError::Bind {
        addr: name.clone(),
        source,
    };
    let listener = match listener {
        StdListener::Tcp(l) => {
            l.set_nonblocking(true).map_err(error)?;
            Listener::Tcp(Arc::new(TcpListener::from_std(l).map_err(error)?))
        }
        StdListener::Unix(l) => {
            l.set_nonblocking(true).map_err(error)?;
            Listener::Unix(Arc::new(UnixListener::from_std(l).map_err(error)?))
        }
    };
    Ok(Bound {
        listener,
        name,
        passed: false,
        socket_file,
    })
}

fn require_runtime() -> Result<(), ListenError> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| ListenError::NoRuntime)
}

fn resolve(addr: &str) -> Result<Vec<SocketAddr>, ListenError> {
    if let Ok(literal) = addr.parse::<SocketAddr>() {
        return Ok(vec![literal]);
    }
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, _)| host.is_empty())
    {
        return Err(ListenError::BadAddress {
            addr: addr.to_string(),
        });
    }
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| ListenError::Resolve {
            addr: addr.to_string(),
            source,
        })?
        .collect();
    if resolved.is_empty() {
        return Err(ListenError::Resolve {
            addr: addr.to_string(),
            source: io::ErrorKind::NotFound.into(),
        });
    }
    Ok(resolved)
}

fn bind_tcp(configured: &str, addr: SocketAddr) -> Result<StdBound, ListenError> {
    let bind_error = |source| ListenError::Bind {
        addr: if configured == addr.to_string() {
            configured.to_string()
        } else {
            format!("{addr} (from \"{configured}\")")
        },
        source,
    };
    // std sets SO_REUSEADDR, so a restarted daemon need not wait for
    // TIME_WAIT connections to expire.
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    set_backlog(listener.as_fd()).map_err(bind_error)?;
    let name = listener
        .local_addr()
        .map_or_else(|_| addr.to_string(), |a| a.to_string());
    Ok(StdBound {
        listener: StdListener::Tcp(listener),
        name,
        socket_file: None,
    })
}

fn bind_unix(path: &Path) -> Result<StdBound, ListenError> {
    create_parent_dir(path)?;
    remove_stale_socket(path)?;
    let bind_error = |source| ListenError::Bind {
        addr: path.display().to_string(),
        source,
    };
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(bind_error)?;
    let file = SocketFile::of(path).map_err(bind_error)?;
    // Any local user may print; who they are comes from SO_PEERCRED.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(|e| {
        file.remove();
        bind_error(e)
    })?;
    set_backlog(listener.as_fd()).map_err(bind_error)?;
    Ok(StdBound {
        listener: StdListener::Unix(listener),
        name: path.display().to_string(),
        socket_file: Some(file),
    })
}

/// std listens with a backlog of 128; calling listen(2) again raises it.
fn set_backlog(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a live descriptor.
    if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn create_parent_dir(path: &Path) -> Result<(), ListenError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(|source| ListenError::SocketDir {
            path: path.to_path_buf(),
            source,
        })
}

/// A socket file left by a process that died is removed, but only when
/// nothing answers on it (connect is refused); anything that is not a
/// socket is never touched.
fn remove_stale_socket(path: &Path) -> Result<(), ListenError> {
    let stale_error = |source| ListenError::Stale {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(stale_error(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(ListenError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            debug!(path = %path.display(), "removing stale socket file");
            std::fs::remove_file(path).map_err(stale_error)
        }
        Err(e) => Err(stale_error(e)),
    }
}

/// Adopts sockets passed by systemd (`LISTEN_FDS`/`LISTEN_FDNAMES`): each
/// must be a listening stream socket, `ipp` a TCP one and `ipp-unix` a
/// Unix one. Call inside the tokio runtime.
pub fn adopt_passed(fds: Vec<(OwnedFd, String)>) -> Result<Vec<Bound>, ListenError> {
    require_runtime()?;
    fds.into_iter()
        .map(|(fd, name)| adopt_one(fd, name))
        .collect()
}

fn adopt_one(fd: OwnedFd, name: String) -> Result<Bound, ListenError> {
    let raw = fd.as_raw_fd();
    let problem = |problem: String| ListenError::Passed {
        fd: raw,
        name: name.clone(),
        problem,
    };
    let family = check_listening_stream(fd.as_fd()).map_err(&problem)?;
    let wrap_error = |e: io::Error| problem(format!("cannot use it: {e}"));
    match (name.as_str(), family) {
        (PASSED_TCP_NAME, libc::AF_INET | libc::AF_INET6) => {
            let std_listener = std::net::TcpListener::from(fd);
            std_listener.set_nonblocking(true).map_err(wrap_error)?;
            let listener = Arc::new(TcpListener::from_std(std_listener).map_err(wrap_error)?);
            let label = listener
                .local_addr()
                .map_or_else(|_| format!("fd {raw}"), |a| a.to_string());
            Ok(passed(Listener::Tcp(listener), label))
        }
        (PASSED_UNIX_NAME, libc::AF_UNIX) => {
            let std_listener = std::os::unix::net::UnixListener::from(fd);
            std_listener.set_nonblocking(true).map_err(wrap_error)?;
            let listener = Arc::new(UnixListener::from_std(std_listener).map_err(wrap_error)?);
            let label = listener
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| format!("fd {raw}"));
            Ok(passed(Listener::Unix(listener), label))
        }
        (PASSED_TCP_NAME | PASSED_UNIX_NAME, family) => Err(problem(format!(
            "address family {} does not fit the name: \"{PASSED_TCP_NAME}\" must be TCP, \"{PASSED_UNIX_NAME}\" a Unix socket",
            family_name(family)
        ))),
        _ => Err(problem(format!(
            "unknown name; set FileDescriptorName={PASSED_TCP_NAME} (TCP) or {PASSED_UNIX_NAME} (Unix) in the socket unit"
        ))),
    }
}

fn passed(listener: Listener, name: String) -> Bound {
    Bound {
        listener,
        name,
        passed: true,
        socket_file: None,
    }
}

/// Checks the fd is a listening `SOCK_STREAM` socket of a family we serve;
/// returns the family.
fn check_listening_stream(fd: BorrowedFd<'_>) -> Result<libc::c_int, String> {
    let socket_type = socket_option(fd, libc::SO_TYPE).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTSOCK) => "not a socket".to_string(),
        _ => format!("cannot read its socket type: {e}"),
    })?;
    if socket_type != libc::SOCK_STREAM {
        return Err(format!(
            "not a stream socket (SO_TYPE {socket_type}{}); use ListenStream= in the socket unit",
            if socket_type == libc::SOCK_DGRAM {
                ", datagram"
            } else {
                ""
            }
        ));
    }
    let accepting = socket_option(fd, libc::SO_ACCEPTCONN)
        .map_err(|e| format!("cannot read SO_ACCEPTCONN: {e}"))?;
    if accepting == 0 {
        return Err(
            "not a listening socket (a connection? the socket unit needs Accept=no)".to_string(),
        );
    }
    let family = socket_family(fd).map_err(|e| format!("cannot read its address: {e}"))?;
    match family {
        libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX => Ok(family),
        other => Err(format!("unsupported address family {}", family_name(other))),
    }
}

fn socket_option(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` holds the
    // size of `value`; `fd` is a live descriptor for the call's duration.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw mut value).cast(),
            &raw mut len,
        )
    };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

fn socket_family(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes; `fd` is live.
    let rc =
        unsafe { libc::getsockname(fd.as_raw_fd(), storage.as_mut_ptr().cast(), &raw mut len) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised, and getsockname wrote at most `len` bytes.
    let storage = unsafe { storage.assume_init() };
    Ok(libc::c_int::from(storage.ss_family))
}

fn family_name(family: libc::c_int) -> String {
    match family {
        libc::AF_INET => "AF_INET".to_string(),
        libc::AF_INET6 => "AF_INET6".to_string(),
        libc::AF_UNIX => "AF_UNIX".to_string(),
        other => other.to_string(),
    }
}

/// Removes the Unix socket files this process bound itself, on exit. Passed
/// sockets' files belong to systemd and stay (daemon(7), porting step 2:
/// the socket must survive for the next activation).
pub fn remove_own_socket_files(bound: &[Bound]) {
    for file in bound.iter().filter_map(|b| b.socket_file.as_ref()) {
        file.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp_dir() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "printspoold-listen-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn binds_tcp_and_reports_the_real_port() {
        let bound = bind_all(&["127.0.0.1:0".to_string(), "[::1]:0".to_string()]);
        let bound = match bound {
            Ok(bound) => bound,
            // No IPv6 loopback in this environment: IPv4 alone must work.
            Err(ListenError::Bind { .. }) => bind_all(&["127.0.0.1:0".to_string()]).unwrap(),
            Err(e) => panic!("{e}"),
        };
        assert!(bound[0].name.starts_with("127.0.0.1:"));
        assert!(!bound[0].name.ends_with(":0"));
        assert!(!bound[0].passed && bound[0].own_socket_file().is_none());
    }

    #[tokio::test]
    async fn refuses_unparsable_addresses() {
        for bad in ["8631", "relative/path", ":631", "127.0.0.1"] {
            let err = bind_all(&[bad.to_string()]).unwrap_err();
            assert!(
                matches!(
                    err,
                    ListenError::BadAddress { .. } | ListenError::Resolve { .. }
                ),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn unix_socket_creates_dir_sets_mode_and_replaces_a_stale_socket() {
        let dir = temp_dir();
        let path = dir.join("sub/ipp.sock");
        let addr = vec![path.display().to_string()];
        let first = bind_all(&addr).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        // While it listens, a second bind must refuse, not steal the path.
        assert!(matches!(bind_all(&addr), Err(ListenError::InUse { .. })));
        drop(first); // the file stays behind: a stale socket
        assert!(path.exists());
        let second = bind_all(&addr).unwrap();
        std::os::unix::net::UnixStream::connect(&path).unwrap();
        remove_own_socket_files(&second);
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn unix_bind_never_removes_a_regular_file() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-socket");
        std::fs::write(&path, "precious").unwrap();
        let err = bind_all(&[path.display().to_string()]).unwrap_err();
        assert!(matches!(err, ListenError::NotASocket { .. }));
        assert!(err.to_string().contains("not-a-socket"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn removal_spares_a_socket_rebound_by_someone_else() {
        let dir = temp_dir();
        let path = dir.join("ipp.sock");
        let bound = bind_all(&[path.display().to_string()]).unwrap();
        std::fs::remove_file(&path).unwrap();
        let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        remove_own_socket_files(&bound);
        assert!(path.exists(), "a newer instance's socket was removed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn adopt(fd: OwnedFd, name: &str) -> Result<Vec<Bound>, ListenError> {
        adopt_passed(vec![(fd, name.to_string())])
    }

    #[tokio::test]
    async fn adopts_listening_tcp_and_unix_sockets() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let bound = adopt(OwnedFd::from(tcp), "ipp").unwrap();
        assert!(bound[0].passed);
        assert_eq!(bound[0].name, format!("127.0.0.1:{port}"));
        let Listener::Tcp(listener) = &bound[0].listener else {
            panic!("not TCP")
        };
        let client = tokio::net::TcpStream::connect(("127.0.0.1", port));
        let (accepted, client) = tokio::join!(listener.accept(), client);
        accepted.unwrap();
        client.unwrap();

        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passed.sock");
        let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let bound = adopt(OwnedFd::from(unix), "ipp-unix").unwrap();
        assert_eq!(bound[0].name, path.display().to_string());
        // Passed sockets belong to systemd: never removed on exit.
        remove_own_socket_files(&bound);
        assert!(path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn refuses_udp_connected_unnamed_and_mismatched_sockets() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = adopt(OwnedFd::from(udp), "ipp").unwrap_err();
        assert!(err.to_string().contains("not a stream socket"), "{err}");
        assert!(err.to_string().contains("fd "), "{err}");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let connected = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let err = adopt(OwnedFd::from(connected), "ipp").unwrap_err();
        assert!(err.to_string().contains("not a listening socket"), "{err}");

        // SAFETY: socket(2) returns a new descriptor that we own.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(raw >= 0);
        // SAFETY: `raw` is a fresh, open descriptor owned by nobody else.
        let unbound = unsafe { OwnedFd::from_raw_fd(raw) };
        let err = adopt(unbound, "ipp").unwrap_err();
        assert!(err.to_string().contains(&format!("fd {raw}")), "{err}");

        let err = adopt(OwnedFd::from(listener), "ipp-unix").unwrap_err();
        assert!(err.to_string().contains("AF_INET"), "{err}");
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = adopt(OwnedFd::from(other), "printspoold.socket").unwrap_err();
        assert!(err.to_string().contains("printspoold.socket"), "{err}");

        let file = std::fs::File::open("/dev/null").unwrap();
        let err = adopt(OwnedFd::from(file), "ipp").unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
    }
}
