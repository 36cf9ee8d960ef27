//! Tests of the IPP codec: round trips, and every kind of hostile input the
//! decoder must refuse cleanly (LESSONS-FROM-PEERS.md, "IPP").

use super::*;
use crate::encode::encode_message;
use crate::value::{Attribute, DelimiterTag, Group, Message, StatusCode, Value, ValueTag};
use std::time::{Duration, Instant};

/// Hand-written wire bytes, built independently of the encoder.
#[derive(Default)]
struct Wire(Vec<u8>);

impl Wire {
    fn header(version: (u8, u8), code: u16, request_id: u32) -> Self {
        let mut w = Wire::default();
        w.0.extend_from_slice(&[version.0, version.1]);
        w.0.extend_from_slice(&code.to_be_bytes());
        w.0.extend_from_slice(&request_id.to_be_bytes());
        w
    }

    fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }

    /// value-tag, name-length, name, value-length, value.
    fn attr(mut self, tag: u8, name: &str, value: &[u8]) -> Self {
        self.0.push(tag);
        self.0.extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.0.extend_from_slice(name.as_bytes());
        self.0
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }

    fn member(self, name: &str) -> Self {
        self.attr(ValueTag::MEMBER_ATTR_NAME, "", name.as_bytes())
    }

    fn end_collection(self) -> Self {
        self.attr(ValueTag::END_COLLECTION, "", b"")
    }

    /// The usual operation group start of a request.
    fn operation_group(self) -> Self {
        self.byte(0x01)
            .attr(ValueTag::CHARSET, "attributes-charset", b"utf-8")
            .attr(
                ValueTag::NATURAL_LANGUAGE,
                "attributes-natural-language",
                b"en",
            )
    }
}

fn decode(bytes: &[u8]) -> Result<(Message, usize), DecodeError> {
    decode_request(bytes, &DecodeLimits::default())
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    match decode(bytes) {
        Ok((message, _)) => panic!("expected an error, decoded {message:?}"),
        Err(e) => e,
    }
}

fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(message, &mut out);
    out
}

/// A Get-Printer-Attributes request as ipptool sends it, written by hand.
fn get_printer_attributes_wire() -> Vec<u8> {
    Wire::header((2, 0), 0x000b, 7)
        .operation_group()
        .attr(ValueTag::URI, "printer-uri", b"ipp://localhost/ipp/print")
        .attr(
            ValueTag::NAME_WITHOUT_LANGUAGE,
            "requesting-user-name",
            b"alice",
        )
        .attr(ValueTag::KEYWORD, "requested-attributes", b"printer-state")
        .attr(ValueTag::KEYWORD, "", b"media-col-default")
        .byte(0x03)
        .0
}

