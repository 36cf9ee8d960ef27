//! Queues and printers: listing them ([`Spooler::printers`]), pausing and
//! resuming ([`Spooler::pause`], [`Spooler::resume`]), Identify-Printer,
//! and applying a new printer list on reload ([`Spooler::reconfigure`])
//! without dropping jobs or connections.

use super::Event;
use super::access::Requester;
use super::error::CoreError;
use super::printer::PrinterInfo;
use super::spooler::Spooler;
use crate::config::PrinterConfig;

impl Spooler {
    /// Every queue, default first.
    pub fn printers(&self) -> Vec<PrinterInfo> {
        self.lock().printers()
    }

    /// One queue by name.
    pub fn printer(&self, name: &str) -> Option<PrinterInfo> {
        self.lock().printer(name)
    }

    /// The name of the default queue (`/ipp/print`).
    pub fn default_printer(&self) -> String {
        self.lock().default_printer().to_string()
    }

    /// Stops a queue from printing (jobs are still accepted). Admin only.
    pub fn pause(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        self.set_paused(printer, requester, true)
    }

    pub fn resume(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        self.set_paused(printer, requester, false)
    }

    fn set_paused(
        &self,
        printer: &str,
        requester: &Requester,
        paused: bool,
    ) -> Result<PrinterInfo, CoreError> {
        if !requester.is_verified_admin() {
            return Err(CoreError::AdminOnly(if paused {
                "pause a printer"
            } else {
                "resume a printer"
            }));
        }
        if !self.lock().has_queue(printer) {
            return Err(CoreError::UnknownPrinter(printer.to_string()));
        }
        // On disk first: an acknowledged pause must hold after a restart.
        let mut info = None;
        self.spool().set_printer_paused(printer, paused, || {
            info = self.lock().set_paused(printer, paused);
        })?;
        let info = info.ok_or_else(|| CoreError::UnknownPrinter(printer.to_string()))?;
        self.emit(&info);
        if !paused {
            self.lock().wake(printer);
        }
        tracing::info!(printer, by = %requester.user, paused, "printer {}", if paused { "paused" } else { "resumed" });
        Ok(info)
    }

    /// Identify-Printer: asks the backend to make itself noticed.
    pub fn identify(&self, printer: &str) -> Result<(), CoreError> {
        let backend = self
            .lock()
            .backend(printer)
            .ok_or_else(|| CoreError::UnknownPrinter(printer.to_string()))?;
        backend
            .identify()
            .map_err(|e| CoreError::NotPossible(format!("identify {printer}: {e}")))
    }

    /// Applies a new printer list (SIGHUP reload): adds new queues, updates
    /// changed ones and removes queues no longer listed. Jobs of a removed
    /// queue stay in the table (and the spool) and print if the queue comes
    /// back. Hot-plugged queues stay, unless the configuration now names
    /// one: then it becomes a configured queue.
    pub fn reconfigure(&self, printers: &[PrinterConfig], default_printer: &str) {
        let change = self.lock().reconfigure(printers, default_printer);
        for name in &change.adopted {
            tracing::warn!(
                printer = ?name,
                "the configuration now names the hot-plugged queue {name:?}: it prints to the \
                 configured device; the USB printer gets another queue when plugged in again"
            );
        }
        for name in &change.added {
            self.restore_pause(name);
            self.spawn_worker(name);
            tracing::info!(printer = %name, "printer added");
            self.emit(Event::PrinterAdded(name.clone()));
        }
        for name in change.removed {
            tracing::info!(printer = %name, "printer removed");
            self.emit(Event::PrinterRemoved(name));
        }
        drop(change.stopped_workers);
    }

    /// A new queue starts paused when an administrator paused a queue of
    /// that name before. Called before its worker starts, so not one job
    /// slips out; never with the state locked (the spool takes the state
    /// lock while recording a pause).
    pub(super) fn restore_pause(&self, name: &str) {
        if !self.spool().is_printer_paused(name) {
            return;
        }
        self.lock().set_paused(name, true);
        tracing::info!(printer = ?name, "printer paused (since before it was last seen)");
    }
}
