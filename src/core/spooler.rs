//! [`Spooler`]: the handle entry paths call. (Stub bodies: being implemented.)
#![allow(unused_variables, dead_code)]

use std::sync::Arc;

use tokio::sync::broadcast;

use super::*;
use crate::spool::{Staging, StagedDocument};

/// A cheap, cloneable handle on the job core.
#[derive(Clone)]
pub struct Spooler {
    inner: Arc<()>,
}

impl Spooler {
    /// Every queue, default first.
    pub fn printers(&self) -> Vec<PrinterInfo> {
        todo!()
    }

    /// One queue by name.
    pub fn printer(&self, name: &str) -> Option<PrinterInfo> {
        todo!()
    }

    /// The name of the default queue (`/ipp/print`).
    pub fn default_printer(&self) -> String {
        todo!()
    }

    /// Largest document accepted.
    pub fn max_document_bytes(&self) -> u64 {
        todo!()
    }

    /// A new temporary document file in the spool; write the document into
    /// it, then `finish()` it and pass the result to `submit`/`add_document`.
    /// Writing past `max_document_bytes` fails with `SpoolError::TooLarge`.
    pub async fn stage_document(&self) -> Result<Staging, CoreError> {
        todo!()
    }

    /// Checks that a job could be created (Validate-Job): the queue exists
    /// and accepts jobs.
    pub fn validate(&self, job: &NewJob) -> Result<(), CoreError> {
        todo!()
    }

    /// Creates a job with its document in one step (Print-Job, D-Bus
    /// SubmitJob, drop directory). Returns only once the job and its
    /// document are durable on disk. `format` is the declared MIME type, or
    /// `None`/`application/octet-stream` to sense it from the content.
    pub async fn submit(
        &self,
        job: NewJob,
        format: Option<String>,
        document: StagedDocument,
    ) -> Result<Job, CoreError> {
        todo!()
    }

    /// Creates a job that waits for its document (Create-Job). Durable.
    pub async fn create_job(&self, job: NewJob) -> Result<Job, CoreError> {
        todo!()
    }

    /// Adds the document to a job made by `create_job` (Send-Document).
    /// `document: None` with `last: true` closes a job without a document
    /// (it is then aborted: nothing to print). Only one document per job.
    pub async fn add_document(
        &self,
        id: JobId,
        requester: &Requester,
        format: Option<String>,
        document: Option<StagedDocument>,
        last: bool,
    ) -> Result<Job, CoreError> {
        todo!()
    }

    pub async fn cancel(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        todo!()
    }

    /// Holds a pending job (`job-hold-until=indefinite`).
    pub async fn hold(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        todo!()
    }

    pub async fn release(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        todo!()
    }

    pub fn job(&self, id: JobId) -> Option<Job> {
        todo!()
    }

    pub fn jobs(&self, filter: &JobFilter) -> Vec<Job> {
        todo!()
    }

    /// Stops a queue from printing (jobs are still accepted). Admin only.
    pub fn pause(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        todo!()
    }

    pub fn resume(&self, printer: &str, requester: &Requester) -> Result<PrinterInfo, CoreError> {
        todo!()
    }

    /// Identify-Printer: asks the backend to make itself noticed (logs for
    /// the file backend).
    pub fn identify(&self, printer: &str) -> Result<(), CoreError> {
        todo!()
    }

    /// State changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        todo!()
    }

    /// A one-line queue summary for `STATUS=`.
    pub fn summary(&self) -> String {
        todo!()
    }

    /// True when no job is pending or printing (for idle exit).
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}
