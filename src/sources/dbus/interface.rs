//! `org.printspoold.Spooler1`: the methods, properties and signals. Every
//! method is a thin call into the job core; the core enforces who may do
//! what, with the caller established by [`Authority`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{self, OwnedValue};

use super::auth::Authority;
use super::convert::{self, VariantDict};
use super::document;
use super::errors::Error;
use crate::core::{Assurance, JobFilter, NewJob, Origin, Spooler};

/// Documents read at the same time. Each read holds a blocking thread
/// (at most [`document::PIPE_IDLE_TIMEOUT`] per silent pipe); the bound
/// keeps a flood of slow pipes from taking the blocking pool the spool
/// needs too. Calls past it are refused, not queued: the caller retries.
pub const MAX_CONCURRENT_READS: usize = 64;

/// The object at `/org/printspoold/Spooler1`.
pub struct Spooler1 {
    spooler: Spooler,
    authority: Authority,
    calls: CallCounter,
    readers: Arc<Semaphore>,
}

/// Counts method calls being answered, so idle exit can wait for a
/// `SubmitJob` still reading its document (not yet a job in the core).
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<AtomicUsize>);

/// Decrements the counter when the call is answered (or dropped).
pub struct CallGuard(Arc<AtomicUsize>);

impl CallCounter {
    pub fn enter(&self) -> CallGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.0.clone())
    }

    pub fn in_flight(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Spooler1 {
    pub fn new(spooler: Spooler, authority: Authority, calls: CallCounter) -> Spooler1 {
        Spooler1 {
            spooler,
            authority,
            calls,
            readers: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
        }
    }

    fn queue_or_default(&self, printer: String) -> String {
        if printer.is_empty() {
            self.spooler.default_printer()
        } else {
            printer
        }
    }
}

#[interface(name = "org.printspoold.Spooler1")]
impl Spooler1 {
    /// Queues a document; returns once the job is on disk.
    /// printer: a queue name, or empty for the default queue.
    /// title: the job name.
    /// document: a descriptor of a regular file or a pipe, open for reading.
    /// options: copies (u or i), sides, media, document-format,
    /// job-hold-until, orientation-requested (u or i),
    /// print-quality (u or i), print-color-mode.
    /// Errors: UnknownPrinter, InvalidOption, UnreadableDocument,
    /// DocumentTooLarge, NotPossible, TooManyJobs (a cap of
    /// [server.limits] on active jobs, in total or of the caller),
    /// ServiceUnavailable.
    #[zbus(out_args("job_id"))]
    async fn submit_job(
        &self,
        #[zbus(header)] header: Header<'_>,
        printer: String,
        title: String,
        document: zvariant::OwnedFd,
        options: HashMap<String, OwnedValue>,
    ) -> Result<u32, Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        let printer = self.queue_or_default(printer);
        // Cheap refusals first, before reading a byte of the document.
        if self.spooler.printer(&printer).is_none() {
            return Err(Error::UnknownPrinter(format!(
                "no printer named \"{}\"",
                crate::logging::sanitize(&printer, 128).escape_debug()
            )));
        }
        let options = convert::parse_options(&options)?;
        let document = document::check(document.into())?;
        let Ok(_reading) = self.readers.clone().try_acquire_owned() else {
            return Err(Error::ServiceUnavailable(format!(
                "{MAX_CONCURRENT_READS} documents are being received already; try again shortly"
            )));
        };
        let staged = document::stage(&self.spooler, document, document::PIPE_IDLE_TIMEOUT).await?;
        let new = NewJob {
            printer,
            owner: requester.user,
            name: convert::sanitize_title(&title),
            origin: Origin::Dbus,
            identity: Assurance::Verified,
            ticket: options.ticket,
            tcp_peer: None,
        };
        let job = self.spooler.submit(new, options.format, staged).await?;
        Ok(job.id)
    }

    /// Cancels a job. Its owner may, and root and the admin group.
    /// Errors: UnknownJob, NotPermitted, NotPossible.
    async fn cancel_job(
        &self,
        #[zbus(header)] header: Header<'_>,
        job_id: u32,
    ) -> Result<(), Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        self.spooler.cancel(job_id, &requester).await?;
        Ok(())
    }

    /// Holds a pending job until ReleaseJob. Same rights as CancelJob.
    /// Errors: UnknownJob, NotPermitted, NotPossible.
    async fn hold_job(&self, #[zbus(header)] header: Header<'_>, job_id: u32) -> Result<(), Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        self.spooler.hold(job_id, &requester).await?;
        Ok(())
    }

    /// Releases a held job. Same rights as CancelJob.
    /// Errors: UnknownJob, NotPermitted, NotPossible.
    async fn release_job(
        &self,
        #[zbus(header)] header: Header<'_>,
        job_id: u32,
    ) -> Result<(), Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        self.spooler.release(job_id, &requester).await?;
        Ok(())
    }

    /// One job: id (u), printer, owner, name, state, state-reasons (as),
    /// message, format, size (t), created (t, Unix seconds), origin.
    /// format and size are absent until the job has its document; owner
    /// and name are absent unless the caller owns the job or is an
    /// administrator (job_private_values).
    /// Errors: UnknownJob.
    #[zbus(out_args("job"))]
    async fn get_job(
        &self,
        #[zbus(header)] header: Header<'_>,
        job_id: u32,
    ) -> Result<VariantDict, Error> {
        let requester = self.authority.requester(&header).await?;
        let private = self.spooler.job_private_values();
        match self.spooler.job(job_id) {
            Some(job) => Ok(convert::job_dict(
                &job,
                requester.disclosure(&job, &private),
            )),
            None => Err(Error::UnknownJob(format!("no job {job_id}"))),
        }
    }

    /// Jobs of every queue, as GetJob returns them.
    /// which: not-completed (oldest first), completed (newest first) or all.
    /// At most `list_jobs_default_limit` jobs (`[server.limits]`).
    /// Errors: InvalidArgument.
    #[zbus(out_args("jobs"))]
    async fn list_jobs(
        &self,
        #[zbus(header)] header: Header<'_>,
        which: String,
    ) -> Result<Vec<VariantDict>, Error> {
        let filter = JobFilter {
            printer: None,
            which: convert::parse_which(&which)?,
            owner: None,
            limit: None,
        };
        let requester = self.authority.requester(&header).await?;
        let private = self.spooler.job_private_values();
        Ok(self
            .spooler
            .jobs(&filter)
            .iter()
            .map(|job| convert::job_dict(job, requester.disclosure(job, &private)))
            .collect())
    }

    /// Every queue, the default first: name, is-default (b), info,
    /// location, make-and-model, state, state-reasons (as),
    /// accepting-jobs (b), queued-jobs (u), formats (as), and device-id
    /// for printers that report one.
    #[zbus(out_args("printers"))]
    async fn list_printers(&self) -> Vec<VariantDict> {
        self.spooler
            .printers()
            .iter()
            .map(convert::printer_dict)
            .collect()
    }

    /// Stops a queue from printing; it still accepts jobs.
    /// Root and the admin group only. Errors: UnknownPrinter, NotPermitted.
    async fn pause_printer(
        &self,
        #[zbus(header)] header: Header<'_>,
        printer: String,
    ) -> Result<(), Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        self.spooler.pause(&printer, &requester)?;
        Ok(())
    }

    /// Lets a paused queue print again.
    /// Root and the admin group only. Errors: UnknownPrinter, NotPermitted.
    async fn resume_printer(
        &self,
        #[zbus(header)] header: Header<'_>,
        printer: String,
    ) -> Result<(), Error> {
        let _call = self.calls.enter();
        let requester = self.authority.requester(&header).await?;
        self.spooler.resume(&printer, &requester)?;
        Ok(())
    }

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// Queue names, the default first. PropertiesChanged follows
    /// PrinterAdded and PrinterRemoved.
    #[zbus(property)]
    fn printers(&self) -> Vec<String> {
        self.spooler
            .printers()
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    /// A job changed state. state: an IPP job-state keyword (pending,
    /// pending-held, processing, processing-stopped, canceled, aborted,
    /// completed); reasons: job-state-reasons keywords.
    #[zbus(signal)]
    pub async fn job_state_changed(
        emitter: &SignalEmitter<'_>,
        job_id: u32,
        state: &str,
        reasons: &[String],
    ) -> zbus::Result<()>;

    /// A queue was configured.
    #[zbus(signal)]
    pub async fn printer_added(emitter: &SignalEmitter<'_>, printer: &str) -> zbus::Result<()>;

    /// A queue was removed from the configuration.
    #[zbus(signal)]
    pub async fn printer_removed(emitter: &SignalEmitter<'_>, printer: &str) -> zbus::Result<()>;

    /// A queue changed state. state: idle, processing or stopped;
    /// reasons: printer-state-reasons keywords.
    #[zbus(signal)]
    pub async fn printer_state_changed(
        emitter: &SignalEmitter<'_>,
        printer: &str,
        state: &str,
        reasons: &[String],
    ) -> zbus::Result<()>;
}
