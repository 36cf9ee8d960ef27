//! What the daemon runs with: the command line over the configuration file
//! over the [`crate::paths`] defaults, resolved once at start and again,
//! for what a reload may change, on SIGHUP.

use std::path::PathBuf;
use std::time::Duration;

use super::DaemonError;
use crate::cli::Cli;
use crate::config::{Config, ConfigError};
use crate::core::{CoreOptions, Spooler};
use crate::paths::{default_listen, default_spool_dir};
use crate::sources::dbus::Bus;
use crate::sources::dropdir;

/// Everything resolved from the command line, the configuration and the
/// environment, before anything starts.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub spool_dir: PathBuf,
    pub listen: Vec<String>,
    pub idle_exit: Option<Duration>,
    /// `--idle-exit` wins over the file, also after a reload.
    idle_exit_override: Option<u64>,
    /// Which bus to offer the D-Bus service on, if any.
    pub bus: Option<Bus>,
}

impl DaemonSettings {
    pub fn resolve(cli: &Cli) -> Result<DaemonSettings, DaemonError> {
        let (config, config_path) = Config::load_default_or(cli.config.as_deref())?;
        let spool_dir = cli
            .spool_dir
            .clone()
            .or_else(|| config.server.spool_dir.clone())
            .unwrap_or_else(default_spool_dir);
        let listen = if !cli.listen.is_empty() {
            cli.listen.clone()
        } else if !config.server.listen.is_empty() {
            config.server.listen.clone()
        } else {
            default_listen()
        };
        let idle_secs = cli.idle_exit.unwrap_or(config.server.idle_exit_after);
        Ok(DaemonSettings {
            idle_exit: (idle_secs > 0).then(|| Duration::from_secs(idle_secs)),
            idle_exit_override: cli.idle_exit,
            bus: if cli.no_dbus {
                None
            } else if cli.session_bus {
                Some(Bus::Session)
            } else {
                Some(Bus::System)
            },
            config,
            config_path,
            spool_dir,
            listen,
        })
    }

    /// The drop directory, unless turned off.
    pub fn drop_dir(&self) -> Option<dropdir::DropDirLayout> {
        if self.config.dropdir.disabled {
            return None;
        }
        let incoming = self
            .config
            .dropdir
            .dir
            .clone()
            .unwrap_or_else(|| self.spool_dir.join("incoming"));
        Some(dropdir::DropDirLayout::beside(&incoming))
    }

    pub fn core_options(&self) -> CoreOptions {
        CoreOptions {
            spool_dir: self.spool_dir.clone(),
            printers: self.config.effective_printers(&self.spool_dir),
            default_printer: self.config.default_printer_name(),
            max_document_bytes: self.config.server.limits.max_document_bytes,
        }
    }

    /// Re-reads the configuration; a bad one keeps the old (and says why).
    pub fn reload(&mut self, spooler: &Spooler) -> Result<(), ConfigError> {
        let config = match &self.config_path {
            Some(path) => Config::load(path),
            None => Config::load_default_or(None).map(|(config, _)| config),
        };
        let config = match config {
            Ok(config) => config,
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e}");
                return Err(e);
            }
        };
        spooler.reconfigure(
            &config.effective_printers(&self.spool_dir),
            &config.default_printer_name(),
        );
        apply_job_settings(&config, spooler);
        if config.server.listen != self.config.server.listen
            || config
                .server
                .limits
                .differs_until_restart(&self.config.server.limits)
        {
            tracing::warn!("listen addresses and connection limits apply at the next start");
        }
        let idle_secs = self
            .idle_exit_override
            .unwrap_or(config.server.idle_exit_after);
        self.idle_exit = (idle_secs > 0).then(|| Duration::from_secs(idle_secs));
        self.config = config;
        tracing::info!("configuration reloaded");
        Ok(())
    }
}

/// The settings of the job core that a reload applies at once.
pub fn apply_job_settings(config: &Config, spooler: &Spooler) {
    spooler.set_history_limit(config.history.max_jobs_in_memory);
    spooler.set_job_private_values(config.server.job_private_values);
    spooler.set_job_limits((&config.server.limits).into());
}
