//! `[server]`: where the daemon listens, where it spools, and its limits.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to bind when systemd passes no sockets: `HOST:PORT` for TCP,
    /// an absolute path for a Unix socket. Empty means the built-in choice
    /// (see `paths`), which depends on whether we run as root.
    pub listen: Vec<String>,
    /// The spool directory; empty means the built-in choice.
    pub spool_dir: Option<PathBuf>,
    /// Queue used for `/ipp/print`; defaults to the first printer.
    pub default_printer: Option<String>,
    /// Exit after this many seconds with no client and no work, when socket
    /// activated (0 = never).
    pub idle_exit_after: u64,
    /// Members of this group may act on any job and pause printers.
    pub admin_group: String,
    /// Job values shown only to the job's owner and administrators.
    pub job_private_values: JobPrivateValues,
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: Vec::new(),
            spool_dir: None,
            default_printer: None,
            idle_exit_after: 0,
            admin_group: "lpadmin".to_string(),
            job_private_values: JobPrivateValues::default(),
            limits: Limits::default(),
        }
    }
}

/// `job_private_values`, after CUPS's `JobPrivateValues`: which job values
/// only the job's owner and administrators see in Get-Jobs,
/// Get-Job-Attributes, the `GET /` pages and D-Bus `GetJob`/`ListJobs`.
/// Everyone else gets the job without them (IPP and D-Bus leave them out,
/// the pages say "withheld"); job ids, states and sizes stay public.
///
/// The list takes `job-name`, `job-originating-user-name`, and, accepted
/// for CUPS compatibility though printspoold never records them,
/// `job-originating-host-name` and `phone`; or `default` (CUPS's default,
/// all four) or `none` (nothing private, the behaviour before this key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPrivateValues {
    /// `job-name` (D-Bus `name`).
    pub job_name: bool,
    /// `job-originating-user-name` (D-Bus `owner`).
    pub user_name: bool,
}

impl JobPrivateValues {
    /// Nothing private: every requester sees every job whole.
    pub const NONE: JobPrivateValues = JobPrivateValues {
        job_name: false,
        user_name: false,
    };

    /// CUPS's default (`job-name job-originating-host-name
    /// job-originating-user-name phone`).
    pub const DEFAULT: JobPrivateValues = JobPrivateValues {
        job_name: true,
        user_name: true,
    };

    /// Parses the list; the error names the offending entry.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut values = JobPrivateValues::NONE;
        for name in names {
            match name {
                "default" => values = JobPrivateValues::DEFAULT,
                "none" => {}
                "job-name" => values.job_name = true,
                "job-originating-user-name" => values.user_name = true,
                // Never recorded here: private by construction.
                "job-originating-host-name" | "phone" => {}
                other => {
                    return Err(format!(
                        "job_private_values: unknown value \"{}\": use job-name, \
                         job-originating-user-name, job-originating-host-name, phone, \
                         default or none",
                        other.escape_debug()
                    ));
                }
            }
        }
        Ok(values)
    }
}

impl Default for JobPrivateValues {
    fn default() -> Self {
        JobPrivateValues::DEFAULT
    }
}

impl<'de> Deserialize<'de> for JobPrivateValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        JobPrivateValues::from_names(names.iter().map(String::as_str))
            .map_err(serde::de::Error::custom)
    }
}

/// Explicit limits on everything a client controls.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest document accepted, in bytes.
    pub max_document_bytes: u64,
    /// Largest HTTP request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Largest IPP attribute section of a request, in bytes.
    pub max_ipp_attribute_bytes: usize,
    /// Most attributes in one IPP request.
    pub max_attributes: usize,
    /// Longest single attribute value, in bytes.
    pub max_value_bytes: usize,
    /// Concurrent client connections; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Seconds a client may take to send a request head or a body chunk.
    pub read_timeout: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub keepalive_timeout: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 256 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_ipp_attribute_bytes: 256 * 1024,
            max_attributes: 1024,
            max_value_bytes: 32 * 1024,
            max_connections: 1024,
            read_timeout: 30,
            keepalive_timeout: 60,
        }
    }
}
