//! Configuration: `/etc/printspoold/printspoold.toml`, parsed once into typed
//! structs. Every key is optional; unknown keys and bad values are refused
//! with the file, the line and a clear message.
//!
//! One file per section, as ntpd-rs does: `server` (sockets, spool, limits,
//! idle exit), `printers` (the queues), `intake` (the drop directory),
//! `history` (retention for `printspoold cleanup`).

mod error;
mod history;
mod intake;
mod printers;
mod server;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use error::ConfigError;
pub use history::HistoryConfig;
pub use intake::IntakeConfig;
pub use printers::{DeviceUri, PrinterConfig, is_valid_queue_name};
pub use server::{JobPrivateValues, Limits, ServerConfig};

/// The system-wide configuration file read when `--config` is not given.
pub const SYSTEM_CONFIG: &str = "/etc/printspoold/printspoold.toml";

/// The whole configuration. `Default` is the built-in one: the daemon works
/// with no file at all.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub intake: IntakeConfig,
    pub history: HistoryConfig,
    #[serde(rename = "printer")]
    pub printers: Vec<PrinterConfig>,
}

impl Config {
    /// Parses `text` as read from `path` (used in error messages only).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::syntax(path, text, &e))?;
        config.validate(path, text)?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Loads the configuration the daemon should run with: the given file
    /// (which must exist), else the system file when it exists, else the
    /// built-in defaults.
    pub fn load_default_or(
        explicit: Option<&Path>,
    ) -> Result<(Config, Option<PathBuf>), ConfigError> {
        if let Some(path) = explicit {
            return Ok((Config::load(path)?, Some(path.to_path_buf())));
        }
        let system = Path::new(SYSTEM_CONFIG);
        match std::fs::metadata(system) {
            Ok(_) => Ok((Config::load(system)?, Some(system.to_path_buf()))),
            Err(_) => Ok((Config::default(), None)),
        }
    }

    /// Checks that hold across sections (names unique, default exists).
    fn validate(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        if let Err((keys, message)) = self.server.limits.check() {
            return Err(error::at_key(path, text, keys, message));
        }
        let mut seen = std::collections::BTreeSet::new();
        for printer in &self.printers {
            if !seen.insert(printer.name.as_str()) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("printer \"{}\" is defined twice", printer.name),
                });
            }
        }
        if let Some(default) = &self.server.default_printer {
            let built_in = self.printers.is_empty() && default == printers::DEFAULT_QUEUE;
            if !built_in && !seen.contains(default.as_str()) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("default_printer \"{default}\" names no [[printer]]"),
                });
            }
        }
        Ok(())
    }

    /// The printers to run: the configured ones, or the built-in default
    /// queue printing to files under the spool directory.
    pub fn effective_printers(&self, spool_dir: &Path) -> Vec<PrinterConfig> {
        if self.printers.is_empty() {
            vec![PrinterConfig::builtin_default(spool_dir)]
        } else {
            self.printers.clone()
        }
    }

    /// The name of the default queue (`/ipp/print`).
    pub fn default_printer_name(&self) -> String {
        match (&self.server.default_printer, self.printers.first()) {
            (Some(name), _) => name.clone(),
            (None, Some(first)) => first.name.clone(),
            (None, None) => printers::DEFAULT_QUEUE.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
