//! The benchmark's IPP: requests encoded by the workspace's codec crate
//! (`ipp_proto`, the one encoder in the repository), and a status code and
//! a few integers read out of the answers. The load generator shares the
//! encoder with the daemon, which is what it measures only on the daemon's
//! side of the wire: what travels is the same bytes any client sends.

use ipp_proto::request::RequestBuilder;
use ipp_proto::{Message, Value, encode_message};

/// Operation ids used here (RFC 8011, section 5.4.15).
pub const PRINT_JOB: u16 = 0x0002;
pub const GET_PRINTER_ATTRIBUTES: u16 = 0x000B;
pub const CANCEL_JOB: u16 = 0x0008;
pub const GET_JOBS: u16 = 0x000A;
pub const RELEASE_JOB: u16 = 0x000D;

const END_OF_ATTRIBUTES: u8 = 0x03;
const TAG_INTEGER: u8 = 0x21;
const TAG_ENUM: u8 = 0x23;

/// Every request carries this id; the servers echo it and nothing here
/// relies on telling answers apart (one request at a time per connection).
pub const REQUEST_ID: u32 = 1;

/// An IPP/2.0 request with the operation attributes in the order RFC 8011
/// requires (charset, language, target first), then who asks.
fn request(operation: u16, printer_uri: &str) -> RequestBuilder {
    RequestBuilder::new(operation, REQUEST_ID)
        .operation_group(printer_uri)
        .attr("requesting-user-name", Value::Name("bench".into()))
}

/// Get-Printer-Attributes; `requested` empty asks for the full answer
/// (the default "all").
pub fn get_printer_attributes(printer_uri: &str, requested: &[&str]) -> Vec<u8> {
    let mut request = request(GET_PRINTER_ATTRIBUTES, printer_uri);
    for (i, keyword) in requested.iter().enumerate() {
        let value = Value::Keyword((*keyword).into());
        request = if i == 0 {
            request.attr("requested-attributes", value)
        } else {
            request.also(value)
        };
    }
    request.encode()
}

/// The attribute part of a Print-Job; the document follows it in the body.
pub fn print_job(printer_uri: &str, document_format: &str) -> Vec<u8> {
    request(PRINT_JOB, printer_uri)
        .attr("job-name", Value::Name("bench".into()))
        .attr(
            "document-format",
            Value::MimeMediaType(document_format.into()),
        )
        .encode()
}

/// A Print-Job whose job is held (`job-hold-until=indefinite`): accepted
/// and made durable, never printed until released.
pub fn print_job_held(printer_uri: &str, document_format: &str) -> Vec<u8> {
    request(PRINT_JOB, printer_uri)
        .attr("job-name", Value::Name("bench".into()))
        .attr(
            "document-format",
            Value::MimeMediaType(document_format.into()),
        )
        .group(ipp_proto::DelimiterTag::Job)
        .attr("job-hold-until", Value::Keyword("indefinite".into()))
        .encode()
}

/// Get-Jobs of the printer's not-completed jobs, at most `limit`.
pub fn get_jobs(printer_uri: &str, limit: i32) -> Vec<u8> {
    request(GET_JOBS, printer_uri)
        .attr("limit", Value::Integer(limit))
        .encode()
}

/// An operation on one job (Cancel-Job, Release-Job): the printer's URI
/// and the `job-id`.
pub fn job_operation(operation: u16, printer_uri: &str, job_id: i32) -> Vec<u8> {
    RequestBuilder::new(operation, REQUEST_ID)
        .operation_group(printer_uri)
        .attr("job-id", Value::Integer(job_id))
        .attr("requesting-user-name", Value::Name("bench".into()))
        .encode()
}

/// The smallest successful answer: version 2.0, successful-ok, our request
/// id, no attributes. The loopback ceiling answers Print-Job with it.
pub fn minimal_success() -> Vec<u8> {
    let answer = Message {
        version: (2, 0),
        code: 0,
        request_id: REQUEST_ID,
        groups: Vec::new(),
    };
    let mut bytes = Vec::new();
    encode_message(&answer, &mut bytes);
    bytes
}

/// The status-code of an IPP response, if the body is long enough to have one.
pub fn status(body: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*body.get(2)?, *body.get(3)?]))
}

/// Whether a status-code is in the "successful" class (0x0000-0x00FF).
pub fn is_success(status: u16) -> bool {
    status < 0x0100
}

/// The first value of an integer or enum attribute called `name`, anywhere
/// in a response. Stops (returning `None`) at anything malformed.
pub fn find_integer(body: &[u8], name: &str) -> Option<i32> {
    let mut at = 8;
    loop {
        let tag = *body.get(at)?;
        at += 1;
        if tag == END_OF_ATTRIBUTES {
            return None;
        }
        if tag < 0x10 {
            continue; // a group delimiter
        }
        let name_len = read_u16(body, at)? as usize;
        let attr_name = body.get(at + 2..at + 2 + name_len)?;
        at += 2 + name_len;
        let value_len = read_u16(body, at)? as usize;
        let value = body.get(at + 2..at + 2 + value_len)?;
        at += 2 + value_len;
        if attr_name == name.as_bytes() && (tag == TAG_INTEGER || tag == TAG_ENUM) {
            return Some(i32::from_be_bytes(value.try_into().ok()?));
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// A short name for the status codes the benchmark is likely to meet.
pub fn status_name(status: u16) -> String {
    let name = match status {
        0x0000 => "successful-ok",
        0x0400 => "client-error-bad-request",
        0x0401 => "client-error-forbidden",
        0x0406 => "client-error-not-found",
        0x040A => "client-error-document-format-not-supported",
        0x040B => "client-error-attributes-or-values-not-supported",
        0x0500 => "server-error-internal-error",
        0x0503 => "server-error-too-many-jobs (or service-unavailable)",
        0x0506 => "server-error-not-accepting-jobs",
        0x0507 => "server-error-busy",
        0x0509 => "server-error-too-many-jobs",
        _ => "",
    };
    format!("0x{status:04x} {name}").trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    use ipp_proto::{Attribute, DelimiterTag, Group};

    #[test]
    fn finds_integers_in_an_answer() {
        let mut operation = Group::new(DelimiterTag::Operation);
        operation.push(Attribute::new(
            "attributes-charset",
            Value::Charset("utf-8".into()),
        ));
        let mut printer = Group::new(DelimiterTag::Printer);
        printer.push(Attribute::new("printer-state", Value::Enum(3)));
        printer.push(Attribute::new(
            "printer-state-reasons",
            Value::Keyword("none".into()),
        ));
        printer.push(Attribute::new("queued-job-count", Value::Integer(42)));
        let message = Message {
            version: (2, 0),
            code: 0,
            request_id: 1,
            groups: vec![operation, printer],
        };
        let mut answer = Vec::new();
        encode_message(&message, &mut answer);
        assert_eq!(find_integer(&answer, "queued-job-count"), Some(42));
        assert_eq!(find_integer(&answer, "printer-state"), Some(3));
        assert_eq!(find_integer(&answer, "job-id"), None);
        assert_eq!(find_integer(&answer[..20], "queued-job-count"), None);
    }

    #[test]
    fn requested_attributes_form_one_set() {
        let bytes = get_printer_attributes("ipp://h/p", &["printer-state", "queued-job-count"]);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("requested-attributes").count(), 1);
        assert!(text.contains("queued-job-count"));
        assert_eq!(status(&minimal_success()), Some(0));
    }
}
