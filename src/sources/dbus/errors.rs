//! The errors the D-Bus service replies with, each a typed D-Bus error name
//! under `org.printspoold.Spooler1.Error.*`, so clients can match on the
//! name instead of parsing messages.

use crate::core::CoreError;
use crate::spool::SpoolError;

/// A method's failure as the caller sees it. The message is one line meant
/// for a person; the name is meant for code.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.printspoold.Spooler1.Error")]
pub enum Error {
    /// Errors of the bus connection itself keep their own names.
    #[zbus(error)]
    ZBus(zbus::Error),
    UnknownPrinter(String),
    UnknownJob(String),
    /// The caller may not do this: not the job's owner, or not an
    /// administrator for printer operations.
    NotPermitted(String),
    DocumentTooLarge(String),
    /// The descriptor is not something a document can be read from (a
    /// directory, a socket, write-only, ...), or the document is empty.
    UnreadableDocument(String),
    /// An entry of the `options` dictionary is unknown, has the wrong type
    /// or an unsupported value.
    InvalidOption(String),
    /// Any other argument has an unsupported value (`ListJobs`' `which`).
    InvalidArgument(String),
    /// The request is valid but the job or printer is in the wrong state.
    NotPossible(String),
    /// A cap of `[server.limits]` on active jobs (in total or of the
    /// caller) is reached; try again once some jobs have printed.
    TooManyJobs(String),
    /// Try again later: shutting down, or the spool's disk is full.
    ServiceUnavailable(String),
    /// A fault of the daemon; the details are in its log, not in the reply.
    Internal(String),
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Error {
        let message = e.to_string();
        match e {
            CoreError::UnknownPrinter(_) => Error::UnknownPrinter(message),
            CoreError::UnknownJob(_) => Error::UnknownJob(message),
            CoreError::NotPermitted { .. }
            | CoreError::ClaimNotVerified { .. }
            | CoreError::AdminOnly(_) => Error::NotPermitted(message),
            CoreError::NotPossible(_)
            | CoreError::NotAcceptingJobs(_)
            | CoreError::OneDocumentPerJob(_) => Error::NotPossible(message),
            CoreError::TooManyJobs { .. } => Error::TooManyJobs(message),
            CoreError::TooLarge { .. } => Error::DocumentTooLarge(message),
            CoreError::ShuttingDown => Error::ServiceUnavailable(message),
            CoreError::Spool(spool) => Error::from(spool),
        }
    }
}

impl From<SpoolError> for Error {
    fn from(e: SpoolError) -> Error {
        match e {
            SpoolError::TooLarge { .. } => Error::DocumentTooLarge(e.to_string()),
            e if e.is_no_space() => {
                tracing::warn!("spool full: {e}");
                Error::ServiceUnavailable("the spool's disk is full; try again later".to_string())
            }
            // Spool errors name paths inside the spool: log them, reply
            // without them (the caller may be any local user).
            e => {
                tracing::error!("spool: {e}");
                Error::Internal(
                    "the spool could not store the job; see the daemon's log".to_string(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError;

    #[test]
    fn names_are_under_the_service_prefix() {
        let e = Error::UnknownJob("no job 7".into());
        assert_eq!(
            e.name().as_str(),
            "org.printspoold.Spooler1.Error.UnknownJob"
        );
        assert_eq!(e.description(), Some("no job 7"));
    }

    #[test]
    fn core_errors_map_to_the_documented_names() {
        let cases = [
            (CoreError::UnknownPrinter("x".into()), "UnknownPrinter"),
            (CoreError::UnknownJob(3), "UnknownJob"),
            (
                CoreError::NotPermitted {
                    user: "nobody".into(),
                    action: "cancel",
                    id: 3,
                },
                "NotPermitted",
            ),
            (CoreError::AdminOnly("pause a printer"), "NotPermitted"),
            (CoreError::NotAcceptingJobs("x".into()), "NotPossible"),
            (CoreError::TooLarge { limit: 1 }, "DocumentTooLarge"),
            (
                CoreError::Spool(SpoolError::TooLarge { limit: 1 }),
                "DocumentTooLarge",
            ),
            (CoreError::ShuttingDown, "ServiceUnavailable"),
            (
                CoreError::TooManyJobs {
                    cap: crate::core::JobCap::Total,
                    limit: 1,
                },
                "TooManyJobs",
            ),
            (CoreError::Spool(SpoolError::SyncStopped), "Internal"),
        ];
        for (core, name) in cases {
            let e = Error::from(core);
            assert_eq!(
                e.name().as_str(),
                format!("org.printspoold.Spooler1.Error.{name}")
            );
        }
    }

    #[test]
    fn full_disk_is_temporary() {
        let full = SpoolError::Io {
            op: "write",
            path: "/var/spool/printspoold/tmp/x".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let e = Error::from(full);
        assert_eq!(
            e.name().as_str(),
            "org.printspoold.Spooler1.Error.ServiceUnavailable"
        );
        assert!(!e.description().unwrap_or("").contains("/var/spool"));
    }
}
