//! The `device` backend: writes the document to a character device such as
//! `/dev/usb/lp0`. A device that disappears mid-job (ENODEV, EIO) is an
//! unplug: the job goes back to pending, never aborted.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::{Backend, BackendError, copy_document, device_error};
use crate::core::Job;
use crate::spool::DocumentHandle;

pub struct DeviceBackend {
    path: PathBuf,
}

impl DeviceBackend {
    pub fn new(path: PathBuf) -> Self {
        DeviceBackend { path }
    }
}

impl Backend for DeviceBackend {
    fn print(
        &self,
        job: &Job,
        document: &DocumentHandle,
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
        let mut device = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| device_error(&self.path, e))?;
        // write_all blocks while the printer is busy: that is the
        // back-pressure; the kernel driver paces us.
        copy_document(job.id, document, cancel, |chunk| {
            device
                .write_all(chunk)
                .map_err(|e| device_error(&self.path, e))
        })?;
        device.flush().map_err(|e| device_error(&self.path, e))
    }
}
