//! The service against a real job core (spool in a temp directory, file
//! backends), called directly and through the real HTTP transport.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::*;
use crate::config::{DeviceUri, PrinterConfig};
use crate::core::{Assurance, CoreOptions, JobState};
use crate::test_support::TempDir;
use ipp_proto::decode::decode_response;
use ipp_proto::value::ValueTag;

const MAX_DOCUMENT: u64 = 1 << 20;
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

struct Harness {
    service: Arc<IppService>,
    spooler: Spooler,
    dir: TempDir,
}

fn queue(name: &str, out: &Path) -> PrinterConfig {
    PrinterConfig {
        name: name.to_string(),
        device_uri: DeviceUri::File(out.to_path_buf()),
        info: Some(format!("{name} queue")),
        location: Some("Room 1".to_string()),
        make_and_model: None,
        formats: None,
    }
}

async fn harness() -> Harness {
    let dir = TempDir::new("ipp-service");
    let spool = dir.path().join("spool");
    let printers = vec![
        queue("default", &dir.path().join("out")),
        queue("lab", &dir.path().join("lab")),
    ];
    let (spooler, _) = Spooler::start(CoreOptions {
        spool_dir: spool,
        printers,
        default_printer: "default".to_string(),
        max_document_bytes: MAX_DOCUMENT,
    })
    .unwrap();
    let service = Arc::new(IppService::new(spooler.clone(), ServiceSettings::default()));
    Harness {
        service,
        spooler,
        dir,
    }
}

fn tcp_peer() -> Peer {
    Peer::Tcp("127.0.0.1:40000".parse().unwrap())
}

fn root_peer() -> Peer {
    Peer::Unix {
        uid: 0,
        gid: 0,
        pid: None,
    }
}

fn charset_and_language() -> Vec<Attribute> {
    vec![
        Attribute::new("attributes-charset", Value::Charset("utf-8".into())),
        Attribute::new(
            "attributes-natural-language",
            Value::NaturalLanguage("en".into()),
        ),
    ]
}

fn message(op: u16, attributes: Vec<Attribute>) -> Message {
    Message {
        version: (2, 0),
        code: op,
        request_id: 42,
        groups: vec![Group {
            tag: DelimiterTag::Operation,
            attributes,
        }],
    }
}

/// A well-formed request for `op` on `printer_uri` as user `alice`.
fn request(op: Operation, printer_uri: &str, extra: Vec<Attribute>) -> Message {
    let mut attributes = charset_and_language();
    attributes.push(attr::uri("printer-uri", printer_uri.to_string()));
    attributes.push(attr::name("requesting-user-name", "alice"));
    attributes.extend(extra);
    message(op as u16, attributes)
}

fn with_job_group(mut msg: Message, attributes: Vec<Attribute>) -> Message {
    msg.groups.push(Group {
        tag: DelimiterTag::Job,
        attributes,
    });
    msg
}

const DEFAULT_URI: &str = "ipp://h:631/ipp/print";

impl Harness {
    async fn call(&self, msg: &Message, document: &[u8]) -> Message {
        self.call_as(msg, document, &tcp_peer()).await
    }

    async fn call_as(&self, msg: &Message, document: &[u8], peer: &Peer) -> Message {
        let mut document = Document {
            head: document,
            rest: None,
        };
        let bytes = self.service.answer(msg, peer, "h:631", &mut document).await;
        let (answer, _) = decode_response(&bytes, &DecodeLimits::default()).unwrap();
        assert_begins_with_charset_and_language(&answer);
        assert_eq!(answer.request_id, msg.request_id);
        answer
    }

    async fn print(&self, extra: Vec<Attribute>, job: Vec<Attribute>) -> Message {
        let msg = request(Operation::PrintJob, DEFAULT_URI, extra);
        self.call(&with_job_group(msg, job), PDF).await
    }

    async fn create_job(&self) -> u32 {
        let answer = self
            .call(&request(Operation::CreateJob, DEFAULT_URI, vec![]), b"")
            .await;
        assert_eq!(answer.code, StatusCode::SuccessfulOk as u16);
        job_id(&answer)
    }
}

fn assert_begins_with_charset_and_language(answer: &Message) {
    let operation = &answer.groups[0];
    assert_eq!(operation.tag, DelimiterTag::Operation);
    assert_eq!(operation.attributes[0].name, "attributes-charset");
    assert_eq!(
        operation.attributes[0].values,
        vec![Value::Charset("utf-8".into())]
    );
    assert_eq!(operation.attributes[1].name, "attributes-natural-language");
}

