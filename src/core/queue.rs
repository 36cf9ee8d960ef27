//! [`PrinterQueue`]: one print queue's configuration, backend, state and
//! worker handle, with the rules that keep them consistent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::job::JobId;
use super::printer::{PrinterInfo, PrinterState};
use crate::backend::{self, Backend};
use crate::clock::unix_now;
use crate::config::PrinterConfig;
use crate::docformat;

pub struct PrinterQueue {
    config: PrinterConfig,
    backend: Arc<dyn Backend>,
    /// Pause-Printer: jobs are accepted but none starts printing.
    paused: bool,
    /// Why the device is unreachable, while it is.
    offline: Option<String>,
    /// Why the spool cannot record this queue's jobs, while it cannot:
    /// `printer-state-reasons` keyword and message (see the worker).
    spool_trouble: Option<(&'static str, String)>,
    /// The job printing now and its cancel flag.
    current: Option<(JobId, Arc<AtomicBool>)>,
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    state_changed_at: u64,
    up_since: u64,
    /// IEEE 1284 device ID, for hot-plugged USB printers.
    device_id: Option<String>,
    /// Hot-plugged (not from the configuration file): a reload keeps it.
    hotplugged: bool,
    /// The name derived from the device ID, for a hot-plugged queue.
    device_name: Option<String>,
}

impl PrinterQueue {
    pub fn new(config: &PrinterConfig) -> PrinterQueue {
        PrinterQueue {
            backend: backend::for_uri(&config.device_uri),
            config: config.clone(),
            paused: false,
            offline: None,
            spool_trouble: None,
            current: None,
            wake: Arc::new(Notify::new()),
            stop: Arc::new(AtomicBool::new(false)),
            worker: None,
            state_changed_at: unix_now(),
            up_since: unix_now(),
            device_id: None,
            hotplugged: false,
            device_name: None,
        }
    }

    /// A queue as the spool remembers it: paused if an administrator
    /// paused it before the restart (see [`crate::spool::Spool::is_printer_paused`]).
    pub fn restored(config: &PrinterConfig, paused: bool) -> PrinterQueue {
        let mut queue = PrinterQueue::new(config);
        queue.paused = paused;
        if paused {
            tracing::info!(printer = %config.name, "printer paused (since before the restart)");
        }
        queue
    }

    /// A queue for a hot-plugged device; `base` is the name its device ID
    /// gave (see [`PrinterQueue::plugged_as`]).
    pub fn hotplugged(
        config: &PrinterConfig,
        device_id: Option<String>,
        base: &str,
    ) -> PrinterQueue {
        let mut queue = PrinterQueue::new(config);
        queue.device_id = device_id;
        queue.hotplugged = true;
        queue.device_name = Some(base.to_string());
        queue
    }

    /// For a hot-plugged queue, the name its device ID gave: the queue is
    /// the one for a device giving that name again (the same model and
    /// serial number), even when a collision made its own name differ.
    /// `None` for a configured queue, which no device may take over.
    pub fn plugged_as(&self) -> Option<&str> {
        self.device_name.as_deref()
    }

