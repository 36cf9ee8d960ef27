//! Logging to standard error, the new-style way (daemon(7) new-style
//! recommendation 10): no syslog calls, no log files. Under systemd,
//! journald reads stderr; each line then starts with a `<N>` syslog
//! priority prefix (sd-daemon(3)) and carries no timestamp, since the
//! journal adds its own. On a terminal, lines are plain and timestamped.
//!
//! Log fields and messages carry text from clients (user, job, file and
//! printer names, device IDs, D-Bus arguments). The formatter escapes every
//! value once, centrally ([`EscapedFields`]): control characters become
//! `\n`, `\r`, `\t` or `\xNN`, line and paragraph separators `\u{2028}`.
//! A record is therefore always one line that starts with the formatter's
//! own prefix, so no value can start a line of its own, least of all one
//! with a forged `<N>` priority, and a call site that forgets to sanitize
//! is still safe.

use std::fmt::{self, Write as _};
use std::io::Write;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
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
    let result =
        tracing::subscriber::set_global_default(subscriber(style, verbose, std::io::stderr));
    if result.is_err() {
        // Already installed (tests): keep the first one.
    }
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(style: Style, verbose: bool, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let max = if verbose { Level::DEBUG } else { Level::INFO };
    tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(writer)
        // Never colour: escape codes are control characters, escaped here.
        .with_ansi(false)
        .fmt_fields(EscapedFields)
        .event_format(LineFormat { style })
        .finish()
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
        // `EscapedFields` escapes every value: the line stays one line.
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

/// Formats fields like tracing's default (the message bare, then
/// `name=value`, string values quoted), with every value escaped.
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            out: Escaping(writer),
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'w> {
    out: Escaping<Writer<'w>>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        self.result = self.write_field(field, value);
    }

    fn write_field(&mut self, field: &Field, value: fmt::Arguments<'_>) -> fmt::Result {
        // Separators and names are ours (names are identifiers in the
        // source); only the value passes through the escaping writer.
        if !self.first {
            self.out.0.write_char(' ')?;
        }
        self.first = false;
        if field.name() != "message" {
            let name = field.name();
            write!(self.out.0, "{}=", name.strip_prefix("r#").unwrap_or(name))?;
        }
        self.out.write_fmt(value)
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// A writer that escapes what would break a log line (see the module
/// documentation). Backslashes pass unchanged, so `{:?}` output stays
/// readable; the escapes are for safety, not for reversibility.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let mut chars = rest[at..].chars();
            if let Some(c) = chars.next() {
                write_escaped(&mut self.0, c)?;
            }
            rest = chars.as_str();
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

fn write_escaped(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        // Every other control character is below U+00A0.
        c if c.is_control() => write!(out, "\\x{:02x}", u32::from(c)),
        c => write!(out, "\\u{{{:x}}}", u32::from(c)),
    }
}

/// `text` escaped as the formatter escapes log values.
pub fn escape(text: &str) -> String {
    let mut out = Escaping(String::with_capacity(text.len()));
    // Writing to a String cannot fail.
    let _ = out.write_str(text);
    out.0
}

/// Replaces control characters so untrusted text (user names, job names,
/// file names) never reaches stored metadata raw. Logs need no call: the
/// formatter escapes every value anyway.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Writes a line straight to stderr, for messages before logging is set up:
/// one line, escaped like every log value, with the error priority when
/// stderr is the journal.
pub fn early_error(message: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "{}",
        early_line(Style::detect(), 3, message)
    );
}

/// Logs a warning whether or not logging is set up yet: through the
/// installed subscriber after [`init`], else straight to stderr like
/// [`early_error`] (`--check-config` installs no subscriber).
pub fn warning(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "{}",
            early_line(Style::detect(), 4, message)
        );
    }
}

/// One line with the syslog `priority` prefix when stderr is the journal.
fn early_line(style: Style, priority: u8, message: &str) -> String {
    match style {
        Style::Journal => format!("<{priority}>printspoold: {}", escape(message)),
        Style::Plain => format!("printspoold: {}", escape(message)),
    }
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
    fn escape_turns_controls_and_separators_into_text() {
        assert_eq!(
            escape("a\nb\r\t\x00\x1b[0m\u{85}\u{2028}é"),
            "a\\nb\\r\\t\\x00\\x1b[0m\\x85\\u{2028}é"
        );
        assert_eq!(escape("plain <0> text"), "plain <0> text");
    }

    /// Captures what the subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Capture {
        type Writer = Capture;

        fn make_writer(&'w self) -> Capture {
            self.clone()
        }
    }

    fn logged(style: Style, log: impl FnOnce()) -> String {
        let capture = Capture::default();
        tracing::subscriber::with_default(subscriber(style, true, capture.clone()), log);
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn hostile_values_stay_on_one_line_in_both_styles() {
        let hostile = "x\n<0>forged\r\n<3>again";
        for style in [Style::Journal, Style::Plain] {
            let text = logged(style, || {
                let span = tracing::info_span!("conn", peer = %hostile);
                let _entered = span.enter();
                tracing::warn!(owner = %hostile, name = hostile, "file {hostile} refused");
                tracing::error!(error = %std::io::Error::other(hostile), "failed");
            });
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{style:?}: {text}");
            for line in &lines {
                match style {
                    Style::Journal => assert!(
                        line.starts_with("<4>conn{") || line.starts_with("<3>conn{"),
                        "{line}"
                    ),
                    Style::Plain => assert!(line.as_bytes()[2] == b':', "{line}"),
                }
            }
            let escaped = r"x\n<0>forged\r\n<3>again";
            assert!(
                lines[0].contains(&format!("file {escaped} refused owner={escaped}")),
                "{}",
                lines[0]
            );
            assert!(
                lines[0].contains(&format!("peer={escaped}")),
                "{}",
                lines[0]
            );
            // A string field is quoted by `{:?}`, which escapes on its own.
            assert!(
                lines[0].contains(r#"name="x\n<0>forged\r\n<3>again""#),
                "{}",
                lines[0]
            );
            assert!(
                lines[1].ends_with(&format!("failed error={escaped}")),
                "{}",
                lines[1]
            );
        }
    }

    #[test]
    fn early_errors_are_one_line_with_their_priority() {
        assert_eq!(
            early_line(Style::Journal, 3, "bad --listen x\n<0>y"),
            "<3>printspoold: bad --listen x\\n<0>y"
        );
        assert_eq!(early_line(Style::Plain, 3, "a\nb"), "printspoold: a\\nb");
    }

    #[test]
    fn journal_stream_must_match_stderr() {
        assert!(!stderr_matches("garbage"));
        assert!(!stderr_matches("1:2"));
    }
}
