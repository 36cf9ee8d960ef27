//! The servers under test, each set up in its own temporary directory and
//! listening on loopback only:
//!
//! - printspoold: a configuration whose one queue writes to `/dev/null`
//!   (`device:///dev/null`), `--no-dbus`, a temporary `--spool-dir`.
//! - cupsd (Debian's cups-daemon): its own `cupsd.conf` and
//!   `cups-files.conf`, a raw queue printing to `file:///dev/null`
//!   (`FileDevice Yes`), no browsing, no web interface.
//! - ippeveprinter (Debian's cups-ipp-utils): its own spool directory, jobs
//!   "printed" by `/bin/true`. It insists on a D-Bus system bus for Avahi
//!   even with DNS-SD off, so it gets a private `dbus-daemon` of its own.
//! - the loopback ceiling: this benchmark's own minimal HTTP responder
//!   (`ceiling.rs`), in a separate process like the others.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{BenchError, Context};
use crate::procs::{Proc, free_port};

/// How long a server may take to start accepting.
const START_LIMIT: Duration = Duration::from_secs(20);
/// The queue name everywhere it can be chosen.
pub const QUEUE: &str = "bench";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKind {
    Printspoold,
    Cupsd,
    Ippeveprinter,
    Ceiling,
}

impl PeerKind {
    pub const ALL: [PeerKind; 4] = [
        PeerKind::Printspoold,
        PeerKind::Cupsd,
        PeerKind::Ippeveprinter,
        PeerKind::Ceiling,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Printspoold => "printspoold",
            PeerKind::Cupsd => "cupsd",
            PeerKind::Ippeveprinter => "ippeveprinter",
            PeerKind::Ceiling => "loopback ceiling",
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to start a server again on the same port (after a crash).
#[derive(Debug, Clone)]
enum Spec {
    Printspoold { binary: PathBuf, dir: PathBuf },
    Cupsd { dir: PathBuf },
    Ippeveprinter { dir: PathBuf },
    Ceiling { dir: PathBuf },
}

/// A running server and how to address its printer.
pub struct BenchTarget {
    pub kind: PeerKind,
    pub addr: SocketAddr,
    /// The Host header value.
    pub host: String,
    /// The HTTP path of the printer.
    pub path: String,
    /// The printer-uri attribute.
    pub printer_uri: String,
    pub proc: Proc,
    /// Helpers that live as long as the server (ippeveprinter's bus).
    helpers: Vec<Proc>,
    spec: Spec,
}

impl BenchTarget {
    fn start(kind: PeerKind, spec: Spec) -> Result<BenchTarget, BenchError> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (proc, helpers) = launch(&spec, port)?;
        let (host, path, printer_uri) = match kind {
            PeerKind::Ippeveprinter => (
                format!("localhost:{port}"),
                "/ipp/print".to_string(),
                format!("ipp://localhost:{port}/ipp/print"),
            ),
            PeerKind::Ceiling => (addr.to_string(), "/".to_string(), format!("ipp://{addr}/")),
            PeerKind::Printspoold | PeerKind::Cupsd => (
                addr.to_string(),
                format!("/printers/{QUEUE}"),
                format!("ipp://{addr}/printers/{QUEUE}"),
            ),
        };
        Ok(BenchTarget {
            kind,
            addr,
            host,
            path,
            printer_uri,
            proc,
            helpers,
            spec,
        })
    }

    /// If the server died, says how (with its log's end) and starts it
    /// again on the same port.
    pub fn restart_if_dead(&mut self) -> Result<Option<String>, BenchError> {
        let Some(status) = self.proc.exited() else {
            return Ok(None);
        };
        let report = format!(
            "{} exited ({status}); its log ends: {}",
            self.kind,
            self.proc.log_tail().replace('\n', " | ")
        );
        self.helpers.clear();
        let (proc, helpers) = launch(&self.spec, self.addr.port())?;
        self.proc = proc;
        self.helpers = helpers;
        Ok(Some(report))
    }
}

/// Starts the server `spec` describes on `port` and waits until it accepts.
fn launch(spec: &Spec, port: u16) -> Result<(Proc, Vec<Proc>), BenchError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (mut proc, helpers) = match spec {
        Spec::Printspoold { binary, dir } => (launch_printspoold(binary, dir, addr)?, Vec::new()),
        Spec::Cupsd { dir } => (launch_cupsd(dir, port)?, Vec::new()),
        Spec::Ippeveprinter { dir } => {
            let (proc, bus) = launch_ippeveprinter(dir, port)?;
            (proc, vec![bus])
        }
        Spec::Ceiling { dir } => (launch_ceiling(dir, port)?, Vec::new()),
    };
    proc.wait_accepting(addr, START_LIMIT)?;
    Ok((proc, helpers))
}