fn status(answer: &Message) -> StatusCode {
    let all = [
        StatusCode::SuccessfulOk,
        StatusCode::SuccessfulOkIgnoredOrSubstituted,
        StatusCode::ClientErrorBadRequest,
        StatusCode::ClientErrorForbidden,
        StatusCode::ClientErrorNotAuthorized,
        StatusCode::ClientErrorNotPossible,
        StatusCode::ClientErrorNotFound,
        StatusCode::ClientErrorRequestEntityTooLarge,
        StatusCode::ClientErrorDocumentFormatNotSupported,
        StatusCode::ClientErrorAttributesOrValuesNotSupported,
        StatusCode::ClientErrorCharsetNotSupported,
        StatusCode::ClientErrorCompressionNotSupported,
        StatusCode::ServerErrorOperationNotSupported,
        StatusCode::ServerErrorVersionNotSupported,
        StatusCode::ServerErrorNotAcceptingJobs,
        StatusCode::ServerErrorMultipleDocumentJobsNotSupported,
        StatusCode::ServerErrorTooManyJobs,
    ];
    *all.iter()
        .find(|s| **s as u16 == answer.code)
        .unwrap_or_else(|| panic!("unexpected status {:#06x}", answer.code))
}

fn group(answer: &Message, tag: DelimiterTag) -> &Group {
    answer
        .group(tag)
        .unwrap_or_else(|| panic!("no {tag:?} group in {answer:#?}"))
}

fn value<'m>(answer: &'m Message, tag: DelimiterTag, name: &str) -> &'m Value {
    &group(answer, tag)
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {answer:#?}"))
        .values[0]
}

fn job_id(answer: &Message) -> u32 {
    let id = value(answer, DelimiterTag::Job, "job-id").as_int().unwrap();
    u32::try_from(id).unwrap()
}

fn names(group: &Group) -> Vec<&str> {
    group.attributes.iter().map(|a| a.name.as_str()).collect()
}

// ---- RFC 8011 4.1 validation ----

