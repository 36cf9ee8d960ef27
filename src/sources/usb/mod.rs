//! USB printers: **where a queue comes from when a printer is plugged in.**
//!
//! daemon(7) "Device-Based Activation": `udev/70-printspoold.rules` tags
//! every USB printer for systemd and adds `printspoold.service` to the
//! device's `SYSTEMD_WANTS`, so plugging a printer in starts the daemon.
//! Once running, this source:
//!
//! 1. opens a monitor socket for the kernel's `usbmisc` uevents *before*
//!    looking at what is present, so a printer arriving in between is not
//!    missed (kernel events, not udev's: see [`monitor`]);
//! 2. enumerates the `lp*` nodes of usblp whose USB interface is class 7
//!    (printer) and creates a queue for each (this also catches a printer
//!    that arrived while a previous instance was exiting on idle: systemd
//!    starts us again because the device still wants us);
//! 3. follows the events: `add` creates the queue or brings it back online
//!    once udev has set the node up (same model and serial number, same
//!    queue name, so pending jobs print);
//!    `remove` stops the queue with `offline-report`, and a job printing at
//!    that moment goes back to pending (its next write fails with ENODEV).
//!
//! Without udev (containers, where devices are not virtualized, or systems
//! without systemd-udevd) the source does nothing and says so at debug
//! level: the daemon runs everywhere.

mod device_id;
mod monitor;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use crate::config::{DeviceUri, PrinterConfig};
use crate::core::Spooler;
pub use device_id::{DeviceId, parse_device_id, queue_name};
use monitor::{Change, PrinterNode};

