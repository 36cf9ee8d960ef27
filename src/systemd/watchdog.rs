//! The service watchdog: with `WatchdogSec=` in the unit, systemd expects
//! `WATCHDOG=1` at least that often and restarts (or otherwise acts on) a
//! service that goes quiet (systemd.service(5), sd_watchdog_enabled(3)).
//!
//! systemd announces the timeout in `WATCHDOG_USEC` and, optionally, the
//! process it is meant for in `WATCHDOG_PID`. sd_watchdog_enabled(3) advises
//! pinging at half the timeout, so one late tick never trips it.

use std::time::Duration;

use super::Notifier;

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

/// Sends `WATCHDOG=1` every [`Notifier::watchdog_interval`] until the task
/// is dropped; returns at once when systemd asked for no watchdog.
///
/// Spawn it on the runtime that serves requests: a ping from a runtime task
/// shows that the event loop still turns, and a wedged runtime stops the
/// pings so systemd can restart us. It says nothing about the print
/// workers, which have their own timeouts.
pub async fn keep_alive(notifier: Notifier) {
    let Some(interval) = notifier.watchdog_interval() else {
        return;
    };
    let mut ticks = tokio::time::interval(interval);
    // After a stall, one ping is enough: do not send a burst to catch up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        notifier.watchdog();
    }
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

    #[tokio::test]
    async fn keep_alive_pings_at_the_interval() {
        use crate::test_support::TempDir;
        let dir = TempDir::new("watchdog");
        let path = dir.path().join("notify.sock");
        let receiver = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        receiver.set_nonblocking(true).unwrap();
        let notifier = Notifier::for_socket(&path)
            .unwrap()
            .with_watchdog_interval(Duration::from_millis(100));

        let task = tokio::spawn(keep_alive(notifier));
        // The first tick is immediate, then one per interval: 0, 100, 200,
        // 300 ms. The bounds leave room for a loaded machine.
        tokio::time::sleep(Duration::from_millis(350)).await;
        task.abort();

        let mut buffer = [0u8; 64];
        let mut pings = 0;
        while let Ok(len) = receiver.recv(&mut buffer) {
            assert_eq!(&buffer[..len], b"WATCHDOG=1");
            pings += 1;
        }
        assert!((3..=5).contains(&pings), "{pings} pings");
    }

    #[tokio::test]
    async fn keep_alive_returns_without_a_watchdog() {
        // Would hang the test if it looped.
        keep_alive(Notifier::disabled()).await;
    }
}
