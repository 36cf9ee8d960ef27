//! Configuration: `/etc/printspoold/printspoold.toml`, parsed once into typed
//! structs. Every key is optional; unknown keys and bad values are refused
//! with the file, the line and a clear message.
//!
//! One file per section, as ntpd-rs does: `server` (sockets, spool, limits,
//! idle exit), `printers` (the queues), `dropdir` (the drop directory),
//! `history` (retention for `printspoold cleanup`).
//!
//! A section that is renamed keeps its old name for one release: the file
//! still loads, and [`Config::load`] logs a [`DeprecatedSection`] warning
//! naming the file, the line and the new name.

mod dropdir;
mod error;
mod history;
mod printers;
mod server;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use dropdir::DropDirConfig;
pub use error::ConfigError;
pub use history::HistoryConfig;
pub use printers::{DeviceUri, PrinterConfig, is_valid_queue_name};
pub use server::{JobPrivateValues, ServerConfig, ServerLimits};

/// The system-wide configuration file read when `--config` is not given.
pub const SYSTEM_CONFIG: &str = "/etc/printspoold/printspoold.toml";

/// The whole configuration. `Default` is the built-in one: the daemon works
/// with no file at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub dropdir: DropDirConfig,
    pub history: HistoryConfig,
    pub printers: Vec<PrinterConfig>,
}

/// The file as written: [`Config`]'s sections, plus the old names still
/// accepted for a release. Spans give the lines for warnings and errors.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ConfigFile {
    server: ServerConfig,
    dropdir: Option<Spanned<DropDirConfig>>,
    /// `[dropdir]` before it was renamed.
    intake: Option<Spanned<DropDirConfig>>,
    history: HistoryConfig,
    #[serde(rename = "printer")]
    printers: Vec<PrinterConfig>,
}

/// A section the file sets under its old name, which still works for this
/// release; shown as a warning that says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecatedSection {
    pub path: PathBuf,
    pub line: usize,
    /// The name the file uses, e.g. `intake`.
    pub old: &'static str,
    /// The name to use, e.g. `dropdir`.
    pub new: &'static str,
}

impl fmt::Display for DeprecatedSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] is deprecated and will be refused in the next release; \
             use [{}] (same keys)",
            self.path.display(),
            self.line,
            self.old,
            self.new
        )
    }
}

impl Config {
    /// Parses `text` as read from `path` (used in messages only). Returns
    /// the configuration and the old section names the file still uses,
    /// for the caller to report (see [`Config::load`]).
    pub fn parse(text: &str, path: &Path) -> Result<(Config, Vec<DeprecatedSection>), ConfigError> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::syntax(path, text, &e))?;
        let mut deprecated = Vec::new();
        let dropdir = dropdir_section(file.dropdir, file.intake, path, text, &mut deprecated)?;
        let config = Config {
            server: file.server,
            dropdir,
            history: file.history,
            printers: file.printers,
        };
        config.validate(path, text)?;
        Ok((config, deprecated))
    }

    /// Reads and parses `path`, and logs a warning for each old section
    /// name it uses (before logging is set up, as for `--check-config`, the
    /// warning goes straight to stderr).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (config, deprecated) = Config::parse(&text, path)?;
        for section in &deprecated {
            crate::logging::warning(&section.to_string());
        }
        Ok(config)
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

/// `[dropdir]`, or the same section under its old name `[intake]` (then
/// noted in `deprecated`). Both at once is an error naming the old one's
/// line: which should win is not ours to guess.
fn dropdir_section(
    dropdir: Option<Spanned<DropDirConfig>>,
    intake: Option<Spanned<DropDirConfig>>,
    path: &Path,
    text: &str,
    deprecated: &mut Vec<DeprecatedSection>,
) -> Result<DropDirConfig, ConfigError> {
    match (dropdir, intake) {
        (Some(_), Some(old)) => Err(ConfigError::Syntax {
            path: path.to_path_buf(),
            line: error::line_of(text, old.span().start),
            message: "[intake] is the old name of [dropdir] and the file sets both: \
                      move its keys into [dropdir]"
                .to_string(),
        }),
        (Some(section), None) => Ok(section.into_inner()),
        (None, Some(old)) => {
            deprecated.push(DeprecatedSection {
                path: path.to_path_buf(),
                line: error::line_of(text, old.span().start),
                old: "intake",
                new: "dropdir",
            });
            Ok(old.into_inner())
        }
        (None, None) => Ok(DropDirConfig::default()),
    }
}

#[cfg(test)]
mod tests;
