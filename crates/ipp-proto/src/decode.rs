//! The IPP decoder (RFC 8010), written for hostile input.
//!
//! It checks syntax only: lengths, tags, nesting and character sets. RFC 8011
//! semantics (charset first, request-id not 0, version) are the caller's. It
//! never panics, never allocates on a length before the bytes are there, and
//! stops at the first violation with a kind that maps to a status code.
//! `Incomplete` means only "the buffer ended early": more bytes may come, and
//! the HTTP layer decides whether the body is over.

use super::value::{
    Attribute, DelimiterTag, END_OF_ATTRIBUTES, Group, Message, StatusCode, Value, ValueTag,
};

/// The largest length a SIGNED-SHORT length field can carry (RFC 8010 3.1).
/// Longer values cannot be said on the wire, whatever [`DecodeLimits`] allows.
pub const MAX_WIRE_LENGTH: usize = 32767;

/// Bounds on what one message may cost us to decode.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Attributes in all groups, collection members included.
    pub max_attributes: usize,
    /// Bytes in one name or value (never more than [`MAX_WIRE_LENGTH`]).
    pub max_value_bytes: usize,
    /// Collections inside collections; a top-level collection is depth 1.
    pub max_collection_depth: usize,
    /// Bytes from the header to end-of-attributes, both included.
    pub max_total_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_attributes: 1024,
            max_value_bytes: 32 * 1024,
            max_collection_depth: 10,
            max_total_bytes: 256 * 1024,
        }
    }
}

/// Why a message was refused, with what was known of it at that point.
#[derive(Debug, Clone, thiserror::Error)]
#[error("malformed IPP message at byte {offset}: {kind}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    /// Where in the buffer the offending item starts.
    pub offset: usize,
    /// The header, if its 8 bytes were there, so the answer can echo it.
    pub version: Option<(u8, u8)>,
    pub request_id: Option<u32>,
}

impl DecodeError {
    /// True when the buffer ended before end-of-attributes and more bytes
    /// could still complete it.
    pub fn is_incomplete(&self) -> bool {
        self.kind == DecodeErrorKind::Incomplete
    }

    /// The status code an answer to this message carries.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

/// One variant per rule of RFC 8010 (or of our limits) a message can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("the message ends before end-of-attributes")]
    Incomplete,
    #[error("reserved delimiter tag {0:#04x}")]
    ReservedDelimiter(u8),
    #[error("an attribute comes before the first group delimiter")]
    AttributeOutsideGroup,
    #[error("an additional value has no attribute before it in its group")]
    AdditionalValueWithoutAttribute,
    #[error("the extension tag 0x7f is not supported")]
    ExtensionTag,
    #[error("a value of tag {tag:#04x} cannot be {len} bytes long")]
    BadValueLength { tag: u8, len: usize },
    #[error("boolean value {0} is neither 0 nor 1")]
    InvalidBoolean(u8),
    #[error("a string value is not valid UTF-8")]
    InvalidUtf8,
    #[error("a value of tag {0:#04x} holds a character its syntax forbids")]
    InvalidCharacter(u8),
    #[error("an attribute or member name is empty or not printable US-ASCII")]
    InvalidAttributeName,
    #[error("collections are nested deeper than allowed")]
    CollectionTooDeep,
    #[error("a collection is not closed before its group ends")]
    UnterminatedCollection,
    #[error("tag {0:#04x} is only allowed inside a collection")]
    CollectionTagOutsideCollection(u8),
    #[error("a value inside a collection has a name (members are named by memberAttrName)")]
    NamedValueInCollection,
    #[error("a collection value comes before any memberAttrName")]
    MemberWithoutName,
    #[error("a collection member has no value")]
    MemberWithoutValue,
    #[error("more attributes than allowed")]
    TooManyAttributes,
    #[error("a name or value is longer than allowed")]
    ValueTooLong,
    #[error("the attributes are larger than allowed")]
    MessageTooLarge,
}

impl DecodeErrorKind {
    /// The status code for this violation (RFC 8011 13.1.4).
    pub fn status(self) -> StatusCode {
        match self {
            DecodeErrorKind::TooManyAttributes | DecodeErrorKind::MessageTooLarge => {
                StatusCode::ClientErrorRequestEntityTooLarge
            }
            DecodeErrorKind::ValueTooLong => StatusCode::ClientErrorRequestValueTooLong,
            _ => StatusCode::ClientErrorBadRequest,
        }
    }
}

