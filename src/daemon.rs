//! Start-up order, the main loop, and exit: the coordinator that wires the
//! activation sources to the job core (ntpd-rs's `system.rs` plays the same
//! role there).
//!
//! Start-up, in the order daemon(7) asks for:
//! 1. read what systemd passed (`LISTEN_FDS`, `NOTIFY_SOCKET`) while the
//!    process still has one thread, and clear it from the environment;
//! 2. load the configuration (invalid: exit 6, "not configured");
//! 3. in SysV mode only, daemonize (`sysv`: steps 1-13);
//! 4. recover the spool, start the print workers;
//! 5. take the listening sockets (passed, or bound here);
//! 6. export the D-Bus objects, then request the bus name last;
//! 7. tell systemd `READY=1` (or the SysV parent, step 14), then accept:
//!    an answered client can count on the service being "active".

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast;

use crate::cli::{Cli, Command, USAGE};
use crate::config::{Config, ConfigError};
use crate::core::{CoreError, CoreOptions, Spooler};
use crate::exit::Exit;
use crate::logging::{self, Style};
use crate::sources::dbus::{self, Bus, DbusSource};
use crate::sources::dropdir::{self, DropDir};
use crate::sources::ipp::http::{HandedOff, Server};
use crate::sources::ipp::listeners::{self, Bound};
use crate::sources::ipp::service::{IppService, ServiceSettings};
use crate::sources::usb::{self, UsbSource};
use crate::systemd::{Notifier, take_listen_fds, watchdog};
use crate::{identity, sysv};

/// How long in-flight requests get to finish on SIGTERM.
const REQUEST_GRACE: Duration = Duration::from_secs(10);
/// How often the daemon drops jobs that `printspoold cleanup` purged.
const HISTORY_RECONCILE: Duration = Duration::from_secs(60);
/// How long a printing job gets to reach a stop point on SIGTERM.
const PRINT_GRACE: Duration = Duration::from_secs(5);

