//! Hot-plug: a USB printer plugged in becomes a queue
//! ([`Spooler::add_device_printer`]) and one unplugged goes offline
//! ([`Spooler::device_gone`]), without dropping its jobs.
//!
//! A hot-plugged device never takes over a configured queue: the name its
//! device ID gives (`MDL:office;` gives `office`) is only a wish. When a
//! configured queue (or another device's queue) has that name, the device
//! gets `office-usb`, then `office-usb-2`, ..., and the log says so. A
//! device giving the same name again (the same model and serial number)
//! finds its own queue, whatever name it ended up with.

use super::Event;
use super::spooler::Spooler;
use super::state::{CoreState, DevicePlug};
use crate::config::PrinterConfig;

/// Longest queue name the configuration allows.
const MAX_QUEUE_NAME: usize = 127;

/// What a device gets when the name its ID gives is taken.
const DEVICE_SUFFIX: &str = "-usb";

impl Spooler {
    /// Hot-plug (USB): creates the queue for a device that appeared, or
    /// brings its existing one back online so its pending jobs print.
    /// `config.name` is the name the device ID gives; the queue may get
    /// another (see the module documentation). Returns the queue's name.
    pub fn add_device_printer(&self, config: PrinterConfig, device_id: Option<String>) -> String {
        let wanted = config.name.clone();
        let (config, plugged) = {
            let mut state = self.lock();
            let name = device_queue_name(&state, &wanted);
            let config = PrinterConfig { name, ..config };
            let plugged = state.plug_device(&config, device_id, &wanted);
            (config, plugged)
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
        match plugged {
            DevicePlug::Returned(info) => {
                tracing::info!(printer = ?name, "printer is back");
                if let Some(info) = info {
                    self.emit(&*info);
                }
            }
            DevicePlug::Added => {
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
        let Some(info) = self.lock().unplug_device(name, reason) else {
            return;
        };
        tracing::info!(printer = ?name, "printer unplugged: {reason}");
        if let Some(info) = info {
            self.emit(&info);
        }
    }
}

/// The queue for a device whose ID gives the name `wanted`: the queue that
/// device had before, else the first of `wanted`, `wanted-usb`,
/// `wanted-usb-2`, ... that no queue has.
fn device_queue_name(state: &CoreState, wanted: &str) -> String {
    if let Some(own) = state.queue_plugged_as(wanted) {
        return own.to_string();
    }
    (1..)
        .map(|n| candidate_name(wanted, n))
        .find(|name| !state.has_queue(name))
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