#[tokio::test]
async fn every_validation_rule_answers_with_its_status() {
    let h = harness().await;
    let gpa = Operation::GetPrinterAttributes;
    let printer_uri = || attr::uri("printer-uri", DEFAULT_URI.to_string());

    let mut zero_id = request(gpa, DEFAULT_URI, vec![]);
    zero_id.request_id = 0;
    let answer = h.call(&zero_id, b"").await;
    assert_eq!(status(&answer), StatusCode::ClientErrorBadRequest);
    assert!(answer.group(DelimiterTag::Printer).is_none());

    let mut old = request(gpa, DEFAULT_URI, vec![]);
    old.version = (0, 0);
    let answer = h.call(&old, b"").await;
    assert_eq!(status(&answer), StatusCode::ServerErrorVersionNotSupported);
    assert_eq!(answer.version, (1, 0), "the closest supported version");

    let cases: Vec<(Message, StatusCode)> = vec![
        (
            message(gpa as u16, vec![]),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            message(
                gpa as u16,
                vec![charset_and_language()[0].clone(), printer_uri()],
            ),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            message(
                gpa as u16,
                vec![
                    charset_and_language()[1].clone(),
                    charset_and_language()[0].clone(),
                    printer_uri(),
                ],
            ),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            message(
                gpa as u16,
                vec![
                    Attribute::new("attributes-charset", Value::Charset("iso-8859-1".into())),
                    charset_and_language()[1].clone(),
                    printer_uri(),
                ],
            ),
            StatusCode::ClientErrorCharsetNotSupported,
        ),
        (
            message(gpa as u16, charset_and_language()),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            request(Operation::GetJobAttributes, DEFAULT_URI, vec![]),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            request(gpa, DEFAULT_URI, vec![attr::text("job-id", "1")]),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            request(
                gpa,
                DEFAULT_URI,
                vec![Attribute::multi(
                    "document-format",
                    vec![
                        Value::MimeMediaType("application/pdf".into()),
                        Value::MimeMediaType("text/plain".into()),
                    ],
                )],
            ),
            StatusCode::ClientErrorBadRequest,
        ),
        (
            {
                let mut m = request(gpa, DEFAULT_URI, vec![]);
                m.code = 0x0099;
                m
            },
            StatusCode::ServerErrorOperationNotSupported,
        ),
        (
            {
                let mut m = request(gpa, DEFAULT_URI, vec![]);
                m.groups.push(Group::new(DelimiterTag::Operation));
                m
            },
            StatusCode::ClientErrorBadRequest,
        ),
        (
            request(gpa, "ipp://h:631/printers/nosuch", vec![]),
            StatusCode::ClientErrorNotFound,
        ),
    ];
    for (msg, expected) in cases {
        let answer = h.call(&msg, b"").await;
        assert_eq!(status(&answer), expected, "for {msg:#?}");
        let message = value(&answer, DelimiterTag::Operation, "status-message");
        assert!(!message.as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unknown_operation_attributes_are_ignored_and_reported() {
    let h = harness().await;
    let msg = request(
        Operation::GetPrinterAttributes,
        DEFAULT_URI,
        vec![attr::keyword("frobnicate", "yes")],
    );
    let answer = h.call(&msg, b"").await;
    assert_eq!(
        status(&answer),
        StatusCode::SuccessfulOkIgnoredOrSubstituted
    );
    let unsupported = group(&answer, DelimiterTag::Unsupported);
    assert_eq!(
        unsupported.get("frobnicate").unwrap().values,
        vec![Value::OutOfBand(ValueTag::UNSUPPORTED)]
    );
}

// ---- Get-Printer-Attributes ----

/// RFC 8011 5.4 REQUIRED, PWG 5100.12 6.2 and what ipptool checks.
const REQUIRED_PRINTER_ATTRIBUTES: [&str; 44] = [
    "printer-uri-supported",
    "uri-security-supported",
    "uri-authentication-supported",
    "printer-name",
    "printer-state",
    "printer-state-reasons",
    "ipp-versions-supported",
    "operations-supported",
    "charset-configured",
    "charset-supported",
    "natural-language-configured",
    "generated-natural-language-supported",
    "document-format-default",
    "document-format-supported",
    "printer-is-accepting-jobs",
    "queued-job-count",
    "pdl-override-supported",
    "printer-up-time",
    "compression-supported",
    "printer-info",
    "printer-location",
    "printer-make-and-model",
    "printer-more-info",
    "color-supported",
    "pages-per-minute",
    "pages-per-minute-color",
    "copies-default",
    "copies-supported",
    "finishings-default",
    "finishings-supported",
    "media-default",
    "media-supported",
    "media-ready",
    "orientation-requested-default",
    "orientation-requested-supported",
    "output-bin-default",
    "output-bin-supported",
    "print-quality-default",
    "print-quality-supported",
    "printer-resolution-default",
    "printer-resolution-supported",
    "sides-default",
    "sides-supported",
    "printer-uuid",
];

#[tokio::test]
async fn get_printer_attributes_answers_every_required_attribute() {
    let h = harness().await;
    let answer = h
        .call(
            &request(Operation::GetPrinterAttributes, DEFAULT_URI, vec![]),
            b"",
        )
        .await;
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    let printer = group(&answer, DelimiterTag::Printer);
    for name in REQUIRED_PRINTER_ATTRIBUTES {
        assert!(printer.get(name).is_some(), "{name} missing");
    }
    let mut seen = names(printer);
    seen.sort_unstable();
    let count = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), count, "an attribute appears twice");
    assert_eq!(
        printer.get("printer-uri-supported").unwrap().values.len(),
        printer.get("uri-security-supported").unwrap().values.len()
    );
    assert_eq!(
        value(&answer, DelimiterTag::Printer, "printer-name"),
        &Value::Name("default".into())
    );
    assert!(
        value(&answer, DelimiterTag::Printer, "printer-up-time")
            .as_int()
            .unwrap()
            > 0
    );
    let ops: Vec<i32> = printer
        .get("operations-supported")
        .unwrap()
        .values
        .iter()
        .filter_map(Value::as_int)
        .collect();
    assert_eq!(ops, Operation::ALL.map(|op| op as i32));
}

#[tokio::test]
async fn requested_attributes_narrow_the_printer_answer() {
    let h = harness().await;
    let only = |values: &[&str]| {
        request(
            Operation::GetPrinterAttributes,
            "ipp://h:631/printers/lab",
            vec![attr::keywords(
                "requested-attributes",
                values.iter().copied(),
            )],
        )
    };
    let answer = h.call(&only(&["printer-uri-supported"]), b"").await;
    let printer = group(&answer, DelimiterTag::Printer);
    assert_eq!(names(printer), ["printer-uri-supported"]);
    assert_eq!(
        printer.get("printer-uri-supported").unwrap().values,
        vec![Value::Uri("ipp://h:631/printers/lab".into())],
    );

    let answer = h.call(&only(&["job-template", "printer-state"]), b"").await;
    let printer = group(&answer, DelimiterTag::Printer);
    assert!(printer.get("printer-state").is_some());
    assert!(printer.get("sides-supported").is_some());
    assert!(printer.get("printer-name").is_none());
}

// ---- jobs ----

#[tokio::test]
async fn print_job_answers_with_the_job_and_both_job_addresses_work() {
    let h = harness().await;
    let answer = h
        .print(
            vec![
                attr::name("job-name", "report\n.pdf"),
                Attribute::new(
                    "document-format",
                    Value::MimeMediaType("application/pdf".into()),
                ),
            ],
            vec![
                attr::integer("copies", 2),
                attr::keyword("media", "iso_a4_210x297mm"),
            ],
        )
        .await;
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    let id = job_id(&answer);
    let job_uri = value(&answer, DelimiterTag::Job, "job-uri")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(job_uri, format!("ipp://h:631/jobs/{id}"));
    let mut answered = names(group(&answer, DelimiterTag::Job));
    answered.sort_unstable();
    let mut expected = job_attrs::CREATION_ANSWER;
    expected.sort_unstable();
    assert_eq!(answered, expected);

    let job = h.spooler.job(id).unwrap();
    assert_eq!(job.owner, "alice");
    assert_eq!(
        job.name, "report.pdf",
        "control characters never reach the core"
    );
    assert_eq!(job.ticket.copies, 2);
    assert_eq!(job.document_bytes, Some(PDF.len() as u64));

    let by_uri = {
        let mut attributes = charset_and_language();
        attributes.push(attr::uri("job-uri", job_uri.clone()));
        attributes.push(attr::name("requesting-user-name", "alice"));
        message(Operation::GetJobAttributes as u16, attributes)
    };
    let by_id = request(
        Operation::GetJobAttributes,
        DEFAULT_URI,
        vec![attr::integer("job-id", id as i32)],
    );
    for msg in [by_uri, by_id] {
        let answer = h.call(&msg, b"").await;
        assert_eq!(status(&answer), StatusCode::SuccessfulOk);
        assert_eq!(job_id(&answer), id);
        assert_eq!(
            value(&answer, DelimiterTag::Job, "copies"),
            &Value::Integer(2)
        );
        assert_eq!(
            value(&answer, DelimiterTag::Job, "job-originating-user-name"),
            &Value::Name("alice".into())
        );
    }
    // Someone else, here anonymous, gets the job without its private values.
    let anonymous = {
        let mut attributes = charset_and_language();
        attributes.push(attr::uri("job-uri", job_uri));
        message(Operation::GetJobAttributes as u16, attributes)
    };
    let answer = h.call(&anonymous, b"").await;
    assert_eq!(job_id(&answer), id);
    let shown = group(&answer, DelimiterTag::Job);
    assert!(shown.get("job-name").is_none() && shown.get("job-originating-user-name").is_none());
    assert!(shown.get("job-state").is_some());

    let elsewhere = request(
        Operation::GetJobAttributes,
        "ipp://h:631/printers/lab",
        vec![attr::integer("job-id", id as i32)],
    );
    assert_eq!(
        status(&h.call(&elsewhere, b"").await),
        StatusCode::ClientErrorNotFound
    );
}

#[tokio::test]
async fn fidelity_decides_between_refusing_and_ignoring() {
    let h = harness().await;
    let job = vec![attr::integer("copies", 1000), attr::integer("number-up", 2)];

    let strict = h
        .print(
            vec![attr::boolean("ipp-attribute-fidelity", true)],
            job.clone(),
        )
        .await;
    assert_eq!(
        status(&strict),
        StatusCode::ClientErrorAttributesOrValuesNotSupported
    );
    assert_eq!(
        names(group(&strict, DelimiterTag::Unsupported)),
        ["copies", "number-up"]
    );
    assert!(strict.group(DelimiterTag::Job).is_none());
    assert!(h.spooler.jobs(&all_jobs()).is_empty(), "no job was created");

    let lenient = h
        .print(vec![attr::boolean("ipp-attribute-fidelity", false)], job)
        .await;
    assert_eq!(
        status(&lenient),
        StatusCode::SuccessfulOkIgnoredOrSubstituted
    );
    assert_eq!(
        names(group(&lenient, DelimiterTag::Unsupported)),
        ["copies", "number-up"]
    );
    assert_eq!(h.spooler.job(job_id(&lenient)).unwrap().ticket.copies, 1);
}

fn all_jobs() -> crate::core::JobFilter {
    crate::core::JobFilter {
        printer: None,
        which: crate::core::WhichJobs::All,
        owner: None,
        limit: None,
    }
}

#[tokio::test]
async fn unsupported_format_compression_and_empty_documents_are_refused() {
    let h = harness().await;
    let png = vec![Attribute::new(
        "document-format",
        Value::MimeMediaType("image/png".into()),
    )];
    let answer = h.print(png, vec![]).await;
    assert_eq!(
        status(&answer),
        StatusCode::ClientErrorDocumentFormatNotSupported
    );
    assert!(
        group(&answer, DelimiterTag::Unsupported)
            .get("document-format")
            .is_some()
    );

    let gzip = vec![attr::keyword("compression", "gzip")];
    assert_eq!(
        status(&h.print(gzip, vec![]).await),
        StatusCode::ClientErrorCompressionNotSupported
    );

    let msg = request(Operation::PrintJob, DEFAULT_URI, vec![]);
    assert_eq!(
        status(&h.call(&msg, b"").await),
        StatusCode::ClientErrorBadRequest
    );
    assert!(h.spooler.jobs(&all_jobs()).is_empty());
}

#[tokio::test]
async fn validate_job_checks_without_creating() {
    let h = harness().await;
    let ok = request(
        Operation::ValidateJob,
        DEFAULT_URI,
        vec![
            attr::keyword("compression", "none"),
            attr::name("document-name", "x.pdf"),
            Attribute::new(
                "document-format",
                Value::MimeMediaType("application/pdf".into()),
            ),
        ],
    );
    assert_eq!(status(&h.call(&ok, b"").await), StatusCode::SuccessfulOk);
    assert!(h.spooler.jobs(&all_jobs()).is_empty());
}

#[tokio::test]
async fn create_job_then_send_document() {
    let h = harness().await;
    let id = h.create_job().await;
    let send = |extra: Vec<Attribute>| {
        let mut attrs = vec![attr::integer("job-id", id as i32)];
        attrs.extend(extra);
        request(Operation::SendDocument, DEFAULT_URI, attrs)
    };

    let no_last = h.call(&send(vec![]), PDF).await;
    assert_eq!(status(&no_last), StatusCode::ClientErrorBadRequest);

    let mut stranger = send(vec![attr::boolean("last-document", true)]);
    stranger.groups[0].attributes[3] = attr::name("requesting-user-name", "mallory");
    assert_eq!(
        status(&h.call(&stranger, PDF).await),
        StatusCode::ClientErrorForbidden
    );

    let answer = h
        .call(&send(vec![attr::boolean("last-document", true)]), PDF)
        .await;
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    assert_eq!(job_id(&answer), id);
    let job = h.spooler.job(id).unwrap();
    assert!(job.has_document);
    assert_eq!(
        job.format.as_deref(),
        Some("application/pdf"),
        "sensed by the core"
    );

    let again = h
        .call(&send(vec![attr::boolean("last-document", true)]), PDF)
        .await;
    assert_eq!(
        status(&again),
        StatusCode::ServerErrorMultipleDocumentJobsNotSupported
    );
}

#[tokio::test]
async fn only_the_owner_cancels_over_tcp_and_only_once() {
    let h = harness().await;
    let id = h.create_job().await;
    let cancel = |user: &str| {
        let mut msg = request(
            Operation::CancelJob,
            DEFAULT_URI,
            vec![attr::integer("job-id", id as i32)],
        );
        msg.groups[0].attributes[3] = attr::name("requesting-user-name", user);
        msg
    };
    assert_eq!(
        status(&h.call(&cancel("mallory"), b"").await),
        StatusCode::ClientErrorForbidden
    );
    assert_eq!(
        status(&h.call(&cancel("alice"), b"").await),
        StatusCode::SuccessfulOk
    );
    assert_eq!(h.spooler.job(id).unwrap().state, JobState::Canceled);
    assert_eq!(
        status(&h.call(&cancel("alice"), b"").await),
        StatusCode::ClientErrorNotPossible
    );
}

#[tokio::test]
async fn hold_until_indefinite_holds_and_release_job_releases() {
    let h = harness().await;
    let answer = h
        .print(vec![], vec![attr::keyword("job-hold-until", "indefinite")])
        .await;
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    assert_eq!(
        value(&answer, DelimiterTag::Job, "job-state"),
        &Value::Enum(JobState::Held as i32)
    );
    let id = job_id(&answer);
    let release = request(
        Operation::ReleaseJob,
        DEFAULT_URI,
        vec![attr::integer("job-id", id as i32)],
    );
    assert_eq!(
        status(&h.call(&release, b"").await),
        StatusCode::SuccessfulOk
    );
    assert_ne!(h.spooler.job(id).unwrap().state, JobState::Held);
}

#[tokio::test]
async fn hold_in_the_operation_group_is_honoured_as_cups_does() {
    let h = harness().await;
    let answer = h
        .print(vec![attr::keyword("job-hold-until", "indefinite")], vec![])
        .await;
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    assert_eq!(
        h.spooler.job(job_id(&answer)).unwrap().state,
        JobState::Held
    );
}

#[tokio::test]
async fn get_jobs_filters_and_defaults_to_id_and_uri() {
    let h = harness().await;
    let first = h.create_job().await;
    let second = h.create_job().await;
    let get_jobs = |extra: Vec<Attribute>| request(Operation::GetJobs, DEFAULT_URI, extra);

    let answer = h.call(&get_jobs(vec![]), b"").await;
    let jobs: Vec<&Group> = answer
        .groups
        .iter()
        .filter(|g| g.tag == DelimiterTag::Job)
        .collect();
    assert_eq!(jobs.len(), 2);
    assert_eq!(names(jobs[0]), ["job-id", "job-uri"]);
    assert_eq!(
        jobs[0].get("job-id").unwrap().values,
        vec![Value::Integer(first as i32)]
    );
    assert_eq!(
        jobs[1].get("job-id").unwrap().values,
        vec![Value::Integer(second as i32)]
    );

    let mut not_mine = get_jobs(vec![attr::boolean("my-jobs", true)]);
    not_mine.groups[0].attributes[3] = attr::name("requesting-user-name", "bob");
    assert!(
        h.call(&not_mine, b"")
            .await
            .group(DelimiterTag::Job)
            .is_none()
    );

    let completed = get_jobs(vec![attr::keyword("which-jobs", "completed")]);
    assert!(
        h.call(&completed, b"")
            .await
            .group(DelimiterTag::Job)
            .is_none()
    );

    let limited = get_jobs(vec![
        attr::integer("limit", 1),
        attr::keywords("requested-attributes", ["job-state", "job-name"]),
    ]);
    let answer = h.call(&limited, b"").await;
    let jobs: Vec<&Group> = answer
        .groups
        .iter()
        .filter(|g| g.tag == DelimiterTag::Job)
        .collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(names(jobs[0]), ["job-name", "job-state"]);

    let bogus = get_jobs(vec![attr::keyword("which-jobs", "proof-print")]);
    let answer = h.call(&bogus, b"").await;
    assert_eq!(
        status(&answer),
        StatusCode::ClientErrorAttributesOrValuesNotSupported
    );
    assert!(
        group(&answer, DelimiterTag::Unsupported)
            .get("which-jobs")
            .is_some()
    );

    let other_queue = request(Operation::GetJobs, "ipp://h:631/printers/lab", vec![]);
    assert!(
        h.call(&other_queue, b"")
            .await
            .group(DelimiterTag::Job)
            .is_none()
    );
}

#[tokio::test]
async fn only_local_administrators_pause_and_resume() {
    let h = harness().await;
    let pause = request(Operation::PausePrinter, "ipp://h:631/printers/lab", vec![]);
    assert_eq!(
        status(&h.call(&pause, b"").await),
        StatusCode::ClientErrorForbidden
    );
    assert_eq!(
        status(&h.call_as(&pause, b"", &root_peer()).await),
        StatusCode::SuccessfulOk
    );
    assert_eq!(
        h.spooler.printer("lab").unwrap().state,
        crate::core::PrinterState::Stopped
    );
    let resume = request(Operation::ResumePrinter, "ipp://h:631/printers/lab", vec![]);
    assert_eq!(
        status(&h.call_as(&resume, b"", &root_peer()).await),
        StatusCode::SuccessfulOk
    );
    assert_ne!(
        h.spooler.printer("lab").unwrap().state,
        crate::core::PrinterState::Stopped
    );

    let identify = request(Operation::IdentifyPrinter, DEFAULT_URI, vec![]);
    assert_eq!(
        status(&h.call(&identify, b"").await),
        StatusCode::SuccessfulOk
    );
}

#[tokio::test]
async fn unix_peers_are_named_by_the_kernel_not_the_request() {
    let h = harness().await;
    let msg = with_job_group(request(Operation::CreateJob, DEFAULT_URI, vec![]), vec![]);
    let answer = h.call_as(&msg, b"", &root_peer()).await;
    let job = h.spooler.job(job_id(&answer)).unwrap();
    assert_eq!(
        job.owner, "root",
        "requesting-user-name alice is not believed"
    );
}

#[tokio::test]
async fn a_claimed_root_never_acts_on_a_verified_root_job() {
    let h = harness().await;
    let create = with_job_group(request(Operation::CreateJob, DEFAULT_URI, vec![]), vec![]);
    let id = job_id(&h.call_as(&create, b"", &root_peer()).await);
    assert_eq!(h.spooler.job(id).unwrap().identity, Assurance::Verified);
    let as_root_over_tcp = |op: Operation| {
        let mut msg = request(op, DEFAULT_URI, vec![attr::integer("job-id", id as i32)]);
        msg.groups[0].attributes[3] = attr::name("requesting-user-name", "root");
        msg
    };
    for op in [
        Operation::HoldJob,
        Operation::ReleaseJob,
        Operation::CancelJob,
        Operation::SendDocument,
    ] {
        let mut msg = as_root_over_tcp(op);
        if op == Operation::SendDocument {
            msg.groups[0]
                .attributes
                .push(attr::boolean("last-document", true));
        }
        let answer = h.call(&msg, PDF).await;
        assert_eq!(
            status(&answer),
            StatusCode::ClientErrorNotAuthorized,
            "{op:?}"
        );
        let message = value(&answer, DelimiterTag::Operation, "status-message");
        assert!(
            message
                .as_str()
                .unwrap()
                .contains("claimed over the network"),
            "{message:?}"
        );
    }
    let job = h.spooler.job(id).unwrap();
    assert_eq!(job.state, JobState::Pending);
    assert!(!job.has_document);
    // The verified owner may.
    let cancel = as_root_over_tcp(Operation::CancelJob);
    assert_eq!(
        status(&h.call_as(&cancel, b"", &root_peer()).await),
        StatusCode::SuccessfulOk
    );
    // A job made over TCP is claimed, and the same claim acts on it.
    let id = h.create_job().await;
    assert_eq!(h.spooler.job(id).unwrap().identity, Assurance::Claimed);
}

#[test]
fn a_uid_without_a_name_is_named_as_on_dbus_and_the_drop_directory() {
    assert_eq!(local_user_name(0), "root");
    assert_eq!(local_user_name(3_999_999_999), "uid3999999999");
}

#[test]
fn requesting_user_name_is_sanitized_with_a_default() {
    let msg = request(Operation::GetJobs, DEFAULT_URI, vec![]);
    assert_eq!(requesting_user_name(&msg), "alice");
    let mut odd = msg.clone();
    odd.groups[0].attributes[3] = attr::name("requesting-user-name", "\u{1b}[2J\n");
    assert_eq!(requesting_user_name(&odd), "[2J");
    odd.groups[0].attributes[3] = attr::name("requesting-user-name", "\n");
    assert_eq!(requesting_user_name(&odd), "anonymous");
}

// ---- through the HTTP transport ----

struct Served {
    h: Harness,
    addr: std::net::SocketAddr,
    socket: PathBuf,
    _server: crate::sources::ipp::http::Server,
}

async fn served() -> Served {
    use crate::sources::ipp::listeners::Listener;
    let h = harness().await;
    let limits = crate::config::ServerLimits::default();
    let server =
        crate::sources::ipp::http::Server::new(limits, MAX_DOCUMENT * 4, h.service.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    server.spawn_listener(Listener::Tcp(Arc::new(tcp)));
    let socket = h.dir.path().join("ipp.sock");
    let unix = tokio::net::UnixListener::bind(&socket).unwrap();
    server.spawn_listener(Listener::Unix(Arc::new(unix)));
    Served {
        h,
        addr,
        socket,
        _server: server,
    }
}

fn encoded(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(msg, &mut out);
    out
}

/// One request with `Connection: close`; returns the status, the
/// Content-Type and the body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Content-Type: ")
                .or(l.strip_prefix("content-type: "))
        })
        .unwrap_or_default()
        .to_string();
    (status, content_type, raw[split + 4..].to_vec())
}

