//! Job operations: Print-Job, Validate-Job, Create-Job, Send-Document
//! (RFC 8011 4.2.1-4.2.4, 4.3.1), Cancel-Job, Get-Job-Attributes, Get-Jobs,
//! Hold-Job, Release-Job (4.3.3-4.3.6, 4.2.6).

use crate::core::{CoreError, Job, JobFilter, NewJob, Origin, PrinterInfo, WhichJobs};
use crate::docformat;
use ipp_proto::value::{Attribute, DelimiterTag, StatusCode, Value};

use super::job_attrs::{self, JobView};
use super::requested::Requested;
use super::{Ctx, Document, IppReply, IppService, attr, ticket};

impl IppService {
    pub(super) async fn print_job(
        &self,
        ctx: &Ctx<'_>,
        document: &mut Document<'_, '_>,
    ) -> Result<IppReply, IppReply> {
        let printer = self.target_printer(ctx)?;
        let format = document_format(ctx, &printer)?;
        check_compression(ctx)?;
        let (new_job, ignored) = new_job(ctx, &printer)?;
        // Refuse before reading the document when the queue would anyway.
        self.spooler.validate(&new_job)?;
        let staged = document.stage(&self.spooler).await?.ok_or_else(|| {
            IppReply::error(
                StatusCode::ClientErrorBadRequest,
                "Print-Job carries no document data",
            )
        })?;
        let job = self.spooler.submit(new_job, format, staged).await?;
        Ok(self.job_answer(ctx, &job).with_ignored(ignored))
    }

    pub(super) fn validate_job(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let printer = self.target_printer(ctx)?;
        document_format(ctx, &printer)?;
        check_compression(ctx)?;
        let (new_job, ignored) = new_job(ctx, &printer)?;
        self.spooler.validate(&new_job)?;
        Ok(IppReply::ok().with_ignored(ignored))
    }

    pub(super) async fn create_job(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let printer = self.target_printer(ctx)?;
        let (new_job, ignored) = new_job(ctx, &printer)?;
        let job = self.spooler.create_job(new_job).await?;
        Ok(self.job_answer(ctx, &job).with_ignored(ignored))
    }

    pub(super) async fn send_document(
        &self,
        ctx: &Ctx<'_>,
        document: &mut Document<'_, '_>,
    ) -> Result<IppReply, IppReply> {
        let job = self.target_job(ctx)?;
        let last = ctx.bool_attr("last-document").ok_or_else(|| {
            IppReply::error(
                StatusCode::ClientErrorBadRequest,
                "Send-Document needs last-document",
            )
        })?;
        let printer = self.spooler.printer(&job.printer).ok_or_else(|| {
            IppReply::error(
                StatusCode::ClientErrorNotPossible,
                "the job's printer is gone",
            )
        })?;
        let format = document_format(ctx, &printer)?;
        check_compression(ctx)?;
        refuse_early(ctx, &job)?;
        let staged = document.stage(&self.spooler).await?;
        let job = self
            .spooler
            .add_document(job.id, &ctx.requester, format, staged, last)
            .await?;
        Ok(self.job_answer(ctx, &job))
    }

    pub(super) async fn cancel_job(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let job = self.target_job(ctx)?;
        let job = self.spooler.cancel(job.id, &ctx.requester).await?;
        tracing::info!(id = job.id, by = %ctx.requester.user, "job canceled");
        Ok(IppReply::ok())
    }

    pub(super) async fn hold_job(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let job = self.target_job(ctx)?;
        // Only `indefinite` is implemented; any other time is substituted.
        let substituted = match ctx.msg.operation_attr("job-hold-until") {
            Some(a) if attr::single(a).and_then(Value::as_str) != Some("indefinite") => {
                vec![a.clone()]
            }
            _ => Vec::new(),
        };
        self.spooler.hold(job.id, &ctx.requester).await?;
        Ok(IppReply::ok().with_ignored(substituted))
    }

    pub(super) async fn release_job(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let job = self.target_job(ctx)?;
        self.spooler.release(job.id, &ctx.requester).await?;
        Ok(IppReply::ok())
    }