/// A message holding every [`Value`] variant, collections nested three deep.
fn every_variant_message() -> Message {
    let innermost = Value::Collection(vec![
        Attribute::new("x-dimension", Value::Integer(21000)),
        Attribute::multi(
            "media-source",
            vec![Value::Keyword("tray-1".into()), Value::Name("Tray".into())],
        ),
    ]);
    let middle = Value::Collection(vec![
        Attribute::new("media-size", innermost.clone()),
        Attribute::multi("media-type", vec![Value::Keyword("stationery".into())]),
    ]);
    let outer = Value::Collection(vec![
        Attribute::multi("media-col", vec![middle, innermost]),
        Attribute::new("empty-col", Value::Collection(vec![])),
        Attribute::new("unknown", Value::OutOfBand(ValueTag::UNKNOWN)),
    ]);
    let mut operation = Group::new(DelimiterTag::Operation);
    operation.push(Attribute::new(
        "attributes-charset",
        Value::Charset("utf-8".into()),
    ));
    operation.push(Attribute::new(
        "attributes-natural-language",
        Value::NaturalLanguage("en-us".into()),
    ));
    operation.push(Attribute::new(
        "printer-uri",
        Value::Uri("ipp://h/ipp/print".into()),
    ));
    operation.push(Attribute::new(
        "uri-scheme",
        Value::UriScheme("ipps".into()),
    ));
    operation.push(Attribute::new(
        "job-name",
        Value::NameWithLanguage {
            language: "fr".into(),
            name: "Résumé".into(),
        },
    ));
    operation.push(Attribute::new(
        "message",
        Value::TextWithLanguage {
            language: "de".into(),
            text: "Grüße\tmit\r\nZeilen".into(),
        },
    ));
    operation.push(Attribute::new("job-text", Value::Text("plain text".into())));
    operation.push(Attribute::new(
        "document-format",
        Value::MimeMediaType("text/plain; charset=utf-8".into()),
    ));
    let mut job = Group::new(DelimiterTag::Job);
    job.push(Attribute::multi(
        "copies",
        vec![Value::Integer(-1), Value::Integer(i32::MAX)],
    ));
    job.push(Attribute::new("fidelity", Value::Boolean(true)));
    job.push(Attribute::new("other-flag", Value::Boolean(false)));
    job.push(Attribute::new("orientation-requested", Value::Enum(4)));
    job.push(Attribute::new(
        "blob",
        Value::OctetString(vec![0, 0xff, 0x03, 0x7f]),
    ));
    job.push(Attribute::new(
        "date",
        Value::DateTime([7, 233, 5, 20, 12, 0, 0, 0, b'+', 2, 0]),
    ));
    job.push(Attribute::new("resolution", Value::Resolution(600, 300, 3)));
    job.push(Attribute::new("range", Value::RangeOfInteger(i32::MIN, 5)));
    job.push(Attribute::new("media-col", outer));
    job.push(Attribute::multi(
        "vendor",
        vec![
            Value::Other {
                tag: 0x38,
                data: b"two".to_vec(),
            },
            Value::Other {
                tag: 0x80,
                data: vec![],
            },
        ],
    ));
    job.push(Attribute::new(
        "gone",
        Value::OutOfBand(ValueTag::DELETE_ATTRIBUTE),
    ));
    Message {
        version: (2, 0),
        code: 0x0002,
        request_id: 0xdead_beef,
        groups: vec![operation, job, Group::new(DelimiterTag::Printer)],
    }
}

/// Nested collections `depth` deep: a { a { ... { leaf } } }.
fn nested_collections_wire(depth: usize) -> Vec<u8> {
    let mut w = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .byte(0x02)
        .attr(ValueTag::BEG_COLLECTION, "media-col", b"");
    for _ in 1..depth {
        w = w.member("a").attr(ValueTag::BEG_COLLECTION, "", b"");
    }
    w = w
        .member("leaf")
        .attr(ValueTag::INTEGER, "", &1i32.to_be_bytes());
    for _ in 0..depth {
        w = w.end_collection();
    }
    w.byte(0x03).0
}

#[test]
fn hand_written_request_decodes_and_reencodes_byte_for_byte() {
    let wire = get_printer_attributes_wire();
    let (message, consumed) = decode(&wire).unwrap();
    assert_eq!(consumed, wire.len());
    assert_eq!(
        (message.version, message.code, message.request_id),
        ((2, 0), 0x0b, 7)
    );
    assert_eq!(message.groups.len(), 1);
    let user = message.operation_attr("requesting-user-name").unwrap();
    assert_eq!(user.first(), Some(&Value::Name("alice".into())));
    let requested = message.operation_attr("requested-attributes").unwrap();
    assert_eq!(
        requested.values,
        vec![
            Value::Keyword("printer-state".into()),
            Value::Keyword("media-col-default".into())
        ]
    );
    assert_eq!(encode(&message), wire);
}

#[test]
fn every_value_variant_round_trips() {
    let message = every_variant_message();
    let wire = encode(&message);
    let (decoded, consumed) = decode(&wire).unwrap();
    assert_eq!(decoded, message);
    assert_eq!(consumed, wire.len());
    let (as_response, _) = decode_response(&wire, &DecodeLimits::default()).unwrap();
    assert_eq!(as_response, message);
    assert_eq!(encode(&decoded), wire);
}

#[test]
fn document_data_starts_where_the_attributes_end() {
    let mut wire = get_printer_attributes_wire();
    let attributes_len = wire.len();
    wire.extend_from_slice(b"%PDF-1.7 \x03\x01");
    let (_, consumed) = decode(&wire).unwrap();
    assert_eq!(consumed, attributes_len);
    assert_eq!(&wire[consumed..consumed + 4], b"%PDF");
}

