//! Shared helpers for the end-to-end tests: start the real `printspoold` on a
//! free loopback port with its own spool, speak IPP to it over a small
//! blocking HTTP/1.1 client, and decode the answers. Nothing is mocked: every
//! test talks to the binary cargo built, over TCP.
//!
//! Each integration test crate uses a different subset of this module.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The daemon binary under test.
pub const DAEMON: &str = env!("CARGO_BIN_EXE_printspoold");

/// How long a daemon may take to accept connections after it was spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one ordinary request may take before a test calls it a hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Sample documents (the ones ipptool's test files name, and ours).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns
/// whether it held.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Scratch directories and randomness (no extra crates for either).

/// A directory under the system temp dir, removed on drop unless
/// `PRINTSPOOLD_KEEP_TEST_DIRS` is set (to inspect a failed run).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "printspoold-e2e-{label}-{}-{n}-{}",
            std::process::id(),
            seed_from_clock() % 1_000_000
        ));
        fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("PRINTSPOOLD_KEEP_TEST_DIRS").is_some() {
            eprintln!("keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn seed_from_clock() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// splitmix64: plenty for test data and timings. The seed is printed by the
/// tests that use it so a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seeded from `PRINTSPOOLD_TEST_SEED` when set, else from the clock.
    pub fn from_env_or_clock() -> (Rng, u64) {
        let seed = std::env::var("PRINTSPOOLD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(seed_from_clock);
        (Rng::new(seed), seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

// ---------------------------------------------------------------------------
// The daemon under test.

/// A loopback port that was free a moment ago. Another process may take it
/// before the daemon binds it; `Daemon::start` retries with a new one.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Creates `spool` (and missing parents) at most 0755 whatever the umask:
/// the daemon refuses a spool writable by group or others (exit 6).
fn create_spool_dir(spool: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(spool)
        .unwrap();
}

/// One running `printspoold`. Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    pub spool: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts the daemon on a fresh free port with `spool` as its spool
    /// directory and an empty configuration file (built-in defaults: one
    /// queue `default` printing into `<spool>/printed/`). Its stderr is
    /// appended to `log`. Panics, showing the log, if it never serves.
    pub fn start(spool: &Path, log: &Path) -> Daemon {
        start_retrying(|| Daemon::start_on(spool, log, free_port(), &[]))
    }

    /// Starts the daemon listening on `port`, with `extra_args` appended.
    /// Returns the log as the error when it exits or does not accept a
    /// connection within `READY_TIMEOUT`.
    pub fn start_on(
        spool: &Path,
        log: &Path,
        port: u16,
        extra_args: &[&str],
    ) -> Result<Daemon, String> {
        Daemon::start_on_within(spool, log, port, extra_args, READY_TIMEOUT)
    }

    /// `start_on` with its own readiness timeout, for spools with a backlog
    /// to recover first.
    pub fn start_on_within(
        spool: &Path,
        log: &Path,
        port: u16,
        extra_args: &[&str],
        ready_timeout: Duration,
    ) -> Result<Daemon, String> {
        create_spool_dir(spool);
        let config = spool.with_extension("empty.toml");
        if !config.exists() {
            fs::write(&config, "").unwrap();
        }
        Daemon::launch(spool, log, port, &config, extra_args, ready_timeout)
    }

    /// Restarts the daemon on the spool after a kill: on `*port` when it is
    /// free again, else on a fresh port (written back to `port`); three tries,
    /// then a panic with the end of the log.
    pub fn restart_on(spool: &Path, log: &Path, port: &mut u16, ready_timeout: Duration) -> Daemon {
        for _ in 0..3 {
            match Daemon::start_on_within(spool, log, *port, &[], ready_timeout) {
                Ok(daemon) => return daemon,
                Err(e) => {
                    eprintln!(
                        "restart on port {port} failed, trying another: {}",
                        e.lines().next().unwrap_or("")
                    );
                    *port = free_port();
                }
            }
        }
        let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        panic!(
            "printspoold did not restart; log tail:\n{}",
            lines[lines.len().saturating_sub(60)..].join("\n")
        );
    }

    /// Starts the daemon on a fresh free port with the configuration file
    /// `config` (TOML text, written beside the spool).
    pub fn start_with_config(spool: &Path, log: &Path, config: &str) -> Daemon {
        create_spool_dir(spool);
        let path = spool.with_extension("toml");
        fs::write(&path, config).unwrap();
        start_retrying(|| Daemon::launch(spool, log, free_port(), &path, &[], READY_TIMEOUT))
    }

    fn launch(
        spool: &Path,
        log: &Path,
        port: u16,
        config: &Path,
        extra_args: &[&str],
        ready_timeout: Duration,
    ) -> Result<Daemon, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stderr = File::options().create(true).append(true).open(log).unwrap();
        let mut command = Command::new(DAEMON);
        command
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--spool-dir")
            .arg(spool)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(stderr.try_clone().unwrap())
            .stderr(stderr);
        scrub_service_manager_env(&mut command);
        die_with_parent(&mut command);
        let child = command.spawn().unwrap();
        let mut daemon = Daemon {
            child,
            addr,
            spool: spool.to_path_buf(),
            log: log.to_path_buf(),
        };
        daemon.wait_ready(ready_timeout)?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let addr = self.addr;
        wait_serving(&mut self.child, timeout, || accepts(addr))
            .map_err(|e| format!("{e} on {addr}; log:\n{}", self.log_text()))
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
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Sends `signal` and waits up to `timeout` for the exit status.
    pub fn signal_and_wait(&mut self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.pid(), signal);
        }
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
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

/// A `/proc/PID/status` field given in kB, such as `VmRSS:`.
pub fn proc_status_kib(pid: i32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Whether this test may do what needs root (mounting). When not root it
/// prints why the test does nothing and returns false, so a developer's
/// run passes; under `CI=true` (tests/run runs the suite as root there)
/// a missing privilege is a failure instead, never a silent skip.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root (it mounts a file system) and CI=true forbids skipping"
    );
    eprintln!("{test}: skipped: needs root (it mounts a file system)");
    false
}

/// A file system mounted for one test, unmounted on drop (lazily if it is
/// still busy, so a failed test never leaves it behind).
pub struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (as mount(8) takes it: `2m`) at `path`.
    pub fn tmpfs(path: &Path, size: &str) -> Mount {
        fs::create_dir_all(path).unwrap();
        Mount::run(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0700"))
                .arg("printspoold-test")
                .arg(path),
        );
        Mount {
            path: path.to_path_buf(),
        }
    }

    /// Makes the directory `path` read-only in place (a read-only bind
    /// mount of itself): writes there fail with EROFS, even for root.
    pub fn read_only_bind(path: &Path) -> Mount {
        Mount::run(Command::new("mount").arg("--bind").arg(path).arg(path));
        let mount = Mount {
            path: path.to_path_buf(),
        };
        Mount::run(
            Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(path),
        );
        mount
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run(command: &mut Command) {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        assert!(
            output.status.success(),
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Keeps variables a service manager may have set for the test runner from
/// changing how the daemon under test starts and logs.
pub fn scrub_service_manager_env(command: &mut Command) {
    for var in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "INVOCATION_ID",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1");
}

/// Kills the child if the spawning test thread dies without dropping it
/// (the harness was killed), so no daemon outlives the test run.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A daemon with its own scratch directory (spool, config, log): the usual
/// fixture. Field order matters: the daemon is dropped before its directory.
pub struct TestServer {
    pub daemon: Daemon,
    pub dir: TempDir,
}

impl TestServer {
    pub fn start(label: &str) -> TestServer {
        let dir = TempDir::new(label);
        let daemon = Daemon::start(&dir.path().join("spool"), &dir.path().join("daemon.log"));
        TestServer { daemon, dir }
    }

    /// [`TestServer::start`] with `config` as the daemon's configuration.
    pub fn start_with_config(label: &str, config: &str) -> TestServer {
        let dir = TempDir::new(label);
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

pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    | {l}\n")).collect()
}

/// Regular files in `dir`, sorted; empty when it does not exist.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------
// IPP encoding (RFC 8010), by hand so the tests do not share the daemon's
// codec and its bugs.

/// Delimiter and value tags.
pub mod tag {
    pub const OPERATION: u8 = 0x01;
    pub const JOB: u8 = 0x02;
    pub const END: u8 = 0x03;
    pub const PRINTER: u8 = 0x04;
    pub const UNSUPPORTED_GROUP: u8 = 0x05;
    pub const INTEGER: u8 = 0x21;
    pub const BOOLEAN: u8 = 0x22;
    pub const ENUM: u8 = 0x23;
    pub const OCTET_STRING: u8 = 0x30;
    pub const BEGIN_COLLECTION: u8 = 0x34;
    pub const END_COLLECTION: u8 = 0x37;
    pub const TEXT: u8 = 0x41;
    pub const NAME: u8 = 0x42;
    pub const KEYWORD: u8 = 0x44;
    pub const URI: u8 = 0x45;
    pub const CHARSET: u8 = 0x47;
    pub const LANGUAGE: u8 = 0x48;
    pub const MIME_MEDIA_TYPE: u8 = 0x49;
    pub const MEMBER_NAME: u8 = 0x4a;
}

pub mod op {
    pub const PRINT_JOB: u16 = 0x0002;
    pub const VALIDATE_JOB: u16 = 0x0004;
    pub const CREATE_JOB: u16 = 0x0005;
    pub const SEND_DOCUMENT: u16 = 0x0006;
    pub const CANCEL_JOB: u16 = 0x0008;
    pub const GET_JOB_ATTRIBUTES: u16 = 0x0009;
    pub const GET_JOBS: u16 = 0x000a;
    pub const GET_PRINTER_ATTRIBUTES: u16 = 0x000b;
    pub const HOLD_JOB: u16 = 0x000c;
    pub const RELEASE_JOB: u16 = 0x000d;
}

pub mod status {
    pub const OK: u16 = 0x0000;
    pub const NOT_POSSIBLE: u16 = 0x0404;
    pub const INTERNAL_ERROR: u16 = 0x0500;
    pub const TEMPORARY_ERROR: u16 = 0x0505;
    pub const OK_IGNORED_OR_SUBSTITUTED: u16 = 0x0001;
    pub const BAD_REQUEST: u16 = 0x0400;
    pub const NOT_FOUND: u16 = 0x0406;
    pub const REQUEST_ENTITY_TOO_LARGE: u16 = 0x0408;
    pub const REQUEST_VALUE_TOO_LONG: u16 = 0x0409;
    pub const VERSION_NOT_SUPPORTED: u16 = 0x0503;
}

/// `job-state` values.
pub mod job_state {
    pub const PENDING: i32 = 3;
    pub const HELD: i32 = 4;
    pub const PROCESSING: i32 = 5;
    pub const STOPPED: i32 = 6;
    pub const CANCELED: i32 = 7;
    pub const ABORTED: i32 = 8;
    pub const COMPLETED: i32 = 9;
}

/// An IPP request being built, byte by byte.
#[derive(Clone)]
pub struct IppRequest {
    bytes: Vec<u8>,
}

impl IppRequest {
    /// Header for IPP/2.0 `operation` with `request_id`, no groups yet.
    pub fn new(operation: u16, request_id: u32) -> IppRequest {
        IppRequest::with_version((2, 0), operation, request_id)
    }

    pub fn with_version(version: (u8, u8), operation: u16, request_id: u32) -> IppRequest {
        let mut bytes = vec![version.0, version.1];
        bytes.extend_from_slice(&operation.to_be_bytes());
        bytes.extend_from_slice(&request_id.to_be_bytes());
        IppRequest { bytes }
    }

    /// Opens an attribute group (`tag::OPERATION`, `tag::JOB`...).
    pub fn group(mut self, delimiter: u8) -> IppRequest {
        self.bytes.push(delimiter);
        self
    }

    /// One attribute with one value.
    pub fn attr(mut self, value_tag: u8, name: &str, value: &[u8]) -> IppRequest {
        self.bytes.push(value_tag);
        self.bytes
            .extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(value);
        self
    }

    /// A further value of the previous attribute (empty name).
    pub fn value(self, value_tag: u8, value: &[u8]) -> IppRequest {
        self.attr(value_tag, "", value)
    }

    pub fn text(self, value_tag: u8, name: &str, value: &str) -> IppRequest {
        self.attr(value_tag, name, value.as_bytes())
    }

    pub fn integer(self, name: &str, value: i32) -> IppRequest {
        self.attr(tag::INTEGER, name, &value.to_be_bytes())
    }

    pub fn enumeration(self, name: &str, value: i32) -> IppRequest {
        self.attr(tag::ENUM, name, &value.to_be_bytes())
    }

    /// Appends bytes verbatim (for malformed requests).
    pub fn raw(mut self, bytes: &[u8]) -> IppRequest {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// Closes the attributes with the end tag and appends `document`.
    pub fn finish(mut self, document: &[u8]) -> Vec<u8> {
        self.bytes.push(tag::END);
        self.bytes.extend_from_slice(document);
        self.bytes
    }

    /// The bytes so far, without an end tag.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The operation attributes every request of ours carries, in the order
/// RFC 8011 4.1.4 requires: charset, natural language, then the target.
pub fn operation(operation: u16, request_id: u32, printer_uri: &str) -> IppRequest {
    operation_as(operation, request_id, printer_uri, "e2e")
}

pub fn operation_as(operation: u16, request_id: u32, printer_uri: &str, user: &str) -> IppRequest {
    IppRequest::new(operation, request_id)
        .group(tag::OPERATION)
        .text(tag::CHARSET, "attributes-charset", "utf-8")
        .text(tag::LANGUAGE, "attributes-natural-language", "en")
        .text(tag::URI, "printer-uri", printer_uri)
        .text(tag::NAME, "requesting-user-name", user)
}

/// The login name of this process's user: what CUPS clients and ipptool
/// send as requesting-user-name.
pub fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out before any other passwd call.
    unsafe {
        let entry = libc::getpwuid(libc::getuid());
        assert!(
            !entry.is_null(),
            "no passwd entry for uid {}",
            libc::getuid()
        );
        std::ffi::CStr::from_ptr((*entry).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

pub fn get_printer_attributes(printer_uri: &str) -> Vec<u8> {
    operation(op::GET_PRINTER_ATTRIBUTES, 1, printer_uri).finish(&[])
}

/// A Print-Job request; `hold` adds `job-hold-until=indefinite`.
pub fn print_job(
    printer_uri: &str,
    job_name: &str,
    format: &str,
    document: &[u8],
    hold: bool,
) -> Vec<u8> {
    print_job_as("e2e", printer_uri, job_name, format, document, hold)
}

pub fn print_job_as(
    user: &str,
    printer_uri: &str,
    job_name: &str,
    format: &str,
    document: &[u8],
    hold: bool,
) -> Vec<u8> {
    let mut request = operation_as(op::PRINT_JOB, 2, printer_uri, user)
        .text(tag::NAME, "job-name", job_name)
        .text(tag::MIME_MEDIA_TYPE, "document-format", format);
    if hold {
        request = request
            .group(tag::JOB)
            .text(tag::KEYWORD, "job-hold-until", "indefinite");
    }
    request.finish(document)
}

pub fn get_job_attributes(printer_uri: &str, job_id: i32) -> Vec<u8> {
    operation(op::GET_JOB_ATTRIBUTES, 3, printer_uri)
        .integer("job-id", job_id)
        .finish(&[])
}

pub fn cancel_job(printer_uri: &str, job_id: i32) -> Vec<u8> {
    operation(op::CANCEL_JOB, 4, printer_uri)
        .integer("job-id", job_id)
        .finish(&[])
}

pub fn release_job(printer_uri: &str, job_id: i32) -> Vec<u8> {
    operation(op::RELEASE_JOB, 5, printer_uri)
        .integer("job-id", job_id)
        .finish(&[])
}

/// Get-Jobs for `which` (`completed`, `not-completed`, `all`), asking for
/// `job-id` and `job-state` only.
pub fn get_jobs(printer_uri: &str, which: &str) -> Vec<u8> {
    operation(op::GET_JOBS, 6, printer_uri)
        .text(tag::KEYWORD, "which-jobs", which)
        .text(tag::KEYWORD, "requested-attributes", "job-id")
        .value(tag::KEYWORD, b"job-state")
        .finish(&[])
}

// ---------------------------------------------------------------------------
// IPP decoding: just enough to find statuses and attribute values.

#[derive(Debug, Clone)]
pub struct IppAttribute {
    /// The delimiter tag of the group it came in.
    pub group: u8,
    pub name: String,
    /// (value tag, value bytes). Collection members are flattened in.
    pub values: Vec<(u8, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub struct IppResponse {
    pub version: (u8, u8),
    pub status: u16,
    pub request_id: u32,
    pub attributes: Vec<IppAttribute>,
}

impl IppResponse {
    pub fn parse(body: &[u8]) -> Result<IppResponse, String> {
        let header = body
            .get(..8)
            .ok_or_else(|| format!("IPP message of {} bytes has no header", body.len()))?;
        let mut response = IppResponse {
            version: (header[0], header[1]),
            status: u16::from_be_bytes([header[2], header[3]]),
            request_id: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            attributes: Vec::new(),
        };
        let mut at = 8;
        let mut group = 0u8;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let slice = body
                .get(*at..*at + n)
                .ok_or_else(|| format!("IPP message truncated at byte {}", *at))?;
            *at += n;
            Ok(slice)
        };
        loop {
            let value_tag = take(&mut at, 1)?[0];
            if value_tag == tag::END {
                return Ok(response);
            }
            if value_tag < 0x10 {
                group = value_tag;
                continue;
            }
            let name_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().unwrap()) as usize;
            let name = String::from_utf8_lossy(take(&mut at, name_len)?).into_owned();
            let value_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().unwrap()) as usize;
            let value = take(&mut at, value_len)?.to_vec();
            match response.attributes.last_mut() {
                Some(last) if name.is_empty() => last.values.push((value_tag, value)),
                _ => response.attributes.push(IppAttribute {
                    group,
                    name,
                    values: vec![(value_tag, value)],
                }),
            }
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&IppAttribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// First value of `name` as integer or enum.
    pub fn integer(&self, name: &str) -> Option<i32> {
        let (_, value) = self.attribute(name)?.values.first()?;
        Some(i32::from_be_bytes(value.as_slice().try_into().ok()?))
    }

    /// First value of `name` as a string.
    pub fn string(&self, name: &str) -> Option<String> {
        let (_, value) = self.attribute(name)?.values.first()?;
        Some(String::from_utf8_lossy(value).into_owned())
    }

    /// Every value of every attribute called `name`, as integers: one per
    /// job group of a Get-Jobs answer, for example.
    pub fn all_integers(&self, name: &str) -> Vec<i32> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .flat_map(|a| &a.values)
            .filter_map(|(_, v)| Some(i32::from_be_bytes(v.as_slice().try_into().ok()?)))
            .collect()
    }

    /// Every value of `name` as a string (keywords, for example).
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.attribute(name)
            .map(|a| {
                a.values
                    .iter()
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.1, blocking, one request per connection.

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body decoded as IPP; panics with the raw bytes when it is not.
    pub fn ipp(&self) -> IppResponse {
        IppResponse::parse(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not IPP ({e}): {:02x?}",
                self.status,
                &self.body[..self.body.len().min(64)]
            )
        })
    }

    /// The IPP status code: bytes 2..4 of the body.
    pub fn ipp_status(&self) -> Option<u16> {
        self.body
            .get(2..4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// The head of a POST of `body_len` bytes of `application/ipp` (`host`:
/// the Host header's value, e.g. the daemon's address).
pub fn post_head(host: impl std::fmt::Display, path: &str, body_len: u64) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/ipp\r\n\
         Content-Length: {body_len}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// POSTs `ipp` to `addr` at `path` with a Content-Length and reads the
/// whole response, all within `REQUEST_TIMEOUT` per read/write.
pub fn post(addr: SocketAddr, path: &str, ipp: &[u8]) -> io::Result<HttpResponse> {
    post_with_timeout(addr, path, ipp, REQUEST_TIMEOUT)
}

pub fn post_with_timeout(
    addr: SocketAddr,
    path: &str,
    ipp: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = connect(addr, timeout)?;
    stream.write_all(&post_request(addr, path, ipp))?;
    read_response(&mut BufReader::new(stream))
}

/// POSTs and decodes the IPP answer, panicking on transport errors or a
/// non-200 status: for requests that must simply work.
pub fn ipp_call(addr: SocketAddr, path: &str, ipp: &[u8]) -> IppResponse {
    let response =
        post(addr, path, ipp).unwrap_or_else(|e| panic!("POST {path} to {addr} failed: {e}"));
    assert_eq!(response.status, 200, "HTTP status of POST {path}");
    response.ipp()
}

pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one response (skipping `100 Continue`), with its body framed by
/// Content-Length, chunked coding, or the end of the connection.
pub fn read_response(reader: &mut impl BufRead) -> io::Result<HttpResponse> {
    loop {
        let (status, headers) = read_head(reader)?;
        if status == 100 {
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked = header("transfer-encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false);
        let body = if chunked {
            read_chunked(reader)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length
                .trim()
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        };
        return Ok(HttpResponse {
            status,
            headers,
            body,
        });
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, message)
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(16 * 1024)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed before a complete response",
        ));
    }
    if !line.ends_with(b"\n") {
        return Err(invalid("response line too long or cut".into()));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("response head is not UTF-8".into()))
}

fn read_head(reader: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(reader)?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad status line {status_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("bad status line {status_line:?}")));
    }
    let status = code
        .parse()
        .map_err(|_| invalid(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok((status, headers));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk not followed by CRLF".into()));
        }
    }
}

/// What came back for a hostile request.
#[derive(Debug)]
pub enum Outcome {
    Response(HttpResponse),
    /// The server closed (or reset) the connection without a response.
    Closed(String),
    /// Nothing within the timeout: the server is waiting for more.
    TimedOut,
}

/// Sends `bytes` as they are (a whole HTTP request, well-formed or not) and
/// reads what comes back within `timeout`. Write errors are expected (the
/// server may answer early and close) and do not stop the read.
pub fn exchange_raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Outcome {
    exchange(addr, bytes, timeout, false)
}

/// Like `exchange_raw` but half-closes the sending side after `bytes`, for
/// bodies shorter than they claim: the server then sees end-of-file.
pub fn exchange_raw_then_shutdown(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Outcome {
    exchange(addr, bytes, timeout, true)
}

fn exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration, half_close: bool) -> Outcome {
    let mut stream = connect(addr, timeout).unwrap();
    let _ = stream.write_all(bytes);
    let _ = if half_close {
        stream.shutdown(Shutdown::Write)
    } else {
        stream.flush()
    };
    match read_response(&mut BufReader::new(stream)) {
        Ok(response) => Outcome::Response(response),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Outcome::TimedOut
        }
        Err(e) => Outcome::Closed(e.to_string()),
    }
}

/// Panics unless a fresh connection gets a successful Get-Printer-Attributes
/// answer within one second: the daemon is still serving.
pub fn assert_still_serving(server: &TestServer, after: &str) {
    let started = Instant::now();
    let uri = server.daemon.uri("/ipp/print");
    let result = post_with_timeout(
        server.addr(),
        "/ipp/print",
        &get_printer_attributes(&uri),
        Duration::from_secs(1),
    );
    let elapsed = started.elapsed();
    match result {
        Ok(response) if response.status == 200 && response.ipp_status() == Some(status::OK) => {
            assert!(
                elapsed <= Duration::from_secs(1),
                "after {after}: Get-Printer-Attributes took {elapsed:?}"
            );
        }
        other => panic!(
            "after {after}: the daemon no longer answers Get-Printer-Attributes \
             (got {other:?} in {elapsed:?}); log:\n{}",
            server.log()
        ),
    }
}

/// Submits `document` to the built-in queue and returns the job id from a
/// successful answer.
pub fn submit(server: &TestServer, document: &[u8], format: &str, hold: bool) -> i32 {
    submit_as(server, "e2e", document, format, hold)
}

/// `submit` on behalf of `user`.
pub fn submit_as(
    server: &TestServer,
    user: &str,
    document: &[u8],
    format: &str,
    hold: bool,
) -> i32 {
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &print_job_as(user, &uri, "e2e job", format, document, hold),
    );
    assert_eq!(
        response.status,
        status::OK,
        "Print-Job refused with status 0x{:04x}; log:\n{}",
        response.status,
        server.log()
    );
    response
        .integer("job-id")
        .unwrap_or_else(|| panic!("Print-Job answer has no job-id: {response:?}"))
}

/// The job's `job-state`, via Get-Job-Attributes.
pub fn job_state(server: &TestServer, job_id: i32) -> i32 {
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &get_job_attributes(&uri, job_id),
    );
    assert_eq!(
        response.status,
        status::OK,
        "Get-Job-Attributes for job {job_id} answered 0x{:04x}",
        response.status
    );
    response
        .integer("job-state")
        .unwrap_or_else(|| panic!("no job-state for job {job_id}: {response:?}"))
}

/// Runs `command` to completion, killing it after `timeout`. Returns the
/// exit status (None when killed) and stdout + stderr interleaved as
/// captured files (stdout first).
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let scratch = TempDir::new("cmd");
    let out_path = scratch.path().join("out");
    let err_path = scratch.path().join("err");
    let out = File::create(&out_path).unwrap();
    let err = File::create(&err_path).unwrap();
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    let program = format!("{:?}", command);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::from_utf8_lossy(&fs::read(&out_path).unwrap()).into_owned();
    let stderr = fs::read(&err_path).unwrap();
    if !stderr.is_empty() {
        text.push_str(&String::from_utf8_lossy(&stderr));
    }
    (status, text)
}

/// Fails with a clear message naming the Debian package when `program` is
/// not on PATH. Tests never skip: tests/run installs what is missing.
pub fn require_program(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` not found on PATH: install Debian package {package} \
         (tests/run does this when run as root)"
    );
}

// ---------------------------------------------------------------------------
// Helpers several test files had each written: a private D-Bus (module
// `bus`), runs bounded in time, the test binary re-run as nobody, POSTs
// over a Unix socket, start retries and readiness, FIFOs.

pub mod bus;

/// Runs `command` to completion like `Command::output`, but kills it and
/// fails the test if it takes longer than `limit`: a test never hangs.
/// Its stdin is whatever the caller set (inherited by default).
pub fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    die_with_parent(&mut command);
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let mut status = None;
    let finished = wait_until(limit, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        finished,
        "{command:?} still running after {limit:?}; killed. stderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    std::process::Output {
        status: status.unwrap(),
        stdout,
        stderr,
    }
}

/// This test binary again, as nobody:nogroup through `setpriv`, running
/// only its ignored `nobody_client` test with `PRINTSPOOLD_TEST_ACTION`
/// set to `action`: the unprivileged side of a test.
pub fn nobody_client_command(action: &str) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "nobody_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PRINTSPOOLD_TEST_ACTION", action);
    command
}

/// What follows `RESULT ` in a `nobody_client`'s output (the harness may
/// print before it on the same line); panics, showing both streams, when
/// there is none.
pub fn nobody_result(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, result)| result))
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "no RESULT from nobody:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// A whole POST of `ipp` to `path`, head ([`post_head`]) and body.
pub fn post_request(host: impl std::fmt::Display, path: &str, ipp: &[u8]) -> Vec<u8> {
    let mut request = post_head(host, path, ipp.len() as u64);
    request.extend_from_slice(ipp);
    request
}

/// [`post`] over the Unix socket at `socket`, as this process.
pub fn post_unix(
    socket: &Path,
    path: &str,
    ipp: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&post_request("localhost", path, ipp))?;
    read_response(&mut BufReader::new(stream))
}

/// Runs `launch` up to three times and returns the first daemon that
/// serves: a port probed free may be taken before the daemon binds it.
/// Panics with the last error after the third failure.
pub fn start_retrying<T>(mut launch: impl FnMut() -> Result<T, String>) -> T {
    let mut last_error = String::new();
    for _ in 0..3 {
        match launch() {
            Ok(daemon) => return daemon,
            Err(e) => last_error = e,
        }
    }
    panic!("printspoold did not start: {last_error}");
}

/// Polls until `serving()` holds (Ok), `child` exits or `timeout` passes
/// (Err saying which; the caller adds the log).
pub fn wait_serving(
    child: &mut Child,
    timeout: Duration,
    mut serving: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited with {status}"));
        }
        if serving() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("not serving after {timeout:?}"))
}

/// Whether a TCP connection to `addr` succeeds within 200 ms.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Makes a FIFO with permissions `mode` at `path`.
pub fn mkfifo(path: &Path, mode: u32) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(mode), 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}