/// Why the daemon could not start or had to stop, with the LSB status each
/// maps to.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the job core: {0}")]
    Core(#[from] CoreError),
    #[error("{0}")]
    Listen(#[from] listeners::ListenError),
    #[error("sockets passed by systemd: {0}")]
    ListenFds(#[from] crate::systemd::ListenFdsError),
    #[error("{0}")]
    Sysv(#[from] sysv::SysvError),
    #[error("{0}")]
    DropDir(#[from] dropdir::DropDirError),
    #[error("D-Bus: {0}")]
    Dbus(#[from] dbus::DbusError),
    #[error("USB: {0}")]
    Usb(#[from] usb::UsbError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl DaemonError {
    pub fn exit(&self) -> Exit {
        match self {
            DaemonError::Config(_) => Exit::NotConfigured,
            // A spool directory others could tamper with is a setup
            // mistake, like a bad configuration file.
            DaemonError::Core(CoreError::Spool(e)) if e.is_unsafe_dir() => Exit::NotConfigured,
            DaemonError::Core(CoreError::Spool(e)) if e.is_permission_denied() => Exit::Privilege,
            DaemonError::Listen(e) if e.is_permission_denied() => Exit::Privilege,
            DaemonError::Dbus(e) if e.is_permission_denied() => Exit::Privilege,
            _ => Exit::Failure,
        }
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(e) => {
            logging::early_error(&e.to_string());
            return e.exit().into();
        }
    };
    let exit = match cli.command {
        Command::Help => {
            println!("{USAGE}\n{}", Exit::TABLE);
            Exit::Success
        }
        Command::Version => {
            println!("printspoold {}", env!("CARGO_PKG_VERSION"));
            Exit::Success
        }
        Command::CheckConfig => check_config(&cli),
        Command::Cleanup => cleanup(&cli),
        Command::Run => run(&cli),
    };
    exit.into()
}

/// `--check-config`: exit 0 when valid, 6 ("not configured") otherwise.
fn check_config(cli: &Cli) -> Exit {
    match Config::load_default_or(cli.config.as_deref()) {
        Ok((_, Some(path))) => {
            println!("{}: configuration is valid", path.display());
            Exit::Success
        }
        Ok((_, None)) => {
            println!("no configuration file: built-in defaults apply");
            Exit::Success
        }
        Err(e) => {
            logging::early_error(&e.to_string());
            Exit::NotConfigured
        }
    }
}

/// `cleanup`: one pass over the spool, a one-line summary on stdout.
fn cleanup(cli: &Cli) -> Exit {
    logging::init(Style::detect(), cli.verbose);
    let settings = match Settings::resolve(cli) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit();
        }
    };
    let now = crate::core::now_secs();
    // Under systemd this is printspoold-cleanup.service, which only its
    // timer starts (an administrator's `systemctl start` aside).
    let activation = if std::env::var_os("INVOCATION_ID").is_some() {
        "timer"
    } else {
        "command"
    };
    match crate::cleanup::run(
        &settings.spool_dir,
        &settings.config.history,
        now,
        activation,
    ) {
        Ok(summary) => {
            println!("{summary}");
            Exit::Success
        }
        Err(e) => {
            tracing::error!("cleanup of {}: {e}", settings.spool_dir.display());
            if e.is_permission_denied() {
                Exit::Privilege
            } else {
                Exit::Failure
            }
        }
    }
}

/// Everything resolved from the command line, the configuration and the
/// environment, before anything starts.
#[derive(Debug, Clone)]
struct Settings {
    config: Config,
    config_path: Option<PathBuf>,
    spool_dir: PathBuf,
    listen: Vec<String>,
    idle_exit: Option<Duration>,
    /// `--idle-exit` wins over the file, also after a reload.
    idle_exit_override: Option<u64>,
    /// Which bus to offer the D-Bus service on, if any.
    bus: Option<Bus>,
}

impl Settings {
    fn resolve(cli: &Cli) -> Result<Settings, DaemonError> {
        let (config, config_path) = Config::load_default_or(cli.config.as_deref())?;
        let spool_dir = cli
            .spool_dir
            .clone()
            .or_else(|| config.server.spool_dir.clone())
            .unwrap_or_else(default_spool_dir);
        let listen = if !cli.listen.is_empty() {
            cli.listen.clone()
        } else if !config.server.listen.is_empty() {
            config.server.listen.clone()
        } else {
            default_listen()
        };
        let idle_secs = cli.idle_exit.unwrap_or(config.server.idle_exit_after);
        Ok(Settings {
            idle_exit: (idle_secs > 0).then(|| Duration::from_secs(idle_secs)),
            idle_exit_override: cli.idle_exit,
            bus: if cli.no_dbus {
                None
            } else if cli.session_bus {
                Some(Bus::Session)
            } else {
                Some(Bus::System)
            },
            config,
            config_path,
            spool_dir,
            listen,
        })
    }

    /// The drop directory, unless turned off.
    fn drop_dir(&self) -> Option<dropdir::Layout> {
        if self.config.intake.disabled {
            return None;
        }
        let incoming = self
            .config
            .intake
            .dir
            .clone()
            .unwrap_or_else(|| self.spool_dir.join("incoming"));
        Some(dropdir::Layout::beside(&incoming))
    }

    fn core_options(&self) -> CoreOptions {
        CoreOptions {
            spool_dir: self.spool_dir.clone(),
            printers: self.config.effective_printers(&self.spool_dir),
            default_printer: self.config.default_printer_name(),
            max_document_bytes: self.config.server.limits.max_document_bytes,
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Root spools in `/var/spool`; a normal user in the XDG state directory,
/// so the daemon runs without privileges or configuration.
fn default_spool_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/spool/printspoold");
    }
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")));
    match state_home {
        Some(dir) => dir.join("printspoold"),
        None => std::env::temp_dir().join(format!("printspoold-{}", unsafe { libc::geteuid() })),
    }
}

/// Root listens on the IPP port of localhost and a socket in /run; a normal
/// user on an unprivileged port of localhost.
fn default_listen() -> Vec<String> {
    if is_root() {
        vec![
            "127.0.0.1:631".to_string(),
            "/run/printspoold/ipp.sock".to_string(),
        ]
    } else {
        vec!["127.0.0.1:8631".to_string()]
    }
}

/// Runs the daemon until SIGTERM or idle exit.
fn run(cli: &Cli) -> Exit {
    // Single-threaded still: read and clear what systemd passed (daemon(7)
    // "Socket-Based Activation"; the variables must not reach children).
    let passed = match take_listen_fds() {
        Ok(fds) => fds,
        Err(e) => {
            logging::early_error(&format!("sockets passed by systemd: {e}"));
            return Exit::Failure;
        }
    };
    let notifier = Notifier::from_env();
    logging::init(Style::detect(), cli.verbose);
    // A panic's message reaches the journal at error priority.
    crate::supervisor::install_panic_hook();

    let settings = match Settings::resolve(cli) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            notifier.status(&format!("failed: {e}"));
            return e.exit();
        }
    };

    // SysV mode (daemon(7) porting step 1: daemonizing is a switch, off by
    // default). Listeners are bound before forking so `--user` can drop
    // privileges after taking port 631, and passed sockets are spared.
    let (early_listeners, ready_pipe) = if cli.daemon {
        match daemonize(cli, &settings, passed, &notifier) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!("{e}");
                return e.exit();
            }
        }
    } else {
        (EarlyListeners::Passed(passed), None)
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .thread_name("printspoold")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let e = DaemonError::Runtime(e);
            tracing::error!("{e}");
            report(ready_pipe, e.exit(), Some(&e.to_string()));
            return e.exit();
        }
    };
    let mut ready_pipe = ready_pipe;
    let result = runtime.block_on(serve(settings, early_listeners, notifier, &mut ready_pipe));
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            tracing::error!("{e}");
            report(ready_pipe, e.exit(), Some(&e.to_string()));
            e.exit()
        }
    }
}

fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2)
}

/// Listeners taken before the runtime exists.
enum EarlyListeners {
    /// From systemd: adopted inside the runtime (or bound there when empty).
    Passed(Vec<(std::os::fd::OwnedFd, String)>),
    /// Bound before daemonizing (SysV mode).
    Bound(Vec<listeners::StdBound>),
}

/// SysV steps 1-13, after binding the sockets as the invoking user.
fn daemonize(
    cli: &Cli,
    settings: &Settings,
    passed: Vec<(std::os::fd::OwnedFd, String)>,
    notifier: &Notifier,
) -> Result<(EarlyListeners, Option<sysv::ReadyPipe>), DaemonError> {
    use std::os::fd::AsRawFd;
    let early = if passed.is_empty() {
        EarlyListeners::Bound(listeners::bind_all_std(&settings.listen)?)
    } else {
        EarlyListeners::Passed(passed)
    };
    let mut keep_fds: Vec<_> = match &early {
        EarlyListeners::Passed(fds) => fds.iter().map(|(fd, _)| fd.as_raw_fd()).collect(),
        EarlyListeners::Bound(bound) => bound.iter().map(|b| b.as_raw_fd()).collect(),
    };
    // The notify socket is ours too (a unit with Type=forking may set it).
    keep_fds.extend(notifier.as_raw_fd());
    let options = sysv::DaemonizeOptions {
        pid_file: cli.pid_file.clone(),
        user: cli.user.clone(),
        keep_fds,
    };
    let pipe = sysv::daemonize(&options)?;
    // stderr is /dev/null from here on; errors still reach the invoking
    // shell through the ready pipe (step 14).
    Ok((early, Some(pipe)))
}

fn report(pipe: Option<sysv::ReadyPipe>, exit: Exit, message: Option<&str>) {
    if let Some(pipe) = pipe {
        // Failure: the PID file guard, if any, is dropped with the process.
        let _ = pipe.report(exit.code(), message);
    }
}