#[test]
fn truncation_at_every_offset_is_incomplete() {
    for wire in [
        get_printer_attributes_wire(),
        encode(&every_variant_message()),
    ] {
        for end in 0..wire.len() {
            let err = decode_err(&wire[..end]);
            assert!(err.is_incomplete(), "cut at {end}: {err}");
            assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
            assert_eq!(err.version.is_some(), end >= 8, "cut at {end}");
            assert_eq!(err.request_id.is_some(), end >= 8, "cut at {end}");
        }
    }
}

#[test]
fn length_pointing_past_the_end_is_incomplete() {
    let mut wire = Wire::header((2, 0), 0x000b, 1).operation_group().0;
    wire.extend_from_slice(&[ValueTag::URI, 0, 11]);
    wire.extend_from_slice(b"printer-uri");
    wire.extend_from_slice(&[0x7f, 0x00, b'i', b'p', b'p']);
    let err = decode_err(&wire);
    assert_eq!(err.kind, DecodeErrorKind::Incomplete);
    assert_eq!(err.version, Some((2, 0)));
    assert_eq!(err.request_id, Some(1));
}

#[test]
fn ten_nested_collections_decode_and_eleven_are_refused() {
    let (message, _) = decode(&nested_collections_wire(10)).unwrap();
    let mut depth = 0;
    let mut value = message.group(DelimiterTag::Job).unwrap().attributes[0].first();
    while let Some(Value::Collection(members)) = value {
        depth += 1;
        value = members[0].first();
    }
    assert_eq!(depth, 10);
    assert_eq!(value, Some(&Value::Integer(1)));
    assert_eq!(encode(&message), nested_collections_wire(10));

    let err = decode_err(&nested_collections_wire(11));
    assert_eq!(err.kind, DecodeErrorKind::CollectionTooDeep);
    assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
}

#[test]
fn collection_depth_follows_the_limit() {
    let limits = DecodeLimits {
        max_collection_depth: 1,
        ..DecodeLimits::default()
    };
    assert!(decode_request(&nested_collections_wire(1), &limits).is_ok());
    let err = decode_request(&nested_collections_wire(2), &limits).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::CollectionTooDeep);
    let none = DecodeLimits {
        max_collection_depth: 0,
        ..DecodeLimits::default()
    };
    let err = decode_request(&nested_collections_wire(1), &none).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::CollectionTooDeep);
}

#[test]
fn deep_nesting_far_past_the_limit_is_refused_without_recursion() {
    let err = decode_err(&nested_collections_wire(5000));
    assert_eq!(err.kind, DecodeErrorKind::CollectionTooDeep);
}

#[test]
fn unterminated_collection_is_an_error_unless_the_buffer_just_ends() {
    let open = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .byte(0x02)
        .attr(ValueTag::BEG_COLLECTION, "media-col", b"")
        .member("media-type")
        .attr(ValueTag::KEYWORD, "", b"plain");
    assert!(decode_err(&open.0).is_incomplete());
    let ended = open.byte(0x03).0;
    let err = decode_err(&ended);
    assert_eq!(err.kind, DecodeErrorKind::UnterminatedCollection);
    assert_eq!(err.offset, ended.len() - 1);
    assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
}

#[test]
fn two_unknown_tags_in_a_row_decode_and_round_trip() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(0x38, "x-vendor", b"one")
        .attr(0x39, "", b"two")
        .attr(0x5f, "x-other", b"")
        .attr(0xff, "", &[0, 1, 2])
        .byte(0x03)
        .0;
    let (message, _) = decode(&wire).unwrap();
    let vendor = message.operation_attr("x-vendor").unwrap();
    assert_eq!(
        vendor.values,
        vec![
            Value::Other {
                tag: 0x38,
                data: b"one".to_vec()
            },
            Value::Other {
                tag: 0x39,
                data: b"two".to_vec()
            },
        ]
    );
    assert_eq!(message.operation_attr("x-other").unwrap().values.len(), 2);
    assert_eq!(encode(&message), wire);
}

