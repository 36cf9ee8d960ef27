//! Small constructors for response attributes and the one text rule every
//! client-supplied string obeys before it is stored or logged.

use ipp_proto::value::{Attribute, Value, ValueTag};

pub(super) fn keyword(name: &str, value: &str) -> Attribute {
    Attribute::new(name, Value::Keyword(value.to_string()))
}

pub(super) fn keywords<'v>(name: &str, values: impl IntoIterator<Item = &'v str>) -> Attribute {
    let values = values
        .into_iter()
        .map(|v| Value::Keyword(v.to_string()))
        .collect();
    Attribute::multi(name, values)
}

pub(super) fn text(name: &str, value: &str) -> Attribute {
    Attribute::new(name, Value::Text(value.to_string()))
}

pub(super) fn name(name: &str, value: &str) -> Attribute {
    Attribute::new(name, Value::Name(value.to_string()))
}

pub(super) fn uri(name: &str, value: String) -> Attribute {
    Attribute::new(name, Value::Uri(value))
}

pub(super) fn integer(name: &str, value: i32) -> Attribute {
    Attribute::new(name, Value::Integer(value))
}

pub(super) fn enums(name: &str, values: &[i32]) -> Attribute {
    Attribute::multi(name, values.iter().map(|v| Value::Enum(*v)).collect())
}

pub(super) fn boolean(name: &str, value: bool) -> Attribute {
    Attribute::new(name, Value::Boolean(value))
}

pub(super) fn no_value(name: &str) -> Attribute {
    Attribute::new(name, Value::OutOfBand(ValueTag::NO_VALUE))
}

/// An attribute this server does not support at all, as RFC 8011 4.1.7
/// returns it in the unsupported-attributes group.
pub(super) fn unsupported(name: &str) -> Attribute {
    Attribute::new(name, Value::OutOfBand(ValueTag::UNSUPPORTED))
}

/// The value of a single-valued attribute; `None` when it has several (or
/// none), which callers treat as a bad request.
pub(super) fn single(attribute: &Attribute) -> Option<&Value> {
    match attribute.values.as_slice() {
        [value] => Some(value),
        _ => None,
    }
}

/// Longest user or job name stored (`name(MAX)`, RFC 8011 5.1.3).
pub(super) const NAME_MAX: usize = 255;

/// Client text made safe to store, show and log: control characters
/// (newlines, escapes, DEL, C1) dropped, surrounding blanks trimmed, cut to
/// `max_bytes` at a character boundary. The decoder already refused
/// invalid UTF-8, so this only has to deal with valid text.
pub(super) fn sanitize(text: &str, max_bytes: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let trimmed = clean.trim();
    let cut = trimmed.floor_char_boundary(max_bytes.min(trimmed.len()));
    trimmed[..cut].trim_end().to_string()
}

/// Text cut to at most `max_chars` characters, for attributes whose
/// syntax bounds them (`text(127)`).
pub(super) fn clip_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_controls_trims_and_cuts_on_a_char_boundary() {
        assert_eq!(sanitize("  al\nice\x1b[31m\u{7f}\u{85} ", 255), "alice[31m");
        assert_eq!(sanitize("éé", 3), "é");
        assert_eq!(sanitize("\r\n\t", 255), "");
    }

    #[test]
    fn clip_chars_counts_characters_not_bytes() {
        assert_eq!(clip_chars("ééé", 2), "éé");
        assert_eq!(clip_chars("ab", 5), "ab");
    }

    #[test]
    fn single_refuses_several_values() {
        let one = integer("copies", 1);
        let two = Attribute::multi("copies", vec![Value::Integer(1), Value::Integer(2)]);
        assert_eq!(single(&one), Some(&Value::Integer(1)));
        assert_eq!(single(&two), None);
    }
}
