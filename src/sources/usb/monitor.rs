//! Talking to udev and sysfs: which `lp*` nodes are printers, what they
//! call themselves, and what changed.
//!
//! Events are the kernel's uevents, read through libudev's monitor, not the
//! ones udev re-sends after running its rules: udev sends those only into
//! its own network namespace, so a service with `PrivateNetwork=yes` never
//! sees them (systemd.exec(5)), while the kernel sends device uevents into
//! every network namespace of the host. The price is that a kernel `add`
//! comes before udev gave `/dev/usb/lpN` its group `lp` and mode 0660, so a
//! new node is used only once udev has finished with it
//! ([`wait_until_ready`]); otherwise the first job would fail with EACCES.
//! Both ways need `AF_NETLINK` in `RestrictAddressFamilies=`.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::device_id::MAX_ID_BYTES;

/// Exists while systemd-udevd runs. Without udev nobody gives printer nodes
/// to group `lp`, and there are no USB devices anyway (containers).
pub(super) const UDEV_CONTROL: &str = "/run/udev/control";
/// udev's subsystem for usblp's character devices (and other USB misc ones).
const SUBSYSTEM: &str = "usbmisc";
/// USB interface class of printers.
const PRINTER_CLASS: &str = "07";
/// usblp's attribute on the USB interface: the cached device ID.
const ID_ATTRIBUTE: &str = "ieee1284_id";
/// The driver adds its attributes to the interface right after creating the
/// `lp` node: on an early `add` the attribute may not exist yet.
const ID_ATTEMPTS: u32 = 5;
const ID_RETRY: Duration = Duration::from_millis(100);
/// How long udev may take over a new node before it is used anyway.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(5);
const READY_POLL: Duration = Duration::from_millis(50);
/// usblp's own buffer size for the device ID (USBLP_DEVICE_ID_SIZE).
const IOCTL_ID_BYTES: usize = 1024;
/// Failed receives in one wake-up after which the monitor is given up
/// (the socket would otherwise spin).
const MAX_RECEIVE_ERRORS: u32 = 16;

/// A usblp printer node as udev shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PrinterNode {
    /// `/sys/.../usbmisc/lp0`: what a `remove` event names.
    pub syspath: PathBuf,
    /// `/dev/usb/lp0`.
    pub devnode: PathBuf,
    /// The USB interface usblp is bound to; holds `ieee1284_id`.
    pub interface: PathBuf,
    /// USB descriptors of the device, used where the device ID is silent.
    pub usb_manufacturer: Option<String>,
    pub usb_product: Option<String>,
    pub usb_serial: Option<String>,
}

/// What an event means for us.
#[derive(Debug)]
pub(super) enum Change {
    Added(PrinterNode),
    Removed(PathBuf),
}

/// What one wake-up of the monitor socket brought.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub changes: Vec<Change>,
    /// The socket answered EAGAIN: its readiness may be cleared.
    pub drained: bool,
    /// A receive failed (ENOBUFS: the kernel dropped messages).
    pub lost_events: bool,
    /// Receives keep failing: give up.
    pub failed: bool,
}

pub(super) fn udev_is_running() -> bool {
    Path::new(UDEV_CONTROL).exists()
}

/// A non-blocking socket for the kernel's usbmisc uevents (see the module
/// documentation for why not udev's).
pub(super) fn listen() -> io::Result<udev::MonitorSocket> {
    udev::MonitorBuilder::new_kernel()?
        .match_subsystem(SUBSYSTEM)?
        .listen()
}

/// The printers present now.
pub(super) fn present_printers() -> io::Result<Vec<PrinterNode>> {
    let mut enumerator = udev::Enumerator::new()?;
    enumerator.match_subsystem(SUBSYSTEM)?;
    enumerator.match_sysname("lp*")?;
    Ok(enumerator
        .scan_devices()?
        .filter_map(|device| printer_node(&device))
        .collect())
}

/// Receives every queued event.
pub(super) fn drain(socket: &udev::MonitorSocket) -> Batch {
    let mut batch = Batch::default();
    let mut errors = 0;
    let mut events = socket.iter();
    loop {
        match events.next() {
            Some(event) => batch.changes.extend(change(&event)),
            None => {
                // libudev returns NULL with errno set; nothing ran since.
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    batch.drained = true;
                    return batch;
                }
                tracing::debug!("udev monitor receive failed: {e}");
                batch.lost_events = true;
                errors += 1;
                if errors >= MAX_RECEIVE_ERRORS {
                    batch.failed = true;
                    return batch;
                }
            }
        }
    }
}

fn change(event: &udev::Event) -> Option<Change> {
    match event.event_type() {
        udev::EventType::Add => printer_node(&event.device()).map(Change::Added),
        udev::EventType::Remove => Some(Change::Removed(event.syspath().to_path_buf())),
        _ => None,
    }
}

