//! Applying a new printer list (SIGHUP reload, USB hot-plug) without
//! dropping jobs or connections.
//!
//! A hot-plugged device never takes over a configured queue: the name its
//! device ID gives (`MDL:office;` gives `office`) is only a wish. When a
//! configured queue (or another device's queue) has that name, the device
//! gets `office-usb`, then `office-usb-2`, ..., and the log says so. A
//! device giving the same name again (the same model and serial number)
//! finds its own queue, whatever name it ended up with.

use super::queue::Queue;
use super::spooler::State;
use super::{Event, Spooler};
use crate::config::PrinterConfig;

/// Longest queue name the configuration allows.
const MAX_QUEUE_NAME: usize = 127;

/// What a device gets when the name its ID gives is taken.
const DEVICE_SUFFIX: &str = "-usb";

impl Spooler {
    /// Adds new queues, updates changed ones and removes queues no longer
    /// listed. Jobs of a removed queue stay in the table (and the spool)
    /// and print if the queue comes back.
    pub fn reconfigure(&self, printers: &[PrinterConfig], default_printer: &str) {
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut stopped_workers = Vec::new();
        let mut adopted = Vec::new();
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
                    Some(queue) if queue.hotplugged => {
                        queue.adopt_configuration(config);
                        adopted.push(config.name.clone());
                    }
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
        for name in &adopted {
            tracing::warn!(
                printer = ?name,
                "the configuration now names the hot-plugged queue {name:?}: it prints to the \
                 configured device; the USB printer gets another queue when plugged in again"
            );
        }
        for name in &added {
            self.restore_pause(name);
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
    /// brings its existing one back online so its pending jobs print.
    /// `config.name` is the name the device ID gives; the queue may get
    /// another (see the module documentation). Returns the queue's name.
    pub fn add_device_printer(&self, config: PrinterConfig, device_id: Option<String>) -> String {
        let wanted = config.name.clone();
        let (config, info) = {
            let mut state = self.lock();
            let name = device_queue_name(&state, &wanted);
            let config = PrinterConfig { name, ..config };
            let info = match state.queue_mut(&config.name) {
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
                    let queue = Queue::hotplugged(&config, device_id, &wanted);
                    state.queues.push(queue);
                    None
                }
            };
            (config, info)
        };
        let name = config.name.clone();
        if name != wanted {
            tracing::warn!(
                printer = ?name,
                wanted = ?wanted,
                "the USB printer's device ID names the queue {wanted:?}, which is taken; \
                 it gets the queue {name:?} instead"
            );
        }
        match info {
            Some(info) => {
                tracing::info!(printer = ?name, "printer is back");
                self.emit_printer(&info);
            }
            None => {
                self.restore_pause(&name);
                self.spawn_worker(&name);
                tracing::info!(printer = ?name, device = %config.device_uri, "printer plugged in");
                self.emit(Event::PrinterAdded(name.clone()));
            }
        }
        name
    }

    /// Hot-plug (USB): the device went away. The queue stops with
    /// `offline-report`; a job printing now fails its next write and goes
    /// back to pending (see the worker), so nothing is lost. A configured
    /// queue is not the device's and is left alone.
    pub fn device_gone(&self, name: &str, reason: &str) {
        let info = {
            let mut state = self.lock();
            let Some(queue) = state.queue_mut(name).filter(|q| q.hotplugged) else {
                return;
            };
            queue.set_offline(Some(reason.to_string()));
            let default = state.default_printer.clone();
            state.queue(name).map(|q| q.info(q.name() == default, 0))
        };
        tracing::info!(printer = ?name, "printer unplugged: {reason}");
        if let Some(info) = info {
            self.emit_printer(&info);
        }
    }

    /// A new queue starts paused when an administrator paused a queue of
    /// that name before. Called before its worker starts, so not one job
    /// slips out; never with the state locked (the spool takes the state
    /// lock while recording a pause).
    fn restore_pause(&self, name: &str) {
        if !self.inner.spool.is_printer_paused(name) {
            return;
        }
        if let Some(queue) = self.lock().queue_mut(name) {
            queue.set_paused(true);
        }
        tracing::info!(printer = ?name, "printer paused (since before it was last seen)");
    }
}

/// The queue for a device whose ID gives the name `wanted`: the queue that
/// device had before, else the first of `wanted`, `wanted-usb`,
/// `wanted-usb-2`, ... that no queue has.
fn device_queue_name(state: &State, wanted: &str) -> String {
    if let Some(own) = state
        .queues
        .iter()
        .find(|queue| queue.plugged_as() == Some(wanted))
    {
        return own.name().to_string();
    }
    (1..)
        .map(|n| candidate_name(wanted, n))
        .find(|name| state.queue(name).is_none())
        .unwrap_or_else(|| wanted.to_string())
}

/// The `n`th name to try for `wanted` (1: itself), at most
/// [`MAX_QUEUE_NAME`] bytes.
fn candidate_name(wanted: &str, n: u32) -> String {
    let suffix = match n {
        1 => return wanted.to_string(),
        2 => DEVICE_SUFFIX.to_string(),
        n => format!("{DEVICE_SUFFIX}-{}", n - 1),
    };
    let room = MAX_QUEUE_NAME.saturating_sub(suffix.len());
    // Device-derived names are ASCII (see `sources/usb/device_id.rs`); a
    // cut inside a character would only shorten it further.
    let mut cut = wanted.len().min(room);
    while !wanted.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &wanted[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_name_then_suffixed_and_bounded() {
        assert_eq!(candidate_name("office", 1), "office");
        assert_eq!(candidate_name("office", 2), "office-usb");
        assert_eq!(candidate_name("office", 3), "office-usb-2");
        assert_eq!(candidate_name("office", 11), "office-usb-10");
        let long = "x".repeat(MAX_QUEUE_NAME);
        assert_eq!(candidate_name(&long, 1).len(), MAX_QUEUE_NAME);
        let second = candidate_name(&long, 3);
        assert_eq!(second.len(), MAX_QUEUE_NAME);
        assert!(second.ends_with("x-usb-2"), "{second}");
    }
}
