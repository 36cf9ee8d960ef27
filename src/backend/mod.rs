//! Where jobs go. Every printer has one [`Backend`]; the print worker of the
//! job core calls it off the request path, one job at a time per printer.
//!
//! The trait is blocking on purpose: backends write to files and character
//! devices, and the worker runs them on tokio's blocking pool.

mod device;
mod file;
mod usb;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use device::DeviceBackend;
pub use file::FileBackend;
pub use usb::UsbBackend;

use crate::config::DeviceUri;
use crate::core::Job;
use crate::spool::DocumentHandle;

/// How a print attempt ended, when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The job's cancel flag was raised (Cancel-Job, or shutdown).
    #[error("canceled")]
    Canceled,
    /// The device went away (unplugged, ENODEV/EIO): the job goes back to
    /// pending and the printer to stopped until the device returns.
    #[error("printer offline: {0}")]
    Offline(String),
    /// The job's document is not in the spool any more (removed behind
    /// the daemon's back): the job is aborted, naming the file.
    #[error("document {} is missing from the spool", .0.display())]
    DocumentMissing(PathBuf),
    /// The job cannot be printed (its document is unreadable, the device
    /// refused it): the job is aborted with this reason.
    #[error("{0}")]
    Failed(String),
}

/// A printer device.
pub trait Backend: Send + Sync {
    /// Sends `document` (a file range: see [`DocumentHandle`]) for `job`
    /// to the device. Blocking. Must check `cancel` between writes and
    /// return `Canceled` soon after it is set.
    fn print(
        &self,
        job: &Job,
        document: &DocumentHandle,
        cancel: &AtomicBool,
    ) -> Result<(), BackendError>;

    /// Makes the printer noticeable (Identify-Printer).
    fn identify(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The backend for a configured device URI.
pub fn for_uri(uri: &DeviceUri) -> Arc<dyn Backend> {
    match uri {
        DeviceUri::File(dir) => Arc::new(FileBackend::new(dir.clone())),
        // usblp nodes: non-blocking writes with poll(2), so Cancel-Job
        // works even while a printer takes no data (the parallel-port
        // driver has no poll, hence the plain device backend otherwise).
        DeviceUri::Device(path) if path.starts_with("/dev/usb") => {
            Arc::new(UsbBackend::new(path.clone()))
        }
        DeviceUri::Device(path) => Arc::new(DeviceBackend::new(path.clone())),
    }
}

/// Size of the pieces backends copy documents in; cancel is checked between.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Streams job `id`'s `document` into `write` in [`CHUNK`] pieces, checking
/// `cancel` before each: the one copy loop every backend shares.
pub(crate) fn copy_document(
    id: u32,
    document: &DocumentHandle,
    cancel: &AtomicBool,
    mut write: impl FnMut(&[u8]) -> Result<(), BackendError>,
) -> Result<(), BackendError> {
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0u64;
    loop {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BackendError::Canceled);
        }
        let n = document.read_at(&mut buf, at).map_err(|e| {
            BackendError::Failed(format!(
                "reading document of job {id} from {}: {e}",
                document.path.display()
            ))
        })?;
        if n == 0 {
            return Ok(());
        }
        at += n as u64;
        write(&buf[..n])?;
    }
}

/// A document handle on a whole file, for backends' tests.
#[cfg(test)]
pub(crate) fn whole_file(path: &Path) -> DocumentHandle {
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    DocumentHandle {
        file,
        offset: 0,
        len,
        path: path.to_path_buf(),
    }
}

/// A device error: one that means the device went away (unplugged) makes
/// the job wait for it (`Offline`); anything else fails the job.
pub(crate) fn device_error(path: &Path, e: std::io::Error) -> BackendError {
    match e.raw_os_error() {
        Some(libc::ENODEV | libc::EIO | libc::ENOENT | libc::ENXIO | libc::ESHUTDOWN) => {
            BackendError::Offline(format!("{}: {e}", path.display()))
        }
        _ => BackendError::Failed(format!("{}: {e}", path.display())),
    }
}