#[test]
fn invalid_utf8_in_requesting_user_name_is_bad_request() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(
            ValueTag::NAME_WITHOUT_LANGUAGE,
            "requesting-user-name",
            b"bob\xff\xfe",
        )
        .byte(0x03)
        .0;
    let err = decode_err(&wire);
    assert_eq!(err.kind, DecodeErrorKind::InvalidUtf8);
    assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
}

#[test]
fn control_characters_are_refused_where_the_syntax_forbids_them() {
    let refused: [(u8, &[u8]); 7] = [
        (ValueTag::NAME_WITHOUT_LANGUAGE, b"bob\x1b[31m"),
        (ValueTag::NAME_WITHOUT_LANGUAGE, b"line\nbreak"),
        (ValueTag::NAME_WITHOUT_LANGUAGE, "c1\u{85}".as_bytes()),
        (ValueTag::TEXT_WITHOUT_LANGUAGE, b"bell\x07"),
        (ValueTag::KEYWORD, b"two words"),
        (ValueTag::URI, b"ipp://h/\x00"),
        (ValueTag::CHARSET, "utf-8é".as_bytes()),
    ];
    for (tag, value) in refused {
        let wire = Wire::header((2, 0), 0x0002, 1)
            .operation_group()
            .attr(tag, "some-name", value)
            .byte(0x03)
            .0;
        let err = decode_err(&wire);
        assert_eq!(
            err.kind,
            DecodeErrorKind::InvalidCharacter(tag),
            "{value:?}"
        );
        assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
    }
    let text_with_breaks = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::TEXT_WITHOUT_LANGUAGE, "message", b"a\tb\r\nc")
        .byte(0x03)
        .0;
    assert!(decode(&text_with_breaks).is_ok());
}

#[test]
fn attribute_names_must_be_printable_ascii() {
    for name in ["bad name", "tab\tname", "naïve"] {
        let wire = Wire::header((2, 0), 0x0002, 1)
            .operation_group()
            .attr(ValueTag::KEYWORD, name, b"x")
            .byte(0x03)
            .0;
        assert_eq!(
            decode_err(&wire).kind,
            DecodeErrorKind::InvalidAttributeName
        );
    }
}

#[test]
fn a_hundred_thousand_attributes_are_refused_quickly() {
    let mut w = Wire::header((2, 0), 0x0002, 1).operation_group();
    for i in 0..100_000 {
        w = w.attr(ValueTag::INTEGER, &format!("a{i}"), &[0, 0, 0, 1]);
    }
    let wire = w.byte(0x03).0;
    let start = Instant::now();
    let err = decode_err(&wire);
    let elapsed = start.elapsed();
    assert_eq!(err.kind, DecodeErrorKind::TooManyAttributes);
    assert_eq!(err.status(), StatusCode::ClientErrorRequestEntityTooLarge);
    // Refused at the first attribute over the limit, not at the end.
    assert!(err.offset < 1030 * 16, "refused at byte {}", err.offset);
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
}

#[test]
fn collection_members_count_as_attributes() {
    let limits = DecodeLimits {
        max_attributes: 10,
        ..DecodeLimits::default()
    };
    // 2 operation attributes + media-col + 8 nested members = 11.
    let err = decode_request(&nested_collections_wire(8), &limits).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::TooManyAttributes);
    assert!(decode_request(&nested_collections_wire(7), &limits).is_ok());
}

#[test]
fn total_size_over_the_limit_is_entity_too_large() {
    let wire = get_printer_attributes_wire();
    let limits = DecodeLimits {
        max_total_bytes: wire.len() - 1,
        ..DecodeLimits::default()
    };
    let err = decode_request(&wire, &limits).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::MessageTooLarge);
    assert_eq!(err.status(), StatusCode::ClientErrorRequestEntityTooLarge);
    // Refused from the announced length of the last value, before it arrives.
    let tighter = DecodeLimits {
        max_total_bytes: wire.len() - 10,
        ..DecodeLimits::default()
    };
    let err = decode_request(&wire[..wire.len() - 12], &tighter).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::MessageTooLarge);
    let exact = DecodeLimits {
        max_total_bytes: wire.len(),
        ..DecodeLimits::default()
    };
    assert!(decode_request(&wire, &exact).is_ok());
}

