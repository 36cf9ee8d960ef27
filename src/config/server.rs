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
            limits: Limits::default(),
        }
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
