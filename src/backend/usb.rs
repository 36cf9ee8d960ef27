//! The `usb` backend: writes the document to a usblp node (`/dev/usb/lpN`)
//! without ever blocking in write(2).
//!
//! A printer that stops taking data (paper out, jammed, switched to
//! another host) leaves a blocking write hanging in the kernel, where
//! neither Cancel-Job nor SIGTERM can reach it. Here the node is opened
//! with `O_NONBLOCK`: usblp then accepts one URB (8 KiB) per write and
//! answers EAGAIN until the printer took it, and poll(2) says when it did.
//! Between polls the backend checks the cancel flag, so cancel and
//! shutdown take effect within [`POLL_INTERVAL`], and it says in the log
//! when the printer has taken nothing for [`STALL_WARNING`]; it keeps
//! waiting, as a printer out of paper prints on once refilled.
//!
//! usblp kills a URB still in flight when the node is closed, so the last
//! piece is waited for (poll for `POLLOUT`) before the job counts as
//! printed. An unplug shows as ENODEV, EIO or `POLLHUP`: the job goes
//! back to pending (`BackendError::Offline`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Backend, BackendError, copy_document, device_error};
use crate::core::Job;
use crate::spool::DocumentHandle;

/// Longest wait in poll(2) before the cancel flag is looked at again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A printer that takes nothing for this long is reported in the log.
pub const STALL_WARNING: Duration = Duration::from_secs(60);
/// Pause after EAGAIN when poll(2) claimed the device was writable (drivers
/// without a poll method always claim so): never spin.
const EAGAIN_BACKOFF: Duration = Duration::from_millis(20);

pub struct UsbBackend {
    path: PathBuf,
}

impl UsbBackend {
    pub fn new(path: PathBuf) -> Self {
        UsbBackend { path }
    }

    fn offline(&self, why: &str) -> BackendError {
        BackendError::Offline(format!("{}: {why}", self.path.display()))
    }
}

impl Backend for UsbBackend {
    fn print(
        &self,
        job: &Job,
        document: &DocumentHandle,
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
        let device = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
            .map_err(|e| device_error(&self.path, e))?;
        let mut writer = Paced::new(self, job.id, &device, cancel);
        copy_document(job.id, document, cancel, |chunk| writer.write_all(chunk))?;
        // Closing would kill the last URB: wait until the printer took it.
        writer.wait_writable()
    }
}

/// Writes to a non-blocking device, waiting with poll(2) in between.
struct Paced<'a> {
    backend: &'a UsbBackend,
    job: u32,
    device: &'a File,
    cancel: &'a AtomicBool,
    /// When the printer last took data.
    progress: Instant,
    /// Whether the current stall was logged.
    warned: bool,
}

impl<'a> Paced<'a> {
    fn new(backend: &'a UsbBackend, job: u32, device: &'a File, cancel: &'a AtomicBool) -> Self {
        Paced {
            backend,
            job,
            device,
            cancel,
            progress: Instant::now(),
            warned: false,
        }
    }