#[test]
fn value_over_the_limit_is_value_too_long() {
    let long = vec![b'a'; 40_000];
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::TEXT_WITHOUT_LANGUAGE, "job-name", &long)
        .byte(0x03)
        .0;
    let err = decode_err(&wire);
    assert_eq!(err.kind, DecodeErrorKind::ValueTooLong);
    assert_eq!(err.status(), StatusCode::ClientErrorRequestValueTooLong);
    // Refused from the length alone, before the value arrives.
    assert_eq!(decode_err(&wire[..200]).kind, DecodeErrorKind::ValueTooLong);
    let small = DecodeLimits {
        max_value_bytes: 4,
        ..DecodeLimits::default()
    };
    let err = decode_request(&get_printer_attributes_wire(), &small).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::ValueTooLong);
}

#[test]
fn additional_value_without_attribute_is_refused() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .byte(0x01)
        .attr(ValueTag::KEYWORD, "", b"orphan")
        .byte(0x03)
        .0;
    let err = decode_err(&wire);
    assert_eq!(err.kind, DecodeErrorKind::AdditionalValueWithoutAttribute);
    assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
    // Nor may it continue an attribute of the previous group.
    let across = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .byte(0x02)
        .attr(ValueTag::KEYWORD, "", b"orphan")
        .byte(0x03)
        .0;
    assert_eq!(
        decode_err(&across).kind,
        DecodeErrorKind::AdditionalValueWithoutAttribute
    );
}

#[test]
fn boolean_two_is_refused() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::BOOLEAN, "ipp-attribute-fidelity", &[2])
        .byte(0x03)
        .0;
    let err = decode_err(&wire);
    assert_eq!(err.kind, DecodeErrorKind::InvalidBoolean(2));
    assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
}

#[test]
fn fixed_size_values_with_the_wrong_length_are_refused() {
    let cases: [(u8, usize); 6] = [
        (ValueTag::INTEGER, 3),
        (ValueTag::ENUM, 5),
        (ValueTag::BOOLEAN, 0),
        (ValueTag::DATE_TIME, 10),
        (ValueTag::RESOLUTION, 8),
        (ValueTag::RANGE_OF_INTEGER, 9),
    ];
    for (tag, len) in cases {
        let wire = Wire::header((2, 0), 0x0002, 1)
            .operation_group()
            .attr(tag, "copies", &vec![0; len])
            .byte(0x03)
            .0;
        let err = decode_err(&wire);
        assert_eq!(err.kind, DecodeErrorKind::BadValueLength { tag, len });
        assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
    }
}

/// The 20 bytes that make the `ipp` crate 8.0.0 panic: a nameWithLanguage
/// whose language length (5) runs past its 4-byte value.
#[test]
fn ipp_crate_panic_input_is_refused_cleanly() {
    let wire = [
        0x01, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x01, 0x36, 0x00, 0x01, 0x6e, 0x00, 0x04,
        0x00, 0x05, 0x65, 0x6e, 0x03,
    ];
    let err = decode_err(&wire);
    assert_eq!(
        err.kind,
        DecodeErrorKind::BadValueLength {
            tag: ValueTag::NAME_WITH_LANGUAGE,
            len: 4
        }
    );
    assert_eq!(err.version, Some((1, 1)));
    assert_eq!(err.request_id, Some(1));
}

#[test]
fn with_language_values_must_fill_their_length_exactly() {
    let bad: [&[u8]; 4] = [
        b"\x00\x02en\x00\x03ab",  // text runs past the value
        b"\x00\x02en\x00\x01abc", // bytes left over
        b"\x00",                  // no room for a length
        b"\x00\x02en",            // no text length
    ];
    for value in bad {
        let wire = Wire::header((2, 0), 0x0002, 1)
            .operation_group()
            .attr(ValueTag::TEXT_WITH_LANGUAGE, "message", value)
            .byte(0x03)
            .0;
        let kind = decode_err(&wire).kind;
        assert!(
            matches!(kind, DecodeErrorKind::BadValueLength { tag: 0x35, .. }),
            "{value:?}: {kind:?}"
        );
    }
    let language_with_space = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(
            ValueTag::NAME_WITH_LANGUAGE,
            "job-name",
            b"\x00\x02e \x00\x01a",
        )
        .byte(0x03)
        .0;
    assert_eq!(
        decode_err(&language_with_space).kind,
        DecodeErrorKind::InvalidCharacter(ValueTag::NAME_WITH_LANGUAGE)
    );
}