/// Everything after the runtime exists.
async fn serve(
    settings: Settings,
    early: EarlyListeners,
    notifier: Notifier,
    ready_pipe: &mut Option<sysv::ReadyPipe>,
) -> Result<(), DaemonError> {
    let options = settings.core_options();
    let (spooler, recovery) = Spooler::start(options)?;
    spooler.set_history_limit(settings.config.history.max_jobs_in_memory);
    spooler.set_job_private_values(settings.config.server.job_private_values);
    spooler.set_job_limits((&settings.config.server.limits).into());
    tracing::info!(
        spool = %settings.spool_dir.display(),
        queued = recovery.queued,
        restarted = recovery.restarted,
        history = recovery.history,
        discarded = recovery.discarded,
        "spool recovered"
    );

    let (early, stored_connections) = split_stored_connections(early);
    let (bound, socket_activated) = take_listeners(early, &settings.listen)?;
    let stored_listeners = store_own_listeners(&bound, &notifier);
    let server = ipp_server(&spooler, &settings);
    // The path source: drains what arrived while we were down, then watches.
    let drop_dir = match settings.drop_dir() {
        Some(layout) => Some(DropDir::start(layout, spooler.clone()).await?),
        None => None,
    };

    // daemon(7) new-style recommendation 4: export the objects now, request
    // the bus name as the last step of start-up.
    let under_systemd = socket_activated || notifier.is_active();
    let bus = match &settings.bus {
        Some(bus) => start_dbus(bus, &spooler, &settings, under_systemd).await?,
        None => None,
    };
    if let Some(bus) = &bus {
        bus.request_name()
            .await
            .or_else(|e| optional(e, under_systemd))?;
    }
    // Device source last: a printer that arrived while a previous instance
    // was exiting on idle is found now that sockets and name are ours.
    let usb = UsbSource::start(spooler.clone()).await?;

    announce(&bound, &spooler);
    notifier.ready_with_status(&spooler.summary());
    // Accepting starts only now: a client that got an answer can rely on
    // systemd calling the service active. Connections made during start-up
    // wait in the kernel's backlog, so none is lost (daemon(7) "Socket-Based
    // Activation").
    for b in &bound {
        server.spawn_listener(b.listener.clone_for_serving());
    }
    resume_stored_connections(&server, stored_connections, &notifier);
    // SysV step 14; the PID file guard lives until we exit.
    let _pid_file = ready_pipe
        .take()
        .and_then(|pipe| pipe.report(Exit::Success.code(), None));

    let sources = Sources {
        server: &server,
        drop_dir: drop_dir.as_ref(),
        bus: bus.as_ref(),
    };
    let outcome = main_loop(&settings, &spooler, &sources, &notifier, socket_activated).await;

    // daemon(7) new-style recommendation 1: on SIGTERM shut down cleanly.
    notifier.stopping();
    // The name goes first: calls made from now on queue in the bus for the
    // next instance (bus activation) instead of reaching a closing one.
    if let Some(bus) = bus {
        bus.release().await;
    }
    usb.stop();
    let store_room = notifier
        .fd_store_capacity()
        .saturating_sub(stored_listeners);
    if store_room > 0 {
        server.hand_off_idle_connections();
    }
    server.shutdown(REQUEST_GRACE).await;
    store_idle_connections(server.take_handed_off(), store_room, &notifier);
    if let Some(drop_dir) = drop_dir {
        drop_dir.stop();
    }
    spooler.shutdown(PRINT_GRACE).await;
    // Passed sockets belong to systemd: only our own socket files go
    // (daemon(7) porting step 2), unless the store keeps them for the next
    // instance.
    if stored_listeners == 0 {
        listeners::remove_own_socket_files(&bound);
    }
    tracing::info!("stopped ({outcome})");
    Ok(())
}

/// Connects to the bus and exports the objects. Under systemd the bus is
/// part of the service's contract (`BusName=`), so failing is fatal; a
/// developer's run without a system bus policy carries on without it.
async fn start_dbus(
    bus: &Bus,
    spooler: &Spooler,
    settings: &Settings,
    under_systemd: bool,
) -> Result<Option<DbusSource>, DaemonError> {
    let admin_gid = identity::group_id(&settings.config.server.admin_group);
    match DbusSource::export(bus.clone(), spooler.clone(), admin_gid).await {
        Ok(source) => Ok(Some(source)),
        Err(e) => optional(e, under_systemd).map(|()| None),
    }
}

/// A D-Bus failure: fatal under systemd, a warning otherwise.
fn optional(e: dbus::DbusError, under_systemd: bool) -> Result<(), DaemonError> {
    if under_systemd {
        Err(e.into())
    } else {
        tracing::warn!("{e}; carrying on without D-Bus (use --session-bus or --no-dbus)");
        Ok(())
    }
}

/// Adopts passed sockets, or binds the configured ones. Returns whether the
/// daemon was socket-activated (idle exit applies only then).
fn take_listeners(
    early: EarlyListeners,
    listen: &[String],
) -> Result<(Vec<Bound>, bool), DaemonError> {
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
            listeners::Listener::Tcp(l) => {
                notifier.store_fds(listeners::PASSED_TCP_NAME, &[l.as_fd()])
            }
            listeners::Listener::Unix(l) => {
                notifier.store_fds(listeners::PASSED_UNIX_NAME, &[l.as_fd()])
            }
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

fn borrowed(fds: &[OwnedFd]) -> Vec<std::os::fd::BorrowedFd<'_>> {
    fds.iter().map(AsFd::as_fd).collect()
}