    pub(super) fn get_job_attributes(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let job = self.target_job(ctx)?;
        let view = self.job_view(ctx);
        let wanted = Requested::from_request(ctx.msg, Requested::all());
        Ok(IppReply::ok().with_group(job_attrs::render(&job, &view, &wanted)))
    }

    pub(super) fn get_jobs(&self, ctx: &Ctx<'_>) -> Result<IppReply, IppReply> {
        let filter = JobFilter {
            printer: self.jobs_scope(ctx)?,
            which: which_jobs(ctx)?,
            owner: (ctx.bool_attr("my-jobs") == Some(true)).then(|| ctx.requester.user.clone()),
            limit: limit(ctx)?,
        };
        let wanted =
            Requested::from_request(ctx.msg, Requested::names(&job_attrs::GET_JOBS_DEFAULT));
        let view = self.job_view(ctx);
        // A `limit` above the maximum is lowered, and the client told so
        // (RFC 8011 4.1.7: substituted values come back as unsupported).
        let lowered = match (ctx.int_attr("limit"), filter.limit) {
            (Some(asked), Some(n)) if n > self.spooler.job_limits().list_max => {
                vec![attr::integer("limit", asked)]
            }
            _ => Vec::new(),
        };
        let mut reply = IppReply::ok();
        for job in self.spooler.jobs(&filter) {
            reply = reply.with_group(job_attrs::render(&job, &view, &wanted));
        }
        Ok(reply.with_ignored(lowered))
    }

    /// How jobs look to this request's requester (private values).
    fn job_view<'c>(&self, ctx: &'c Ctx<'_>) -> JobView<'c> {
        JobView {
            host: ctx.host,
            now: ctx.now,
            requester: &ctx.requester,
            private: self.spooler.job_private_values(),
        }
    }

    /// What job creation answers with (RFC 8011 4.2.1.2).
    fn job_answer(&self, ctx: &Ctx<'_>, job: &Job) -> IppReply {
        let wanted = Requested::names(&job_attrs::CREATION_ANSWER);
        IppReply::ok().with_group(job_attrs::render(job, &self.job_view(ctx), &wanted))
    }

    /// The queue Get-Jobs lists: `None` for every queue (`/`, `/jobs`).
    fn jobs_scope(&self, ctx: &Ctx<'_>) -> Result<Option<String>, IppReply> {
        use super::uri::{UriTarget, parse_uri};
        match parse_uri(ctx.str_attr("printer-uri").unwrap_or_default()) {
            UriTarget::Root | UriTarget::AllJobs => Ok(None),
            _ => self.target_printer(ctx).map(|p| Some(p.name)),
        }
    }
}

/// The job the request describes, and the job attributes it asked for
/// that are ignored (ipp-attribute-fidelity false). With fidelity true,
/// any unsupported attribute refuses the job (RFC 8011 4.2.1.1).
fn new_job(ctx: &Ctx<'_>, printer: &PrinterInfo) -> Result<(NewJob, Vec<Attribute>), IppReply> {
    let job_group = ctx
        .msg
        .group(DelimiterTag::Job)
        .map(|g| g.attributes.as_slice())
        .unwrap_or_default();
    // CUPS clients (and ipptool's print-job-hold.test) may send
    // job-hold-until among the operation attributes; CUPS honours it
    // there, so a hold is never silently lost. The job group wins.
    let misplaced_hold = ctx
        .msg
        .operation_attr("job-hold-until")
        .filter(|_| !job_group.iter().any(|a| a.name == "job-hold-until"));
    let parsed = ticket::parse(misplaced_hold.into_iter().chain(job_group))
        .map_err(|message| IppReply::error(StatusCode::ClientErrorBadRequest, message))?;
    let fidelity = ctx.bool_attr("ipp-attribute-fidelity").unwrap_or(false);
    if fidelity && !parsed.unsupported.is_empty() {
        return Err(IppReply::error(
            StatusCode::ClientErrorAttributesOrValuesNotSupported,
            "some job attributes are not supported and ipp-attribute-fidelity is true",
        )
        .with_unsupported(parsed.unsupported));
    }
    let job = NewJob {
        printer: printer.name.clone(),
        owner: ctx.requester.user.clone(),
        name: job_name(ctx),
        origin: Origin::Ipp,
        identity: ctx.requester.identity,
        ticket: parsed.ticket,
        tcp_peer: ctx.tcp_peer,
    };
    Ok((job, parsed.unsupported))
}