fn post_head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:631\r\nContent-Type: application/ipp\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

async fn post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(stream, &post_head(path, body.len()), body).await
}

fn decode_answer(body: &[u8]) -> Message {
    decode_response(body, &DecodeLimits::default()).unwrap().0
}

#[tokio::test]
async fn http_print_job_streams_a_large_document_into_the_spool() {
    let s = served().await;
    let msg = request(Operation::PrintJob, "ipp://127.0.0.1:631/ipp/print", vec![]);
    let mut body = encoded(&msg);
    let document: Vec<u8> = b"%!PS-Adobe-3.0\n"
        .iter()
        .copied()
        .chain((0..600_000u32).map(|i| b"abcdefgh\n"[(i % 9) as usize]))
        .collect();
    body.extend_from_slice(&document);
    let (code, content_type, answer) = post(s.addr, "/ipp/print", &body).await;
    assert_eq!((code, content_type.as_str()), (200, "application/ipp"));
    let answer = decode_answer(&answer);
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    assert_eq!(
        value(&answer, DelimiterTag::Job, "job-uri"),
        &Value::Uri(format!("ipp://127.0.0.1:631/jobs/{}", job_id(&answer))),
        "URIs follow the Host header"
    );
    let job = s.h.spooler.job(job_id(&answer)).unwrap();
    assert_eq!(job.document_bytes, Some(document.len() as u64));
    assert_eq!(job.format.as_deref(), Some("application/postscript"));
}

