//! Structured log lines for the journal, through its native protocol
//! (systemd.journal-fields(7), "Native Journal Protocol" in
//! systemd-journald.service(8)): one datagram per line, with the line's
//! fields as journal fields, so that `journalctl JOB_ID=42` finds a job's
//! lines. Used only when stderr is the journal and its socket answers; the
//! text on stderr stays the fallback (see [`crate::logging`]).
//!
//! | event field | journal field |
//! | --- | --- |
//! | `id`, `job` | `JOB_ID` |
//! | `printer` | `PRINTER` |
//! | `owner` | `JOB_OWNER` |
//! | `origin` (`Ipp`, `Dbus`, `DropDir`) | `ACTIVATION` (`socket`, `bus`, `path`) |
//! | any other | its name in upper case |
//!
//! systemd's own messages about units use `JOB_ID=` for its jobs too: match
//! `SYSLOG_IDENTIFIER=printspoold JOB_ID=42` to see only ours.
//!
//! `MESSAGE` is the line as stderr would show it, `PRIORITY` its syslog
//! priority.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::logging::syslog_priority;

/// Where journald takes native entries.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Sends each event to journald as one native entry.
pub struct JournalLayer {
    socket: UnixDatagram,
    max: Level,
}

impl JournalLayer {
    /// Connects to the journal socket at `path`; `None` if nothing listens.
    pub fn connect(path: &Path, max: Level) -> Option<JournalLayer> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(path).ok()?;
        Some(JournalLayer { socket, max })
    }
}

/// Installs the journal as the global subscriber if its socket answers;
/// returns whether it did.
pub fn try_init(verbose: bool) -> bool {
    let max = if verbose { Level::DEBUG } else { Level::INFO };
    match JournalLayer::connect(Path::new(JOURNAL_SOCKET), max) {
        Some(layer) => tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .is_ok(),
        None => false,
    }
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        // More verbose levels compare greater.
        if level > self.max {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let priority = syslog_priority(&level);
        if self.socket.send(&fields.entry(priority)).is_err() {
            // journald gone or the entry too large: the text still reaches
            // the journal through stderr.
            let _ = writeln!(std::io::stderr(), "<{priority}>{}", fields.message_line());
        }
    }
}

/// An event's message and its other fields, as recorded.
#[derive(Default)]
struct Fields {
    message: String,
    /// Name, value as stderr shows it, value for the journal field.
    others: Vec<(&'static str, String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.others
                .push((field.name(), format!("{value:?}"), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.others.push((field.name(), text.clone(), text));
        }
    }
}

impl Fields {
    /// The line as the stderr format writes it: message, then `name=value`,
    /// escaped as [`crate::logging::escape`] escapes every log value, so
    /// untrusted text stays one line in `MESSAGE=` and on the stderr
    /// fallback alike (the structured fields keep the raw value).
    fn message_line(&self) -> String {
        let mut line = crate::logging::escape(&self.message);
        for (name, shown, _) in &self.others {
            let _ = write!(line, " {name}={}", crate::logging::escape(shown));
        }
        line
    }

    /// The native entry: `NAME=value\n`, or for a value holding a newline
    /// `NAME\n`, its length as 64-bit little endian, the value, `\n`.
    fn entry(&self, priority: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        push_field(&mut out, "PRIORITY", &priority.to_string());
        push_field(&mut out, "SYSLOG_IDENTIFIER", "printspoold");
        push_field(&mut out, "MESSAGE", &self.message_line());
        for (name, _, value) in &self.others {
            push_field(&mut out, &journal_name(name), journal_value(name, value));
        }
        out
    }
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        out.push(b'\n');
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        out.push(b'=');
    }
    out.extend_from_slice(value.as_bytes());
    out.push(b'\n');
}

