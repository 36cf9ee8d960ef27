//! `[server]`: where the daemon listens, where it spools, and its limits.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to bind when systemd passes no sockets: `HOST:PORT` for TCP,
    /// an absolute path for a Unix socket. Empty means the built-in choice,
    /// which depends on whether we run as root: `127.0.0.1:631` and
    /// `/run/printspoold/ipp.sock` for root, `127.0.0.1:8631` for others.
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
    pub limits: ServerLimits,
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
            limits: ServerLimits::default(),
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
#[derive(Clone, Copy, PartialEq, Eq)]
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

/// Shown as the configuration file spells it, one line even in `{:#?}`
/// (so the default reads the same in logs and in printspoold.toml(5)).
impl std::fmt::Debug for JobPrivateValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (self.job_name, "job-name"),
            (self.user_name, "job-originating-user-name"),
        ];
        let shown: Vec<String> = names
            .iter()
            .filter(|(private, _)| *private)
            .map(|(_, name)| format!("{name:?}"))
            .collect();
        write!(f, "[{}]", shown.join(", "))
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

/// Explicit limits on everything a client controls. Defaults follow CUPS
/// where CUPS has a setting (`MaxJobs`, `MultipleOperationTimeout`); the
/// README's configuration block explains each choice.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
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
    /// Concurrent client connections, TCP and Unix together, including
    /// `reserved_root_connections`. Beyond it TCP clients wait in the
    /// kernel backlog and Unix clients other than root get 503.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub max_connections: usize,
    /// Concurrent connections from one peer: one uid on the Unix socket,
    /// one address over TCP (all of 127.0.0.0/8 counts as one, an IPv6
    /// address by its /64). More get 503 at once.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub max_connections_per_peer: usize,
    /// Connection slots only root on the Unix socket may take, so the
    /// administrator always gets in. Root is also exempt from
    /// `max_connections_per_peer`.
    pub reserved_root_connections: usize,
    /// Seconds one read or write may take (a request body read, writing
    /// a response), and the wait for a new connection's first request.
    #[serde(deserialize_with = "at_least_one_u64")]
    pub read_timeout: u64,
    /// Seconds a whole request head may take, from its first byte.
    #[serde(deserialize_with = "at_least_one_u64")]
    pub head_timeout: u64,
    /// Seconds a whole request body may take, plus one second for every
    /// `body_min_rate` bytes received: a client must keep up an average
    /// of `body_min_rate` bytes/s after the first `body_timeout` seconds.
    #[serde(deserialize_with = "at_least_one_u64")]
    pub body_timeout: u64,
    /// See [`ServerLimits::body_timeout`]; bytes per second.
    #[serde(deserialize_with = "at_least_one_u64")]
    pub body_min_rate: u64,
    /// Seconds an idle keep-alive connection is kept open.
    pub keepalive_timeout: u64,
    /// Jobs not yet finished (pending, held, printing), all users together.
    /// Beyond it: `server-error-too-many-jobs`.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub max_active_jobs: usize,
    /// Jobs not yet finished of one owner (its name and whether the name
    /// was verified or only claimed over TCP). Beyond it:
    /// `client-error-not-possible`.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub max_active_jobs_per_user: usize,
    /// Jobs not yet finished that came over TCP from one address (counted
    /// like `max_connections_per_peer`), whatever user names they claim.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub max_active_jobs_per_address: usize,
    /// Jobs listed by Get-Jobs, `ListJobs` and the status page when the
    /// request sets no `limit`.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub list_jobs_default_limit: usize,
    /// The most jobs one such answer lists; a larger `limit` is lowered.
    #[serde(deserialize_with = "at_least_one_usize")]
    pub list_jobs_max_limit: usize,
    /// Seconds a job made by Create-Job may wait for its document before
    /// it is aborted (IPP `multiple-operation-time-out`).
    #[serde(deserialize_with = "at_least_one_u64")]
    pub multiple_operation_timeout: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_document_bytes: 256 * 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_ipp_attribute_bytes: 256 * 1024,
            max_attributes: 1024,
            max_value_bytes: 32 * 1024,
            max_connections: 1024,
            max_connections_per_peer: 64,
            reserved_root_connections: 8,
            read_timeout: 30,
            head_timeout: 30,
            body_timeout: 30,
            body_min_rate: 1024,
            keepalive_timeout: 60,
            max_active_jobs: 500,
            max_active_jobs_per_user: 100,
            max_active_jobs_per_address: 200,
            list_jobs_default_limit: 500,
            list_jobs_max_limit: 1000,
            multiple_operation_timeout: 900,
        }
    }
}

impl ServerLimits {
    /// Whether `other` differs from `self` in a limit that applies only at
    /// the next start (the transport's): the job caps, listing limits and
    /// `multiple_operation_timeout` apply at a reload.
    pub fn differs_until_restart(&self, other: &ServerLimits) -> bool {
        let reloadable = ServerLimits {
            max_active_jobs: self.max_active_jobs,
            max_active_jobs_per_user: self.max_active_jobs_per_user,
            max_active_jobs_per_address: self.max_active_jobs_per_address,
            list_jobs_default_limit: self.list_jobs_default_limit,
            list_jobs_max_limit: self.list_jobs_max_limit,
            multiple_operation_timeout: self.multiple_operation_timeout,
            ..other.clone()
        };
        reloadable != *self
    }

    /// Checks that hold between keys; returns the keys involved (the
    /// error names the line of the first one the file sets) and why.
    pub(super) fn check(&self) -> Result<(), (&'static [&'static str], String)> {
        if self.list_jobs_default_limit > self.list_jobs_max_limit {
            return Err((
                &["list_jobs_default_limit", "list_jobs_max_limit"],
                format!(
                    "list_jobs_default_limit ({}) is larger than list_jobs_max_limit ({})",
                    self.list_jobs_default_limit, self.list_jobs_max_limit
                ),
            ));
        }
        if self.reserved_root_connections >= self.max_connections {
            return Err((
                &["reserved_root_connections", "max_connections"],
                format!(
                    "reserved_root_connections ({}) must be below max_connections ({})",
                    self.reserved_root_connections, self.max_connections
                ),
            ));
        }
        Ok(())
    }
}

fn at_least_one_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

fn at_least_one_usize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}
