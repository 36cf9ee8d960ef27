//! Starting the daemon under test as systemd starts a socket-activated
//! `Type=notify` service, and stopping it.
//!
//! The harness binds the listening sockets itself (the socket unit's part:
//! [`PassedSockets`]) and hands them over as descriptors 3 and up with
//! `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID`; the daemon counts as
//! started when `READY=1` arrives on the harness's own `NOTIFY_SOCKET`
//! ([`ServiceLaunch`]). So no port is probed and released, nothing is
//! retried, and "a connect succeeded" is never taken for "ready": the kernel
//! queues connections on a listening socket long before anyone accepts them.
//! Restarts pass the same sockets again, as systemd does, so a client never
//! sees the port change.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use printspoold::sources::ipp::listeners::{PASSED_TCP_NAME, PASSED_UNIX_NAME};

use super::fs::{ScratchDir, create_spool_dir};
use super::process::{
    die_with_parent, pidfd, poll_readable, scrub_service_manager_env, wait_for_exit,
};
use super::{DAEMON, READY_TIMEOUT, indent};

// ---------------------------------------------------------------------------
// The socket unit's part.

/// Listening sockets bound by the harness and passed to every daemon started
/// on them: a TCP socket on a loopback port the kernel picked, and maybe a
/// Unix socket. They outlive each daemon, like a `.socket` unit's.
pub struct PassedSockets {
    tcp: TcpListener,
    addr: SocketAddr,
    unix: Option<(UnixListener, PathBuf)>,
}

impl PassedSockets {
    /// TCP on `127.0.0.1:0`: the port is ours from the start.
    pub fn tcp() -> PassedSockets {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        listen_like_systemd(tcp.as_fd());
        let addr = tcp.local_addr().unwrap();
        PassedSockets {
            tcp,
            addr,
            unix: None,
        }
    }

    /// TCP, and a Unix socket at `path` with mode 0666 (the shipped socket
    /// unit's `SocketMode=`), so any local user may connect.
    pub fn tcp_and_unix(path: &Path) -> PassedSockets {
        let mut sockets = PassedSockets::tcp();
        let unix = UnixListener::bind(path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", path.display()));
        listen_like_systemd(unix.as_fd());
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
        sockets.unix = Some((unix, path.to_path_buf()));
        sockets
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Unix socket's path; panics when there is none.
    pub fn unix_path(&self) -> &Path {
        let (_, path) = self.unix.as_ref().expect("no Unix socket was bound");
        path
    }

    /// The descriptors in the order they are passed, and `LISTEN_FDNAMES`
    /// (the `FileDescriptorName=` of systemd/printspoold*.socket).
    fn fds_and_names(&self) -> (Vec<RawFd>, String) {
        let mut fds = vec![self.tcp.as_raw_fd()];
        let mut names = vec![PASSED_TCP_NAME];
        if let Some((unix, _)) = &self.unix {
            fds.push(unix.as_raw_fd());
            names.push(PASSED_UNIX_NAME);
        }
        (fds, names.join(":"))
    }
}

/// The Unix socket's file goes with it (the socket unit's `RemoveOnStop=`).
impl Drop for PassedSockets {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.unix {
            let _ = fs::remove_file(path);
        }
    }
}

/// listen(2) again with systemd's default `Backlog=` (SOMAXCONN), larger
/// than std's.
fn listen_like_systemd(fd: std::os::fd::BorrowedFd<'_>) {
    // SAFETY: plain syscall on a live listening socket.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), libc::SOMAXCONN) };
    assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
}

// ---------------------------------------------------------------------------
// The service manager's part: sd_notify(3) from the receiving end.

/// A datagram socket in a scratch directory that the daemon finds in
/// `NOTIFY_SOCKET`.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("notify-{n}.socket"));
        let socket = UnixDatagram::bind(&path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", path.display()));
        // Like /run/systemd/notify: a daemon that dropped privileges
        // still reaches it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
        NotifySocket { socket, path }
    }

    /// Waits until `child` sends `READY=1`. Err when it exits first (with
    /// its status) or `timeout` passes. Sleeps in poll(2) on the socket and
    /// the child's pidfd: woken by either event, never polling on a timer.
    fn wait_ready(&self, child: &mut Child, timeout: Duration) -> Result<(), String> {
        let pidfd = pidfd(child);
        self.socket.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if self.receive_pending().iter().any(|m| is_ready(m)) {
                self.socket.set_nonblocking(false).unwrap();
                return Ok(());
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited with {status} before READY=1"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no READY=1 within {timeout:?}"));
            }
            poll_readable(&[self.socket.as_fd(), pidfd.as_fd()], left);
        }
    }

    /// Every datagram queued now.
    fn receive_pending(&self) -> Vec<String> {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buffer) {
            received.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        received
    }

    /// Keeps reading in a thread: the receive queue holds only
    /// `net.unix.max_dgram_qlen` (10) datagrams, and a daemon whose `STATUS=`
    /// lines nobody reads would wait a second on each further one.
    fn drain_in_background(self) -> Notifications {
        let reader = self.socket.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            // shutdown(2) in `Notifications::drop` ends this with Ok(0).
            while let Ok(1..) = reader.recv(&mut buffer) {}
        });
        Notifications {
            socket: self.socket,
            path: self.path,
        }
    }
}