/// Decodes an IPP request from the start of `buf`. `Ok((message, n))`: the
/// attributes end at byte `n`, and document data (if any) starts there.
pub fn decode_request(buf: &[u8], limits: &DecodeLimits) -> Result<(Message, usize), DecodeError> {
    decode_message(buf, limits)
}

/// Decodes an IPP response: the same syntax, with a status code in `code`.
pub fn decode_response(buf: &[u8], limits: &DecodeLimits) -> Result<(Message, usize), DecodeError> {
    decode_message(buf, limits)
}

fn decode_message(buf: &[u8], limits: &DecodeLimits) -> Result<(Message, usize), DecodeError> {
    let mut parser = Parser::new(buf, limits);
    let (version, code, request_id) = parser
        .header()
        .map_err(|fault| fault.into_error(None, None))?;
    let groups = parser
        .groups()
        .map_err(|fault| fault.into_error(Some(version), Some(request_id)))?;
    let message = Message {
        version,
        code,
        request_id,
        groups,
    };
    Ok((message, parser.reader.pos))
}

/// An error kind and where it happened, before the header is attached.
struct Fault {
    kind: DecodeErrorKind,
    offset: usize,
}

impl Fault {
    fn into_error(self, version: Option<(u8, u8)>, request_id: Option<u32>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            offset: self.offset,
            version,
            request_id,
        }
    }
}

/// A cursor over the input that refuses to go past the buffer or the limit.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_total: usize,
    max_length: usize,
}

impl<'a> Reader<'a> {
    fn fault(&self, kind: DecodeErrorKind) -> Fault {
        Fault {
            kind,
            offset: self.pos,
        }
    }

    /// The next `n` bytes. Going past the limit is checked first, so a client
    /// announcing a huge message is refused without waiting for its bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
        let end = self.pos.saturating_add(n);
        if end > self.max_total {
            return Err(self.fault(DecodeErrorKind::MessageTooLarge));
        }
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.fault(DecodeErrorKind::Incomplete))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fault> {
        let bytes = self.take(N)?;
        bytes
            .try_into()
            .map_err(|_| self.fault(DecodeErrorKind::Incomplete))
    }

    fn u8(&mut self) -> Result<u8, Fault> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, Fault> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A length-prefixed field (a name or a value), bounded by the limits.
    fn field(&mut self) -> Result<&'a [u8], Fault> {
        let at = self.pos;
        let len = usize::from(self.u16()?);
        if len > self.max_length {
            return Err(Fault {
                kind: DecodeErrorKind::ValueTooLong,
                offset: at,
            });
        }
        self.take(len)
    }
}

/// The decoding of one message: the cursor and the attribute count.
struct Parser<'a> {
    reader: Reader<'a>,
    limits: &'a DecodeLimits,
    attributes: usize,
}

impl<'a> Parser<'a> {
    fn new(buf: &'a [u8], limits: &'a DecodeLimits) -> Self {
        Parser {
            reader: Reader {
                buf,
                pos: 0,
                max_total: limits.max_total_bytes,
                max_length: limits.max_value_bytes.min(MAX_WIRE_LENGTH),
            },
            limits,
            attributes: 0,
        }
    }

    /// version-number, operation-id or status-code, request-id (RFC 8010 3.1.1).
    fn header(&mut self) -> Result<((u8, u8), u16, u32), Fault> {
        let [major, minor] = self.reader.array()?;
        let code = self.reader.u16()?;
        let request_id = u32::from_be_bytes(self.reader.array()?);
        Ok(((major, minor), code, request_id))
    }

    /// Attribute groups up to and including end-of-attributes.
    fn groups(&mut self) -> Result<Vec<Group>, Fault> {
        let mut groups: Vec<Group> = Vec::new();
        loop {
            let at = self.reader.pos;
            let tag = self.reader.u8()?;
            if tag == END_OF_ATTRIBUTES {
                return Ok(groups);
            }
            if is_delimiter(tag) {
                let delimiter = DelimiterTag::from_byte(tag)
                    .ok_or_else(|| fault_at(DecodeErrorKind::ReservedDelimiter(tag), at))?;
                groups.push(Group::new(delimiter));
                continue;
            }
            let group = groups
                .last_mut()
                .ok_or_else(|| fault_at(DecodeErrorKind::AttributeOutsideGroup, at))?;
            self.attribute(tag, at, group)?;
        }
    }

