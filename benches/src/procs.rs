//! Child processes: started with their output in a log file, killed with
//! the benchmark (`PR_SET_PDEATHSIG`), stopped by their own pid only, and
//! measured through `/proc`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Context};

/// Variables a service manager may have set for the benchmark itself; a
/// child must not believe they were meant for it.
const SERVICE_MANAGER_VARS: &[&str] = &[
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "INVOCATION_ID",
];

/// How long a stopped process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    reaped: bool,
}

impl Proc {
    /// Starts `command` with stdin from /dev/null and stdout and stderr
    /// appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Proc, BenchError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .context(|| format!("opening {}", log.display()))?;
        let err = out
            .try_clone()
            .context(|| format!("duplicating {}", log.display()))?;
        for var in SERVICE_MANAGER_VARS {
            command.env_remove(var);
        }
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of
        // the parent; it makes the child die with the benchmark.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .context(|| format!("starting {name} ({command:?})"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            reaped: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(status)
            }
            _ => None,
        }
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n")
    }

    /// Resident memory (`/proc/PID/status`).
    pub fn rss(&self) -> Result<Rss, BenchError> {
        rss(self.pid())
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; reaps.
    pub fn stop(&mut self) {
        if self.reaped {
            return;
        }
        signal(self.pid(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        eprintln!(
            "{} ignored SIGTERM for {STOP_GRACE:?}; killing it",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// Waits until `addr` accepts a TCP connection; fails if the process
    /// exits first or `limit` passes.
    pub fn wait_accepting(&mut self, addr: SocketAddr, limit: Duration) -> Result<(), BenchError> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Err(BenchError::Setup(format!(
                    "{} exited with {status} before accepting on {addr}; its log ends:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(BenchError::Setup(format!(
            "{} does not accept on {addr} after {limit:?}; its log ends:\n{}",
            self.name,
            self.log_tail()
        )))
    }

    /// Waits until something listens on `port` on 127.0.0.1, looking at
    /// `/proc/net/tcp` only: connecting would start a socket-activated
    /// daemon.
    pub fn wait_listening(&mut self, port: u16, limit: Duration) -> Result<(), BenchError> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Err(BenchError::Setup(format!(
                    "{} exited with {status} before listening; its log ends:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            if is_listening(port)? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(BenchError::Setup(format!(
            "{} is not listening on port {port} after {limit:?}",
            self.name
        )))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) on the pid of our own unreaped child has no memory
    // effects; the pid cannot have been reused while we hold it unreaped.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Resident memory of a process, in KiB: the total (`VmRSS`) and its
/// anonymous part (heap, stacks) and file-backed part (the mapped
/// executable and libraries, of which only pages touched or faulted
/// around are counted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    pub total: u64,
    pub anon: u64,
    pub file: u64,
    /// Proportional set size: shared pages divided among their users
    /// (`/proc/PID/smaps_rollup`).
    pub pss: u64,
}

pub fn rss(pid: i32) -> Result<Rss, BenchError> {
    let read = |path: String| std::fs::read_to_string(&path).context(|| format!("reading {path}"));
    let status = read(format!("/proc/{pid}/status"))?;
    let rollup = read(format!("/proc/{pid}/smaps_rollup"))?;
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| BenchError::Setup(format!("no {name} for process {pid}")))
    };
    Ok(Rss {
        total: field(&status, "VmRSS:")?,
        anon: field(&status, "RssAnon:")?,
        file: field(&status, "RssFile:")?,
        pss: field(&rollup, "Pss:")?,
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").context(|| "binding a probe port".into())?;
    let port = listener
        .local_addr()
        .context(|| "reading the probe port".into())?
        .port();
    Ok(port)
}

/// Whether a socket listens on 127.0.0.1:`port` (state 0A in /proc/net/tcp).
fn is_listening(port: u16) -> Result<bool, BenchError> {
    let table =
        std::fs::read_to_string("/proc/net/tcp").context(|| "reading /proc/net/tcp".into())?;
    let wanted = format!("0100007F:{port:04X}");
    Ok(table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let state = fields.nth(1);
        local == Some(wanted.as_str()) && state == Some("0A")
    }))
}

/// First line of `program --version`-like output, for the report.
pub fn version_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|line| !line.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