fn is_ready(message: &str) -> bool {
    message.lines().any(|line| line == "READY=1")
}

/// A started daemon's notify socket, still being read (and closed on
/// drop).
pub struct Notifications {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Drop for Notifications {
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        let _ = fs::remove_file(&self.path);
    }
}

/// `sh` runs in the child, learns its own pid (`$$`), and becomes the
/// program: LISTEN_PID must be the pid of the process that reads it.
const EXPORT_OWN_PID: &str = r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#;

/// A program about to be started as a socket-activated `Type=notify`
/// service. Add arguments, environment and stdio through
/// [`ServiceLaunch::command`], then [`ServiceLaunch::spawn`].
pub struct ServiceLaunch {
    command: Command,
    passed: Option<(Vec<RawFd>, String)>,
    notify: NotifySocket,
}

impl ServiceLaunch {
    /// `program` with `sockets` passed to it (`None`: nothing is passed and
    /// the program binds its own `--listen` addresses, the fallback for a
    /// start by hand), its notify socket in `dir`. The service manager
    /// variables of the test runner's own environment are removed.
    pub fn new(
        program: impl AsRef<OsStr>,
        sockets: Option<&PassedSockets>,
        dir: &Path,
    ) -> ServiceLaunch {
        let mut command = match sockets {
            Some(_) => {
                let mut shell = Command::new("/bin/sh");
                shell.arg("-c").arg(EXPORT_OWN_PID).arg(program);
                shell
            }
            None => Command::new(program),
        };
        scrub_service_manager_env(&mut command);
        die_with_parent(&mut command);
        ServiceLaunch {
            command,
            passed: sockets.map(PassedSockets::fds_and_names),
            notify: NotifySocket::bind(dir),
        }
    }

    /// The command, for arguments, environment, stdio, credentials.
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Starts it and waits up to `ready_timeout` for `READY=1`. Err (the
    /// child killed and reaped) says why it is not ready; callers add its
    /// log.
    pub fn spawn(mut self, ready_timeout: Duration) -> Result<ReadyService, String> {
        self.command.env("NOTIFY_SOCKET", &self.notify.path);
        if let Some((fds, names)) = self.passed.take() {
            self.command
                .env("LISTEN_FDS", fds.len().to_string())
                .env("LISTEN_FDNAMES", names);
            pass_as_fd_3_and_up(&mut self.command, fds);
        }
        let mut child = self
            .command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.command))?;
        match self.notify.wait_ready(&mut child, ready_timeout) {
            Ok(()) => Ok(ReadyService {
                child,
                notifications: self.notify.drain_in_background(),
            }),
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(why)
            }
        }
    }
}

/// Most sockets ever passed (TCP and Unix).
const MAX_PASSED: usize = 2;