/// Why the USB source could not start.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    #[error("cannot listen to device events: {0}")]
    Monitor(#[source] std::io::Error),
    #[error("cannot list the USB printers present: {0}")]
    Enumerate(#[source] std::io::Error),
}

/// The running USB hot-plug source.
pub struct UsbSource {
    task: Option<JoinHandle<()>>,
}

impl UsbSource {
    /// Creates queues for the printers present and follows udev. Succeeds
    /// without doing anything when udev does not run here.
    pub async fn start(spooler: Spooler) -> Result<UsbSource, UsbError> {
        if !monitor::udev_is_running() {
            tracing::debug!(
                "udev is not running (no {}): USB printers are not followed",
                monitor::UDEV_CONTROL
            );
            return Ok(UsbSource { task: None });
        }
        // Listen first, then enumerate: an `add` in between is seen twice
        // at worst, and adding a printer twice is harmless.
        let socket = match follow_socket() {
            Ok(socket) => Some(socket),
            Err(e) => {
                // Printers present now still get their queues: a printer
                // that starts us through SYSTEMD_WANTS is served.
                tracing::warn!(
                    "{e}; USB printers are only looked for at start \
                     (does RestrictAddressFamilies= allow AF_NETLINK?)"
                );
                None
            }
        };
        let mut tracker = Tracker {
            spooler,
            plugged: HashMap::new(),
            ready_timeout: monitor::READY_TIMEOUT,
        };
        let present = monitor::present_printers().map_err(UsbError::Enumerate)?;
        tracker.reconcile(present).await;
        tracing::debug!(printers = tracker.plugged.len(), "USB printers present");
        let supervisor = tracker.spooler.supervisor().clone();
        Ok(UsbSource {
            task: socket.map(|socket| supervisor.spawn("USB tracker", tracker.follow(socket))),
        })
    }

    pub fn stop(self) {
        if let Some(task) = self.task {
            task.abort();
        }
    }
}

fn follow_socket() -> Result<AsyncFd<udev::MonitorSocket>, UsbError> {
    let socket = monitor::listen().map_err(UsbError::Monitor)?;
    // SAFETY: the monitor socket owns its descriptor and closes it only when
    // dropped, which happens when this AsyncFd (its owner) is dropped;
    // as_raw_fd always returns that same descriptor.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| UsbError::Monitor(e.into()))
}

/// Which printer node belongs to which queue.
struct Tracker {
    spooler: Spooler,
    /// usbmisc sysfs path (`/sys/.../usbmisc/lp0`) to queue name; a `remove`
    /// event carries only the path, the device ID is gone by then.
    plugged: HashMap<PathBuf, String>,
    /// How long a new node may wait for udev ([`monitor::READY_TIMEOUT`]).
    ready_timeout: std::time::Duration,
}

impl Tracker {
    async fn follow(mut self, mut socket: AsyncFd<udev::MonitorSocket>) {
        loop {
            // `_mut`: libudev objects may move between threads but must not
            // be shared, so the socket is never borrowed immutably here.
            let mut ready = match socket.readable_mut().await {
                Ok(ready) => ready,
                Err(e) => {
                    tracing::error!(
                        "udev monitor failed, USB printers are no longer followed: {e}"
                    );
                    return;
                }
            };
            let batch = monitor::drain(ready.get_inner_mut());
            if batch.drained {
                // Only once the socket said EAGAIN: tokio's readiness is
                // edge-triggered.
                ready.clear_ready();
            }
            drop(ready);
            for change in batch.changes {
                self.apply(change).await;
            }
            if batch.lost_events {
                // The kernel dropped messages (ENOBUFS): look again.
                tracing::warn!("udev events were lost; rescanning USB printers");
                match monitor::present_printers() {
                    Ok(present) => self.reconcile(present).await,
                    Err(e) => tracing::warn!("cannot list the USB printers present: {e}"),
                }
            }
            if batch.failed {
                tracing::error!("udev monitor keeps failing; USB printers are no longer followed");
                return;
            }
        }
    }

    async fn apply(&mut self, change: Change) {
        match change {
            Change::Added(node) => self.plug(node).await,
            Change::Removed(syspath) => self.unplug(&syspath),
        }
    }

    /// Makes the tracked set equal to what is present.
    async fn reconcile(&mut self, present: Vec<PrinterNode>) {
        let gone: Vec<PathBuf> = self
            .plugged
            .keys()
            .filter(|path| !present.iter().any(|node| &node.syspath == *path))
            .cloned()
            .collect();
        for syspath in gone {
            self.unplug(&syspath);
        }
        for node in present {
            if !self.plugged.contains_key(&node.syspath) {
                self.plug(node).await;
            }
        }
    }

    async fn plug(&mut self, node: PrinterNode) {
        if !monitor::wait_until_ready(&node, self.ready_timeout).await {
            tracing::debug!(device = %node.devnode.display(), "printer left before it was ready");
            return;
        }
        let raw = monitor::read_device_id(&node).await;
        let mut id = parse_device_id(raw.as_deref().unwrap_or_default());
        id.fill_missing(
            node.usb_manufacturer.as_deref(),
            node.usb_product.as_deref(),
            node.usb_serial.as_deref(),
        );
        let config = printer_config(&id, &node.devnode);
        tracing::info!(
            printer = ?config.name,
            device = %node.devnode.display(),
            device_id = ?id.raw,
            "USB printer present"
        );
        let device_id = (!id.raw.is_empty()).then_some(id.raw);
        // The core picks the queue: the device's own, or a fresh name when
        // the one its ID gives belongs to a configured queue.
        let name = self.spooler.add_device_printer(config, device_id);
        if let Some(old) = self.plugged.insert(node.syspath.clone(), name.clone())
            && old != name
        {
            // Same node, another printer: the old one left unnoticed.
            self.spooler
                .device_gone(&old, "replaced by another printer");
        }
    }

    fn unplug(&mut self, syspath: &Path) {
        let Some(name) = self.plugged.remove(syspath) else {
            return;
        };
        let node = syspath
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.spooler
            .device_gone(&name, &format!("USB printer unplugged ({node})"));
    }
}

/// Whether `name` is a queue name a device may have: 1 to 127 letters,
/// digits, `-` and `_` (stricter than the configuration's rule: no `.`, so
/// never `..`; no `/`; no control characters).
pub fn is_device_queue_name(name: &str) -> bool {
    (1..=device_id::MAX_QUEUE_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The queue for a printer that identified itself as `id`, printing to the
/// character device `devnode`.
pub fn printer_config(id: &DeviceId, devnode: &Path) -> PrinterConfig {
    let make_and_model = id
        .make_and_model()
        .unwrap_or_else(|| "Unknown USB printer".to_string());
    let mut name = queue_name(id);
    if !is_device_queue_name(&name) {
        // queue_name never gives one; a device's bytes must still never
        // reach a URI or a file name unchecked.
        name = "usb-printer".to_string();
    }
    PrinterConfig {
        name,
        device_uri: DeviceUri::Device(devnode.to_path_buf()),
        info: Some(make_and_model.clone()),
        location: None,
        make_and_model: Some(make_and_model),
        formats: Some(id.formats()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn config_of_the_virtual_printer() {
        let mut id = parse_device_id(b"MFG:Test;MDL:Virtual Printer;CMD:PDF,PWG;CLS:PRINTER;");
        id.fill_missing(Some("Test"), Some("Virtual Printer"), Some("SN1"));
        let config = printer_config(&id, Path::new("/dev/usb/lp0"));
        assert_eq!(config.name, "Test_Virtual_Printer_SN1");
        assert_eq!(
            config.device_uri,
            DeviceUri::Device(PathBuf::from("/dev/usb/lp0"))
        );
        assert_eq!(
            config.make_and_model.as_deref(),
            Some("Test Virtual Printer")
        );
        assert_eq!(
            config.formats.as_deref(),
            Some(
                &[
                    "application/pdf".to_string(),
                    "image/pwg-raster".to_string(),
                    "application/octet-stream".to_string()
                ][..]
            )
        );
    }

    #[test]
    fn config_of_a_printer_that_says_nothing() {
        let config = printer_config(&parse_device_id(b""), Path::new("/dev/usb/lp3"));
        assert_eq!(config.name, "usb-printer");
        assert_eq!(
            config.make_and_model.as_deref(),
            Some("Unknown USB printer")
        );
        assert_eq!(
            config.formats.as_deref(),
            Some(&["application/octet-stream".to_string()][..])
        );
    }

    fn spooler(dir: &Path) -> Spooler {
        let (spooler, _) = Spooler::start(crate::core::CoreOptions {
            spool_dir: dir.join("spool"),
            printers: vec![PrinterConfig::builtin_default(&dir.join("spool"))],
            default_printer: "default".to_string(),
            max_document_bytes: 1 << 20,
        })
        .unwrap();
        spooler
    }

    /// A printer node as sysfs would show it, with its device ID in a
    /// directory standing in for the USB interface.
    fn node(dir: &Path, lp: &str, device_id: &[u8]) -> PrinterNode {
        let interface = dir.join(format!("interface-{lp}"));
        std::fs::create_dir_all(&interface).unwrap();
        std::fs::write(interface.join("ieee1284_id"), device_id).unwrap();
        let syspath = dir.join(format!("usbmisc/{lp}"));
        std::fs::create_dir_all(&syspath).unwrap();
        PrinterNode {
            syspath,
            devnode: PathBuf::from(format!("/dev/usb/{lp}")),
            interface,
            usb_manufacturer: Some("Test".to_string()),
            usb_product: Some("Virtual Printer".to_string()),
            usb_serial: Some("SN1".to_string()),
        }
    }

    /// A node whose USB descriptors say nothing: the device ID alone
    /// names the printer.
    fn bare_node(dir: &Path, lp: &str, device_id: &[u8]) -> PrinterNode {
        PrinterNode {
            usb_manufacturer: None,
            usb_product: None,
            usb_serial: None,
            ..node(dir, lp, device_id)
        }
    }

    const GADGET_ID: &[u8] = b"MFG:Test;MDL:Virtual Printer;CMD:PDF,PWG;CLS:PRINTER;";

    #[tokio::test]
    async fn unplug_stops_the_queue_and_replug_brings_it_back() {
        let dir = TempDir::new("replug");
        let spooler = spooler(dir.path());
        let mut tracker = Tracker {
            spooler: spooler.clone(),
            plugged: HashMap::new(),
            // The stand-in nodes are never initialized by udev.
            ready_timeout: std::time::Duration::ZERO,
        };
        let name = "Test_Virtual_Printer_SN1";

        tracker.plug(node(dir.path(), "lp0", GADGET_ID)).await;
        let printer = spooler.printer(name).expect("queue created on plug");
        assert_eq!(printer.make_and_model, "Test Virtual Printer");
        assert_eq!(
            printer.device_id.as_deref(),
            Some(std::str::from_utf8(GADGET_ID).unwrap())
        );
        assert_eq!(printer.device_uri, "device:///dev/usb/lp0");
        assert_eq!(printer.state, crate::core::PrinterState::Idle);
        assert!(printer.formats.contains(&"application/pdf".to_string()));

        let lp0 = dir.path().join("usbmisc/lp0");
        std::fs::remove_dir(&lp0).unwrap();
        tracker.unplug(&lp0);
        let printer = spooler.printer(name).expect("queue kept after unplug");
        assert_eq!(printer.state, crate::core::PrinterState::Stopped);
        assert_eq!(printer.reasons, ["offline-report"]);
        assert!(tracker.plugged.is_empty());

        // Back on another node: same queue, online, new device.
        tracker.plug(node(dir.path(), "lp1", GADGET_ID)).await;
        let printer = spooler.printer(name).expect("same queue after replug");
        assert_eq!(printer.state, crate::core::PrinterState::Idle);
        assert_eq!(printer.reasons, ["none"]);
        assert_eq!(printer.device_uri, "device:///dev/usb/lp1");
        assert_eq!(spooler.printers().len(), 2);
    }

    #[tokio::test]
    async fn reconcile_follows_what_is_present() {
        let dir = TempDir::new("reconcile");
        let spooler = spooler(dir.path());
        let mut tracker = Tracker {
            spooler: spooler.clone(),
            plugged: HashMap::new(),
            // The stand-in nodes are never initialized by udev.
            ready_timeout: std::time::Duration::ZERO,
        };
        let first = node(dir.path(), "lp0", GADGET_ID);
        let mut second = node(dir.path(), "lp1", b"MFG:ACME;MDL:Jet;SN:42;");
        second.usb_serial = None;
        tracker.reconcile(vec![first.clone(), second]).await;
        assert!(spooler.printer("Test_Virtual_Printer_SN1").is_some());
        assert!(spooler.printer("ACME_Jet_42").is_some());

        tracker.reconcile(vec![first]).await;
        let gone = spooler.printer("ACME_Jet_42").unwrap();
        assert_eq!(gone.state, crate::core::PrinterState::Stopped);
        let kept = spooler.printer("Test_Virtual_Printer_SN1").unwrap();
        assert_eq!(kept.state, crate::core::PrinterState::Idle);
    }

    #[tokio::test]
    async fn a_printer_gone_before_it_was_ready_gets_no_queue() {
        let dir = TempDir::new("gone");
        let spooler = spooler(dir.path());
        let mut tracker = Tracker {
            spooler: spooler.clone(),
            plugged: HashMap::new(),
            ready_timeout: std::time::Duration::from_secs(5),
        };
        let node = node(dir.path(), "lp0", GADGET_ID);
        std::fs::remove_dir(&node.syspath).unwrap();
        tracker.plug(node).await;
        assert!(spooler.printer("Test_Virtual_Printer_SN1").is_none());
        assert!(tracker.plugged.is_empty());
    }

    /// A spooler with the configured queue `office`, printing to files.
    fn spooler_with_office(dir: &Path) -> Spooler {
        let spool = dir.join("spool");
        let office = PrinterConfig {
            name: "office".to_string(),
            device_uri: DeviceUri::File(dir.join("office-out")),
            info: None,
            location: None,
            make_and_model: None,
            formats: None,
        };
        let (spooler, _) = Spooler::start(crate::core::CoreOptions {
            spool_dir: spool.clone(),
            printers: vec![PrinterConfig::builtin_default(&spool), office],
            default_printer: "default".to_string(),
            max_document_bytes: 1 << 20,
        })
        .unwrap();
        spooler
    }

    #[test]
    fn device_derived_names_are_always_valid_queue_names() {
        for raw in [
            &b"MDL:office;"[..],
            b"MDL:../../office;",
            b"MFG:..;MDL:/;SN:\n\x1b[1m;",
            b"MDL:\x00\x01\x02;",
            b"MDL:.hidden;",
            b"MDL:a/b/../c;SN:..;",
        ] {
            let config = printer_config(&parse_device_id(raw), Path::new("/dev/usb/lp0"));
            assert!(
                is_device_queue_name(&config.name),
                "{raw:?} gave {:?}",
                config.name
            );
            // And the configuration's own rule accepts it.
            let table = format!("name = \"{}\"\ndevice_uri = \"file:///tmp\"\n", config.name);
            assert!(toml::from_str::<PrinterConfig>(&table).is_ok(), "{table}");
        }
        let office = printer_config(
            &parse_device_id(b"MDL:../../office;"),
            Path::new("/dev/usb/lp0"),
        );
        assert_eq!(office.name, "office");
    }

    #[tokio::test]
    async fn a_device_naming_a_configured_queue_gets_its_own_queue() {
        let dir = TempDir::new("takeover");
        let spooler = spooler_with_office(dir.path());
        let office_backend = spooler.printer("office").unwrap().device_uri;
        let mut tracker = Tracker {
            spooler: spooler.clone(),
            plugged: HashMap::new(),
            ready_timeout: std::time::Duration::ZERO,
        };
        let first = bare_node(dir.path(), "lp0", b"MDL:office;");
        let second = bare_node(dir.path(), "lp1", b"MDL:../../office;");

        tracker.plug(first.clone()).await;
        let office = spooler.printer("office").unwrap();
        assert_eq!(
            office.device_uri, office_backend,
            "configured queue taken over"
        );
        assert_eq!(office.device_id, None);
        let usb = spooler
            .printer("office-usb")
            .expect("the device's own queue");
        assert_eq!(usb.device_uri, "device:///dev/usb/lp0");
        assert_eq!(tracker.plugged[&first.syspath], "office-usb");

        // Unplugged and back: its own queue again, not `office`.
        tracker.unplug(&first.syspath);
        assert_eq!(
            spooler.printer("office").unwrap().state,
            crate::core::PrinterState::Idle,
            "unplugging the device stopped the configured queue"
        );
        tracker
            .plug(bare_node(dir.path(), "lp2", b"MDL:office;"))
            .await;
        assert_eq!(
            spooler.printer("office-usb").unwrap().device_uri,
            "device:///dev/usb/lp2"
        );
        assert!(spooler.printer("office-usb-2").is_none());

        // `../../office` gives the same wish: the same device model.
        tracker.plug(second).await;
        assert_eq!(
            spooler.printer("office-usb").unwrap().device_uri,
            "device:///dev/usb/lp1"
        );
        assert_eq!(
            spooler.printer("office").unwrap().device_uri,
            office_backend
        );
        assert_eq!(spooler.printers().len(), 3);

        // A different device that wants `office-usb` itself gets a free
        // name rather than the first device's queue.
        tracker
            .plug(bare_node(dir.path(), "lp3", b"MDL:office-usb;"))
            .await;
        assert_eq!(
            spooler.printer("office-usb-usb").unwrap().device_uri,
            "device:///dev/usb/lp3"
        );
        assert_eq!(
            spooler.printer("office-usb").unwrap().device_uri,
            "device:///dev/usb/lp1"
        );
    }

    /// Here (a container, a build machine) udev is usually absent: start
    /// must succeed and do nothing. Where udev runs, it must still succeed.
    #[tokio::test]
    async fn starts_anywhere() {
        let dir = TempDir::new("start");
        let spooler = spooler(dir.path());
        let source = UsbSource::start(spooler.clone()).await.unwrap();
        if !monitor::udev_is_running() {
            assert!(source.task.is_none());
            assert_eq!(spooler.printers().len(), 1);
        }
        source.stop();
    }
}
