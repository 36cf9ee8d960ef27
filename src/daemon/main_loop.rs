//! The main loop: waits for signals, keeps `STATUS=` current, pings the
//! watchdog after each healthy round, exits when an essential task
//! panicked, and watches for idleness.
//!
//! [`MainLoop::run`] only waits; what each event changes is one named
//! transition on [`MainLoop`], which holds everything the loop remembers
//! between events.

use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{broadcast, mpsc};

use super::RunningSources;
use super::settings::DaemonSettings;
use crate::core::Spooler;
use crate::exit::Exit;
use crate::systemd::Notifier;
use crate::systemd::watchdog::{self, HealthVerdict};

/// How often the daemon drops jobs that `printspoold cleanup` purged.
const HISTORY_RECONCILE: Duration = Duration::from_secs(60);

/// How long `STATUS=` may lag behind the job core: events within this window
/// are folded into one update, so a burst of jobs costs one summary, not one
/// per event.
const STATUS_COALESCE: Duration = Duration::from_millis(250);

/// How often idleness is checked, and only when idle exit is on: a daemon
/// with nothing to do should not wake at all.
const IDLE_CHECK: Duration = Duration::from_millis(250);

/// Why the main loop ended.
#[derive(Debug)]
pub enum StopReason {
    Terminated,
    Interrupted,
    Idle(Duration),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Terminated => write!(f, "SIGTERM"),
            StopReason::Interrupted => write!(f, "SIGINT"),
            StopReason::Idle(after) => write!(f, "idle for {}s", after.as_secs()),
        }
    }
}

/// The signals the loop acts on.
pub struct LoopSignals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl LoopSignals {
    /// Takes over SIGTERM, SIGINT and SIGHUP from their default action
    /// (ending the process); `None` if that failed.
    pub fn install() -> Option<LoopSignals> {
        Some(LoopSignals {
            term: signal(SignalKind::terminate()).ok()?,
            int: signal(SignalKind::interrupt()).ok()?,
            hup: signal(SignalKind::hangup()).ok()?,
        })
    }
}

/// What the main loop remembers between events.
pub struct MainLoop<'a> {
    spooler: &'a Spooler,
    sources: &'a RunningSources,
    notifier: &'a Notifier,
    /// What a reload may change (idle exit, the configuration).
    settings: DaemonSettings,
    /// The last `STATUS=` line sent.
    last_status: String,
    /// When the next coalesced `STATUS=` update is due, if one is.
    status_due: Option<tokio::time::Instant>,
    /// Why the last reload failed; shown in `STATUS=` until one succeeds.
    reload_error: Option<String>,
    /// False once the job core's event channel closed.
    events_open: bool,
    /// Since when health rounds have failed (no `WATCHDOG=1` meanwhile).
    unhealthy_since: Option<Instant>,
    /// Since when nothing has happened, for idle exit.
    idle_since: Option<Instant>,
}