#[test]
fn extension_tag_is_refused() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::EXTENSION, "x", &[0, 0, 0, 0x40])
        .byte(0x03)
        .0;
    assert_eq!(decode_err(&wire).kind, DecodeErrorKind::ExtensionTag);
    let in_collection = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::BEG_COLLECTION, "c", b"")
        .member("m")
        .attr(ValueTag::EXTENSION, "", &[0, 0, 0, 0x40])
        .end_collection()
        .byte(0x03)
        .0;
    assert_eq!(
        decode_err(&in_collection).kind,
        DecodeErrorKind::ExtensionTag
    );
}

#[test]
fn reserved_delimiters_and_attributes_outside_groups_are_refused() {
    for tag in [0x00, 0x0b, 0x0f] {
        let wire = Wire::header((2, 0), 0x0002, 1).byte(tag).byte(0x03).0;
        let err = decode_err(&wire);
        assert_eq!(err.kind, DecodeErrorKind::ReservedDelimiter(tag));
        assert_eq!(err.offset, 8);
    }
    let wire = Wire::header((2, 0), 0x0002, 1)
        .attr(ValueTag::KEYWORD, "early", b"x")
        .byte(0x03)
        .0;
    assert_eq!(
        decode_err(&wire).kind,
        DecodeErrorKind::AttributeOutsideGroup
    );
}

#[test]
fn out_of_band_values_ignore_their_data() {
    let wire = Wire::header((2, 0), 0x0002, 1)
        .operation_group()
        .attr(ValueTag::NO_VALUE, "job-name", b"ignored")
        .attr(0x1f, "x-future-oob", b"")
        .byte(0x03)
        .0;
    let (message, consumed) = decode(&wire).unwrap();
    assert_eq!(consumed, wire.len());
    let group = message.group(DelimiterTag::Operation).unwrap();
    assert_eq!(group.attributes[2].values, vec![Value::OutOfBand(0x13)]);
    assert_eq!(group.attributes[3].values, vec![Value::OutOfBand(0x1f)]);
    let again = encode(&message);
    assert_eq!(again.len(), wire.len() - "ignored".len());
    assert_eq!(decode(&again).unwrap().0, message);
}

#[test]
fn malformed_collections_are_refused() {
    let base = || {
        Wire::header((2, 0), 0x0002, 1).operation_group().attr(
            ValueTag::BEG_COLLECTION,
            "media-col",
            b"",
        )
    };
    let close = |w: Wire| w.end_collection().byte(0x03).0;
    let cases: [(Vec<u8>, DecodeErrorKind); 8] = [
        (
            close(base().attr(ValueTag::KEYWORD, "", b"nameless")),
            DecodeErrorKind::MemberWithoutName,
        ),
        (
            close(base().attr(ValueTag::BEG_COLLECTION, "", b"")),
            DecodeErrorKind::MemberWithoutName,
        ),
        (
            close(base().member("m")),
            DecodeErrorKind::MemberWithoutValue,
        ),
        (
            close(base().member("m").member("n")),
            DecodeErrorKind::MemberWithoutValue,
        ),
        (
            close(base().member("m").attr(ValueTag::KEYWORD, "named", b"x")),
            DecodeErrorKind::NamedValueInCollection,
        ),
        (
            close(base().member("")),
            DecodeErrorKind::InvalidAttributeName,
        ),
        (
            Wire::header((2, 0), 0x0002, 1)
                .operation_group()
                .attr(ValueTag::BEG_COLLECTION, "c", b"x")
                .end_collection()
                .byte(0x03)
                .0,
            DecodeErrorKind::BadValueLength {
                tag: ValueTag::BEG_COLLECTION,
                len: 1,
            },
        ),
        (
            Wire::header((2, 0), 0x0002, 1)
                .operation_group()
                .attr(ValueTag::END_COLLECTION, "", b"")
                .byte(0x03)
                .0,
            DecodeErrorKind::CollectionTagOutsideCollection(ValueTag::END_COLLECTION),
        ),
    ];
    for (wire, kind) in cases {
        let err = decode_err(&wire);
        assert_eq!(err.kind, kind, "{wire:02x?}");
        assert_eq!(err.status(), StatusCode::ClientErrorBadRequest);
    }
}