/// The journal field for an event field: the job's fields by their agreed
/// names, any other in upper case with every other character an underscore
/// (journal field names are `[A-Z0-9_]`, not starting with `_` or a digit).
fn journal_name(field: &str) -> String {
    match field {
        "id" | "job" => "JOB_ID".to_string(),
        "printer" => "PRINTER".to_string(),
        "owner" => "JOB_OWNER".to_string(),
        "origin" => "ACTIVATION".to_string(),
        other => {
            let upper: String = other
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            if upper.starts_with(|c: char| c == '_' || c.is_ascii_digit()) {
                format!("F{upper}")
            } else {
                upper
            }
        }
    }
}

/// A job's entry path as the activation path that brings it in
/// (daemon(7)'s names); other values as they are.
fn journal_value<'a>(field: &str, value: &'a str) -> &'a str {
    match (field, value) {
        ("origin", "Ipp") => "socket",
        ("origin", "Dbus") => "bus",
        ("origin", "DropDir") => "path",
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn field_names_follow_the_journal_rules() {
        assert_eq!(journal_name("id"), "JOB_ID");
        assert_eq!(journal_name("job"), "JOB_ID");
        assert_eq!(journal_name("printer"), "PRINTER");
        assert_eq!(journal_name("owner"), "JOB_OWNER");
        assert_eq!(journal_name("by"), "BY");
        assert_eq!(journal_name("r#type"), "R_TYPE");
        assert_eq!(journal_name("_x"), "F_X");
        assert_eq!(journal_name("origin"), "ACTIVATION");
        assert_eq!(journal_value("origin", "Ipp"), "socket");
        assert_eq!(journal_value("origin", "Dbus"), "bus");
        assert_eq!(journal_value("origin", "DropDir"), "path");
        assert_eq!(journal_value("printer", "Ipp"), "Ipp");
    }

    #[test]
    fn a_hostile_message_stays_one_escaped_line() {
        let fields = Fields {
            message: "taken x\n<0>forged".to_string(),
            others: vec![("file", "\"a\\n<0>b\"".to_string(), "a\n<0>b".to_string())],
        };
        let line = fields.message_line();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("taken x\\n<0>forged"), "{line}");
    }

    #[test]
    fn a_value_with_a_newline_is_sent_with_its_length() {
        let mut out = Vec::new();
        push_field(&mut out, "A", "one");
        push_field(&mut out, "B", "x\ny");
        let mut want = b"A=one\nB\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"x\ny\n");
        assert_eq!(out, want);
    }

    /// A real datagram socket standing in for journald's: what a job's log
    /// line sends.
    #[test]
    fn a_job_line_carries_its_fields() {
        let dir = TempDir::new("journal");
        let path = dir.path().join("socket");
        let journald = UnixDatagram::bind(&path).unwrap();
        let layer = JournalLayer::connect(&path, Level::INFO).unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(id = 42u64, printer = %"office", owner = %"alice", "job created");
            tracing::debug!(id = 42u64, "not sent: below the level");
            tracing::warn!(job = 7u64, "two\nlines");
        });
        let mut buf = vec![0u8; 4096];
        let n = journald.recv(&mut buf).unwrap();
        let entry = String::from_utf8_lossy(&buf[..n]).to_string();
        for want in [
            "PRIORITY=6\n",
            "SYSLOG_IDENTIFIER=printspoold\n",
            "MESSAGE=job created id=42 printer=office owner=alice\n",
            "JOB_ID=42\n",
            "PRINTER=office\n",
            "JOB_OWNER=alice\n",
        ] {
            assert!(entry.contains(want), "{want:?} not in {entry:?}");
        }
        let n = journald.recv(&mut buf).unwrap();
        let entry = &buf[..n];
        assert!(entry.starts_with(b"PRIORITY=4\n"));
        // The message is escaped onto one line, as on stderr.
        let message = b"MESSAGE=two\\nlines job=7\n";
        assert!(
            entry.windows(message.len()).any(|w| w == message),
            "{:?}",
            String::from_utf8_lossy(entry)
        );
        assert!(String::from_utf8_lossy(entry).contains("JOB_ID=7\n"));
    }
}
