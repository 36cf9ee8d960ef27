//! IPP for the tests: requests built with the daemon's own codec crate
//! ([`ipp_proto`], one encoder in the workspace), answers read by a lenient
//! decoder of our own that keeps whatever it finds, and the usual calls
//! against a [`TestServer`].

use std::time::{Duration, Instant};

#[allow(unused_imports, reason = "for tests that build malformed bytes")]
pub use ipp_proto::ValueTag;
pub use ipp_proto::request::RequestBuilder;
pub use ipp_proto::value::END_OF_ATTRIBUTES;
pub use ipp_proto::{DelimiterTag, Value};

use super::daemon::TestServer;
use super::http::{ipp_call, post_with_timeout};

pub mod op {
    pub const PRINT_JOB: u16 = 0x0002;
    pub const VALIDATE_JOB: u16 = 0x0004;
    pub const CREATE_JOB: u16 = 0x0005;
    pub const SEND_DOCUMENT: u16 = 0x0006;
    pub const CANCEL_JOB: u16 = 0x0008;
    pub const GET_JOB_ATTRIBUTES: u16 = 0x0009;
    pub const GET_JOBS: u16 = 0x000a;
    pub const GET_PRINTER_ATTRIBUTES: u16 = 0x000b;
    pub const HOLD_JOB: u16 = 0x000c;
    pub const RELEASE_JOB: u16 = 0x000d;
}

pub mod status {
    pub const OK: u16 = 0x0000;
    pub const NOT_POSSIBLE: u16 = 0x0404;
    pub const INTERNAL_ERROR: u16 = 0x0500;
    pub const TEMPORARY_ERROR: u16 = 0x0505;
    pub const OK_IGNORED_OR_SUBSTITUTED: u16 = 0x0001;
    pub const BAD_REQUEST: u16 = 0x0400;
    pub const NOT_FOUND: u16 = 0x0406;
    pub const REQUEST_ENTITY_TOO_LARGE: u16 = 0x0408;
    pub const REQUEST_VALUE_TOO_LONG: u16 = 0x0409;
    pub const VERSION_NOT_SUPPORTED: u16 = 0x0503;
}

/// `job-state` values.
pub mod job_state {
    pub const PENDING: i32 = 3;
    pub const HELD: i32 = 4;
    pub const PROCESSING: i32 = 5;
    pub const STOPPED: i32 = 6;
    pub const CANCELED: i32 = 7;
    pub const ABORTED: i32 = 8;
    pub const COMPLETED: i32 = 9;
}

/// The operation attributes every request of ours carries, in the order
/// RFC 8011 4.1.4 requires: charset, natural language, the target, then
/// who asks.
pub fn operation(operation: u16, request_id: u32, printer_uri: &str) -> RequestBuilder {
    operation_as(operation, request_id, printer_uri, "e2e")
}

pub fn operation_as(
    operation: u16,
    request_id: u32,
    printer_uri: &str,
    user: &str,
) -> RequestBuilder {
    RequestBuilder::new(operation, request_id)
        .operation_group(printer_uri)
        .attr("requesting-user-name", Value::Name(user.into()))
}

pub fn get_printer_attributes(printer_uri: &str) -> Vec<u8> {
    operation(op::GET_PRINTER_ATTRIBUTES, 1, printer_uri).encode()
}

/// A Print-Job request; `hold` adds `job-hold-until=indefinite`.
pub fn print_job(
    printer_uri: &str,
    job_name: &str,
    format: &str,
    document: &[u8],
    hold: bool,
) -> Vec<u8> {
    print_job_as("e2e", printer_uri, job_name, format, document, hold)
}

pub fn print_job_as(
    user: &str,
    printer_uri: &str,
    job_name: &str,
    format: &str,
    document: &[u8],
    hold: bool,
) -> Vec<u8> {
    let mut request = operation_as(op::PRINT_JOB, 2, printer_uri, user)
        .attr("job-name", Value::Name(job_name.into()))
        .attr("document-format", Value::MimeMediaType(format.into()));
    if hold {
        request = request
            .group(DelimiterTag::Job)
            .attr("job-hold-until", Value::Keyword("indefinite".into()));
    }
    request.encode_with(document)
}

/// `operation` on one job, named by `job-id`.
fn job_request(code: u16, request_id: u32, printer_uri: &str, job_id: i32) -> Vec<u8> {
    operation(code, request_id, printer_uri)
        .attr("job-id", Value::Integer(job_id))
        .encode()
}

pub fn get_job_attributes(printer_uri: &str, job_id: i32) -> Vec<u8> {
    job_request(op::GET_JOB_ATTRIBUTES, 3, printer_uri, job_id)
}

pub fn cancel_job(printer_uri: &str, job_id: i32) -> Vec<u8> {
    job_request(op::CANCEL_JOB, 4, printer_uri, job_id)
}

pub fn release_job(printer_uri: &str, job_id: i32) -> Vec<u8> {
    job_request(op::RELEASE_JOB, 5, printer_uri, job_id)
}

/// Get-Jobs for `which` (`completed`, `not-completed`, `all`), asking for
/// `job-id` and `job-state` only.
pub fn get_jobs(printer_uri: &str, which: &str) -> Vec<u8> {
    operation(op::GET_JOBS, 6, printer_uri)
        .attr("which-jobs", Value::Keyword(which.into()))
        .attr("requested-attributes", Value::Keyword("job-id".into()))
        .also(Value::Keyword("job-state".into()))
        .encode()
}

// ---------------------------------------------------------------------------
// IPP decoding: just enough to find statuses and attribute values.