#[tokio::test]
async fn http_document_over_the_limit_is_refused_and_no_job_exists() {
    let s = served().await;
    let msg = request(Operation::PrintJob, "ipp://127.0.0.1:631/ipp/print", vec![]);
    let mut body = encoded(&msg);
    body.resize(body.len() + MAX_DOCUMENT as usize + 1, b'x');
    let (code, _, answer) = post(s.addr, "/ipp/print", &body).await;
    assert_eq!(code, 200);
    assert_eq!(
        status(&decode_answer(&answer)),
        StatusCode::ClientErrorRequestEntityTooLarge
    );
    assert!(s.h.spooler.jobs(&all_jobs()).is_empty());
}

#[tokio::test]
async fn http_chunked_request_in_small_pieces() {
    let s = served().await;
    let msg = request(Operation::PrintJob, "ipp://127.0.0.1:631/ipp/print", vec![]);
    let mut payload = encoded(&msg);
    payload.extend_from_slice(PDF);
    let mut body = Vec::new();
    for piece in payload.chunks(7) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /ipp/print HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ipp\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (code, _, answer) = exchange(stream, head, &body).await;
    assert_eq!(code, 200);
    let answer = decode_answer(&answer);
    assert_eq!(status(&answer), StatusCode::SuccessfulOk);
    let job = s.h.spooler.job(job_id(&answer)).unwrap();
    assert_eq!(job.document_bytes, Some(PDF.len() as u64));
}