/// In the child, between fork and exec: `fds` become 3, 4... without
/// close-on-exec (sd_listen_fds(3)). Each is first copied above the target
/// range, so a source that already sits at a target number survives.
fn pass_as_fd_3_and_up(command: &mut Command, fds: Vec<RawFd>) {
    assert!(fds.len() <= MAX_PASSED);
    let count = fds.len() as RawFd;
    // SAFETY: fcntl(2) and dup2(2) are async-signal-safe, and the closure
    // allocates nothing (a fixed array on the stack).
    unsafe {
        command.pre_exec(move || {
            let mut copies = [0 as RawFd; MAX_PASSED];
            for (copy, fd) in copies.iter_mut().zip(&fds) {
                *copy = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3 + count);
                if *copy == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, copy) in (3..).zip(&copies[..fds.len()]) {
                // dup2 clears close-on-exec on the new descriptor.
                if libc::dup2(*copy, target) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// A child that said `READY=1`, and what it keeps saying.
pub struct ReadyService {
    pub child: Child,
    pub notifications: Notifications,
}

// ---------------------------------------------------------------------------
// printspoold.

/// One running `printspoold` with the built-in queue `default` (printing
/// into `<spool>/printed/`), on passed sockets. Killed (SIGKILL) on drop.
pub struct Daemon {
    child: Child,
    _notifications: Notifications,
    sockets: Arc<PassedSockets>,
    pub addr: SocketAddr,
    pub spool: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on fresh sockets with `spool` as its spool
    /// directory and the configuration `<spool>.empty.toml` (empty unless a
    /// test wrote it). Its stdout and stderr are appended to `log`. Panics,
    /// showing the log, if it never says `READY=1`.
    pub fn start(spool: &Path, log: &Path) -> Daemon {
        let sockets = Arc::new(PassedSockets::tcp());
        Daemon::start_on(&sockets, spool, log, &[], READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("printspoold did not start: {e}"))
    }

    /// Starts the daemon with the configuration file `config` (TOML text,
    /// written to `<spool>.toml`).
    pub fn start_with_config(spool: &Path, log: &Path, config: &str) -> Daemon {
        create_spool_dir(spool);
        let path = spool.with_extension("toml");
        fs::write(&path, config).unwrap();
        let sockets = Arc::new(PassedSockets::tcp());
        Daemon::launch(&sockets, spool, log, &path, &[], READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("printspoold did not start: {e}"))
    }

    /// Starts the daemon on `sockets`, with `extra_args` appended; Err (with
    /// the log) when it exits or is not ready within `ready_timeout`.
    pub fn start_on(
        sockets: &Arc<PassedSockets>,
        spool: &Path,
        log: &Path,
        extra_args: &[&str],
        ready_timeout: Duration,
    ) -> Result<Daemon, String> {
        create_spool_dir(spool);
        let config = spool.with_extension("empty.toml");
        if !config.exists() {
            fs::write(&config, "").unwrap();
        }
        Daemon::launch(sockets, spool, log, &config, extra_args, ready_timeout)
    }

    /// Starts a new daemon on the spool and sockets of one that was killed,
    /// as `Restart=` does; panics with the end of the log if it fails.
    pub fn restart(
        sockets: &Arc<PassedSockets>,
        spool: &Path,
        log: &Path,
        ready_timeout: Duration,
    ) -> Daemon {
        Daemon::start_on(sockets, spool, log, &[], ready_timeout).unwrap_or_else(|e| {
            let lines: Vec<&str> = e.lines().collect();
            panic!(
                "printspoold did not restart: {}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            )
        })
    }

    fn launch(
        sockets: &Arc<PassedSockets>,
        spool: &Path,
        log: &Path,
        config: &Path,
        extra_args: &[&str],
        ready_timeout: Duration,
    ) -> Result<Daemon, String> {
        let output = File::options().create(true).append(true).open(log).unwrap();
        let mut launch = ServiceLaunch::new(DAEMON, Some(sockets), log.parent().unwrap());
        launch
            .command()
            .arg("--config")
            .arg(config)
            .arg("--spool-dir")
            .arg(spool);
        // Under a service manager a D-Bus failure is fatal; these daemons
        // have no bus of their own.
        if !extra_args.contains(&"--session-bus") {
            launch.command().arg("--no-dbus");
        }
        launch
            .command()
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        let service = launch
            .spawn(ready_timeout)
            .map_err(|why| format!("{why}; log:\n{}", read_log(log)))?;
        Ok(Daemon {
            child: service.child,
            _notifications: service.notifications,
            sockets: Arc::clone(sockets),
            addr: sockets.addr(),
            spool: spool.to_path_buf(),
            log: log.to_path_buf(),
        })
    }

    /// The sockets it serves, for a restart on the same ones.
    pub fn sockets(&self) -> Arc<PassedSockets> {
        Arc::clone(&self.sockets)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `ipp://127.0.0.1:PORT/PATH`, PATH starting with `/`.
    pub fn uri(&self, path: &str) -> String {
        format!("ipp://{}{path}", self.addr)
    }

    /// The URI of the built-in queue.
    pub fn default_queue_uri(&self) -> String {
        self.uri("/printers/default")
    }

    /// Where the built-in queue's file backend writes documents.
    pub fn printed_dir(&self) -> PathBuf {
        self.spool.join("printed")
    }

    /// Everything the daemon wrote to stderr so far (all runs that shared
    /// this log file).
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// Sends `signal` and waits up to `timeout` for the exit status.
    pub fn signal_and_wait(&mut self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        wait_for_exit(&mut self.child, timeout)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The daemon's resident memory now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
            .unwrap_or_else(|| panic!("no VmRSS for pid {}", self.pid()))
    }

    /// How many file descriptors the daemon has open now.
    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(log: &Path) -> String {
    fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A `/proc/PID/status` field given in kB, such as `VmRSS:`.
pub fn proc_status_kib(pid: i32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// A daemon with its own scratch directory (spool, config, log): the usual
/// fixture. Field order matters: the daemon is dropped before its directory.
pub struct TestServer {
    pub daemon: Daemon,
    pub dir: ScratchDir,
}

impl TestServer {
    pub fn start(label: &str) -> TestServer {
        let dir = ScratchDir::new(label);
        let daemon = Daemon::start(&dir.path().join("spool"), &dir.path().join("daemon.log"));
        TestServer { daemon, dir }
    }

    /// [`TestServer::start`] with `config` as the daemon's configuration.
    pub fn start_with_config(label: &str, config: &str) -> TestServer {
        let dir = ScratchDir::new(label);
        let spool = dir.path().join("spool");
        // Daemon::start reads `spool.empty.toml`, creating it only if missing.
        fs::write(spool.with_extension("empty.toml"), config).unwrap();
        let daemon = Daemon::start(&spool, &dir.path().join("daemon.log"));
        TestServer { daemon, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.daemon.addr
    }

    /// The daemon's log, indented, for failure messages.
    pub fn log(&self) -> String {
        indent(&self.daemon.log_text())
    }
}
