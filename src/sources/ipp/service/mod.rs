//! The IPP service: every operation of RFC 8011 / PWG 5100.12 that
//! printspoold implements, answered against the job core.
//!
//! One request goes: [`IppService::handle`] checks the HTTP side (method,
//! path, `Content-Type`); [`read_attributes`] reads just the attribute
//! section of the body; [`validate`] applies RFC 8011 4.1 in order; then one
//! operation of [`ops_jobs`] or [`ops_printer`] runs. Print-Job and
//! Send-Document stream the rest of the body into the spool in 64 KiB
//! pieces, so a document is never held in memory whole.
//!
//! - [`validate`]: the protocol checks; [`ticket`]: Job Template attributes to
//!   a [`JobTicket`](crate::core::JobTicket); [`capabilities`]: what the queues
//!   support (advertised and accepted from the same table);
//! - [`printer_attrs`], [`job_attrs`], [`requested`]: what answers contain;
//! - [`uri`]: the URIs handed out and accepted; [`status_page`]: `GET`.
//!
//! Who asks: over TCP, the client's `requesting-user-name`, a claimed
//! identity (unverifiable, so TCP clients are never administrators and
//! never act on a verified user's job); over the Unix socket, the user the
//! kernel reports for the peer (`SO_PEERCRED`), a verified identity the
//! client cannot forge. See [`Requester`] for the rules.

mod attr;
/// What printers accept: one table for IPP and D-Bus tickets alike.
pub(crate) mod capabilities;
mod clock;
mod job_attrs;
mod ops_jobs;
mod ops_printer;
mod printer_attrs;
mod requested;
mod status_page;
mod ticket;
mod uri;
mod validate;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;

use crate::core::{CoreError, Job, JobCap, PrinterInfo, Requester, Spooler};
use crate::sources::ipp::http::{Body, BodyError, Handler, HttpRequest, Peer, Response};
use crate::spool::{SpoolError, StagedDocument};
use ipp_proto::decode::{DecodeError, DecodeLimits, decode_request};
use ipp_proto::encode_message;
use ipp_proto::value::{
    Attribute, DelimiterTag, END_OF_ATTRIBUTES, Group, Message, Operation, StatusCode, Value,
};

use self::uri::UriTarget;
use self::validate::IppRefusal;

/// What the daemon's configuration decides for the service.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    /// Bounds on the attribute section of a request.
    pub decode_limits: DecodeLimits,
    /// Local (Unix socket) users whose primary group is this one are
    /// administrators, as is root.
    pub admin_group_gid: Option<u32>,
}

/// Answers IPP over HTTP, and `GET` with HTML status pages.
pub struct IppService {
    spooler: Spooler,
    settings: ServiceSettings,
    printer_cache: printer_attrs::StaticCache,
}

impl IppService {
    pub fn new(spooler: Spooler, settings: ServiceSettings) -> Self {
        IppService {
            spooler,
            settings,
            printer_cache: printer_attrs::StaticCache::new(machine_id()),
        }
    }

    async fn serve(&self, req: &HttpRequest, body: &mut Body<'_>) -> Response {
        match req.method.as_str() {
            "POST" => self.serve_post(req, body).await,
            "GET" => {
                let requester = requester(&req.peer, None, self.settings.admin_group_gid);
                status_page::serve_get(&self.spooler, req, &requester)
            }
            "OPTIONS" => Response::text(200, ""),
            _ => Response::text(405, "Only GET and POST are supported here.\n"),
        }
    }

    async fn serve_post(&self, req: &HttpRequest, body: &mut Body<'_>) -> Response {
        if uri::parse_path(&req.path) == UriTarget::Unknown {
            return Response::text(404, "No printer or job here.\n");
        }
        if !is_ipp_content_type(req.header("content-type")) {
            return Response::text(
                400,
                "POST requests must carry Content-Type: application/ipp.\n",
            );
        }
        let host = uri::authority(req.host());
        let mut buf = Vec::new();
        match read_attributes(body, &mut buf, &self.settings.decode_limits).await {
            Ok((msg, offset, ended)) => {
                let head = buf.get(offset..).unwrap_or_default();
                let mut document = Document {
                    head,
                    rest: if ended { None } else { Some(body) },
                };
                Response::ipp(self.answer(&msg, &req.peer, &host, &mut document).await)
            }
            Err(AttributeReadError::Body(e)) => body_error_response(&e),
            Err(AttributeReadError::Malformed(e)) => {
                tracing::debug!(peer = %req.peer, "refused IPP request: {e}");
                let version = e.version.map_or((1, 1), validate::response_version);
                let reply = IppReply::error(e.status(), e.kind.to_string());
                Response::ipp(reply.encode(version, e.request_id.unwrap_or(0)))
            }
        }
    }

