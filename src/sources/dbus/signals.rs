//! Forwards the core's [`Event`]s to D-Bus signals, in order, from one
//! task. A printer added or removed also changes the `Printers` property,
//! so `PropertiesChanged` follows those.

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use zbus::object_server::InterfaceRef;

use super::interface::Spooler1;
use crate::core::Event;
use crate::supervisor::Supervisor;

/// Starts forwarding `events` through `iface` until the core closes the
/// channel or the task is aborted.
pub fn spawn_forwarder(
    supervisor: &Supervisor,
    iface: InterfaceRef<Spooler1>,
    events: broadcast::Receiver<Event>,
) -> JoinHandle<()> {
    supervisor.spawn("D-Bus signal forwarder", forward(iface, events))
}

async fn forward(iface: InterfaceRef<Spooler1>, mut events: broadcast::Receiver<Event>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                if let Err(e) = emit(&iface, &event).await {
                    // The bus is gone or full; the next event may get through.
                    tracing::warn!("cannot emit D-Bus signal for {event:?}: {e}");
                }
            }
            Err(RecvError::Lagged(missed)) => {
                // Signals are lost, not the state: clients re-read with
                // GetJob/ListJobs. Printers may have come or gone meanwhile.
                tracing::warn!("D-Bus signals fell behind; {missed} core events not signalled");
                if let Err(e) = printers_changed(&iface).await {
                    tracing::warn!("cannot emit PropertiesChanged: {e}");
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn emit(iface: &InterfaceRef<Spooler1>, event: &Event) -> zbus::Result<()> {
    let emitter = iface.signal_emitter();
    match event {
        Event::JobStateChanged { id, state, reasons } => {
            Spooler1::job_state_changed(emitter, *id, state.keyword(), reasons).await
        }
        Event::PrinterAdded(name) => {
            Spooler1::printer_added(emitter, name).await?;
            printers_changed(iface).await
        }
        Event::PrinterRemoved(name) => {
            Spooler1::printer_removed(emitter, name).await?;
            printers_changed(iface).await
        }
        Event::PrinterStateChanged {
            name,
            state,
            reasons,
        } => Spooler1::printer_state_changed(emitter, name, state.keyword(), reasons).await,
    }
}

async fn printers_changed(iface: &InterfaceRef<Spooler1>) -> zbus::Result<()> {
    iface
        .get()
        .await
        .printers_changed(iface.signal_emitter())
        .await
}