#[tokio::test]
async fn http_truncated_and_malformed_attributes_get_ipp_errors() {
    let s = served().await;
    let whole = encoded(&request(
        Operation::GetPrinterAttributes,
        "ipp://h/ipp/print",
        vec![],
    ));
    let (code, _, answer) = post(s.addr, "/ipp/print", &whole[..whole.len() - 1]).await;
    assert_eq!(code, 200);
    let answer = decode_answer(&answer);
    assert_eq!(status(&answer), StatusCode::ClientErrorBadRequest);
    assert_eq!(answer.request_id, 42, "the header is echoed");

    // The 21-byte request that panics the `ipp` crate (LESSONS-FROM-PEERS).
    let evil = [
        0x01, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x01, 0x36, 0x00, 0x01, 0x6e, 0x00, 0x04,
        0x00, 0x05, 0x65, 0x6e, 0x03,
    ];
    let (code, _, answer) = post(s.addr, "/ipp/print", &evil).await;
    assert_eq!(code, 200);
    assert_eq!(
        status(&decode_answer(&answer)),
        StatusCode::ClientErrorBadRequest
    );
}

#[tokio::test]
async fn http_attributes_over_the_limit_are_refused_as_too_large() {
    let s = served().await;
    let filler = "x".repeat(30_000);
    let many = (0..10)
        .map(|i| attr::name(&format!("x-filler-{i}"), &filler))
        .collect();
    let body = encoded(&request(
        Operation::GetPrinterAttributes,
        "ipp://h/ipp/print",
        many,
    ));
    assert!(body.len() > DecodeLimits::default().max_total_bytes);
    let (code, _, answer) = post(s.addr, "/ipp/print", &body).await;
    assert_eq!(code, 200);
    assert_eq!(
        status(&decode_answer(&answer)),
        StatusCode::ClientErrorRequestEntityTooLarge
    );
}

