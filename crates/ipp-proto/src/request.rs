//! Building a request [`Message`] value by value, for clients: the tests, the
//! benchmark. They share the daemon's [`encode_message`] instead of carrying
//! an encoder of their own.

use super::encode::encode_message;
use super::value::{Attribute, DelimiterTag, Group, Message, Value};

/// A request under construction. Attributes go into the group opened last.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    message: Message,
}

impl RequestBuilder {
    /// An IPP/2.0 request for `operation` with `request_id`, no groups yet.
    pub fn new(operation: u16, request_id: u32) -> RequestBuilder {
        RequestBuilder {
            message: Message {
                version: (2, 0),
                code: operation,
                request_id,
                groups: Vec::new(),
            },
        }
    }

    /// Another protocol version than 2.0.
    pub fn version(mut self, major: u8, minor: u8) -> RequestBuilder {
        self.message.version = (major, minor);
        self
    }

    /// Opens a group; the attributes added next go into it.
    pub fn group(mut self, tag: DelimiterTag) -> RequestBuilder {
        self.message.groups.push(Group::new(tag));
        self
    }

    /// The operation group with what RFC 8011 4.1.4 wants first, in its
    /// order: `attributes-charset` (utf-8), `attributes-natural-language`
    /// (en), then the target `printer-uri`.
    pub fn operation_group(self, printer_uri: &str) -> RequestBuilder {
        self.group(DelimiterTag::Operation)
            .attr("attributes-charset", Value::Charset("utf-8".into()))
            .attr(
                "attributes-natural-language",
                Value::NaturalLanguage("en".into()),
            )
            .attr("printer-uri", Value::Uri(printer_uri.into()))
    }

    /// An attribute with one value, in the group opened last (an operation
    /// group is opened when there is none).
    pub fn attr(mut self, name: &str, value: Value) -> RequestBuilder {
        if self.message.groups.is_empty() {
            self.message
                .groups
                .push(Group::new(DelimiterTag::Operation));
        }
        if let Some(group) = self.message.groups.last_mut() {
            group.push(Attribute::new(name, value));
        }
        self
    }

    /// A further value of the attribute added last (a `1setOf`).
    pub fn also(mut self, value: Value) -> RequestBuilder {
        let last = self
            .message
            .groups
            .last_mut()
            .and_then(|group| group.attributes.last_mut());
        if let Some(attribute) = last {
            attribute.values.push(value);
        }
        self
    }

    /// The message built so far.
    pub fn build(self) -> Message {
        self.message
    }

    /// The encoded message followed by `document` (the HTTP body of a
    /// request that carries one; empty otherwise).
    pub fn encode_with(&self, document: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(128 + document.len());
        encode_message(&self.message, &mut bytes);
        bytes.extend_from_slice(document);
        bytes
    }

    /// The encoded message without a document.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_request;

    #[test]
    fn a_built_request_decodes_to_the_same_message() {
        let request = RequestBuilder::new(0x000b, 7)
            .operation_group("ipp://localhost/printers/p")
            .attr(
                "requested-attributes",
                Value::Keyword("printer-state".into()),
            )
            .also(Value::Keyword("queued-job-count".into()))
            .group(DelimiterTag::Job)
            .attr("copies", Value::Integer(2));
        let bytes = request.encode_with(b"%PDF");
        let (decoded, document) = decode_request(&bytes, &Default::default()).unwrap();
        assert_eq!(decoded, request.clone().build());
        assert_eq!(&bytes[document..], b"%PDF");
        let requested = decoded.operation_attr("requested-attributes").unwrap();
        assert_eq!(requested.values.len(), 2);
    }

    #[test]
    fn attributes_before_any_group_open_the_operation_group() {
        let message = RequestBuilder::new(0x0002, 1)
            .version(1, 1)
            .attr("attributes-charset", Value::Charset("utf-8".into()))
            .also(Value::Charset("ignored-second".into()))
            .build();
        assert_eq!(message.version, (1, 1));
        assert_eq!(message.groups.len(), 1);
        assert_eq!(message.groups[0].tag, DelimiterTag::Operation);
        assert_eq!(message.groups[0].attributes[0].values.len(), 2);
    }
}