#[test]
fn encoder_cuts_overlong_strings_at_a_char_boundary() {
    let long = "é".repeat(20_000); // 40,000 bytes
    let mut group = Group::new(DelimiterTag::Job);
    group.push(Attribute::new("job-name", Value::Name(long.clone())));
    group.push(Attribute::new(
        "message",
        Value::TextWithLanguage {
            language: "en".into(),
            text: long.clone(),
        },
    ));
    group.push(Attribute::new("blob", Value::OctetString(vec![7; 70_000])));
    group.push(Attribute::multi("empty", vec![]));
    let message = Message {
        version: (2, 0),
        code: 0,
        request_id: 1,
        groups: vec![group],
    };
    let (decoded, _) = decode(&encode(&message)).unwrap();
    let attrs = &decoded.groups[0].attributes;
    let Value::Name(name) = &attrs[0].values[0] else {
        panic!("{:?}", attrs[0])
    };
    assert_eq!(name.len(), 32766);
    assert!(long.starts_with(name.as_str()));
    let Value::TextWithLanguage { text, .. } = &attrs[1].values[0] else {
        panic!("{:?}", attrs[1])
    };
    assert!(text.len() <= MAX_WIRE_LENGTH - 6 && long.starts_with(text.as_str()));
    assert_eq!(
        attrs[2].values[0],
        Value::OctetString(vec![7; MAX_WIRE_LENGTH])
    );
    assert_eq!(attrs[3].values, vec![Value::OutOfBand(ValueTag::NO_VALUE)]);
}

/// The `ipp_decode` fuzz corpus, in the repository's `fuzz/` (this crate
/// is `crates/ipp-proto`).
fn fuzz_corpus() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ipp_decode")
}

/// Replays the committed fuzz seeds (crash reproducers live in
/// `fuzz/regressions/`, replayed by `tests/fuzz_regressions.rs` of this crate): each must
/// decode or fail without panicking, and round-trip when it decodes.
#[test]
fn fuzz_seeds_replay_cleanly() {
    let dir = fuzz_corpus();
    let mut decoded = 0;
    let mut refused = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        match decode(&input) {
            Ok((message, _)) => {
                let again = decode(&encode(&message)).unwrap().0;
                assert_eq!(again, message, "{}", path.display());
                decoded += 1;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        decoded >= 4 && refused >= 1,
        "{decoded} decoded, {refused} refused"
    );
}

/// Writes the fuzz seeds: `cargo test --lib write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes files into fuzz/corpus; run on purpose"]
fn write_fuzz_seeds() {
    let dir = fuzz_corpus();
    std::fs::create_dir_all(&dir).unwrap();
    let mut print_job = Wire::header((2, 0), 0x0002, 3)
        .operation_group()
        .attr(ValueTag::URI, "printer-uri", b"ipp://localhost/ipp/print")
        .attr(
            ValueTag::NAME_WITH_LANGUAGE,
            "job-name",
            b"\x00\x02en\x00\x03doc",
        )
        .attr(ValueTag::MIME_MEDIA_TYPE, "document-format", b"text/plain")
        .byte(0x02)
        .attr(ValueTag::INTEGER, "copies", &2i32.to_be_bytes())
        .attr(ValueTag::BOOLEAN, "x-flag", &[1])
        .attr(ValueTag::NO_VALUE, "x-none", b"")
        .byte(0x03)
        .0;
    print_job.extend_from_slice(b"hello\n");
    let seeds: [(&str, Vec<u8>); 5] = [
        ("seed-get-printer-attributes", get_printer_attributes_wire()),
        ("seed-print-job", print_job),
        ("seed-every-variant", encode(&every_variant_message())),
        ("seed-nested-collections", nested_collections_wire(3)),
        (
            "seed-ipp-crate-panic",
            vec![
                0x01, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x01, 0x01, 0x36, 0x00, 0x01, 0x6e, 0x00,
                0x04, 0x00, 0x05, 0x65, 0x6e, 0x03,
            ],
        ),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
