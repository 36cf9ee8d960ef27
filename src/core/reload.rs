//! Applying a new printer list (SIGHUP reload, USB hot-plug) without
//! dropping jobs or connections.

use super::queue::Queue;
use super::{Event, Spooler};
use crate::config::PrinterConfig;

impl Spooler {
    /// Adds new queues, updates changed ones and removes queues no longer
    /// listed. Jobs of a removed queue stay in the table (and the spool)
    /// and print if the queue comes back.
    pub fn reconfigure(&self, printers: &[PrinterConfig], default_printer: &str) {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut stopped_workers = Vec::new();
        {
            let mut state = self.lock();
            state.default_printer = default_printer.to_string();
            state.queues.retain_mut(|queue| {
                let keep = queue.hotplugged || printers.iter().any(|p| p.name == queue.name());
                if !keep {
                    removed.push(queue.name().to_string());
                    stopped_workers.extend(queue.stop_worker());
                }
                keep
            });
            for config in printers {
                match state.queue_mut(&config.name) {
                    Some(queue) if queue.config() != config => queue.reconfigure(config),
                    Some(_) => {}
                    None => {
                        state.queues.push(Queue::new(config));
                        added.push(config.name.clone());
                    }
                }
            }
            // Keep configuration order so the listing is predictable.
            state
                .queues
                .sort_by_key(|q| printers.iter().position(|p| p.name == q.name()));
        }
        for name in &added {
            self.spawn_worker(name);
            tracing::info!(printer = %name, "printer added");
            self.emit(Event::PrinterAdded(name.clone()));
        }
        for name in removed {
            tracing::info!(printer = %name, "printer removed");
            self.emit(Event::PrinterRemoved(name));
        }
        drop(stopped_workers);
    }

    /// Hot-plug (USB): creates the queue for a device that appeared, or
    /// brings the existing one (same name: same model and serial number)
    /// back online so its pending jobs print.
    pub fn add_device_printer(&self, config: PrinterConfig, device_id: Option<String>) {
        let info = {
            let mut state = self.lock();
            match state.queue_mut(&config.name) {
                Some(queue) => {
                    if queue.config() != &config {
                        queue.reconfigure(&config);
                    }
                    queue.set_device_id(device_id);
                    queue.set_offline(None);
                    queue.wake();
                    let default = state.default_printer.clone();
                    state
                        .queue(&config.name)
                        .map(|q| q.info(q.name() == default, 0))
                }
                None => {
                    state.queues.push(Queue::hotplugged(&config, device_id));
                    None
                }
            }
        };
        match info {
            Some(info) => {
                tracing::info!(printer = %config.name, "printer is back");
                self.emit_printer(&info);
            }
            None => {
                self.spawn_worker(&config.name);
                tracing::info!(printer = %config.name, device = %config.device_uri, "printer plugged in");
                self.emit(Event::PrinterAdded(config.name.clone()));
            }
        }
    }

    /// Hot-plug (USB): the device went away. The queue stops with
    /// `offline-report`; a job printing now fails its next write and goes
    /// back to pending (see the worker), so nothing is lost.
    pub fn device_gone(&self, name: &str, reason: &str) {
        let info = {
            let mut state = self.lock();
            let Some(queue) = state.queue_mut(name) else {
                return;
            };
            queue.set_offline(Some(reason.to_string()));
            let default = state.default_printer.clone();
            state.queue(name).map(|q| q.info(q.name() == default, 0))
        };
        tracing::info!(printer = %name, "printer unplugged: {reason}");
        if let Some(info) = info {
            self.emit_printer(&info);
        }
    }
}
