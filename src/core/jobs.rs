//! Jobs: creating them ([`Spooler::submit`], [`Spooler::create_job`],
//! [`Spooler::add_document`]), changing them ([`Spooler::cancel`],
//! [`Spooler::hold`], [`Spooler::release`]), finding them
//! ([`Spooler::job`], [`Spooler::jobs`]) and the drop directory's claims
//! ([`Spooler::has_claim`]).
//!
//! A job is acknowledged only once its record and document are durable in
//! the spool. A change a client asks for (cancel, hold, release) is made in
//! memory, then written; if the spool cannot record it (disk full,
//! read-only), the change is undone and the client told, so what it sees
//! next is what a restart would show.

use super::access::Requester;
use super::error::CoreError;
use super::job::{Job, JobId, JobState, NewJob};
use super::record::{decode, encode};
use super::spooler::Spooler;
use super::state::JobChange;
use super::{Event, JobFilter};
use crate::clock::unix_now;
use crate::config::JobPrivateValues;
use crate::docformat;
use crate::spool::{StagedDocument, Staging};

impl Spooler {
    /// A new temporary document file in the spool; write the document into
    /// it, then `finish()` it and pass the result to [`Spooler::submit`] or
    /// [`Spooler::add_document`]. Writing past [`Spooler::max_document_bytes`]
    /// fails with [`crate::spool::SpoolError::TooLarge`].
    pub async fn stage_document(&self) -> Result<Staging, CoreError> {
        self.refuse_if_shutting_down()?;
        Ok(self.spool().stage().await?)
    }

    /// Checks that a job could be created (Validate-Job): the queue exists
    /// and accepts jobs, and no cap is reached.
    pub fn validate(&self, job: &NewJob) -> Result<(), CoreError> {
        self.refuse_if_shutting_down()?;
        let state = self.lock();
        state.check_accepting(job)?;
        Ok(self.caps().check(state.active_jobs(job), job)?)
    }

    /// Creates a job with its document in one step (Print-Job, D-Bus
    /// SubmitJob, drop directory). Returns only once the job and its
    /// document are durable on disk. `format` is the declared MIME type, or
    /// `None`/`application/octet-stream` to sense it from the content.
    pub async fn submit(
        &self,
        new: NewJob,
        format: Option<String>,
        document: StagedDocument,
    ) -> Result<Job, CoreError> {
        self.commit_new(new, format, document, None).await
    }

    /// [`Spooler::submit`] for a file taken from the drop directory under
    /// `claim` (see [`crate::sources::dropdir`]): the token is stored with
    /// the job.
    pub async fn submit_claimed(
        &self,
        new: NewJob,
        document: StagedDocument,
        claim: String,
    ) -> Result<Job, CoreError> {
        self.commit_new(new, None, document, Some(claim)).await
    }

    async fn commit_new(
        &self,
        new: NewJob,
        format: Option<String>,
        document: StagedDocument,
        claim: Option<String>,
    ) -> Result<Job, CoreError> {
        let _slot = self.reserve_slot(&new)?;
        let mut job = self.new_job(new);
        job.format = Some(resolve_format(format, document.head()));
        job.document_bytes = Some(document.len());
        job.has_document = true;
        job.claim = claim;
        apply_hold(&mut job);
        let meta = encode(&job)?;
        self.spool().commit(job.id, &meta, Some(document)).await?;
        self.admit(job.clone());
        tracing::info!(
            id = job.id,
            printer = %job.printer,
            owner = %job.owner,
            origin = ?job.origin,
            bytes = job.document_bytes.unwrap_or(0),
            "job accepted"
        );
        Ok(job)
    }

    /// Creates a job that waits for its document (Create-Job). Durable.
    pub async fn create_job(&self, new: NewJob) -> Result<Job, CoreError> {
        let _slot = self.reserve_slot(&new)?;
        let mut job = self.new_job(new);
        job.reasons = vec!["job-incoming".to_string()];
        let meta = encode(&job)?;
        self.spool().commit(job.id, &meta, None).await?;
        self.admit(job.clone());
        self.reaper().wake();
        tracing::info!(id = job.id, printer = %job.printer, owner = %job.owner, "job created, awaiting document");
        Ok(job)
    }

