//! The `file` backend: each job's document is written atomically into a
//! directory, named by job id. It is the built-in default queue, so the
//! daemon prints somewhere with no configuration at all.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{Backend, BackendError, copy_document};
use crate::core::Job;
use crate::docformat;

pub struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    pub fn new(dir: PathBuf) -> Self {
        FileBackend { dir }
    }

    /// `job-<id>.<ext>`: one file per job; reprinting a job after a crash
    /// replaces the same file instead of making a second one.
    pub fn output_name(job: &Job) -> String {
        format!("job-{}.{}", job.id, extension(job.format.as_deref()))
    }

    fn copy(&self, job: &Job, document: &Path, cancel: &AtomicBool) -> Result<(), BackendError> {
        let fail = |what: &str, e: std::io::Error| {
            BackendError::Failed(format!("{what} in {}: {e}", self.dir.display()))
        };
        // Explicit mode: in SysV mode the umask is 0 (daemon(7) step 10).
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)
            .map_err(|e| fail("cannot create output directory", e))?;
        let final_path = self.dir.join(Self::output_name(job));
        let temp_path = self.dir.join(format!(".job-{}.partial", job.id));
        let mut output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&temp_path)
            .map_err(|e| fail("cannot create output file", e))?;
        let copied = copy_document(job.id, document, cancel, |chunk| {
            output
                .write_all(chunk)
                .map_err(|e| fail("cannot write output", e))
        });
        if let Err(e) = copied {
            // Canceled or failed: no partial file is left behind.
            let _ = fs::remove_file(&temp_path);
            return Err(e);
        }
        // Atomic: a reader of the directory sees the whole document or none.
        output
            .sync_all()
            .map_err(|e| fail("cannot sync output", e))?;
        fs::rename(&temp_path, &final_path).map_err(|e| fail("cannot rename output", e))?;
        Ok(())
    }
}

impl Backend for FileBackend {
    fn print(&self, job: &Job, document: &Path, cancel: &AtomicBool) -> Result<(), BackendError> {
        self.copy(job, document, cancel)
    }

    fn identify(&self) -> Result<(), BackendError> {
        tracing::info!(dir = %self.dir.display(), "identify: file printer");
        Ok(())
    }
}

fn extension(format: Option<&str>) -> &'static str {
    match format.map(docformat::base_type) {
        Some(docformat::PDF) => "pdf",
        Some(docformat::POSTSCRIPT) => "ps",
        Some(docformat::TEXT) => "txt",
        Some(docformat::JPEG) => "jpg",
        Some(docformat::PWG_RASTER) => "pwg",
        _ => "bin",
    }
}