    /// One attribute-with-one-value or additional-value (RFC 8010 3.1.3-3.1.5),
    /// its value tag already read.
    fn attribute(&mut self, tag: u8, at: usize, group: &mut Group) -> Result<(), Fault> {
        match tag {
            ValueTag::EXTENSION => return Err(fault_at(DecodeErrorKind::ExtensionTag, at)),
            ValueTag::END_COLLECTION | ValueTag::MEMBER_ATTR_NAME => {
                return Err(fault_at(
                    DecodeErrorKind::CollectionTagOutsideCollection(tag),
                    at,
                ));
            }
            _ => {}
        }
        let name_at = self.reader.pos;
        let name = self.reader.field()?;
        let name = if name.is_empty() {
            if group.attributes.is_empty() {
                return Err(fault_at(
                    DecodeErrorKind::AdditionalValueWithoutAttribute,
                    at,
                ));
            }
            None
        } else {
            self.count_attribute(at)?;
            Some(attribute_name(name).map_err(|kind| fault_at(kind, name_at))?)
        };
        let value = self.value(tag)?;
        match (name, group.attributes.last_mut()) {
            (Some(name), _) => group.push(Attribute::new(name, value)),
            (None, Some(previous)) => previous.values.push(value),
            // Ruled out above, before the value was read.
            (None, None) => {
                return Err(fault_at(
                    DecodeErrorKind::AdditionalValueWithoutAttribute,
                    at,
                ));
            }
        }
        Ok(())
    }

    /// The value-length and value of a top-level attribute.
    fn value(&mut self, tag: u8) -> Result<Value, Fault> {
        let at = self.reader.pos;
        let data = self.reader.field()?;
        if tag == ValueTag::BEG_COLLECTION {
            expect_empty(tag, data).map_err(|kind| fault_at(kind, at))?;
            return self.collection(at);
        }
        scalar_value(tag, data).map_err(|kind| fault_at(kind, at))
    }

    /// The members of a collection up to its endCollection (RFC 8010 3.1.6),
    /// its begCollection already read. Iterative, so the stack does not grow
    /// with the nesting whatever the limit is set to.
    fn collection(&mut self, begin_at: usize) -> Result<Value, Fault> {
        if self.limits.max_collection_depth < 1 {
            return Err(fault_at(DecodeErrorKind::CollectionTooDeep, begin_at));
        }
        let mut current = OpenCollection::default();
        let mut parents: Vec<OpenCollection> = Vec::new();
        loop {
            let at = self.reader.pos;
            let tag = self.reader.u8()?;
            if is_delimiter(tag) {
                return Err(fault_at(DecodeErrorKind::UnterminatedCollection, at));
            }
            if tag == ValueTag::EXTENSION {
                return Err(fault_at(DecodeErrorKind::ExtensionTag, at));
            }
            if !self.reader.field()?.is_empty() {
                return Err(fault_at(DecodeErrorKind::NamedValueInCollection, at));
            }
            let data_at = self.reader.pos;
            let data = self.reader.field()?;
            let at_data = |kind| fault_at(kind, data_at);
            match tag {
                ValueTag::MEMBER_ATTR_NAME => {
                    self.count_attribute(at)?;
                    let name = attribute_name(data).map_err(at_data)?;
                    current
                        .name_member(name)
                        .map_err(|kind| fault_at(kind, at))?;
                }
                ValueTag::BEG_COLLECTION => {
                    expect_empty(tag, data).map_err(at_data)?;
                    if !current.can_take_value() {
                        return Err(fault_at(DecodeErrorKind::MemberWithoutName, at));
                    }
                    if parents.len() + 2 > self.limits.max_collection_depth {
                        return Err(fault_at(DecodeErrorKind::CollectionTooDeep, at));
                    }
                    parents.push(std::mem::take(&mut current));
                }
                ValueTag::END_COLLECTION => {
                    expect_empty(tag, data).map_err(at_data)?;
                    let finished = std::mem::take(&mut current)
                        .finish()
                        .map_err(|kind| fault_at(kind, at))?;
                    match parents.pop() {
                        None => return Ok(finished),
                        Some(parent) => {
                            current = parent;
                            current.add(finished).map_err(|kind| fault_at(kind, at))?;
                        }
                    }
                }
                _ => {
                    let value = scalar_value(tag, data).map_err(at_data)?;
                    current.add(value).map_err(|kind| fault_at(kind, at))?;
                }
            }
        }
    }