#[tokio::test]
async fn http_routes_content_types_and_pages() {
    let s = served().await;
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = "POST /ipp/print HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\
                Content-Length: 2\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange(stream, head, b"hi").await.0, 400);

    let (code, _, _) = post(s.addr, "/admin", b"").await;
    assert_eq!(code, 404);

    // A job name with markup, to see it escaped on the page.
    let msg = with_job_group(
        request(
            Operation::CreateJob,
            "ipp://h/ipp/print",
            vec![attr::name("job-name", "<b>bold</b>")],
        ),
        vec![],
    );
    let (_, _, answer) = post(s.addr, "/ipp/print", &encoded(&msg)).await;
    assert_eq!(status(&decode_answer(&answer)), StatusCode::SuccessfulOk);

    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (code, content_type, page) = exchange(stream, &get("/"), b"").await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(code, 200);
    assert!(content_type.starts_with("text/html"));
    // A page over TCP names nobody: alice's job name is withheld.
    assert!(
        page.contains("withheld") && !page.contains("bold"),
        "{page}"
    );
    s.h.spooler
        .set_job_private_values(crate::config::JobPrivateValues::NONE);
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (_, _, page) = exchange(stream, &get("/"), b"").await;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;") && !page.contains("<b>bold"));
    assert!(page.contains("href=\"/printers/lab\""));

    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (code, _, page) = exchange(stream, &get("/printers/lab"), b"").await;
    assert_eq!(code, 200);
    assert!(String::from_utf8(page).unwrap().contains("lab queue"));

    for path in ["/printers/nosuch", "/etc/passwd", "/jobs/1"] {
        let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        assert_eq!(exchange(stream, &get(path), b"").await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn http_unix_socket_peer_is_an_administrator_when_root() {
    let s = served().await;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let pause = request(
        Operation::PausePrinter,
        "ipp://localhost/printers/lab",
        vec![],
    );
    let body = encoded(&pause);
    let stream = tokio::net::UnixStream::connect(&s.socket).await.unwrap();
    let (code, _, answer) = exchange(stream, &post_head("/printers/lab", body.len()), &body).await;
    assert_eq!(code, 200);
    let expected = if uid == 0 {
        StatusCode::SuccessfulOk
    } else {
        StatusCode::ClientErrorForbidden
    };
    assert_eq!(status(&decode_answer(&answer)), expected);
}
