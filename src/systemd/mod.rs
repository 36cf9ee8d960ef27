//! The new-style side of daemon(7): talking to systemd.
//!
//! systemd hands a service its context through environment variables, and
//! each one is read once, early, and then removed so that the programs the
//! daemon starts (print backends, filters) never inherit a message meant for
//! the daemon itself:
//!
//! - [`listen_fds`]: sockets systemd bound for us (`LISTEN_PID`,
//!   `LISTEN_FDS`, `LISTEN_FDNAMES`; "Socket-Based Activation",
//!   sd_listen_fds(3));
//! - [`notify`]: the channel back to systemd (`NOTIFY_SOCKET`; new-style
//!   recommendation 9, sd_notify(3));
//! - [`credentials`]: secrets passed as files (`CREDENTIALS_DIRECTORY`,
//!   systemd.exec(5) "Credentials"); read on demand, left in the
//!   environment (the directory stays valid for the service's life);
//! - [`watchdog`]: the keep-alive systemd expects when `WatchdogSec=` is set
//!   (`WATCHDOG_USEC`, `WATCHDOG_PID`; sd_watchdog_enabled(3)).
//!
//! Both readers edit the environment, which is only sound while the process
//! has a single thread: call them at the top of `main`, before the tokio
//! runtime starts.

pub mod credentials;
pub mod listen_fds;
pub mod notify;
#[cfg(test)]
mod tests;
pub mod watchdog;

pub use listen_fds::{ListenFdsError, take_listen_fds};
pub use notify::Notifier;

/// The environment variable's value, or `None` when it is unset. A value
/// that is not UTF-8 comes back with replacement characters, so the parsers
/// reject it with a clear error instead of treating it as unset.
fn env_value(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// Removes `names` from the environment.
///
/// Callers run before any thread exists (see the module documentation);
/// that is what makes `remove_var` sound here.
fn unset_env(names: &[&str]) {
    for name in names {
        // SAFETY: the process is still single-threaded (documented
        // precondition of every public caller), so no other thread can be
        // reading the environment while it changes.
        unsafe { std::env::remove_var(name) };
    }
}
