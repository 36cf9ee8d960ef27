//! daemon(7) SysV steps 14 and 15: the daemon tells the original process
//! that initialisation is complete, and only then does the original process
//! exit. Whoever ran `printspoold --daemon` (an init script, an
//! administrator) can rely on its exit status: 0 means the sockets are bound
//! and requests are served; anything else is an LSB code with the reason on
//! stderr, since the daemon's own stderr is /dev/null by then (step 9).
//!
//! The report is one status byte followed by an optional one-line message,
//! written in a single write() and followed by closing the pipe.

use std::fs::File;
use std::io::{Read, Write};

use super::pidfile::PidFileGuard;
use super::steps;

/// Longest report written at once: writes up to PIPE_BUF bytes are atomic.
const MAX_REPORT: usize = libc::PIPE_BUF;

/// The daemon's end of the pipe of steps 14 and 15, returned by
/// [`super::daemonize`]. Holds the PID file lock until the report.
#[derive(Debug)]
pub struct ReadyPipe {
    writer: File,
    pid_file: Option<PidFileGuard>,
}

impl ReadyPipe {
    pub(super) fn new(writer: File, pid_file: Option<PidFileGuard>) -> ReadyPipe {
        ReadyPipe { writer, pid_file }
    }

    /// Step 14: tells the original process that initialisation is complete
    /// (`status` 0) or failed (an LSB exit code), with an optional one-line
    /// `message` it prints to its stderr, and closes the pipe.
    ///
    /// On success, returns the PID file guard: keep it until shutdown, since
    /// dropping it removes the PID file. On failure the PID file is removed
    /// before the report, so the file is gone by the time the original
    /// process exits.
    #[must_use = "keep the PID file guard until shutdown: dropping it removes the PID file"]
    pub fn report(self, status: u8, message: Option<&str>) -> Option<PidFileGuard> {
        let ReadyPipe { writer, pid_file } = self;
        let pid_file = if status == 0 {
            pid_file
        } else {
            drop(pid_file);
            None
        };
        send_report(&writer, status, message);
        // Dropping the writer closes the last write end: EOF for the
        // original process, which then exits (step 15).
        drop(writer);
        pid_file
    }
}

/// Writes one report. A failed write means the original process is gone
/// (killed by the user, say): nobody is left to tell, so it is only logged.
pub(super) fn send_report(mut writer: &File, status: u8, message: Option<&str>) {
    let report = encode_report(status, message);
    if let Err(error) = writer.write_all(&report) {
        tracing::debug!("cannot report start-up status {status} to the original process: {error}");
    }
}

/// Status byte, then the message on one line, cut to fit one atomic write.
fn encode_report(status: u8, message: Option<&str>) -> Vec<u8> {
    let mut report = vec![status];
    for c in message.unwrap_or("").chars() {
        let c = if c.is_control() { ' ' } else { c };
        if report.len() + c.len_utf8() > MAX_REPORT {
            break;
        }
        let mut utf8 = [0u8; 4];
        report.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
    report
}

/// What the original process makes of the bytes it read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ParentReport {
    pub status: u8,
    pub message: Option<String>,
}

/// Decodes a report; an empty one means the daemon died (or was killed)
/// before it could report, which is a generic failure.
pub(super) fn decode_report(bytes: &[u8]) -> ParentReport {
    match bytes.split_first() {
        None => ParentReport {
            status: 1,
            message: Some(
                "the daemon exited during start-up without reporting a status \
                 (its log went to syslog or nowhere: rerun without --daemon to see it)"
                    .to_owned(),
            ),
        },
        Some((&status, text)) => {
            let text = String::from_utf8_lossy(text).trim().to_owned();
            ParentReport {
                status,
                message: (!text.is_empty()).then_some(text),
            }
        }
    }
}

/// Step 15, in the original process: waits for the daemon's report (EOF
/// comes when every write end is closed: reported, or died), reaps the
/// intermediate child, prints the message and exits with the status.
pub(super) fn wait_for_report(mut reader: File, intermediate: libc::pid_t) -> ! {
    let mut bytes = Vec::new();
    let outcome = match reader.read_to_end(&mut bytes) {
        Ok(_) => decode_report(&bytes),
        Err(error) => ParentReport {
            status: 1,
            message: Some(format!("cannot read the daemon's start-up status: {error}")),
        },
    };
    reap(intermediate);
    if let Some(message) = &outcome.message {
        eprintln!("printspoold: {message}");
    }
    std::process::exit(i32::from(outcome.status))
}

/// Collects the intermediate child's exit status so it does not linger as
/// a zombie until we exit.
fn reap(child: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let rc = unsafe { libc::waitpid(child, &mut status, 0) };
        if rc != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// Reports `error` through the pipe and ends the process: the failure path
/// of the intermediate child and of the daemon before [`ReadyPipe`] exists.
pub(super) fn fail(writer: &File, status: u8, message: &str) -> ! {
    send_report(writer, status, Some(message));
    steps::exit_immediately(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let report = encode_report(0, None);
        assert_eq!(report, [0]);
        assert_eq!(
            decode_report(&report),
            ParentReport {
                status: 0,
                message: None
            }
        );

        let report = encode_report(6, Some("bad config:\nline 3"));
        let outcome = decode_report(&report);
        assert_eq!(
            outcome,
            ParentReport {
                status: 6,
                message: Some("bad config: line 3".into())
            }
        );
    }

    #[test]
    fn silence_means_the_daemon_died() {
        let outcome = decode_report(&[]);
        assert_eq!(outcome.status, 1);
        assert!(outcome.message.unwrap().contains("without reporting"));
    }

    #[test]
    fn long_messages_fit_one_atomic_write_on_a_char_boundary() {
        let message = "é".repeat(5000);
        let report = encode_report(1, Some(&message));
        assert!(report.len() <= libc::PIPE_BUF);
        assert!(report.len() > libc::PIPE_BUF - 2);
        assert!(std::str::from_utf8(&report[1..]).is_ok());
    }

    #[test]
    fn a_report_goes_through_a_real_pipe() {
        let (mut reader, writer) = steps::ready_pipe().unwrap();
        let pipe = ReadyPipe::new(writer, None);
        assert!(
            pipe.report(4, Some("cannot change user to 65534"))
                .is_none()
        );
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        let outcome = decode_report(&bytes);
        assert_eq!(outcome.status, 4);
        assert_eq!(
            outcome.message.as_deref(),
            Some("cannot change user to 65534")
        );
    }
}