    fn write_all(&mut self, mut data: &[u8]) -> Result<(), BackendError> {
        // poll(2) said writable since the last write that took data.
        let mut told_writable = false;
        while !data.is_empty() {
            self.check_cancel()?;
            match (&mut &*self.device).write(data) {
                Ok(0) => self.wait_writable()?,
                Ok(n) => {
                    data = &data[n..];
                    told_writable = false;
                    self.made_progress();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if told_writable {
                        // Writable by poll, yet EAGAIN: do not spin.
                        std::thread::sleep(EAGAIN_BACKOFF);
                    }
                    told_writable = self.poll_writable()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(device_error(&self.backend.path, e)),
            }
        }
        Ok(())
    }

    /// Returns once the device takes data again (usblp: its last URB is
    /// done), checking the cancel flag in between.
    fn wait_writable(&mut self) -> Result<(), BackendError> {
        loop {
            self.check_cancel()?;
            if self.poll_writable()? {
                return Ok(());
            }
        }
    }

    /// One poll(2) of at most [`POLL_INTERVAL`]; true when writable.
    fn poll_writable(&mut self) -> Result<bool, BackendError> {
        let mut fds = libc::pollfd {
            fd: self.device.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let timeout = i32::try_from(POLL_INTERVAL.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut fds, 1, timeout) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(device_error(&self.backend.path, e))
            };
        }
        if fds.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(self.backend.offline("device hung up (unplugged?)"));
        }
        if fds.revents & libc::POLLOUT != 0 {
            return Ok(true);
        }
        self.note_stall();
        Ok(false)
    }

    fn check_cancel(&self) -> Result<(), BackendError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(BackendError::Canceled)
        } else {
            Ok(())
        }
    }

    fn made_progress(&mut self) {
        if self.warned {
            tracing::info!(id = self.job, device = %self.backend.path.display(), "printer takes data again");
            self.warned = false;
        }
        self.progress = Instant::now();
    }

    fn note_stall(&mut self) {
        let stalled = self.progress.elapsed();
        if !self.warned && stalled >= STALL_WARNING {
            tracing::warn!(
                id = self.job,
                device = %self.backend.path.display(),
                "printer has taken no data for {}s (out of paper? offline?); still waiting",
                stalled.as_secs()
            );
            self.warned = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::backend::CHUNK;
    use crate::core::JobState;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::mpsc;

    use crate::test_support::TempDir;

    fn job() -> Job {
        Job {
            id: 7,
            printer: "usb".to_string(),
            owner: "root".to_string(),
            name: "test".to_string(),
            state: JobState::Processing,
            reasons: vec!["job-printing".to_string()],
            ..crate::test_support::job()
        }
    }

    /// A FIFO stands in for the printer: non-blocking writes, EAGAIN when
    /// full, poll(2), and a reader that can stop reading like a printer.
    fn fifo(dir: &Path) -> PathBuf {
        let path = dir.join("lp0");
        crate::test_support::mkfifo(&path);
        path
    }

    fn open_reader(path: &Path) -> File {
        // Non-blocking open: a FIFO's read end does not wait for a writer.
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    fn document(dir: &Path, len: usize) -> (PathBuf, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        let path = dir.join("doc");
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    #[test]
    fn prints_every_byte_through_a_slow_device() {
        let dir = TempDir::new("exact");
        let device = fifo(dir.path());
        let (doc, bytes) = document(dir.path(), 3 * CHUNK + 1234);
        let mut reader = open_reader(&device);
        let expected = bytes.len();
        // A printer stays plugged in after the last byte: the reader is
        // kept open until the backend returns, or its final poll(2) would
        // see POLLHUP ("device hung up") whenever the collector is faster.
        let (printed, wait_for_print) = mpsc::channel::<()>();
        let collector = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < expected {
                match reader.read(&mut buf) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(1)),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            let _ = wait_for_print.recv();
            got
        });
        let backend = UsbBackend::new(device);
        let outcome = backend.print(
            &job(),
            &crate::backend::whole_file(&doc),
            &AtomicBool::new(false),
        );
        let _ = printed.send(());
        outcome.unwrap();
        assert_eq!(collector.join().unwrap(), bytes);
    }

    #[test]
    fn cancel_reaches_a_printer_that_takes_no_data() {
        let dir = TempDir::new("cancel");
        let device = fifo(dir.path());
        let (doc, _) = document(dir.path(), 4 * 1024 * 1024);
        // Opened, never read: the pipe fills and stays full.
        let _reader = open_reader(&device);
        let cancel = Arc::new(AtomicBool::new(false));
        let (done, result) = mpsc::channel();
        let printing = {
            let cancel = Arc::clone(&cancel);
            std::thread::spawn(move || {
                let outcome = UsbBackend::new(device).print(
                    &job(),
                    &crate::backend::whole_file(&doc),
                    &cancel,
                );
                let _ = done.send(outcome);
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            result.try_recv().is_err(),
            "finished although nothing was read"
        );
        cancel.store(true, Ordering::Relaxed);
        // The device never takes another byte, so only the cancel flag can
        // end the print; the bound is a hang guard, not a latency target
        // (a busy machine may be slow to schedule the printing thread).
        let outcome = result
            .recv_timeout(Duration::from_secs(60))
            .expect("cancel ignored");
        assert!(
            matches!(outcome, Err(BackendError::Canceled)),
            "{outcome:?}"
        );
        printing.join().unwrap();
    }

    #[test]
    fn a_missing_device_is_offline_not_failed() {
        let dir = TempDir::new("missing");
        let (doc, _) = document(dir.path(), 10);
        let backend = UsbBackend::new(dir.path().join("lp9"));
        let outcome = backend.print(
            &job(),
            &crate::backend::whole_file(&doc),
            &AtomicBool::new(false),
        );
        assert!(
            matches!(outcome, Err(BackendError::Offline(_))),
            "{outcome:?}"
        );
        // A FIFO without a reader: ENXIO, as a node whose printer is gone.
        let device = fifo(dir.path());
        let outcome = UsbBackend::new(device).print(
            &job(),
            &crate::backend::whole_file(&doc),
            &AtomicBool::new(false),
        );
        assert!(
            matches!(outcome, Err(BackendError::Offline(_))),
            "{outcome:?}"
        );
    }
}