#[derive(Debug, Clone)]
pub struct IppAttribute {
    /// The delimiter tag of the group it came in.
    pub group: u8,
    pub name: String,
    /// (value tag, value bytes). Collection members are flattened in.
    pub values: Vec<(u8, Vec<u8>)>,
}

#[derive(Debug, Clone)]
pub struct IppResponse {
    pub version: (u8, u8),
    pub status: u16,
    pub request_id: u32,
    pub attributes: Vec<IppAttribute>,
}

impl IppResponse {
    pub fn parse(body: &[u8]) -> Result<IppResponse, String> {
        let header = body
            .get(..8)
            .ok_or_else(|| format!("IPP message of {} bytes has no header", body.len()))?;
        let mut response = IppResponse {
            version: (header[0], header[1]),
            status: u16::from_be_bytes([header[2], header[3]]),
            request_id: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            attributes: Vec::new(),
        };
        let mut at = 8;
        let mut group = 0u8;
        let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
            let slice = body
                .get(*at..*at + n)
                .ok_or_else(|| format!("IPP message truncated at byte {}", *at))?;
            *at += n;
            Ok(slice)
        };
        loop {
            let value_tag = take(&mut at, 1)?[0];
            if value_tag == END_OF_ATTRIBUTES {
                return Ok(response);
            }
            if value_tag < 0x10 {
                group = value_tag;
                continue;
            }
            let name_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().unwrap()) as usize;
            let name = String::from_utf8_lossy(take(&mut at, name_len)?).into_owned();
            let value_len = u16::from_be_bytes(take(&mut at, 2)?.try_into().unwrap()) as usize;
            let value = take(&mut at, value_len)?.to_vec();
            match response.attributes.last_mut() {
                Some(last) if name.is_empty() => last.values.push((value_tag, value)),
                _ => response.attributes.push(IppAttribute {
                    group,
                    name,
                    values: vec![(value_tag, value)],
                }),
            }
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&IppAttribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// First value of `name` as integer or enum.
    pub fn integer(&self, name: &str) -> Option<i32> {
        let (_, value) = self.attribute(name)?.values.first()?;
        Some(i32::from_be_bytes(value.as_slice().try_into().ok()?))
    }

    /// First value of `name` as a string.
    pub fn string(&self, name: &str) -> Option<String> {
        let (_, value) = self.attribute(name)?.values.first()?;
        Some(String::from_utf8_lossy(value).into_owned())
    }

    /// Every value of every attribute called `name`, as integers: one per
    /// job group of a Get-Jobs answer, for example.
    pub fn all_integers(&self, name: &str) -> Vec<i32> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .flat_map(|a| &a.values)
            .filter_map(|(_, v)| Some(i32::from_be_bytes(v.as_slice().try_into().ok()?)))
            .collect()
    }

    /// Every value of `name` as a string (keywords, for example).
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.attribute(name)
            .map(|a| {
                a.values
                    .iter()
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Panics unless a fresh connection gets a successful Get-Printer-Attributes
/// answer within one second: the daemon is still serving.
pub fn assert_still_serving(server: &TestServer, after: &str) {
    if let Err(why) = still_serving(server, after) {
        panic!("{why}");
    }
}

/// [`assert_still_serving`] as a result, for tests that report several
/// failures at once.
pub fn still_serving(server: &TestServer, after: &str) -> Result<(), String> {
    let started = Instant::now();
    let uri = server.daemon.uri("/ipp/print");
    let result = post_with_timeout(
        server.addr(),
        "/ipp/print",
        &get_printer_attributes(&uri),
        Duration::from_secs(1),
    );
    let elapsed = started.elapsed();
    match result {
        Ok(response) if response.status == 200 && response.ipp_status() == Some(status::OK) => {
            if elapsed <= Duration::from_secs(1) {
                Ok(())
            } else {
                Err(format!(
                    "after {after}: Get-Printer-Attributes took {elapsed:?}"
                ))
            }
        }
        other => Err(format!(
            "after {after}: the daemon no longer answers Get-Printer-Attributes \
             (got {other:?} in {elapsed:?}); log:\n{}",
            server.log()
        )),
    }
}

/// Submits `document` to the built-in queue and returns the job id from a
/// successful answer.
pub fn submit(server: &TestServer, document: &[u8], format: &str, hold: bool) -> i32 {
    submit_as(server, "e2e", document, format, hold)
}

/// `submit` on behalf of `user`.
pub fn submit_as(
    server: &TestServer,
    user: &str,
    document: &[u8],
    format: &str,
    hold: bool,
) -> i32 {
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &print_job_as(user, &uri, "e2e job", format, document, hold),
    );
    assert_eq!(
        response.status,
        status::OK,
        "Print-Job refused with status 0x{:04x}; log:\n{}",
        response.status,
        server.log()
    );
    response
        .integer("job-id")
        .unwrap_or_else(|| panic!("Print-Job answer has no job-id: {response:?}"))
}

/// The job's `job-state`, via Get-Job-Attributes.
pub fn job_state(server: &TestServer, job_id: i32) -> i32 {
    let uri = server.daemon.default_queue_uri();
    let response = ipp_call(
        server.addr(),
        "/printers/default",
        &get_job_attributes(&uri, job_id),
    );
    assert_eq!(
        response.status,
        status::OK,
        "Get-Job-Attributes for job {job_id} answered 0x{:04x}",
        response.status
    );
    response
        .integer("job-state")
        .unwrap_or_else(|| panic!("no job-state for job {job_id}: {response:?}"))
}