    /// Validates `msg`, runs its operation and encodes the answer.
    async fn answer(
        &self,
        msg: &Message,
        peer: &Peer,
        host: &str,
        document: &mut Document<'_, '_>,
    ) -> Vec<u8> {
        let version = validate::response_version(msg.version);
        let reply = match validate::check(msg) {
            Err(refusal) => IppReply::from(refusal),
            Ok(checked) => {
                let ctx = Ctx {
                    msg,
                    host,
                    requester: requester(peer, Some(msg), self.settings.admin_group_gid),
                    tcp_peer: match peer {
                        Peer::Tcp(addr) => Some(addr.ip()),
                        Peer::Unix { .. } => None,
                    },
                    now: crate::clock::unix_now(),
                };
                self.dispatch(checked.op, &ctx, document)
                    .await
                    .with_ignored(checked.ignored)
            }
        };
        if !reply.is_success() {
            tracing::debug!(
                peer = %peer,
                op = msg.code,
                "IPP {}: {}",
                reply.status.keyword(),
                reply.message.as_deref().unwrap_or("")
            );
        }
        reply.encode(version, msg.request_id)
    }

    async fn dispatch(
        &self,
        op: Operation,
        ctx: &Ctx<'_>,
        document: &mut Document<'_, '_>,
    ) -> IppReply {
        let result = match op {
            Operation::PrintJob => self.print_job(ctx, document).await,
            Operation::ValidateJob => self.validate_job(ctx),
            Operation::CreateJob => self.create_job(ctx).await,
            Operation::SendDocument => self.send_document(ctx, document).await,
            Operation::CancelJob => self.cancel_job(ctx).await,
            Operation::GetJobAttributes => self.get_job_attributes(ctx),
            Operation::GetJobs => self.get_jobs(ctx),
            Operation::GetPrinterAttributes => self.get_printer_attributes(ctx),
            Operation::HoldJob => self.hold_job(ctx).await,
            Operation::ReleaseJob => self.release_job(ctx).await,
            Operation::PausePrinter => self.pause_printer(ctx),
            Operation::ResumePrinter => self.resume_printer(ctx),
            Operation::IdentifyPrinter => self.identify_printer(ctx),
        };
        result.unwrap_or_else(|refusal| refusal)
    }

    /// The queue a printer operation targets (`printer-uri`).
    fn target_printer(&self, ctx: &Ctx<'_>) -> Result<PrinterInfo, IppReply> {
        let printer_uri = ctx.str_attr("printer-uri").unwrap_or_default();
        let name = match uri::parse_uri(printer_uri) {
            UriTarget::Root | UriTarget::DefaultPrinter => self.spooler.default_printer(),
            UriTarget::Printer(name) => name.to_string(),
            _ => return Err(no_printer(printer_uri)),
        };
        self.spooler
            .printer(&name)
            .ok_or_else(|| no_printer(printer_uri))
    }

    /// The job a job operation targets: `job-uri`, or `printer-uri` and
    /// `job-id` (the job must then be on that queue, or the URI must name
    /// no queue: `/` or `/jobs`).
    fn target_job(&self, ctx: &Ctx<'_>) -> Result<Job, IppReply> {
        if let Some(job_uri) = ctx.str_attr("job-uri") {
            let UriTarget::Job(id) = uri::parse_uri(job_uri) else {
                return Err(IppReply::error(
                    StatusCode::ClientErrorNotFound,
                    format!("job-uri {job_uri:?} names no job"),
                ));
            };
            return self.spooler.job(id).ok_or_else(|| no_job(id));
        }
        let id = ctx
            .int_attr("job-id")
            .and_then(|id| u32::try_from(id).ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                IppReply::error(StatusCode::ClientErrorNotFound, "job-id must be positive")
            })?;
        let printer_uri = ctx.str_attr("printer-uri").unwrap_or_default();
        let queue = match uri::parse_uri(printer_uri) {
            UriTarget::Root | UriTarget::AllJobs => None,
            UriTarget::DefaultPrinter => Some(self.spooler.default_printer()),
            UriTarget::Printer(name) => Some(name.to_string()),
            UriTarget::Job(_) | UriTarget::Unknown => return Err(no_printer(printer_uri)),
        };
        match self.spooler.job(id) {
            Some(job) if queue.as_ref().is_none_or(|q| *q == job.printer) => Ok(job),
            _ => Err(no_job(id)),
        }
    }
}