    /// Adds the document to a job made by [`Spooler::create_job`]
    /// (Send-Document). `document: None` with `last: true` closes a job
    /// without a document (it is then aborted: nothing to print). Only one
    /// document per job.
    pub async fn add_document(
        &self,
        id: JobId,
        requester: &Requester,
        format: Option<String>,
        document: Option<StagedDocument>,
        last: bool,
    ) -> Result<Job, CoreError> {
        self.refuse_if_shutting_down()?;
        let (mut job, _receiving) = {
            let state = self.lock();
            let Some(job) = state.awaiting_document(id, requester)? else {
                drop(state);
                return Err(self.not_in_memory(id, requester, "add a document to"));
            };
            // Under the state lock, so the reaper of late documents (see
            // `limits.rs`) cannot abort the job between check and mark.
            let Some(receiving) = self.caps().start_receiving(id) else {
                return Err(CoreError::OneDocumentPerJob(id));
            };
            (job, receiving)
        };
        match document {
            Some(document) => {
                job.format = Some(resolve_format(format, document.head()));
                job.document_bytes = Some(document.len());
                job.has_document = true;
                job.reasons = vec!["none".to_string()];
                apply_hold(&mut job);
                let meta = encode(&job)?;
                self.spool().attach(id, &meta, document).await?;
            }
            None if last => {
                job.state = JobState::Aborted;
                job.reasons = vec!["aborted-by-system".to_string()];
                job.message = "no document was sent".to_string();
                job.completed_at = Some(unix_now());
                let meta = encode(&job)?;
                self.spool().update(id, &meta, true).await?;
            }
            None => return Ok(job),
        }
        self.admit(job.clone());
        if job.state.is_terminal() {
            self.retire(id);
            self.trim_if_drained(&job.printer);
        }
        Ok(job)
    }

    pub async fn cancel(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let change = self.lock().cancel(id, requester)?;
        let (job, changed) = self.record_change(id, requester, "cancel", change).await?;
        if changed {
            tracing::info!(id, by = %requester.user, "job canceled");
            self.retire(id);
            self.trim_if_drained(&job.printer);
        }
        Ok(job)
    }

    /// Holds a pending job (`job-hold-until=indefinite`).
    pub async fn hold(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let change = self.lock().hold(id, requester)?;
        let (job, _) = self.record_change(id, requester, "hold", change).await?;
        Ok(job)
    }

    pub async fn release(&self, id: JobId, requester: &Requester) -> Result<Job, CoreError> {
        let change = self.lock().release(id, requester)?;
        let (job, changed) = self.record_change(id, requester, "release", change).await?;
        if changed {
            self.lock().wake(&job.printer);
        }
        Ok(job)
    }

    /// Job `id`: from memory, or, for a finished job that left memory,
    /// from its record on disk (see `history.rs`).
    pub fn job(&self, id: JobId) -> Option<Job> {
        if let Some(job) = self.lock().job(id) {
            return Some(job.clone());
        }
        self.finished_on_disk(id)
    }

    /// The jobs `filter` asks for (Get-Jobs, `ListJobs`), at most
    /// [`super::JobLimits::list_limit`] of them.
    pub fn jobs(&self, filter: &JobFilter) -> Vec<Job> {
        let limit = self.job_limits().list_limit(filter.limit);
        self.lock().list(filter, limit)
    }

    /// Which job values only owners and administrators see; CUPS's
    /// default until the configuration says otherwise (at start and on
    /// reload).
    pub fn set_job_private_values(&self, values: JobPrivateValues) {
        self.lock().set_job_private_values(values);
    }

    /// What `requester` may see of each job: ask once per request.
    pub fn job_private_values(&self) -> JobPrivateValues {
        self.lock().job_private_values()
    }

    /// Whether a job was already made from the drop-directory claim `token`.
    ///
    /// Memory knows the claims of the jobs it holds. A claim file left
    /// behind by a crash or a failed unlink (or one waiting for a full
    /// disk) may belong to a finished job that left memory, so then the
    /// records on disk are read; that is rare, and its negative answers are
    /// cached so a claim that waits for disk space does not cost a scan
    /// every rescan.
    pub fn has_claim(&self, token: &str) -> bool {
        if let Some(known) = self.lock().claim_in_memory(token) {
            return known;
        }
        match self.claim_on_disk(token) {
            Some(found) => {
                if !found {
                    self.lock().remember_unclaimed(token);
                }
                found
            }
            None => false,
        }
    }

