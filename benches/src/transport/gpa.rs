//! The handler both transports serve: the hot path of printspoold's
//! Get-Printer-Attributes without the job core. It decodes the request
//! with the daemon's codec (`ipp_proto`), checks it, and encodes the answer
//! the way `src/sources/ipp/service` does: the operation group per request,
//! then the printer group, encoded once and copied (the daemon caches its
//! static printer attributes the same way).

use ipp_proto::decode::{DecodeLimits, decode_request, decode_response};
use ipp_proto::encode_message;
use ipp_proto::value::{
    Attribute, DelimiterTag, END_OF_ATTRIBUTES, Group, Message, Operation, StatusCode, Value,
};

/// Answers Get-Printer-Attributes with the groups of one real answer.
pub struct GpaResponder {
    limits: DecodeLimits,
    /// The answer's groups after the operation group, encoded, ending with
    /// end-of-attributes.
    printer_groups: Vec<u8>,
}

impl GpaResponder {
    /// From a full Get-Printer-Attributes answer printspoold gave.
    pub fn from_answer(answer: &[u8]) -> Result<GpaResponder, String> {
        let limits = DecodeLimits::default();
        let (message, _) = decode_response(answer, &limits)
            .map_err(|e| format!("printspoold's answer does not decode: {e}"))?;
        let rest = Message {
            groups: message
                .groups
                .into_iter()
                .filter(|g| g.tag != DelimiterTag::Operation)
                .collect(),
            ..message
        };
        let mut encoded = Vec::new();
        encode_message(&rest, &mut encoded);
        // Drop the 8-byte header: version, status, request id.
        let printer_groups = encoded.split_off(8);
        Ok(GpaResponder {
            limits,
            printer_groups,
        })
    }

    /// The largest request body (attribute section) decoded.
    pub fn max_request_bytes(&self) -> usize {
        self.limits.max_total_bytes
    }

    /// The IPP answer to one request body.
    pub fn answer(&self, body: &[u8]) -> Vec<u8> {
        let request = match decode_request(body, &self.limits) {
            Ok((request, _)) => request,
            Err(e) => {
                let status = e.status();
                return error_answer(e.request_id.unwrap_or(0), status, &e.to_string());
            }
        };
        if Operation::from_code(request.code) != Some(Operation::GetPrinterAttributes) {
            return error_answer(
                request.request_id,
                StatusCode::ServerErrorOperationNotSupported,
                "only Get-Printer-Attributes here",
            );
        }
        if request.operation_attr("printer-uri").is_none() {
            return error_answer(
                request.request_id,
                StatusCode::ClientErrorBadRequest,
                "printer-uri is missing",
            );
        }
        let head = Message {
            version: (2, 0),
            code: StatusCode::SuccessfulOk as u16,
            request_id: request.request_id,
            groups: vec![operation_group(None)],
        };
        let mut out = Vec::with_capacity(self.printer_groups.len() + 128);
        encode_message(&head, &mut out);
        // encode_message ends with end-of-attributes; the printer groups follow.
        if out.last() == Some(&END_OF_ATTRIBUTES) {
            out.pop();
        }
        out.extend_from_slice(&self.printer_groups);
        out
    }
}

/// charset, language and, on errors, a status-message (RFC 8011 4.1.4).
fn operation_group(message: Option<&str>) -> Group {
    let mut group = Group::new(DelimiterTag::Operation);
    group.push(Attribute::new(
        "attributes-charset",
        Value::Charset("utf-8".into()),
    ));
    group.push(Attribute::new(
        "attributes-natural-language",
        Value::NaturalLanguage("en".into()),
    ));
    if let Some(message) = message {
        group.push(Attribute::new(
            "status-message",
            Value::Text(message.into()),
        ));
    }
    group
}

fn error_answer(request_id: u32, status: StatusCode, message: &str) -> Vec<u8> {
    let reply = Message {
        version: (2, 0),
        code: status as u16,
        request_id,
        groups: vec![operation_group(Some(message))],
    };
    let mut out = Vec::new();
    encode_message(&reply, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(operation: Operation, request_id: u32) -> Vec<u8> {
        let mut group = operation_group(None);
        group.push(Attribute::new(
            "printer-uri",
            Value::Uri("ipp://h/p".into()),
        ));
        let message = Message {
            version: (2, 0),
            code: operation as u16,
            request_id,
            groups: vec![group],
        };
        let mut out = Vec::new();
        encode_message(&message, &mut out);
        out
    }

    #[test]
    fn answers_with_the_printer_groups_of_the_given_answer() {
        let mut printer = Group::new(DelimiterTag::Printer);
        printer.push(Attribute::new("printer-state", Value::Enum(3)));
        let answer = Message {
            version: (2, 0),
            code: 0,
            request_id: 7,
            groups: vec![operation_group(None), printer],
        };
        let mut bytes = Vec::new();
        encode_message(&answer, &mut bytes);
        let responder = GpaResponder::from_answer(&bytes).unwrap();
        assert_eq!(
            responder.answer(&request(Operation::GetPrinterAttributes, 7)),
            bytes
        );
        let other = responder.answer(&request(Operation::GetJobs, 9));
        assert_eq!(&other[2..8], &[0x05, 0x01, 0, 0, 0, 9]);
        let malformed = responder.answer(b"\x02\x00");
        assert_eq!(&malformed[2..4], &[0x04, 0x00]);
    }
}
