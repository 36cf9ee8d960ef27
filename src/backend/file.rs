//! The `file` backend: each job's document is written atomically into a
//! directory, named by job id. It is the built-in default queue, so the
//! daemon prints somewhere with no configuration at all.
//!
//! Output names come from the job id and a fixed extension only: nothing a
//! client sends (job name, user name) reaches a path. Files are created
//! with `O_EXCL | O_NOFOLLOW` relative to one descriptor of the directory,
//! so a symlink planted in an output directory others can write never
//! redirects a write.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::{Backend, BackendError, copy_document};
use crate::core::Job;
use crate::docformat;
use crate::spool::DocumentHandle;

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

    fn copy(
        &self,
        job: &Job,
        document: &DocumentHandle,
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
        let fail = |what: &str, e: std::io::Error| {
            BackendError::Failed(format!("{what} in {}: {e}", self.dir.display()))
        };
        // Explicit mode: in SysV mode the umask is 0 (daemon(7) step 10).
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)
            .map_err(|e| fail("cannot create output directory", e))?;
        // Every name below is relative to this one descriptor: the
        // directory is resolved once (a configured path may be a symlink;
        // that is the administrator's choice), and nothing someone else
        // plants in it can redirect a write.
        let dir = rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("cannot open output directory", e.into()))?;
        let final_name = Self::output_name(job);
        let temp_name = format!(".job-{}.partial", job.id);
        let mut output =
            create_fresh(&dir, &temp_name).map_err(|e| fail("cannot create output file", e))?;
        let copied = copy_document(job.id, document, cancel, |chunk| {
            output
                .write_all(chunk)
                .map_err(|e| fail("cannot write output", e))
        });
        if let Err(e) = copied {
            // Canceled or failed: no partial file is left behind.
            let _ = rustix::fs::unlinkat(&dir, temp_name.as_str(), AtFlags::empty());
            return Err(e);
        }
        // Atomic: a reader of the directory sees the whole document or none.
        // rename(2) replaces whatever the final name is (a symlink too),
        // never what it points to.
        output
            .sync_all()
            .map_err(|e| fail("cannot sync output", e))?;
        rustix::fs::renameat(&dir, temp_name.as_str(), &dir, final_name.as_str())
            .map_err(|e| fail("cannot rename output", e.into()))?;
        Ok(())
    }
}

/// Creates `name` in `dir` as a new file (`O_EXCL | O_NOFOLLOW`: never
/// through a symlink, never into an existing file). Something already
/// there (a partial file left by a crash, or a planted symlink) is
/// unlinked first: unlink removes the name itself, never its target.
fn create_fresh(dir: &OwnedFd, name: &str) -> std::io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o640);
    match rustix::fs::openat(dir, name, flags, mode) {
        Err(Errno::EXIST) => {
            rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
            Ok(File::from(rustix::fs::openat(dir, name, flags, mode)?))
        }
        other => Ok(File::from(other?)),
    }
}

impl Backend for FileBackend {
    fn print(
        &self,
        job: &Job,
        document: &DocumentHandle,
        cancel: &AtomicBool,
    ) -> Result<(), BackendError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    /// A job as the core stores it (built from its JSON so the test does
    /// not depend on every field of [`Job`]).
    fn job(id: u32) -> Job {
        serde_json::from_value(serde_json::json!({
            "id": id, "printer": "p", "owner": "u", "name": "n", "origin": "ipp",
            "state": "processing", "reasons": ["none"], "message": "",
            "ticket": {}, "format": "application/octet-stream",
            "document_bytes": 8, "has_document": true, "created_at": 1,
            "processing_at": null, "completed_at": null
        }))
        .unwrap()
    }

    #[test]
    fn a_symlink_planted_at_the_temp_or_final_name_is_replaced_not_followed() {
        let dir = TempDir::new("file-backend-symlink");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"do not overwrite").unwrap();
        // Someone who can write the output directory plants symlinks where
        // the backend writes (`.job-N.partial`) and renames (`job-N.bin`).
        std::os::unix::fs::symlink(&victim, out.join(".job-7.partial")).unwrap();
        std::os::unix::fs::symlink(&victim, out.join("job-7.bin")).unwrap();
        let document = dir.path().join("7.doc");
        std::fs::write(&document, b"the document").unwrap();

        let backend = FileBackend::new(out.clone());
        backend
            .print(
                &job(7),
                &super::super::whole_file(&document),
                &AtomicBool::new(false),
            )
            .unwrap();

        assert_eq!(std::fs::read(&victim).unwrap(), b"do not overwrite");
        let printed = out.join("job-7.bin");
        assert!(std::fs::symlink_metadata(&printed).unwrap().is_file());
        assert_eq!(std::fs::read(&printed).unwrap(), b"the document");
        assert!(std::fs::symlink_metadata(out.join(".job-7.partial")).is_err());
    }
}
