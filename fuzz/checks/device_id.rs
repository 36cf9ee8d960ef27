//! Invariants of the `device_id` fuzz target, shared with
//! `tests/fuzz_regressions.rs`.
//!
//! Parses arbitrary bytes as an IEEE 1284 device ID, as a USB printer (or
//! anything posing as one) may send. The parser must never panic, its
//! output must stay bounded and printable, and the queue name derived from
//! it must always be a valid queue name (a stricter form of the
//! configuration's rule: 1 to 127 of `A-Z a-z 0-9 _ -`).

use printspoold::sources::usb::{DeviceId, parse_device_id, printer_config, queue_name};

pub fn check(data: &[u8]) {
    let id = parse_device_id(data);
    assert_eq!(id, parse_device_id(data), "parsing is not deterministic");
    assert_bounded_and_printable(&id);

    assert_valid_queue_name(&queue_name(&id));

    let formats = id.formats();
    assert_eq!(
        formats.last().map(String::as_str),
        Some("application/octet-stream")
    );
    for (i, f) in formats.iter().enumerate() {
        assert!(!formats[..i].contains(f), "duplicate format {f}");
    }

    // The USB descriptors are untrusted too: fill from the same bytes.
    let text = String::from_utf8_lossy(data);
    let mut filled = id.clone();
    filled.fill_missing(Some(&text), Some(&text), Some(&text));
    assert_bounded_and_printable(&filled);
    let config = printer_config(&filled, std::path::Path::new("/dev/usb/lp0"));
    assert_valid_queue_name(&config.name);
}

fn assert_bounded_and_printable(id: &DeviceId) {
    assert!(id.raw.len() <= 1023);
    assert!(!id.raw.chars().any(char::is_control));
    for field in [&id.manufacturer, &id.model, &id.serial]
        .into_iter()
        .flatten()
    {
        assert!(!field.is_empty() && field.len() <= 255, "field {field:?}");
        assert_eq!(field.trim(), field, "untrimmed field {field:?}");
        assert!(
            !field.chars().any(char::is_control),
            "control character in {field:?}"
        );
    }
    assert!(id.command_set.len() <= 32);
    for command in &id.command_set {
        assert!(!command.is_empty() && !command.chars().any(char::is_control));
    }
}

fn assert_valid_queue_name(name: &str) {
    assert!(
        !name.is_empty() && name.len() <= 127,
        "bad length: {name:?}"
    );
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "unsafe characters: {name:?}"
    );
}
