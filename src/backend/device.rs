//! The `device` backend: writes the document to a character device such as
//! `/dev/usb/lp0`. A device that disappears mid-job (ENODEV, EIO) is an
//! unplug: the job goes back to pending, never aborted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Backend, BackendError, CHUNK};
use crate::core::Job;

pub struct DeviceBackend {
    path: PathBuf,
}

impl DeviceBackend {
    pub fn new(path: PathBuf) -> Self {
        DeviceBackend { path }
    }

    fn offline_or_failed(&self, e: std::io::Error) -> BackendError {
        match e.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::EIO) | Some(libc::ENOENT) | Some(libc::ENXIO) => {
                BackendError::Offline(format!("{}: {e}", self.path.display()))
            }
            _ => BackendError::Failed(format!("{}: {e}", self.path.display())),
        }
    }
}

impl Backend for DeviceBackend {
    fn print(&self, job: &Job, document: &Path, cancel: &AtomicBool) -> Result<(), BackendError> {
        let mut input = File::open(document).map_err(|e| {
            BackendError::Failed(format!("document of job {} unreadable: {e}", job.id))
        })?;
        let mut device = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| self.offline_or_failed(e))?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(BackendError::Canceled);
            }
            let n = input.read(&mut buf).map_err(|e| {
                BackendError::Failed(format!("reading document of job {}: {e}", job.id))
            })?;
            if n == 0 {
                break;
            }
            // write_all blocks while the printer is busy: that is the
            // back-pressure; the kernel driver paces us.
            device
                .write_all(&buf[..n])
                .map_err(|e| self.offline_or_failed(e))?;
        }
        device.flush().map_err(|e| self.offline_or_failed(e))
    }
}
