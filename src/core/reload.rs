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
                let keep = printers.iter().any(|p| p.name == queue.name());
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
}