impl<'a> MainLoop<'a> {
    pub fn new(
        settings: DaemonSettings,
        spooler: &'a Spooler,
        sources: &'a RunningSources,
        notifier: &'a Notifier,
    ) -> MainLoop<'a> {
        MainLoop {
            spooler,
            sources,
            notifier,
            settings,
            last_status: String::new(),
            status_due: None,
            reload_error: None,
            events_open: true,
            unhealthy_since: None,
            idle_since: None,
        }
    }

    /// Runs until SIGTERM, SIGINT or idle exit; exits the process when an
    /// essential task failed.
    pub async fn run(mut self, signals: Option<LoopSignals>) -> StopReason {
        let Some(mut signals) = signals else {
            tracing::error!("cannot install signal handlers; stopping");
            return StopReason::Terminated;
        };
        let mut events = self.spooler.subscribe();
        let supervisor = self.spooler.supervisor().clone();
        let mut verdicts = self.start_health_rounds();
        let mut idle_check = tokio::time::interval(IDLE_CHECK);
        let mut reconcile = tokio::time::interval(HISTORY_RECONCILE);
        loop {
            let idle_exit = self.idle_exit();
            let status_due = self.status_due;
            tokio::select! {
                _ = signals.term.recv() => return StopReason::Terminated,
                _ = signals.int.recv() => return StopReason::Interrupted,
                // daemon(7) new-style recommendation 2: SIGHUP reloads.
                _ = signals.hup.recv() => self.on_reload(),
                Some(verdict) = verdicts.recv() => self.on_health_verdict(verdict),
                failure = supervisor.failure() => self.on_task_failure(&failure),
                event = events.recv(), if self.events_open => self.on_core_event(event),
                _ = sleep_until_due(status_due), if status_due.is_some() => self.on_status_due(),
                _ = reconcile.tick() => self.on_reconcile(),
                _ = idle_check.tick(), if idle_exit.is_some() => {
                    if let Some(stop) = self.on_idle_check() {
                        return stop;
                    }
                }
            }
        }
    }

    /// daemon(7) new-style recommendation 9 (sd_notify(3), here
    /// `WATCHDOG=1`): a ping only for a round that found every essential
    /// task alive. The rounds run only when systemd asked for a watchdog.
    fn start_health_rounds(&self) -> mpsc::Receiver<HealthVerdict> {
        let (verdict_sender, verdicts) = mpsc::channel(1);
        if let Some(every) = self.notifier.watchdog_interval() {
            self.spooler.supervisor().spawn(
                "watchdog health rounds",
                watchdog::health_rounds(self.spooler.clone(), every, verdict_sender),
            );
        }
        verdicts
    }

    /// Idle exit applies only when socket-activated: systemd keeps the
    /// socket and starts the daemon again on the next connection.
    fn idle_exit(&self) -> Option<Duration> {
        self.settings
            .idle_exit
            .filter(|_| self.sources.ipp.socket_activated())
    }

    /// SIGHUP: daemon(7) new-style recommendation 2, reload the
    /// configuration (`RELOADING=1`, then `READY=1` with the new status).
    fn on_reload(&mut self) {
        self.notifier.reloading();
        self.reload_error = self
            .settings
            .reload(self.spooler)
            .err()
            .map(|e| e.to_string());
        self.last_status = self.status_line();
        self.notifier.ready_with_status(&self.last_status);
    }

    /// A health round's verdict: `WATCHDOG=1` when healthy, else an error
    /// line and no ping.
    fn on_health_verdict(&mut self, verdict: HealthVerdict) {
        match verdict {
            Ok(()) => {
                if let Some(since) = self.unhealthy_since.take() {
                    tracing::warn!(
                        "healthy again after {:.1}s; watchdog pings resume",
                        since.elapsed().as_secs_f64()
                    );
                }
                self.notifier.watchdog();
            }
            Err(why) => {
                let since = self.unhealthy_since.get_or_insert_with(Instant::now);
                tracing::error!(
                    "not sending WATCHDOG=1: {why}; unhealthy for {:.1}s, the service manager restarts printspoold once WatchdogSec= passes without a ping",
                    since.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// An essential task panicked (debug builds; release builds abort at the
    /// panic itself): nothing vouches for the daemon any more. Exit at once
    /// with a failure status (daemon(7) new-style recommendation 3), without
    /// the orderly shutdown (which would wait for the dead task): the spool
    /// is crash-safe, so every acknowledged job is still there. Restarting is
    /// the service manager's job (recommendation 6: `Restart=on-failure`),
    /// not a loop of our own.
    fn on_task_failure(&self, failure: &str) -> ! {
        tracing::error!(
            "{failure}; exiting with status {} so that the service manager restarts printspoold",
            Exit::Failure.code()
        );
        self.notifier.status(&format!("failed: {failure}"));
        std::process::exit(i32::from(Exit::Failure.code()))
    }

    /// The job core changed: schedule a `STATUS=` update. Lagged still
    /// means "something changed"; Closed means the core is gone, and only a
    /// signal can end the loop now.
    fn on_core_event<E>(&mut self, event: Result<E, broadcast::error::RecvError>) {
        self.events_open = !matches!(event, Err(broadcast::error::RecvError::Closed));
        self.status_due
            .get_or_insert_with(|| tokio::time::Instant::now() + STATUS_COALESCE);
    }

    fn on_status_due(&mut self) {
        self.status_due = None;
        self.send_status_if_changed();
    }

    /// Drops from the history the jobs `printspoold cleanup` purged.
    fn on_reconcile(&mut self) {
        let forgotten = self.spooler.forget_purged();
        if forgotten > 0 {
            tracing::info!("{forgotten} finished jobs purged by cleanup left the history");
            self.send_status_if_changed();
        }
    }

    /// Returns why to stop once nothing has happened for the idle-exit
    /// time: no client, no work.
    fn on_idle_check(&mut self) -> Option<StopReason> {
        let limit = self.idle_exit()?;
        if !(self.sources.are_idle() && self.spooler.is_idle()) {
            self.idle_since = None;
            return None;
        }
        if self.idle_since.get_or_insert_with(Instant::now).elapsed() >= limit {
            tracing::info!(
                "idle for {}s with no client and no work: exiting; systemd keeps the socket",
                limit.as_secs()
            );
            return Some(StopReason::Idle(limit));
        }
        None
    }

    /// Sends `STATUS=` when the summary changed.
    fn send_status_if_changed(&mut self) {
        let line = self.status_line();
        if self.last_status != line {
            self.notifier.status(&line);
            self.last_status = line;
        }
    }

    fn status_line(&self) -> String {
        match &self.reload_error {
            Some(e) => format!(
                "{}; reload failed, old configuration kept: {e}",
                self.spooler.summary()
            ),
            None => self.spooler.summary(),
        }
    }
}

/// Sleeps until `due`; when nothing is due the caller disables the branch.
fn sleep_until_due(due: Option<tokio::time::Instant>) -> tokio::time::Sleep {
    tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now))
}
