//! Logging to standard error, the new-style way (daemon(7) new-style
//! recommendation 10): no syslog calls, no log files. Under systemd,
//! journald reads stderr; each line then starts with a `<N>` syslog
//! priority prefix (sd-daemon(3)) and carries no timestamp, since the
//! journal adds its own. On a terminal, lines are plain and timestamped.

use std::fmt;
use std::io::Write;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Where log lines go and how they look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// stderr is the journal: `<N>` prefixes, no timestamps.
    Journal,
    /// stderr is a terminal or a file: timestamps and level names.
    Plain,
}

impl Style {
    /// `Journal` when `JOURNAL_STREAM` names the device and inode of our
    /// stderr (systemd.exec(5)), so a redirected stderr is not mistaken.
    pub fn detect() -> Style {
        match std::env::var("JOURNAL_STREAM") {
            Ok(value) if stderr_matches(&value) => Style::Journal,
            _ => Style::Plain,
        }
    }
}

fn stderr_matches(journal_stream: &str) -> bool {
    use std::os::fd::AsFd;
    let Some((dev, ino)) = journal_stream.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let stderr = std::io::stderr();
    let Ok(owned) = stderr.as_fd().try_clone_to_owned() else {
        return false;
    };
    let file = std::fs::File::from(owned);
    match file.metadata() {
        Ok(meta) => {
            use std::os::unix::fs::MetadataExt;
            meta.dev() == dev && meta.ino() == ino
        }
        Err(_) => false,
    }
}

/// Installs the global subscriber. `verbose` adds debug lines.
pub fn init(style: Style, verbose: bool) {
    // Under the journal, structured fields through its socket (JOB_ID=...).
    if style == Style::Journal && crate::journal::try_init(verbose) {
        return;
    }
    let max = if verbose { Level::DEBUG } else { Level::INFO };
    let result = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never into the journal.
        .with_ansi(style == Style::Plain && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(LineFormat { style })
        .try_init();
    if result.is_err() {
        // Already installed (tests): keep the first one.
    }
}

/// The syslog priority (sd-daemon(3)) for a tracing level.
pub fn syslog_priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

struct LineFormat {
    style: Style,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = event.metadata().level();
        match self.style {
            Style::Journal => write!(writer, "<{}>", syslog_priority(level))?,
            Style::Plain => write!(writer, "{} {:>5} ", Timestamp, level)?,
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                write!(writer, ": ")?;
            }
        }
        // Field values pass through `sanitize` at their source; `{:?}`
        // formatting of strings escapes control characters as a second guard.
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// UTC wall-clock time as `HH:MM:SS.mmm` for terminal output.
struct Timestamp;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            now.subsec_millis()
        )
    }
}

/// Replaces control characters so untrusted text (user names, job names,
/// file names) can never forge a log line or reach stored metadata raw.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Writes a line straight to stderr, for messages before logging is set up.
pub fn early_error(message: &str) {
    let _ = writeln!(std::io::stderr(), "printspoold: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(syslog_priority(&Level::ERROR), 3);
        assert_eq!(syslog_priority(&Level::WARN), 4);
        assert_eq!(syslog_priority(&Level::INFO), 6);
        assert_eq!(syslog_priority(&Level::DEBUG), 7);
    }

    #[test]
    fn sanitize_removes_controls_and_bounds_length() {
        assert_eq!(sanitize("a\nb\x1b[31m", 100), "a\u{fffd}b\u{fffd}[31m");
        assert_eq!(sanitize("abcdef", 3), "abc");
    }

    #[test]
    fn journal_stream_must_match_stderr() {
        assert!(!stderr_matches("garbage"));
        assert!(!stderr_matches("1:2"));
    }
}