/// The IPP source: one HTTP server for every listener, not yet accepting.
fn ipp_server(spooler: &Spooler, settings: &Settings) -> Server {
    let limits = settings.config.server.limits.clone();
    let service = IppService::new(
        spooler.clone(),
        ServiceSettings {
            decode_limits: ipp_proto::decode::Limits {
                max_attributes: limits.max_attributes,
                max_value_bytes: limits.max_value_bytes,
                max_total_bytes: limits.max_ipp_attribute_bytes,
                ..ipp_proto::decode::Limits::default()
            },
            admin_group_gid: identity::group_id(&settings.config.server.admin_group),
        },
    );
    // The body carries the IPP attributes and the document.
    let max_body = limits
        .max_document_bytes
        .saturating_add(limits.max_ipp_attribute_bytes as u64);
    Server::new(limits, max_body, Arc::new(service))
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

/// The running activation sources, as the main loop sees them.
struct Sources<'a> {
    server: &'a Server,
    drop_dir: Option<&'a DropDir>,
    bus: Option<&'a DbusSource>,
}

impl Sources<'_> {
    /// No client connected, no bus call being answered, nothing waiting in
    /// the drop directory.
    fn are_idle(&self) -> bool {
        self.server.active_connections() == 0
            && self.bus.is_none_or(|b| !b.is_busy())
            && self.drop_dir.is_none_or(|d| d.is_empty())
    }
}

/// Why the main loop ended.
#[derive(Debug)]
enum Outcome {
    Terminated,
    Interrupted,
    Idle(Duration),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Terminated => write!(f, "SIGTERM"),
            Outcome::Interrupted => write!(f, "SIGINT"),
            Outcome::Idle(after) => write!(f, "idle for {}s", after.as_secs()),
        }
    }
}

/// How long `STATUS=` may lag behind the job core: events within this window
/// are folded into one update, so a burst of jobs costs one summary, not one
/// per event.
const STATUS_COALESCE: Duration = Duration::from_millis(250);

/// How often idleness is checked, and only when idle exit is on: a daemon
/// with nothing to do should not wake at all.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// Waits for signals, keeps `STATUS=` current, pings the watchdog after
/// each healthy round, exits when an essential task panicked, and watches
/// for idleness.
async fn main_loop(
    settings: &Settings,
    spooler: &Spooler,
    sources: &Sources<'_>,
    notifier: &Notifier,
    socket_activated: bool,
) -> Outcome {
    let mut settings = settings.clone();
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            tracing::error!("cannot install signal handlers; stopping");
            return Outcome::Terminated;
        }
    };
    let mut events = spooler.subscribe();
    let mut events_open = true;
    let supervisor = spooler.supervisor().clone();
    // daemon(7) new-style recommendation 9 (sd_notify(3), here WATCHDOG=1):
    // a ping only for a round that found every essential task alive.
    let (verdict_sender, mut verdicts) = tokio::sync::mpsc::channel(1);
    if let Some(every) = notifier.watchdog_interval() {
        supervisor.spawn(
            "watchdog health rounds",
            watchdog::health_rounds(spooler.clone(), every, verdict_sender),
        );
    }
    let mut unhealthy_since: Option<Instant> = None;
    let mut idle_check = tokio::time::interval(IDLE_CHECK);
    let mut reconcile = tokio::time::interval(HISTORY_RECONCILE);
    let mut idle_since: Option<Instant> = None;
    let mut last_status = String::new();
    let mut status_due: Option<tokio::time::Instant> = None;
    let mut reload_error: Option<String> = None;
    loop {
        let idle_exit = settings.idle_exit.filter(|_| socket_activated);
        tokio::select! {
            _ = term.recv() => return Outcome::Terminated,
            _ = int.recv() => return Outcome::Interrupted,
            _ = hup.recv() => {
                // daemon(7) new-style recommendation 2: SIGHUP reloads.
                notifier.reloading();
                reload_error = reload(&mut settings, spooler).err().map(|e| e.to_string());
                last_status = status_line(spooler, reload_error.as_deref());
                notifier.ready_with_status(&last_status);
            }
            Some(verdict) = verdicts.recv() => match verdict {
                Ok(()) => {
                    if let Some(since) = unhealthy_since.take() {
                        tracing::warn!("healthy again after {:.1}s; watchdog pings resume", since.elapsed().as_secs_f64());
                    }
                    notifier.watchdog();
                }
                Err(why) => {
                    let since = unhealthy_since.get_or_insert_with(Instant::now);
                    tracing::error!(
                        "not sending WATCHDOG=1: {why}; unhealthy for {:.1}s, the service manager restarts printspoold once WatchdogSec= passes without a ping",
                        since.elapsed().as_secs_f64()
                    );
                }
            },
            failure = supervisor.failure() => exit_after_task_failure(notifier, &failure),
            event = events.recv(), if events_open => {
                // Lagged still means "something changed"; Closed means the
                // core is gone, and only a signal can end the loop now.
                events_open = !matches!(event, Err(broadcast::error::RecvError::Closed));
                status_due.get_or_insert_with(|| tokio::time::Instant::now() + STATUS_COALESCE);
            }
            _ = tokio::time::sleep_until(status_due.unwrap_or_else(tokio::time::Instant::now)), if status_due.is_some() => {
                status_due = None;
                send_status_if_changed(spooler, notifier, &mut last_status, reload_error.as_deref());
            }
            _ = reconcile.tick() => {
                let forgotten = spooler.forget_purged();
                if forgotten > 0 {
                    tracing::info!("{forgotten} finished jobs purged by cleanup left the history");
                    send_status_if_changed(spooler, notifier, &mut last_status, reload_error.as_deref());
                }
            }
            _ = idle_check.tick(), if idle_exit.is_some() => {
                let Some(limit) = idle_exit else { continue };
                if !(sources.are_idle() && spooler.is_idle()) {
                    idle_since = None;
                    continue;
                }
                if idle_since.get_or_insert_with(Instant::now).elapsed() >= limit {
                    tracing::info!("idle for {}s with no client and no work: exiting; systemd keeps the socket", limit.as_secs());
                    return Outcome::Idle(limit);
                }
            }
        }
    }
}

