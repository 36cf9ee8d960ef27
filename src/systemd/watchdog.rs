//! The service watchdog: with `WatchdogSec=` in the unit, systemd expects
//! `WATCHDOG=1` at least that often and restarts (or otherwise acts on) a
//! service that goes quiet (systemd.service(5), sd_watchdog_enabled(3)).
//!
//! systemd announces the timeout in `WATCHDOG_USEC` and, optionally, the
//! process it is meant for in `WATCHDOG_PID`. sd_watchdog_enabled(3) advises
//! pinging at half the timeout, so one late tick never trips it.
//!
//! A ping is a promise that the daemon works, not merely that its main
//! loop turns: it is sent only after a health round ([`health_rounds`])
//! found the job core answering and every essential task alive. A task
//! that panicked ends the process at once (see [`crate::supervisor`]).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::core::Spooler;
use crate::supervisor::NotAnswering;

/// Why the watchdog variables were ignored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchdogEnvError {
    #[error("WATCHDOG_USEC={value:?} is not a positive number of microseconds")]
    InvalidUsec { value: String },
    #[error("WATCHDOG_PID={value:?} is not a process ID")]
    InvalidPid { value: String },
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set
/// and `WATCHDOG_PID` is unset or names `my_pid`. `Ok(None)` means "no
/// watchdog for us".
pub fn parse_watchdog_env(
    usec: Option<&str>,
    pid: Option<&str>,
    my_pid: u32,
) -> Result<Option<Duration>, WatchdogEnvError> {
    let Some(usec) = usec else {
        return Ok(None);
    };
    let timeout = match usec.parse::<u64>() {
        Ok(micros) if micros > 0 => Duration::from_micros(micros),
        _ => {
            return Err(WatchdogEnvError::InvalidUsec {
                value: usec.to_owned(),
            });
        }
    };
    if let Some(pid) = pid {
        let pid: u32 = pid.parse().map_err(|_| WatchdogEnvError::InvalidPid {
            value: pid.to_owned(),
        })?;
        if pid != my_pid {
            // Meant for the process that started us, not for us.
            return Ok(None);
        }
    }
    Ok(Some(timeout / 2))
}

/// What one health round found: `Ok` means "send `WATCHDOG=1`".
pub type HealthVerdict = Result<(), Unhealthy>;

/// Why a health round withheld the ping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    #[error("the job core's state could not be taken within {0:?} (a deadlock or a stuck section)")]
    CoreStuck(Duration),
    #[error("the spool's sync thread has stopped: no job can be made durable")]
    SpoolStopped,
    #[error("{0} (hung)")]
    TasksStuck(#[from] NotAnswering),
}

/// Every `every`, checks that the daemon can still do its work and sends
/// the verdict to the main loop, which sends `WATCHDOG=1` only for a
/// healthy one. Both have to be alive for a ping: the main loop (signals,
/// status) and this task. A round asks, each within `every / 2`:
///
/// - the job core: its state lock can be taken ([`Spooler::answers_within`]),
///   and the spool's sync thread runs ([`Spooler::spool_can_commit`]);
/// - every essential task (each print worker, the drop-directory scanner,
///   the USB tracker, the D-Bus forwarder, this task) is polled
///   ([`Supervisor::probe`](crate::supervisor::Supervisor::probe)).
///
/// `every` is half of `WatchdogSec=` (sd_watchdog_enabled(3)), so a round
/// that fails withholds one ping, and systemd acts only when nothing was
/// healthy for the whole `WatchdogSec=`: a moment of heavy load does not
/// restart the daemon, a hang does, within `WatchdogSec=` of the last
/// healthy round. The task ends when the main loop is gone.
pub async fn health_rounds(
    spooler: Spooler,
    every: Duration,
    verdicts: mpsc::Sender<HealthVerdict>,
) {
    let mut ticks = tokio::time::interval(every);
    // After a stall, one round is enough: do not run a burst to catch up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let verdict = health_round(&spooler, every / 2).await;
        if verdicts.send(verdict).await.is_err() {
            return;
        }
    }
}

/// One round: the core and the tasks, checked at the same time.
pub async fn health_round(spooler: &Spooler, deadline: Duration) -> HealthVerdict {
    let (core, tasks) = tokio::join!(
        spooler.answers_within(deadline),
        spooler.supervisor().probe(deadline)
    );
    if !core {
        return Err(Unhealthy::CoreStuck(deadline));
    }
    if !spooler.spool_can_commit() {
        return Err(Unhealthy::SpoolStopped);
    }
    tasks.map_err(Unhealthy::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_timeout_when_meant_for_us() {
        let interval = parse_watchdog_env(Some("3000000"), None, 7).unwrap();
        assert_eq!(interval, Some(Duration::from_millis(1500)));
        let interval = parse_watchdog_env(Some("20000000"), Some("7"), 7).unwrap();
        assert_eq!(interval, Some(Duration::from_secs(10)));
    }

    #[test]
    fn no_watchdog_when_unset_or_for_another_process() {
        assert_eq!(parse_watchdog_env(None, None, 7), Ok(None));
        assert_eq!(parse_watchdog_env(None, Some("7"), 7), Ok(None));
        assert_eq!(parse_watchdog_env(Some("1000000"), Some("8"), 7), Ok(None));
    }

    #[test]
    fn invalid_values_are_errors() {
        for usec in ["", "0", "-5", "1s", "18446744073709551616"] {
            let error = parse_watchdog_env(Some(usec), None, 7).unwrap_err();
            assert_eq!(
                error,
                WatchdogEnvError::InvalidUsec {
                    value: usec.to_owned()
                }
            );
        }
        let error = parse_watchdog_env(Some("1000"), Some("me"), 7).unwrap_err();
        assert_eq!(
            error,
            WatchdogEnvError::InvalidPid {
                value: "me".to_owned()
            }
        );
    }

    fn spooler(dir: &std::path::Path) -> Spooler {
        let spool = dir.join("spool");
        let (spooler, _) = Spooler::start(crate::core::CoreOptions {
            spool_dir: spool.clone(),
            printers: vec![crate::config::PrinterConfig::builtin_default(&spool)],
            default_printer: "default".to_string(),
            max_document_bytes: 1 << 20,
        })
        .unwrap();
        spooler
    }

    #[tokio::test]
    async fn rounds_of_a_healthy_core_are_healthy_and_stop_with_the_loop() {
        let dir = crate::test_support::TempDir::new("watchdog-rounds");
        let spooler = spooler(dir.path());
        assert_eq!(spooler.supervisor().tasks(), ["print worker \"default\""]);
        let (sender, mut verdicts) = mpsc::channel(1);
        let rounds = tokio::spawn(health_rounds(
            spooler.clone(),
            Duration::from_millis(50),
            sender,
        ));
        for _ in 0..3 {
            assert_eq!(verdicts.recv().await, Some(Ok(())));
        }
        // The main loop gone, the rounds end.
        drop(verdicts);
        tokio::time::timeout(Duration::from_secs(5), rounds)
            .await
            .unwrap()
            .unwrap();
    }
}