/// The node if `device` is a usblp `lp*` node of a printer-class interface.
fn printer_node(device: &udev::Device) -> Option<PrinterNode> {
    if !device.sysname().to_string_lossy().starts_with("lp") {
        return None;
    }
    let devnode = device.devnode()?.to_path_buf();
    let interface = device
        .parent_with_subsystem_devtype("usb", "usb_interface")
        .ok()
        .flatten()?;
    if interface.attribute_value("bInterfaceClass") != Some(OsStr::new(PRINTER_CLASS)) {
        return None;
    }
    let usb = interface
        .parent_with_subsystem_devtype("usb", "usb_device")
        .ok()
        .flatten();
    let descriptor = |name: &str| {
        usb.as_ref()
            .and_then(|d| d.attribute_value(name))
            .map(|v| v.to_string_lossy().into_owned())
    };
    Some(PrinterNode {
        syspath: device.syspath().to_path_buf(),
        devnode,
        interface: interface.syspath().to_path_buf(),
        usb_manufacturer: descriptor("manufacturer"),
        usb_product: descriptor("product"),
        usb_serial: descriptor("serial"),
    })
}

/// Waits until udev has processed the node (its database entry exists, so
/// its rules, which set group `lp` and mode 0660, have run) and we may
/// write to it. Returns false if the device went away meanwhile. After
/// `timeout` ([`READY_TIMEOUT`]) the node is used as it is, with a
/// warning: a service user outside group `lp` would otherwise wait forever.
pub(super) async fn wait_until_ready(node: &PrinterNode, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !node.syspath.exists() {
            return false;
        }
        let initialized =
            udev::Device::from_syspath(&node.syspath).is_ok_and(|device| device.is_initialized());
        let writable = is_writable(&node.devnode);
        if initialized && writable {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                device = %node.devnode.display(),
                initialized,
                writable,
                "printer node not ready after {}s; is the service user in group lp?",
                timeout.as_secs()
            );
            return true;
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// access(2) with W_OK: whether opening `path` for writing would pass the
/// permission check.
fn is_writable(path: &Path) -> bool {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: path is a valid NUL-terminated string for the call.
    unsafe { libc::access(path.as_ptr(), libc::W_OK) == 0 }
}

/// The printer's IEEE 1284 device ID: usblp's sysfs attribute, or, if that
/// does not appear in time, the `LPIOC_GET_DEVICE_ID` ioctl. `None` when
/// neither answers; the queue is then named from the USB descriptors.
pub(super) async fn read_device_id(node: &PrinterNode) -> Option<Vec<u8>> {
    let attribute = node.interface.join(ID_ATTRIBUTE);
    for attempt in 1..=ID_ATTEMPTS {
        match read_bounded(&attribute) {
            Ok(id) => return Some(id),
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < ID_ATTEMPTS => {
                tokio::time::sleep(ID_RETRY).await;
            }
            Err(e) => {
                tracing::debug!("{}: {e}", attribute.display());
                break;
            }
        }
    }
    let devnode = node.devnode.clone();
    let by_ioctl = tokio::task::spawn_blocking(move || device_id_by_ioctl(&devnode)).await;
    match by_ioctl {
        Ok(Ok(id)) => Some(id),
        Ok(Err(e)) => {
            tracing::warn!(device = %node.devnode.display(), "printer gave no device ID: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(device = %node.devnode.display(), "reading the device ID failed: {e}");
            None
        }
    }
}

/// At most [`MAX_ID_BYTES`] of a file: the device decides what is in it.
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_ID_BYTES as u64)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `LPIOC_GET_DEVICE_ID(len)` of linux/drivers/usb/class/usblp.c:
/// `_IOC(_IOC_READ, 'P', 1, len)`.
const fn lpioc_get_device_id(len: usize) -> u64 {
    const IOC_READ: u64 = 2;
    (IOC_READ << 30) | ((len as u64) << 16) | ((b'P' as u64) << 8) | 1
}

/// Asks the printer through usblp. The answer starts with its own length
/// (two bytes, big-endian, counting themselves), which is not trusted
/// beyond the buffer.
fn device_id_by_ioctl(devnode: &Path) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: never wait on a printer that does not answer.
    let device = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(devnode)?;
    let mut buf = vec![0u8; IOCTL_ID_BYTES];
    // SAFETY: the request encodes buf's length; the kernel writes at most
    // that many bytes into buf, which stays alive for the call.
    let rc = unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            lpioc_get_device_id(buf.len()) as libc::Ioctl,
            buf.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(strip_length_prefix(&buf).to_vec())
}

fn strip_length_prefix(answer: &[u8]) -> &[u8] {
    let [hi, lo, rest @ ..] = answer else {
        return &[];
    };
    let declared = usize::from(u16::from_be_bytes([*hi, *lo]));
    &rest[..declared.saturating_sub(2).min(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_request_matches_the_kernel() {
        // LPIOC_GET_DEVICE_ID(1024) as the C macro computes it.
        assert_eq!(lpioc_get_device_id(1024), 0x8400_5001);
    }

    #[test]
    fn length_prefix_is_not_trusted() {
        assert_eq!(strip_length_prefix(b"\x00\x07MFG:A;zzz"), b"MFG:A");
        assert_eq!(strip_length_prefix(b"\xff\xffMFG:A;"), b"MFG:A;");
        assert_eq!(strip_length_prefix(b"\x00\x01MFG"), b"");
        assert_eq!(strip_length_prefix(b"\x00"), b"");
        assert_eq!(strip_length_prefix(b""), b"");
    }

    #[test]
    fn bounded_read() {
        let path = std::env::temp_dir().join(format!("printspoold-id-{}", std::process::id()));
        std::fs::write(&path, vec![b'x'; MAX_ID_BYTES * 3]).unwrap();
        assert_eq!(read_bounded(&path).unwrap().len(), MAX_ID_BYTES);
        std::fs::remove_file(&path).unwrap();
    }
}
