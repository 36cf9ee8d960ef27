//! Running the spooler: start-up in the order daemon(7) asks for, the main
//! loop, and an orderly shutdown. This module only wires the activation
//! sources ([`crate::sources`]) to the job core ([`Spooler`]); the state
//! lives in the core, and each source is its own module. What the loop
//! remembers between events is [`main_loop::MainLoop`].
//!
//! Start-up, in the order daemon(7) asks for:
//! 1. read what systemd passed (`LISTEN_FDS`, `NOTIFY_SOCKET`) while the
//!    process still has one thread, and clear it from the environment;
//! 2. load the configuration (invalid: exit 6, "not configured");
//! 3. in SysV mode only, daemonize ([`crate::sysv`]: steps 1-13);
//! 4. recover the spool, start the print workers;
//! 5. take the listening sockets (passed, or bound here);
//! 6. export the D-Bus objects, then request the bus name last;
//! 7. tell systemd `READY=1` (or the SysV parent, step 14), then accept:
//!    an answered client can count on the service being "active".

mod main_loop;
mod runtime;
mod settings;

use std::time::Duration;

use crate::cli::Cli;
use crate::config::ConfigError;
use crate::core::{CoreError, Spooler};
use crate::exit::Exit;
use crate::logging::{self, Style};
use crate::sources::dbus::{self, Bus, DbusSource};
use crate::sources::dropdir::{self, DropDir};
use crate::sources::ipp::listeners;
use crate::sources::ipp::{EarlyListeners, IppSource};
use crate::sources::usb::{self, UsbSource};
use crate::systemd::{Notifier, take_listen_fds};
use crate::{identity, supervisor, sysv};

use self::main_loop::{LoopSignals, MainLoop};
pub use self::settings::DaemonSettings;

/// How long in-flight requests get to finish on SIGTERM.
const REQUEST_GRACE: Duration = Duration::from_secs(10);
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

/// Runs the daemon until SIGTERM or idle exit.
pub fn run(cli: &Cli) -> Exit {
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
    supervisor::install_panic_hook();

    let settings = match DaemonSettings::resolve(cli) {
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

    let runtime = match runtime::build() {
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

/// SysV steps 1-13, after binding the sockets as the invoking user.
fn daemonize(
    cli: &Cli,
    settings: &DaemonSettings,
    passed: Vec<(std::os::fd::OwnedFd, String)>,
    notifier: &Notifier,
) -> Result<(EarlyListeners, Option<sysv::ReadyPipe>), DaemonError> {
    let early = EarlyListeners::bind_before_fork(passed, &settings.listen)?;
    let mut keep_fds = early.raw_fds();
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

/// Everything after the runtime exists: start-up, `READY=1`, the main
/// loop, shutdown.
async fn serve(
    settings: DaemonSettings,
    early: EarlyListeners,
    notifier: Notifier,
    ready_pipe: &mut Option<sysv::ReadyPipe>,
) -> Result<(), DaemonError> {
    let (spooler, mut sources) = start_sources(&settings, early, &notifier).await?;

    // The handlers go in before READY=1: a reload or stop sent the moment
    // systemd sees the service active must not end the process.
    let signals = LoopSignals::install();
    sources.ipp.announce(&spooler);
    // daemon(7) new-style recommendation 9: READY=1 once the spool is
    // recovered, the sockets are ours and the bus name is taken.
    notifier.ready_with_status(&spooler.summary());
    // Accepting starts only now: a client that got an answer can rely on
    // systemd calling the service active. Connections made during start-up
    // wait in the kernel's backlog, so none is lost (daemon(7) "Socket-Based
    // Activation").
    sources.ipp.start_accepting(&notifier);
    // SysV step 14; the PID file guard lives until we exit.
    let _pid_file = ready_pipe
        .take()
        .and_then(|pipe| pipe.report(Exit::Success.code(), None));

    let stop = MainLoop::new(settings, &spooler, &sources, &notifier)
        .run(signals)
        .await;

    // daemon(7) new-style recommendation 1: on SIGTERM shut down cleanly.
    notifier.stopping();
    sources.shut_down(&spooler, &notifier).await;
    tracing::info!("stopped ({stop})");
    Ok(())
}

/// The running activation sources.
struct RunningSources {
    ipp: IppSource,
    drop_dir: Option<DropDir>,
    bus: Option<DbusSource>,
    usb: UsbSource,
}

/// Recovers the spool and starts the job core, then every source in
/// daemon(7)'s order, all but accepting on the IPP sockets.
async fn start_sources(
    settings: &DaemonSettings,
    early: EarlyListeners,
    notifier: &Notifier,
) -> Result<(Spooler, RunningSources), DaemonError> {
    let (spooler, recovery) = Spooler::start(settings.core_options())?;
    settings::apply_job_settings(&settings.config, &spooler);
    tracing::info!(
        spool = %settings.spool_dir.display(),
        queued = recovery.queued,
        restarted = recovery.restarted,
        history = recovery.history,
        discarded = recovery.discarded,
        "spool recovered"
    );

    let ipp = IppSource::prepare(
        early,
        &settings.listen,
        &spooler,
        &settings.config.server,
        notifier,
    )?;
    // The path source: drains what arrived while we were down, then watches.
    let drop_dir = match settings.drop_dir() {
        Some(layout) => Some(DropDir::start(layout, spooler.clone()).await?),
        None => None,
    };

    // daemon(7) new-style recommendation 4: export the objects now, request
    // the bus name as the last step of start-up.
    let under_systemd = ipp.socket_activated() || notifier.is_active();
    let bus = match &settings.bus {
        Some(bus) => start_dbus(bus, &spooler, settings, under_systemd).await?,
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
    let sources = RunningSources {
        ipp,
        drop_dir,
        bus,
        usb,
    };
    Ok((spooler, sources))
}

impl RunningSources {
    /// No client connected, no bus call being answered, nothing waiting in
    /// the drop directory.
    fn are_idle(&self) -> bool {
        self.ipp.is_idle()
            && self.bus.as_ref().is_none_or(|b| !b.is_busy())
            && self.drop_dir.as_ref().is_none_or(|d| d.is_empty())
    }

    /// Stops every source, then the job core.
    async fn shut_down(self, spooler: &Spooler, notifier: &Notifier) {
        // The name goes first: calls made from now on queue in the bus for the
        // next instance (bus activation) instead of reaching a closing one.
        if let Some(bus) = self.bus {
            bus.release().await;
        }
        self.usb.stop();
        self.ipp.stop(REQUEST_GRACE, notifier).await;
        if let Some(drop_dir) = self.drop_dir {
            drop_dir.stop();
        }
        spooler.shutdown(PRINT_GRACE).await;
        // Passed sockets belong to systemd: only our own socket files go
        // (daemon(7) porting step 2).
        self.ipp.close();
    }
}

/// Connects to the bus and exports the objects. Under systemd the bus is
/// part of the service's contract (`BusName=`), so failing is fatal; a
/// developer's run without a system bus policy carries on without it.
async fn start_dbus(
    bus: &Bus,
    spooler: &Spooler,
    settings: &DaemonSettings,
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