    fn count_attribute(&mut self, at: usize) -> Result<(), Fault> {
        self.attributes += 1;
        if self.attributes > self.limits.max_attributes {
            return Err(fault_at(DecodeErrorKind::TooManyAttributes, at));
        }
        Ok(())
    }
}

/// A collection being read: its members so far, and the name given by a
/// memberAttrName whose value has not come yet.
#[derive(Default)]
struct OpenCollection {
    members: Vec<Attribute>,
    pending_name: Option<String>,
}

impl OpenCollection {
    fn name_member(&mut self, name: String) -> Result<(), DecodeErrorKind> {
        if self.pending_name.is_some() {
            return Err(DecodeErrorKind::MemberWithoutValue);
        }
        self.pending_name = Some(name);
        Ok(())
    }

    fn can_take_value(&self) -> bool {
        self.pending_name.is_some() || !self.members.is_empty()
    }

    /// The first value of the named member, or one more value of the last.
    fn add(&mut self, value: Value) -> Result<(), DecodeErrorKind> {
        if let Some(name) = self.pending_name.take() {
            self.members.push(Attribute::new(name, value));
        } else if let Some(last) = self.members.last_mut() {
            last.values.push(value);
        } else {
            return Err(DecodeErrorKind::MemberWithoutName);
        }
        Ok(())
    }

    fn finish(self) -> Result<Value, DecodeErrorKind> {
        if self.pending_name.is_some() {
            return Err(DecodeErrorKind::MemberWithoutValue);
        }
        Ok(Value::Collection(self.members))
    }
}

fn fault_at(kind: DecodeErrorKind, offset: usize) -> Fault {
    Fault { kind, offset }
}

/// Tags 0x00-0x0f are delimiters (RFC 8010 3.5.1).
fn is_delimiter(tag: u8) -> bool {
    tag < 0x10
}

fn expect_empty(tag: u8, data: &[u8]) -> Result<(), DecodeErrorKind> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(DecodeErrorKind::BadValueLength {
            tag,
            len: data.len(),
        })
    }
}

/// A value that is not a collection delimiter, from its tag and bytes.
fn scalar_value(tag: u8, data: &[u8]) -> Result<Value, DecodeErrorKind> {
    Ok(match tag {
        // Out-of-band: the tag is the meaning; data is ignored (RFC 8010 3.8).
        0x10..=0x1f => Value::OutOfBand(tag),
        ValueTag::INTEGER => Value::Integer(i32::from_be_bytes(fixed(tag, data)?)),
        ValueTag::ENUM => Value::Enum(i32::from_be_bytes(fixed(tag, data)?)),
        ValueTag::BOOLEAN => match fixed(tag, data)? {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            [other] => return Err(DecodeErrorKind::InvalidBoolean(other)),
        },
        ValueTag::OCTET_STRING => Value::OctetString(data.to_vec()),
        ValueTag::DATE_TIME => Value::DateTime(fixed(tag, data)?),
        ValueTag::RESOLUTION => {
            let [a0, a1, a2, a3, b0, b1, b2, b3, units] = fixed(tag, data)?;
            Value::Resolution(
                i32::from_be_bytes([a0, a1, a2, a3]),
                i32::from_be_bytes([b0, b1, b2, b3]),
                i8::from_be_bytes([units]),
            )
        }
        ValueTag::RANGE_OF_INTEGER => {
            let [a0, a1, a2, a3, b0, b1, b2, b3] = fixed(tag, data)?;
            Value::RangeOfInteger(
                i32::from_be_bytes([a0, a1, a2, a3]),
                i32::from_be_bytes([b0, b1, b2, b3]),
            )
        }
        ValueTag::TEXT_WITH_LANGUAGE => {
            let (language, text) = with_language(tag, data, Chars::Text)?;
            Value::TextWithLanguage { language, text }
        }
        ValueTag::NAME_WITH_LANGUAGE => {
            let (language, name) = with_language(tag, data, Chars::Name)?;
            Value::NameWithLanguage { language, name }
        }
        ValueTag::TEXT_WITHOUT_LANGUAGE => Value::Text(string(tag, data, Chars::Text)?),
        ValueTag::NAME_WITHOUT_LANGUAGE => Value::Name(string(tag, data, Chars::Name)?),
        ValueTag::KEYWORD => Value::Keyword(string(tag, data, Chars::Token)?),
        ValueTag::URI => Value::Uri(string(tag, data, Chars::Token)?),
        ValueTag::URI_SCHEME => Value::UriScheme(string(tag, data, Chars::Token)?),
        ValueTag::CHARSET => Value::Charset(string(tag, data, Chars::Token)?),
        ValueTag::NATURAL_LANGUAGE => Value::NaturalLanguage(string(tag, data, Chars::Token)?),
        // Media types may carry parameters: "text/plain; charset=utf-8".
        ValueTag::MIME_MEDIA_TYPE => Value::MimeMediaType(string(tag, data, Chars::Printable)?),
        // The callers handle these; here they can only be misplaced.
        ValueTag::BEG_COLLECTION | ValueTag::END_COLLECTION | ValueTag::MEMBER_ATTR_NAME => {
            return Err(DecodeErrorKind::CollectionTagOutsideCollection(tag));
        }
        ValueTag::EXTENSION => return Err(DecodeErrorKind::ExtensionTag),
        // Kept verbatim so it can go back in the unsupported-attributes group.
        _ => Value::Other {
            tag,
            data: data.to_vec(),
        },
    })
}