/// An essential task panicked (debug builds; release builds abort at the
/// panic itself): nothing vouches for the daemon any more. Exit at once with
/// a failure status (daemon(7) new-style recommendation 3), without the
/// orderly shutdown (which would wait for the dead task): the spool is
/// crash-safe, so every acknowledged job is still there. Restarting is the
/// service manager's job (recommendation 6: `Restart=on-failure`), not a
/// loop of our own.
fn exit_after_task_failure(notifier: &Notifier, failure: &str) -> ! {
    tracing::error!(
        "{failure}; exiting with status {} so that the service manager restarts printspoold",
        Exit::Failure.code()
    );
    notifier.status(&format!("failed: {failure}"));
    std::process::exit(i32::from(Exit::Failure.code()))
}

/// Sends `STATUS=` when the summary changed.
fn send_status_if_changed(
    spooler: &Spooler,
    notifier: &Notifier,
    last: &mut String,
    reload_error: Option<&str>,
) {
    let line = status_line(spooler, reload_error);
    if *last != line {
        notifier.status(&line);
        *last = line;
    }
}

fn status_line(spooler: &Spooler, reload_error: Option<&str>) -> String {
    match reload_error {
        Some(e) => format!(
            "{}; reload failed, old configuration kept: {e}",
            spooler.summary()
        ),
        None => spooler.summary(),
    }
}

/// Re-reads the configuration; a bad one keeps the old (and says why).
fn reload(settings: &mut Settings, spooler: &Spooler) -> Result<(), ConfigError> {
    let config = match &settings.config_path {
        Some(path) => Config::load(path),
        None => Config::load_default_or(None).map(|(config, _)| config),
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("reload failed, keeping the running configuration: {e}");
            return Err(e);
        }
    };
    spooler.reconfigure(
        &config.effective_printers(&settings.spool_dir),
        &config.default_printer_name(),
    );
    spooler.set_history_limit(config.history.max_jobs_in_memory);
    spooler.set_job_private_values(config.server.job_private_values);
    spooler.set_job_limits((&config.server.limits).into());
    if config.server.listen != settings.config.server.listen
        || config
            .server
            .limits
            .differs_until_restart(&settings.config.server.limits)
    {
        tracing::warn!("listen addresses and connection limits apply at the next start");
    }
    let idle_secs = settings
        .idle_exit_override
        .unwrap_or(config.server.idle_exit_after);
    settings.idle_exit = (idle_secs > 0).then(|| Duration::from_secs(idle_secs));
    settings.config = config;
    tracing::info!("configuration reloaded");
    Ok(())
}
