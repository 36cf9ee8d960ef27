//! The IPP encoder (RFC 8010): the exact inverse of [`crate::decode`] for every message
//! it produces, written straight into the caller's buffer (it is on the hot
//! path of every answer, so no intermediate allocation).

use super::decode::MAX_WIRE_LENGTH;
use super::value::{Attribute, END_OF_ATTRIBUTES, Message, Value, ValueTag};

/// Appends the encoding of `msg` to `out`. Names and values longer than a
/// length field can say (32767 bytes) are cut, strings at a char boundary;
/// ours never are. Never panics.
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) {
    out.extend_from_slice(&[msg.version.0, msg.version.1]);
    put_u16(out, msg.code);
    out.extend_from_slice(&msg.request_id.to_be_bytes());
    for group in &msg.groups {
        out.push(group.tag as u8);
        for attribute in &group.attributes {
            encode_attribute(attribute, out);
        }
    }
    out.push(END_OF_ATTRIBUTES);
}

/// The first value under the name, the others as additional values
/// (name-length 0, RFC 8010 3.1.5).
fn encode_attribute(attribute: &Attribute, out: &mut Vec<u8>) {
    let name = clip_str(&attribute.name, MAX_WIRE_LENGTH);
    encode_values(name.as_bytes(), &attribute.values, out);
}

fn encode_values(name: &[u8], values: &[Value], out: &mut Vec<u8>) {
    match values.split_first() {
        Some((first, rest)) => {
            encode_value(name, first, out);
            for value in rest {
                encode_value(b"", value, out);
            }
        }
        // An attribute without values can only be said as 'no-value'.
        None => encode_value(name, &Value::OutOfBand(ValueTag::NO_VALUE), out),
    }
}

/// value-tag, name-length, name, value-length, value.
fn encode_value(name: &[u8], value: &Value, out: &mut Vec<u8>) {
    out.push(value.tag());
    put_field(out, name);
    match value {
        Value::Integer(i) | Value::Enum(i) => {
            put_u16(out, 4);
            out.extend_from_slice(&i.to_be_bytes());
        }
        Value::Boolean(b) => {
            put_u16(out, 1);
            out.push(u8::from(*b));
        }
        Value::OctetString(data) | Value::Other { data, .. } => put_field(out, data),
        Value::DateTime(bytes) => {
            put_u16(out, 11);
            out.extend_from_slice(bytes);
        }
        Value::Resolution(cross_feed, feed, units) => {
            put_u16(out, 9);
            out.extend_from_slice(&cross_feed.to_be_bytes());
            out.extend_from_slice(&feed.to_be_bytes());
            out.extend_from_slice(&units.to_be_bytes());
        }
        Value::RangeOfInteger(lower, upper) => {
            put_u16(out, 8);
            out.extend_from_slice(&lower.to_be_bytes());
            out.extend_from_slice(&upper.to_be_bytes());
        }
        Value::TextWithLanguage { language, text: s }
        | Value::NameWithLanguage { language, name: s } => put_with_language(out, language, s),
        Value::Text(s)
        | Value::Name(s)
        | Value::Keyword(s)
        | Value::Uri(s)
        | Value::UriScheme(s)
        | Value::Charset(s)
        | Value::NaturalLanguage(s)
        | Value::MimeMediaType(s) => put_field(out, clip_str(s, MAX_WIRE_LENGTH).as_bytes()),
        Value::Collection(members) => {
            put_u16(out, 0);
            encode_members(members, out);
        }
        Value::OutOfBand(_) => put_u16(out, 0),
    }
}

/// Each member as memberAttrName + nameless values, then endCollection
/// (RFC 8010 3.1.6); begCollection itself was written by the caller.
fn encode_members(members: &[Attribute], out: &mut Vec<u8>) {
    for member in members {
        out.push(ValueTag::MEMBER_ATTR_NAME);
        put_u16(out, 0);
        put_field(out, clip_str(&member.name, MAX_WIRE_LENGTH).as_bytes());
        encode_values(b"", &member.values, out);
    }
    out.push(ValueTag::END_COLLECTION);
    put_u16(out, 0);
    put_u16(out, 0);
}

/// value-length, then language and text each with its own 2-byte length
/// (RFC 8010 3.9); the whole fits one length field.
fn put_with_language(out: &mut Vec<u8>, language: &str, text: &str) {
    const PREFIXES: usize = 4;
    let language = clip_str(language, MAX_WIRE_LENGTH - PREFIXES);
    let text = clip_str(text, MAX_WIRE_LENGTH - PREFIXES - language.len());
    put_len(out, PREFIXES + language.len() + text.len());
    put_field(out, language.as_bytes());
    put_field(out, text.as_bytes());
}

/// A 2-byte length and the bytes, cut to what the length can say.
fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = bytes.get(..MAX_WIRE_LENGTH).unwrap_or(bytes);
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Callers pass at most [`MAX_WIRE_LENGTH`], which fits a u16.
fn put_len(out: &mut Vec<u8>, len: usize) {
    put_u16(out, u16::try_from(len).unwrap_or(u16::MAX));
}

fn put_u16(out: &mut Vec<u8>, n: u16) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary.
fn clip_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    &s[..s.floor_char_boundary(max)]
}