impl Handler for IppService {
    fn handle<'a>(
        &'a self,
        req: &'a HttpRequest,
        body: &'a mut Body<'_>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        Box::pin(self.serve(req, body))
    }
}

/// One validated request and who sent it.
pub(super) struct Ctx<'m> {
    pub msg: &'m Message,
    /// The authority for URIs in the answer.
    pub host: &'m str,
    pub requester: Requester,
    /// The client's address over TCP, for the per-address job cap.
    pub tcp_peer: Option<std::net::IpAddr>,
    /// Unix seconds when the request was taken up.
    pub now: u64,
}

impl Ctx<'_> {
    fn op_value(&self, name: &str) -> Option<&Value> {
        self.msg.operation_attr(name).and_then(attr::single)
    }

    pub(super) fn str_attr(&self, name: &str) -> Option<&str> {
        self.op_value(name).and_then(Value::as_str)
    }

    pub(super) fn int_attr(&self, name: &str) -> Option<i32> {
        match self.op_value(name) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    pub(super) fn bool_attr(&self, name: &str) -> Option<bool> {
        match self.op_value(name) {
            Some(Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }
}

/// An operation's answer before encoding.
#[derive(Debug)]
pub(super) struct IppReply {
    status: StatusCode,
    message: Option<String>,
    unsupported: Vec<Attribute>,
    groups: Vec<Group>,
    /// Encoded attributes that continue the last group (the cached static
    /// printer attributes, see [`printer_attrs`]).
    tail: Vec<u8>,
}

impl IppReply {
    pub(super) fn ok() -> Self {
        IppReply {
            status: StatusCode::SuccessfulOk,
            message: None,
            unsupported: Vec::new(),
            groups: Vec::new(),
            tail: Vec::new(),
        }
    }

    pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        IppReply {
            status,
            message: Some(message.into()),
            ..IppReply::ok()
        }
    }

    pub(super) fn with_group(mut self, group: Group) -> Self {
        self.groups.push(group);
        self
    }

    /// The printer group: `attributes`, then the already encoded `tail`.
    pub(super) fn with_printer_group(mut self, attributes: Vec<Attribute>, tail: Vec<u8>) -> Self {
        self.groups.push(Group {
            tag: DelimiterTag::Printer,
            attributes,
        });
        self.tail = tail;
        self
    }

    /// Attributes that were not supported. On success they were ignored,
    /// and the status says so (RFC 8011 4.1.7).
    pub(super) fn with_ignored(mut self, attributes: Vec<Attribute>) -> Self {
        if attributes.is_empty() {
            return self;
        }
        if self.status == StatusCode::SuccessfulOk {
            self.status = StatusCode::SuccessfulOkIgnoredOrSubstituted;
        }
        self.unsupported.extend(attributes);
        self
    }

    /// Attributes that made the request fail, returned for the client to see.
    pub(super) fn with_unsupported(mut self, attributes: Vec<Attribute>) -> Self {
        self.unsupported.extend(attributes);
        self
    }

    pub(super) fn is_success(&self) -> bool {
        (self.status as u16) < 0x0100
    }

    /// The answer on the wire: charset and language first (RFC 8011 4.1.4),
    /// then `status-message`, the unsupported group and the rest.
    fn encode(self, version: (u8, u8), request_id: u32) -> Vec<u8> {
        let mut operation = Group::new(DelimiterTag::Operation);
        operation.push(Attribute::new(
            "attributes-charset",
            Value::Charset("utf-8".into()),
        ));
        operation.push(Attribute::new(
            "attributes-natural-language",
            Value::NaturalLanguage("en".into()),
        ));
        if let Some(message) = &self.message {
            operation.push(attr::text("status-message", attr::clip_chars(message, 255)));
        }
        let mut groups = Vec::with_capacity(2 + self.groups.len());
        groups.push(operation);
        if !self.unsupported.is_empty() {
            groups.push(Group {
                tag: DelimiterTag::Unsupported,
                attributes: self.unsupported,
            });
        }
        groups.extend(self.groups);
        let msg = Message {
            version,
            code: self.status as u16,
            request_id,
            groups,
        };
        let mut out = Vec::with_capacity(256 + self.tail.len());
        encode_message(&msg, &mut out);
        if !self.tail.is_empty() {
            // The encoder ends with end-of-attributes: put the tail before it.
            out.pop();
            out.extend_from_slice(&self.tail);
            out.push(END_OF_ATTRIBUTES);
        }
        out
    }
}

impl From<IppRefusal> for IppReply {
    fn from(refusal: IppRefusal) -> Self {
        IppReply::error(refusal.status, refusal.message)
    }
}

impl From<CoreError> for IppReply {
    fn from(error: CoreError) -> Self {
        IppReply::error(core_status(&error), error.to_string())
    }
}

/// RFC 8011 appendix B status for each core error.
fn core_status(error: &CoreError) -> StatusCode {
    match error {
        CoreError::UnknownPrinter(_) | CoreError::UnknownJob(_) => StatusCode::ClientErrorNotFound,
        // No credentials would help: over TCP nobody is an administrator.
        CoreError::NotPermitted { .. } | CoreError::AdminOnly(_) => {
            StatusCode::ClientErrorForbidden
        }
        // The name is understood; a claim of it is not enough (RFC 8011
        // 13.1.4.4).
        CoreError::ClaimNotVerified { .. } => StatusCode::ClientErrorNotAuthorized,
        CoreError::NotPossible(_) => StatusCode::ClientErrorNotPossible,
        // As CUPS: MaxJobs is the server's, a per-user quota the client's.
        CoreError::TooManyJobs {
            cap: JobCap::Total, ..
        } => StatusCode::ServerErrorTooManyJobs,
        CoreError::TooManyJobs { .. } => StatusCode::ClientErrorNotPossible,
        CoreError::OneDocumentPerJob(_) => StatusCode::ServerErrorMultipleDocumentJobsNotSupported,
        CoreError::NotAcceptingJobs(_) => StatusCode::ServerErrorNotAcceptingJobs,
        CoreError::TooLarge { .. } => StatusCode::ClientErrorRequestEntityTooLarge,
        CoreError::Spool(e) => spool_status(e),
        CoreError::ShuttingDown => StatusCode::ServerErrorServiceUnavailable,
    }
}

fn spool_status(error: &SpoolError) -> StatusCode {
    match error {
        SpoolError::TooLarge { .. } => StatusCode::ClientErrorRequestEntityTooLarge,
        // A full disk clears up; the client may try again later.
        e if e.is_no_space() => StatusCode::ServerErrorTemporaryError,
        _ => StatusCode::ServerErrorInternalError,
    }
}

fn spool_reply(error: SpoolError) -> IppReply {
    let status = spool_status(&error);
    if status == StatusCode::ServerErrorInternalError {
        tracing::error!("spooling a document failed: {error}");
    }
    IppReply::error(status, error.to_string())
}

fn no_printer(printer_uri: &str) -> IppReply {
    IppReply::error(
        StatusCode::ClientErrorNotFound,
        format!("no printer at {printer_uri:?}"),
    )
}

fn no_job(id: u32) -> IppReply {
    IppReply::error(StatusCode::ClientErrorNotFound, format!("no job {id}"))
}

/// The document data after the attributes: what was read with them, and
/// the rest of the body, if the body has not ended.
pub(super) struct Document<'r, 'b> {
    pub head: &'r [u8],
    pub rest: Option<&'r mut Body<'b>>,
}

/// Size of the pieces a document is streamed to the spool in.
const DOCUMENT_CHUNK: usize = 64 * 1024;

impl Document<'_, '_> {
    /// Streams the whole document into a new spool file; `None` when there
    /// is no document data at all.
    pub(super) async fn stage(
        &mut self,
        spooler: &Spooler,
    ) -> Result<Option<StagedDocument>, IppReply> {
        let mut staging = spooler.stage_document().await?;
        staging.write(self.head).await.map_err(spool_reply)?;
        if let Some(body) = self.rest.take() {
            let mut chunk = vec![0u8; DOCUMENT_CHUNK];
            loop {
                let n = body.read(&mut chunk).await.map_err(|e| body_reply(&e))?;
                if n == 0 {
                    break;
                }
                staging.write(&chunk[..n]).await.map_err(spool_reply)?;
            }
        }
        if staging.is_empty() {
            return Ok(None);
        }
        staging.finish().await.map(Some).map_err(spool_reply)
    }
}

/// The transport replaces this answer with its own 400/408/413 and
/// closes; the IPP status is for the log and for tests.
fn body_reply(error: &BodyError) -> IppReply {
    IppReply::error(
        StatusCode::ClientErrorBadRequest,
        format!("reading the request failed: {error}"),
    )
}

fn body_error_response(error: &BodyError) -> Response {
    let mut response = Response::text(
        error.status().unwrap_or(400),
        "The request body could not be read.\n",
    );
    response.close = true;
    response
}

enum AttributeReadError {
    Body(BodyError),
    Malformed(DecodeError),
}

/// First read when the body's length is unknown (chunked): enough for any
/// request without a document.
const FIRST_READ: usize = 8 * 1024;

/// Reads until the attribute section decodes. Returns the message, where
/// the document starts in `buf`, and whether the body has ended. Reading
/// stops at the limit: a longer attribute section is refused by the
/// decoder ([`MessageTooLarge`](ipp_proto::decode::DecodeErrorKind::MessageTooLarge))
/// without waiting for it.
async fn read_attributes(
    body: &mut Body<'_>,
    buf: &mut Vec<u8>,
    limits: &DecodeLimits,
) -> Result<(Message, usize, bool), AttributeReadError> {
    let cap = limits.max_total_bytes.saturating_add(1);
    let mut want = match body.content_length() {
        Some(len) => usize::try_from(len).unwrap_or(usize::MAX).min(cap),
        None => FIRST_READ.min(cap),
    };
    loop {
        let ended = body
            .fill(buf, want)
            .await
            .map_err(AttributeReadError::Body)?;
        match decode_request(buf, limits) {
            Ok((msg, offset)) => return Ok((msg, offset, ended)),
            Err(e) if e.is_incomplete() && !ended && buf.len() < cap => {
                want = want.saturating_mul(2).max(buf.len() + 1).min(cap);
            }
            Err(e) => return Err(AttributeReadError::Malformed(e)),
        }
    }
}

fn is_ipp_content_type(value: Option<&str>) -> bool {
    value.is_some_and(|v| crate::docformat::base_type(v).eq_ignore_ascii_case("application/ipp"))
}

/// Who asks; see the module documentation. `msg` is the IPP request, if
/// any: a `GET` over TCP names nobody (`anonymous`).
fn requester(peer: &Peer, msg: Option<&Message>, admin_gid: Option<u32>) -> Requester {
    match peer {
        // Supplementary groups count too: an administrator is usually in
        // lpadmin without it being their primary group.
        Peer::Unix { uid, .. } => Requester::verified(
            local_user_name(*uid),
            crate::identity::is_admin(*uid, admin_gid),
        ),
        Peer::Tcp(_) => Requester::claimed(msg.map_or_else(anonymous, requesting_user_name)),
    }
}

/// The sanitized `requesting-user-name`, or `anonymous`.
fn requesting_user_name(msg: &Message) -> String {
    let name = msg
        .operation_attr("requesting-user-name")
        .and_then(attr::single)
        .and_then(Value::as_str)
        .map(|n| attr::sanitize(n, attr::NAME_MAX))
        .unwrap_or_default();
    if name.is_empty() { anonymous() } else { name }
}

/// The user of a TCP request that names none.
fn anonymous() -> String {
    "anonymous".to_string()
}

/// The login name of `uid` from the user database, or the number when it
/// has none (a container's unmapped user): `uid<N>`, as D-Bus and the
/// drop directory name it, so the same uid owns its jobs on every path.
fn local_user_name(uid: u32) -> String {
    crate::identity::user_name(uid)
        .map(|n| attr::sanitize(&n, attr::NAME_MAX))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("uid{uid}"))
}

/// `/etc/machine-id` when readable (it seeds `printer-uuid`), else empty.
fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