    pub fn set_device_id(&mut self, device_id: Option<String>) {
        self.device_id = device_id;
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &PrinterConfig {
        &self.config
    }

    pub fn backend(&self) -> Arc<dyn Backend> {
        Arc::clone(&self.backend)
    }

    /// The configuration names this hot-plugged queue: from now on it is a
    /// configured queue, and the device gets another name when it comes
    /// back (a device never takes over a configured queue).
    pub fn adopt_configuration(&mut self, config: &PrinterConfig) {
        self.hotplugged = false;
        self.device_name = None;
        self.device_id = None;
        self.reconfigure(config);
    }

    /// Applies a changed configuration (reload) without touching jobs.
    pub fn reconfigure(&mut self, config: &PrinterConfig) {
        if config.device_uri != self.config.device_uri {
            self.backend = backend::for_uri(&config.device_uri);
            self.offline = None;
        }
        self.config = config.clone();
        self.touch();
    }

    pub fn accepting_jobs(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    pub fn can_print(&self) -> bool {
        !self.paused && self.offline.is_none() && !self.stop.load(Ordering::Relaxed)
    }

    pub fn is_stopped(&self) -> bool {
        self.paused || self.offline.is_some() || self.spool_trouble.is_some()
    }

    pub fn is_offline(&self) -> bool {
        self.offline.is_some()
    }

    pub fn set_paused(&mut self, paused: bool) {
        if self.paused != paused {
            self.paused = paused;
            self.touch();
        }
    }

    pub fn set_offline(&mut self, reason: Option<String>) {
        if self.offline != reason {
            self.offline = reason;
            self.touch();
        }
    }

    /// Sets or clears the spool trouble; returns whether that changed.
    pub fn set_spool_trouble(&mut self, trouble: Option<(&'static str, String)>) -> bool {
        if self.spool_trouble == trouble {
            return false;
        }
        self.spool_trouble = trouble;
        self.touch();
        true
    }

    pub fn set_current(&mut self, current: Option<(JobId, Arc<AtomicBool>)>) {
        self.current = current;
        self.touch();
    }

    /// Raises the cancel flag of job `id` if it is the one printing.
    pub fn cancel_current(&self, id: JobId) {
        if let Some((current, flag)) = &self.current
            && *current == id
        {
            flag.store(true, Ordering::SeqCst);
        }
    }

    pub fn wake(&self) {
        // notify_one stores a permit, so a wake before the worker waits is
        // not lost.
        self.wake.notify_one();
    }

    /// Hot-plugged (not from the configuration file).
    pub fn is_hotplugged(&self) -> bool {
        self.hotplugged
    }

    /// What the worker waits on: its wake-up and its stop flag.
    pub fn worker_signals(&self) -> (Arc<Notify>, Arc<AtomicBool>) {
        (Arc::clone(&self.wake), Arc::clone(&self.stop))
    }

    pub fn set_worker(&mut self, worker: JoinHandle<()>) {
        self.worker = Some(worker);
    }

    /// Tells the worker to stop after (interrupting) its current job and
    /// hands back its handle to await.
    pub fn stop_worker(&mut self) -> Option<JoinHandle<()>> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some((_, flag)) = &self.current {
            flag.store(true, Ordering::SeqCst);
        }
        self.wake.notify_one();
        self.worker.take()
    }

    fn touch(&mut self) {
        self.state_changed_at = unix_now();
    }

    pub fn info(&self, is_default: bool, queued_jobs: usize) -> PrinterInfo {
        let (state, reason) = if self.paused {
            (PrinterState::Stopped, "paused")
        } else if self.offline.is_some() {
            (PrinterState::Stopped, "offline-report")
        } else if let Some((reason, _)) = &self.spool_trouble {
            (PrinterState::Stopped, *reason)
        } else if self.current.is_some() {
            (PrinterState::Processing, "none")
        } else {
            (PrinterState::Idle, "none")
        };
        let message = match (&self.offline, self.paused, &self.spool_trouble) {
            (_, true, _) => "paused by an administrator".to_string(),
            (Some(why), false, _) => why.clone(),
            (None, false, Some((_, why))) => why.clone(),
            (None, false, None) => String::new(),
        };
        let config = &self.config;
        PrinterInfo {
            name: config.name.clone(),
            is_default,
            info: config.info.clone().unwrap_or_else(|| config.name.clone()),
            location: config.location.clone().unwrap_or_default(),
            make_and_model: config
                .make_and_model
                .clone()
                .unwrap_or_else(|| "printspoold generic printer".to_string()),
            device_uri: config.device_uri.to_string(),
            device_id: self.device_id.clone(),
            formats: config
                .formats
                .clone()
                .unwrap_or_else(|| docformat::SUPPORTED.iter().map(|s| s.to_string()).collect()),
            state,
            reasons: vec![reason.to_string()],
            message,
            accepting_jobs: self.accepting_jobs(),
            queued_jobs,
            state_changed_at: self.state_changed_at,
            up_since: self.up_since,
        }
    }
}