fn fixed<const N: usize>(tag: u8, data: &[u8]) -> Result<[u8; N], DecodeErrorKind> {
    data.try_into()
        .map_err(|_| DecodeErrorKind::BadValueLength {
            tag,
            len: data.len(),
        })
}

/// textWithLanguage / nameWithLanguage: two length-prefixed parts that must
/// fill the value exactly (RFC 8010 3.9).
fn with_language(tag: u8, data: &[u8], rule: Chars) -> Result<(String, String), DecodeErrorKind> {
    let malformed = DecodeErrorKind::BadValueLength {
        tag,
        len: data.len(),
    };
    let (language, rest) = split_prefixed(data).ok_or(malformed)?;
    let (text, rest) = split_prefixed(rest).ok_or(malformed)?;
    if !rest.is_empty() {
        return Err(malformed);
    }
    Ok((
        string(tag, language, Chars::Token)?,
        string(tag, text, rule)?,
    ))
}

/// A 2-byte length and that many bytes, and what follows them.
fn split_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let [hi, lo, rest @ ..] = data else {
        return None;
    };
    rest.split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))
}

/// Which characters a string syntax admits.
#[derive(Clone, Copy)]
enum Chars {
    /// text: any character but controls other than TAB, LF, CR.
    Text,
    /// name: any character but controls (it reaches logs and file names).
    Name,
    /// keyword, uri, charset...: printable US-ASCII without space.
    Token,
    /// mimeMediaType: printable US-ASCII, space included.
    Printable,
}

impl Chars {
    fn admits(self, s: &str) -> bool {
        match self {
            Chars::Text => s
                .chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')),
            Chars::Name => !s.chars().any(char::is_control),
            Chars::Token => s.bytes().all(|b| matches!(b, 0x21..=0x7e)),
            Chars::Printable => s.bytes().all(|b| matches!(b, 0x20..=0x7e)),
        }
    }
}

fn string(tag: u8, data: &[u8], rule: Chars) -> Result<String, DecodeErrorKind> {
    let s = std::str::from_utf8(data).map_err(|_| DecodeErrorKind::InvalidUtf8)?;
    if !rule.admits(s) {
        return Err(DecodeErrorKind::InvalidCharacter(tag));
    }
    Ok(s.to_owned())
}

/// Attribute and member names: non-empty printable US-ASCII without space.
fn attribute_name(data: &[u8]) -> Result<String, DecodeErrorKind> {
    if data.is_empty() || !data.iter().all(|b| matches!(b, 0x21..=0x7e)) {
        return Err(DecodeErrorKind::InvalidAttributeName);
    }
    std::str::from_utf8(data)
        .map(str::to_owned)
        .map_err(|_| DecodeErrorKind::InvalidAttributeName)
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