    /// Looks for `token` in the records of the finished jobs that left
    /// memory (released, then in history: [`crate::spool::Spool::scan_released`],
    /// one record at a time); `None` when the spool cannot be read.
    /// Blocking, and rare (see [`Spooler::has_claim`]). `has_claim` then
    /// answers "not claimed": "claimed" would make the drop directory
    /// delete the file, and a file printed twice is better than a file
    /// lost (with the spool in trouble, submitting it is likely to fail and
    /// be retried anyway).
    fn claim_on_disk(&self, token: &str) -> Option<bool> {
        let needle = token.as_bytes();
        let mut found = false;
        let scanned = self.spool().scan_released(|_, meta| {
            // Cheap test first; parse only a record that mentions it.
            found = found
                || (meta.windows(needle.len()).any(|w| w == needle)
                    && decode(meta).is_ok_and(|job| job.claim.as_deref() == Some(token)));
        });
        match scanned {
            Ok(()) => Some(found),
            Err(e) => {
                tracing::warn!("cannot look for drop-directory claim {token} in the spool: {e}");
                None
            }
        }
    }

    fn new_job(&self, new: NewJob) -> Job {
        Job {
            id: self.spool().reserve_id(),
            printer: new.printer,
            owner: new.owner,
            name: new.name,
            origin: new.origin,
            identity: new.identity,
            state: JobState::Pending,
            reasons: vec!["none".to_string()],
            message: String::new(),
            ticket: new.ticket,
            format: None,
            document_bytes: None,
            has_document: false,
            created_at: unix_now(),
            processing_at: None,
            completed_at: None,
            claim: None,
            tcp_peer: new.tcp_peer,
        }
    }

    /// Checks the queue and the caps, and reserves a place for `new` until
    /// the returned slot is dropped (after the job entered the table): the
    /// check and the reservation happen under one state lock, so parallel
    /// submissions cannot all pass a cap that has room for one.
    fn reserve_slot(&self, new: &NewJob) -> Result<super::caps::CapSlot, CoreError> {
        self.refuse_if_shutting_down()?;
        let state = self.lock();
        state.check_accepting(new)?;
        self.caps().check(state.active_jobs(new), new)?;
        Ok(self.caps().reserve(new))
    }

    /// A job of `printer` left the queue other than by printing (the
    /// worker sees its own): if it was the last one, the memory the backlog
    /// took goes back (see [`super::memory`]), so cancelling a burst gives
    /// back as much as printing it.
    fn trim_if_drained(&self, printer: &str) {
        let drained = self.lock().is_drained(printer);
        if drained {
            self.trimmer().after_burst();
        }
    }

    /// Puts a job whose record is durable into the table and wakes its
    /// printer.
    fn admit(&self, job: Job) {
        let printer = job.printer.clone();
        let event = Event::from(&job);
        self.lock().insert(job);
        // Told before the worker may take it, so listeners see the job
        // pending before they see it printing.
        self.emit(event);
        self.lock().wake(&printer);
    }

    /// Writes a client's change to job `id`, undoing it if the spool cannot
    /// record it; returns the job to answer with and whether it changed.
    async fn record_change(
        &self,
        id: JobId,
        requester: &Requester,
        action: &'static str,
        change: JobChange,
    ) -> Result<(Job, bool), CoreError> {
        match change {
            JobChange::NotInMemory => Err(self.not_in_memory(id, requester, action)),
            JobChange::Unchanged(job) => Ok((job, false)),
            JobChange::Changed { before, after } => {
                self.persist_or_revert(*before, &after).await?;
                self.emit(&after);
                Ok((after, true))
            }
        }
    }

    /// [`Spooler::persist`] for a change a client asked for: when the spool
    /// cannot record it, the job goes back to `before` (unless it changed
    /// again meanwhile), so the client told "failed" finds the job as it was.
    async fn persist_or_revert(&self, before: Job, after: &Job) -> Result<(), CoreError> {
        let id = after.id;
        let Err(e) = self.persist(id, true).await else {
            return Ok(());
        };
        self.lock().revert(before, after);
        tracing::warn!(id, "job change not recorded, undone: {e}");
        Err(e)
    }
}

fn resolve_format(declared: Option<String>, head: &[u8]) -> String {
    match declared {
        Some(mime) if docformat::base_type(&mime) != docformat::OCTET_STREAM => mime,
        _ => docformat::sense(head).to_string(),
    }
}

/// `job-hold-until` other than `no-hold` holds the job until released.
fn apply_hold(job: &mut Job) {
    let holds = job
        .ticket
        .job_hold_until
        .as_deref()
        .is_some_and(|until| until != "no-hold");
    if holds && job.state == JobState::Pending {
        job.state = JobState::Held;
        job.reasons = vec!["job-hold-until-specified".to_string()];
    }
}
