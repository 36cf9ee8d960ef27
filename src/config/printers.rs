//! `[[printer]]`: one table per queue.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::systemd::credentials::read_credential;

/// The queue that exists when no printer is configured.
pub const DEFAULT_QUEUE: &str = "default";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// Queue name, used in `/printers/NAME`: letters, digits, `-`, `_`, `.`.
    #[serde(deserialize_with = "queue_name")]
    pub name: String,
    /// Where jobs go: `file:///DIR` writes each document into DIR;
    /// `device:///dev/usb/lp0` writes to a character device;
    /// `credential:NAME` takes the URI from systemd credential NAME.
    pub device_uri: DeviceUri,
    #[serde(default)]
    pub info: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub make_and_model: Option<String>,
    /// MIME types the printer takes; defaults to all the server knows.
    #[serde(default)]
    pub formats: Option<Vec<String>>,
}

impl PrinterConfig {
    /// The built-in queue: documents land in `printed/` inside the spool.
    pub fn builtin_default(spool_dir: &Path) -> PrinterConfig {
        PrinterConfig {
            name: DEFAULT_QUEUE.to_string(),
            device_uri: DeviceUri::File(spool_dir.join("printed")),
            info: Some("Default queue (prints to files)".to_string()),
            location: None,
            make_and_model: Some("printspoold file printer".to_string()),
            formats: None,
        }
    }
}

/// Whether `name` is usable as a queue name (also in URIs and file names).
pub fn is_valid_queue_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn queue_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    if is_valid_queue_name(&name) {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "invalid printer name \"{}\": use 1 to 127 letters, digits, '-', '_' or '.', not starting with '.'",
            name.escape_debug()
        )))
    }
}

/// A printer's device, parsed from its URI.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceUri {
    /// Write each job's document atomically into this directory.
    File(PathBuf),
    /// Write to a character device such as `/dev/usb/lp0`.
    Device(PathBuf),
}

impl fmt::Display for DeviceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceUri::File(dir) => write!(f, "file://{}", dir.display()),
            DeviceUri::Device(path) => write!(f, "device://{}", path.display()),
        }
    }
}

impl std::str::FromStr for DeviceUri {
    type Err = String;

    fn from_str(uri: &str) -> Result<Self, String> {
        let absolute = |rest: &str| -> Result<PathBuf, String> {
            if rest.starts_with('/') && !rest.contains('\0') {
                Ok(PathBuf::from(rest))
            } else {
                Err(format!(
                    "device_uri \"{uri}\" needs an absolute path after the scheme"
                ))
            }
        };
        if let Some(rest) = uri.strip_prefix("file://") {
            Ok(DeviceUri::File(absolute(rest)?))
        } else if let Some(rest) = uri.strip_prefix("device://") {
            Ok(DeviceUri::Device(absolute(rest)?))
        } else {
            Err(format!(
                "device_uri \"{uri}\" has an unknown scheme: use file:///DIR, device:///dev/... or credential:NAME"
            ))
        }
    }
}

/// The `device_uri` prefix that names a credential holding the real URI.
pub const CREDENTIAL_PREFIX: &str = "credential:";

impl DeviceUri {
    /// The URI held by systemd credential `name` (see
    /// [`crate::systemd::credentials`]): for a device whose URI carries a
    /// secret (a network printer's password, in CUPS's practice), kept out
    /// of the configuration file and the unit. Errors never quote the
    /// content.
    fn from_credential(name: &str) -> Result<DeviceUri, String> {
        let secret = read_credential(name).map_err(|e| e.to_string())?;
        let text = std::str::from_utf8(secret.expose())
            .map_err(|_| format!("credential \"{name}\" is not UTF-8"))?;
        let uri = text.trim_end_matches(['\n', '\r']);
        if uri.starts_with(CREDENTIAL_PREFIX) {
            return Err(format!(
                "credential \"{name}\" names another credential; it must hold the URI itself"
            ));
        }
        uri.parse().map_err(|_| {
            format!(
                "credential \"{name}\" does not hold a usable device URI (file:///DIR or device:///dev/...)"
            )
        })
    }
}

impl<'de> Deserialize<'de> for DeviceUri {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.strip_prefix(CREDENTIAL_PREFIX) {
            Some(name) => DeviceUri::from_credential(name),
            None => text.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}