/// `job-name`, else `document-name`, else `untitled`; sanitized.
fn job_name(ctx: &Ctx<'_>) -> String {
    ["job-name", "document-name"]
        .iter()
        .filter_map(|name| ctx.str_attr(name))
        .map(|name| attr::sanitize(name, attr::NAME_MAX))
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "untitled".to_string())
}

/// The declared `document-format`, checked against the queue's list. `None`
/// (absent or octet-stream) lets the core sense the format.
fn document_format(ctx: &Ctx<'_>, printer: &PrinterInfo) -> Result<Option<String>, IppReply> {
    let Some(declared) = ctx.str_attr("document-format") else {
        return Ok(None);
    };
    let base = docformat::base_type(declared);
    if base.eq_ignore_ascii_case(docformat::OCTET_STREAM) {
        return Ok(None);
    }
    if printer.formats.iter().any(|f| f.eq_ignore_ascii_case(base)) {
        return Ok(Some(base.to_ascii_lowercase()));
    }
    Err(IppReply::error(
        StatusCode::ClientErrorDocumentFormatNotSupported,
        format!(
            "document-format {declared:?} is not supported by {}",
            printer.name
        ),
    )
    .with_unsupported(vec![Attribute::new(
        "document-format",
        Value::MimeMediaType(declared.to_string()),
    )]))
}

/// `compression-supported` is `none` (RFC 8011 4.2.1.1).
fn check_compression(ctx: &Ctx<'_>) -> Result<(), IppReply> {
    match ctx.str_attr("compression") {
        None | Some("none") => Ok(()),
        Some(other) => Err(IppReply::error(
            StatusCode::ClientErrorCompressionNotSupported,
            format!("compression {other:?} is not supported"),
        )
        .with_unsupported(vec![attr::keyword("compression", other)])),
    }
}

/// Send-Document: refuses what the core would refuse, before the document
/// is read into the spool. The core still decides (the job may change
/// meanwhile); this only spares a pointless upload.
fn refuse_early(ctx: &Ctx<'_>, job: &Job) -> Result<(), IppReply> {
    ctx.requester.authorize(job, "add a document to")?;
    if job.has_document {
        return Err(CoreError::OneDocumentPerJob(job.id).into());
    }
    if job.state.is_terminal() {
        return Err(IppReply::error(
            StatusCode::ClientErrorNotPossible,
            format!("job {} takes no more documents", job.id),
        ));
    }
    Ok(())
}

/// `which-jobs`: RFC 8011 4.2.6.1 refuses any other value with it in the
/// unsupported group.
fn which_jobs(ctx: &Ctx<'_>) -> Result<WhichJobs, IppReply> {
    match ctx.str_attr("which-jobs") {
        None | Some("not-completed") => Ok(WhichJobs::NotCompleted),
        Some("completed") => Ok(WhichJobs::Completed),
        Some("all") => Ok(WhichJobs::All),
        Some(other) => Err(IppReply::error(
            StatusCode::ClientErrorAttributesOrValuesNotSupported,
            format!("which-jobs {other:?} is not supported"),
        )
        .with_unsupported(vec![attr::keyword("which-jobs", other)])),
    }
}

/// `limit` is `integer(1:MAX)`.
fn limit(ctx: &Ctx<'_>) -> Result<Option<usize>, IppReply> {
    match ctx.int_attr("limit") {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(usize::try_from(n).ok()),
        Some(n) => Err(IppReply::error(
            StatusCode::ClientErrorAttributesOrValuesNotSupported,
            "limit must be at least 1",
        )
        .with_unsupported(vec![attr::integer("limit", n)])),
    }
}
