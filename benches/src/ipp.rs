//! Just enough IPP (RFC 8010) to build the benchmark's requests by hand and
//! read a status code and a few integers out of the answers. Written here on
//! purpose instead of borrowing the daemon's codec: the load generator must
//! not share the code it measures.

/// Operation ids used here (RFC 8011, section 5.4.15).
pub const PRINT_JOB: u16 = 0x0002;
pub const GET_PRINTER_ATTRIBUTES: u16 = 0x000B;

const OPERATION_ATTRIBUTES: u8 = 0x01;
const END_OF_ATTRIBUTES: u8 = 0x03;
const TAG_INTEGER: u8 = 0x21;
const TAG_ENUM: u8 = 0x23;
const TAG_NAME: u8 = 0x42;
const TAG_KEYWORD: u8 = 0x44;
const TAG_URI: u8 = 0x45;
const TAG_CHARSET: u8 = 0x47;
const TAG_LANGUAGE: u8 = 0x48;
const TAG_MIME: u8 = 0x49;

/// Every request carries this id; the servers echo it and nothing here
/// relies on telling answers apart (one request at a time per connection).
pub const REQUEST_ID: u32 = 1;

/// Builds an IPP/2.0 request: header and operation attributes, in the order
/// RFC 8011 requires (charset, language, target first).
struct Request {
    bytes: Vec<u8>,
}

impl Request {
    fn new(operation: u16, printer_uri: &str) -> Request {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&[2, 0]);
        bytes.extend_from_slice(&operation.to_be_bytes());
        bytes.extend_from_slice(&REQUEST_ID.to_be_bytes());
        bytes.push(OPERATION_ATTRIBUTES);
        let mut request = Request { bytes };
        request.attr(TAG_CHARSET, "attributes-charset", "utf-8");
        request.attr(TAG_LANGUAGE, "attributes-natural-language", "en");
        request.attr(TAG_URI, "printer-uri", printer_uri);
        request.attr(TAG_NAME, "requesting-user-name", "bench");
        request
    }

    fn attr(&mut self, tag: u8, name: &str, value: &str) -> &mut Request {
        self.value(tag, name, value.as_bytes())
    }

    /// One value; an empty `name` adds another value to the previous
    /// attribute (a "1setOf").
    fn value(&mut self, tag: u8, name: &str, value: &[u8]) -> &mut Request {
        self.bytes.push(tag);
        self.bytes
            .extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(value);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.push(END_OF_ATTRIBUTES);
        self.bytes
    }
}

/// Get-Printer-Attributes; `requested` empty asks for the full answer
/// (the default "all").
pub fn get_printer_attributes(printer_uri: &str, requested: &[&str]) -> Vec<u8> {
    let mut request = Request::new(GET_PRINTER_ATTRIBUTES, printer_uri);
    for (i, keyword) in requested.iter().enumerate() {
        let name = if i == 0 { "requested-attributes" } else { "" };
        request.attr(TAG_KEYWORD, name, keyword);
    }
    request.finish()
}

/// The attribute part of a Print-Job; the document follows it in the body.
pub fn print_job(printer_uri: &str, document_format: &str) -> Vec<u8> {
    let mut request = Request::new(PRINT_JOB, printer_uri);
    request
        .attr(TAG_NAME, "job-name", "bench")
        .attr(TAG_MIME, "document-format", document_format);
    request.finish()
}

/// The smallest successful answer: version 2.0, successful-ok, our request
/// id, no attributes. The loopback ceiling answers Print-Job with it.
pub fn minimal_success() -> Vec<u8> {
    let mut bytes = vec![2, 0, 0, 0];
    bytes.extend_from_slice(&REQUEST_ID.to_be_bytes());
    bytes.push(END_OF_ATTRIBUTES);
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

    fn push(bytes: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
        bytes.push(tag);
        bytes.extend_from_slice(&(name.len() as u16).to_be_bytes());
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
        bytes.extend_from_slice(value);
    }

    #[test]
    fn finds_integers_in_an_answer() {
        let mut answer = vec![2, 0, 0, 0, 0, 0, 0, 1, OPERATION_ATTRIBUTES];
        push(&mut answer, TAG_CHARSET, "attributes-charset", b"utf-8");
        answer.push(0x04); // printer-attributes group
        push(&mut answer, TAG_ENUM, "printer-state", &3i32.to_be_bytes());
        push(&mut answer, TAG_KEYWORD, "printer-state-reasons", b"none");
        push(
            &mut answer,
            TAG_INTEGER,
            "queued-job-count",
            &42i32.to_be_bytes(),
        );
        answer.push(END_OF_ATTRIBUTES);
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