/// Starts printspoold from `binary` in `dir`.
pub fn printspoold(binary: &Path, dir: &Path) -> Result<BenchTarget, BenchError> {
    write_printspoold_config(dir)?;
    let spec = Spec::Printspoold {
        binary: binary.to_path_buf(),
        dir: dir.to_path_buf(),
    };
    BenchTarget::start(PeerKind::Printspoold, spec)
}

fn launch_printspoold(binary: &Path, dir: &Path, addr: SocketAddr) -> Result<Proc, BenchError> {
    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(dir.join("printspoold.toml"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .arg("--no-dbus");
    Proc::spawn("printspoold", command, &dir.join("printspoold.log"))
}

/// The printspoold configuration: one queue printing to /dev/null, with
/// the job caps lifted as cupsd's are (`MaxJobs 0`), so that a burst's
/// backlog is accepted by both rather than refused by one.
pub fn write_printspoold_config(dir: &Path) -> Result<PathBuf, BenchError> {
    fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    let config = dir.join("printspoold.toml");
    let text = format!(
        "# Written by printspool-bench.\n\
         [server.limits]\n\
         max_active_jobs = 1000000\n\
         max_active_jobs_per_user = 1000000\n\
         max_active_jobs_per_address = 1000000\n\
         [[printer]]\n\
         name = \"{QUEUE}\"\n\
         device_uri = \"device:///dev/null\"\n\
         info = \"benchmark queue\"\n"
    );
    fs::write(&config, text).context(|| format!("writing {}", config.display()))?;
    Ok(config)
}

/// Starts cupsd in `dir` (foreground, `-f`).
pub fn cupsd(dir: &Path) -> Result<BenchTarget, BenchError> {
    BenchTarget::start(
        PeerKind::Cupsd,
        Spec::Cupsd {
            dir: dir.to_path_buf(),
        },
    )
}

fn launch_cupsd(dir: &Path, port: u16) -> Result<Proc, BenchError> {
    let (conf, files) = write_cupsd_config(dir, port)?;
    let mut command = Command::new("/usr/sbin/cupsd");
    command.arg("-f").arg("-c").arg(&conf).arg("-s").arg(&files);
    Proc::spawn("cupsd", command, &dir.join("cupsd.stderr"))
}

/// cupsd's configuration in `dir`, listening on 127.0.0.1:`port`. Logging
/// as Debian ships it (`LogLevel warn`, the default access log). No job
/// limit (`MaxJobs 0`), so that a benchmark's worth of queued jobs is
/// accepted; documents are deleted once printed (`PreserveJobFiles No`) so
/// the disk does not fill.
pub fn write_cupsd_config(dir: &Path, port: u16) -> Result<(PathBuf, PathBuf), BenchError> {
    for sub in ["spool", "spool/tmp", "cache", "state", "log", "ppd"] {
        let path = dir.join(sub);
        fs::create_dir_all(&path).context(|| format!("creating {}", path.display()))?;
    }
    let conf = dir.join("cupsd.conf");
    let files = dir.join("cups-files.conf");
    let root = dir.display();
    write(
        &conf,
        &format!(
            "# Written by printspool-bench.\n\
             LogLevel warn\n\
             MaxLogSize 0\n\
             Listen 127.0.0.1:{port}\n\
             Browsing No\n\
             BrowseLocalProtocols none\n\
             WebInterface No\n\
             DefaultAuthType Basic\n\
             MaxJobs 0\n\
             MaxJobsPerPrinter 0\n\
             MaxJobsPerUser 0\n\
             MaxClients 1024\n\
             PreserveJobFiles No\n\
             PreserveJobHistory Yes\n\
             <Location />\n  Order allow,deny\n  Allow from 127.0.0.1\n</Location>\n\
             <Policy default>\n\
             \x20 JobPrivateAccess default\n\
             \x20 JobPrivateValues default\n\
             \x20 SubscriptionPrivateAccess default\n\
             \x20 SubscriptionPrivateValues default\n\
             \x20 <Limit All>\n    Order deny,allow\n  </Limit>\n\
             </Policy>\n"
        ),
    )?;
    write(
        &files,
        &format!(
            "# Written by printspool-bench.\n\
             FileDevice Yes\n\
             ServerRoot {root}\n\
             RequestRoot {root}/spool\n\
             TempDir {root}/spool/tmp\n\
             CacheDir {root}/cache\n\
             StateDir {root}/state\n\
             ErrorLog {root}/log/error_log\n\
             AccessLog {root}/log/access_log\n\
             PageLog {root}/log/page_log\n\
             SystemGroup root\n"
        ),
    )?;
    let printers = dir.join("printers.conf");
    if !printers.exists() {
        write(
            &printers,
            &format!(
                "# Written by printspool-bench.\n\
                 <Printer {QUEUE}>\n\
                 Info benchmark queue\n\
                 DeviceURI file:///dev/null\n\
                 State Idle\n\
                 Accepting Yes\n\
                 Shared No\n\
                 </Printer>\n"
            ),
        )?;
    }
    Ok((conf, files))
}

/// Starts ippeveprinter in `dir`.
pub fn ippeveprinter(dir: &Path) -> Result<BenchTarget, BenchError> {
    BenchTarget::start(
        PeerKind::Ippeveprinter,
        Spec::Ippeveprinter {
            dir: dir.to_path_buf(),
        },
    )
}

/// ippeveprinter and the private bus its Avahi client needs.
fn launch_ippeveprinter(dir: &Path, port: u16) -> Result<(Proc, Proc), BenchError> {
    let spool = dir.join("spool");
    fs::create_dir_all(&spool).context(|| format!("creating {}", spool.display()))?;
    let bus_path = dir.join("bus");
    let _ = fs::remove_file(&bus_path);
    let bus_address = format!("unix:path={}", bus_path.display());
    let mut bus = Command::new("dbus-daemon");
    bus.arg("--session")
        .arg(format!("--address={bus_address}"))
        .arg("--nofork")
        .arg("--nopidfile");
    let bus = Proc::spawn(
        "dbus-daemon (for ippeveprinter)",
        bus,
        &dir.join("dbus.log"),
    )?;
    wait_for_path(&bus_path)?;

    let mut command = Command::new("ippeveprinter");
    command
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus_address)
        // -n localhost: listen on 127.0.0.1 and ::1 only.
        .args(["-n", "localhost", "-p", &port.to_string(), "-r", "off"])
        .arg("-d")
        .arg(&spool)
        .args(["-c", "/bin/true", "-f", "text/plain", QUEUE]);
    let proc = Proc::spawn("ippeveprinter", command, &dir.join("ippeveprinter.log"))?;
    Ok((proc, bus))
}

/// Starts the loopback ceiling (this program's `ceiling` subcommand),
/// answering with `full` and `state` (see `ceiling.rs`).
pub fn ceiling(dir: &Path, full: &[u8], state: &[u8]) -> Result<BenchTarget, BenchError> {
    fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
    write_bytes(&dir.join("full.ipp"), full)?;
    write_bytes(&dir.join("state.ipp"), state)?;
    BenchTarget::start(
        PeerKind::Ceiling,
        Spec::Ceiling {
            dir: dir.to_path_buf(),
        },
    )
}

fn launch_ceiling(dir: &Path, port: u16) -> Result<Proc, BenchError> {
    let exe = std::env::current_exe().context(|| "finding this program".into())?;
    let mut command = Command::new(exe);
    command
        .arg("ceiling")
        .arg(port.to_string())
        .arg(dir.join("full.ipp"))
        .arg(dir.join("state.ipp"));
    Proc::spawn("loopback ceiling", command, &dir.join("ceiling.log"))
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    fs::write(path, bytes).context(|| format!("writing {}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), BenchError> {
    fs::write(path, text).context(|| format!("writing {}", path.display()))
}

fn wait_for_path(path: &Path) -> Result<(), BenchError> {
    for _ in 0..2000 {
        if path.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(BenchError::Setup(format!(
        "{} never appeared",
        path.display()
    )))
}
