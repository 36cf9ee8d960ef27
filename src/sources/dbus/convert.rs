//! Between the core's types and D-Bus values: jobs and printers become
//! `a{sv}` dictionaries (keys named like their IPP attributes), and the
//! `options` dictionary of `SubmitJob` becomes a validated [`JobTicket`].

use std::collections::{BTreeMap, HashMap};

use zbus::zvariant::{OwnedValue, Value};

use super::errors::Error;
use crate::core::{Disclosure, Job, JobTicket, Origin, PrinterInfo, WhichJobs};
use crate::docformat;

/// An `a{sv}` as sent: sorted keys make replies reproducible.
pub type VariantDict = BTreeMap<String, Value<'static>>;

/// The options `SubmitJob` understands, for the error message.
pub const KNOWN_OPTIONS: [&str; 8] = [
    "copies",
    "sides",
    "media",
    "document-format",
    "job-hold-until",
    "orientation-requested",
    "print-quality",
    "print-color-mode",
];

// One table of accepted values for both entry paths, so IPP and D-Bus
// take the same tickets.
use crate::sources::ipp::service::capabilities::{
    COLOR_MODES, COPIES_MAX, HOLD_UNTIL, ORIENTATIONS, QUALITIES, SIDES, media_names,
};

/// Longest job name kept, in characters (IPP `name(255)`).
const MAX_TITLE_CHARS: usize = 255;

/// The job dictionary of `GetJob` and `ListJobs`. `format` and `size` are
/// absent while a job has no document yet (IPP Create-Job); `owner` and
/// `name` are absent when `shown` withholds them (`job_private_values`).
pub fn job_dict(job: &Job, shown: Disclosure) -> VariantDict {
    let mut dict = VariantDict::new();
    dict.insert("id".into(), Value::from(job.id));
    dict.insert("printer".into(), Value::from(job.printer.clone()));
    if shown.owner {
        dict.insert("owner".into(), Value::from(job.owner.clone()));
    }
    if shown.name {
        dict.insert("name".into(), Value::from(job.name.clone()));
    }
    dict.insert("state".into(), Value::from(job.state.keyword().to_string()));
    dict.insert("state-reasons".into(), Value::from(job.reasons.clone()));
    dict.insert("message".into(), Value::from(job.message.clone()));
    if let Some(format) = &job.format {
        dict.insert("format".into(), Value::from(format.clone()));
    }
    if let Some(size) = job.document_bytes {
        dict.insert("size".into(), Value::from(size));
    }
    dict.insert("created".into(), Value::from(job.created_at));
    dict.insert(
        "origin".into(),
        Value::from(origin_keyword(job.origin).to_string()),
    );
    dict
}

/// The printer dictionary of `ListPrinters`. The device URI is left out:
/// IPP shows it to administrators only, and anyone may call this.
pub fn printer_dict(printer: &PrinterInfo) -> VariantDict {
    let mut dict = VariantDict::new();
    dict.insert("name".into(), Value::from(printer.name.clone()));
    dict.insert("is-default".into(), Value::from(printer.is_default));
    dict.insert("info".into(), Value::from(printer.info.clone()));
    dict.insert("location".into(), Value::from(printer.location.clone()));
    dict.insert(
        "make-and-model".into(),
        Value::from(printer.make_and_model.clone()),
    );
    dict.insert(
        "state".into(),
        Value::from(printer.state.keyword().to_string()),
    );
    dict.insert("state-reasons".into(), Value::from(printer.reasons.clone()));
    dict.insert("accepting-jobs".into(), Value::from(printer.accepting_jobs));
    let queued = u32::try_from(printer.queued_jobs).unwrap_or(u32::MAX);
    dict.insert("queued-jobs".into(), Value::from(queued));
    dict.insert("formats".into(), Value::from(printer.formats.clone()));
    if let Some(device_id) = &printer.device_id {
        dict.insert("device-id".into(), Value::from(device_id.clone()));
    }
    dict
}

pub fn origin_keyword(origin: Origin) -> &'static str {
    match origin {
        Origin::Ipp => "ipp",
        Origin::Dbus => "dbus",
        Origin::DropDir => "drop-dir",
    }
}

/// `ListJobs`' argument, spelled like IPP's `which-jobs`.
pub fn parse_which(which: &str) -> Result<WhichJobs, Error> {
    match which {
        "not-completed" => Ok(WhichJobs::NotCompleted),
        "completed" => Ok(WhichJobs::Completed),
        "all" => Ok(WhichJobs::All),
        other => Err(Error::InvalidArgument(format!(
            "which must be \"not-completed\", \"completed\" or \"all\", not \"{}\"",
            other.escape_debug()
        ))),
    }
}

/// A job name safe to store and log: control characters replaced, length
/// bounded, never empty.
pub fn sanitize_title(title: &str) -> String {
    let clean = crate::logging::sanitize(title.trim(), MAX_TITLE_CHARS);
    if clean.trim().is_empty() {
        "untitled".to_string()
    } else {
        clean
    }
}

/// What `SubmitJob`'s `options` asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitOptions {
    pub ticket: JobTicket,
    /// `document-format`; `None` lets the core sense it from the content.
    pub format: Option<String>,
}

/// Validates every entry; the first unknown key, wrong type or unsupported
/// value is refused (`InvalidOption`) rather than silently ignored.
pub fn parse_options(options: &HashMap<String, OwnedValue>) -> Result<SubmitOptions, Error> {
    let mut parsed = SubmitOptions {
        ticket: JobTicket::default(),
        format: None,
    };
    // Sorted, so the error names the same option every time.
    let mut keys: Vec<&String> = options.keys().collect();
    keys.sort();
    for key in keys {
        let value: &Value<'_> = &options[key];
        apply_option(&mut parsed, key, value)?;
    }
    Ok(parsed)
}

fn apply_option(parsed: &mut SubmitOptions, key: &str, value: &Value<'_>) -> Result<(), Error> {
    let ticket = &mut parsed.ticket;
    match key {
        "copies" => {
            let copies = integer(key, value)?;
            if !(1..=i64::from(COPIES_MAX)).contains(&copies) {
                return Err(unsupported(
                    key,
                    &copies.to_string(),
                    &format!("1 to {COPIES_MAX}"),
                ));
            }
            ticket.copies = copies as u32;
        }
        "sides" => ticket.sides = Some(keyword(key, value, &SIDES)?),
        "media" => {
            let media: Vec<&str> = media_names().collect();
            ticket.media = Some(keyword(key, value, &media)?);
        }
        "job-hold-until" => ticket.job_hold_until = Some(keyword(key, value, &HOLD_UNTIL)?),
        "print-color-mode" => ticket.print_color_mode = Some(keyword(key, value, &COLOR_MODES)?),
        "orientation-requested" => {
            ticket.orientation_requested = Some(enumeration(key, value, &ORIENTATIONS)?)
        }
        "print-quality" => ticket.print_quality = Some(enumeration(key, value, &QUALITIES)?),
        "document-format" => {
            let format = string(key, value)?;
            if !docformat::is_supported(format) {
                return Err(unsupported(key, format, &docformat::SUPPORTED.join(", ")));
            }
            parsed.format = Some(docformat::base_type(format).to_ascii_lowercase());
        }
        other => {
            return Err(Error::InvalidOption(format!(
                "unknown option \"{}\"; known options: {}",
                other.escape_debug(),
                KNOWN_OPTIONS.join(", ")
            )));
        }
    }
    Ok(())
}

/// `u` or `i` (clients in dynamic languages send either).
fn integer(key: &str, value: &Value<'_>) -> Result<i64, Error> {
    match value {
        Value::U32(n) => Ok(i64::from(*n)),
        Value::I32(n) => Ok(i64::from(*n)),
        other => Err(wrong_type(key, "u or i", other)),
    }
}

fn enumeration(key: &str, value: &Value<'_>, allowed: &[i32]) -> Result<i32, Error> {
    let n = integer(key, value)?;
    match i32::try_from(n) {
        Ok(n) if allowed.contains(&n) => Ok(n),
        _ => {
            let list: Vec<String> = allowed.iter().map(i32::to_string).collect();
            Err(unsupported(key, &n.to_string(), &list.join(", ")))
        }
    }
}

fn string<'v>(key: &str, value: &'v Value<'_>) -> Result<&'v str, Error> {
    match value {
        Value::Str(s) => Ok(s.as_str()),
        other => Err(wrong_type(key, "s", other)),
    }
}

/// A keyword from `allowed`, matched exactly (IPP keywords are lower case).
fn keyword(key: &str, value: &Value<'_>, allowed: &[&str]) -> Result<String, Error> {
    let text = string(key, value)?;
    match allowed.iter().find(|k| **k == text) {
        Some(k) => Ok((*k).to_string()),
        None => Err(unsupported(key, text, &allowed.join(", "))),
    }
}

fn wrong_type(key: &str, wanted: &str, got: &Value<'_>) -> Error {
    Error::InvalidOption(format!(
        "option \"{key}\" wants a value of type {wanted}, got {}",
        got.value_signature()
    ))
}

fn unsupported(key: &str, got: &str, allowed: &str) -> Error {
    Error::InvalidOption(format!(
        "option \"{key}\" does not support \"{}\"; use one of: {allowed}",
        crate::logging::sanitize(got, 64).escape_debug()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{JobState, PrinterState};
    use zbus::DBusError;

    fn options(entries: &[(&str, Value<'static>)]) -> HashMap<String, OwnedValue> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), OwnedValue::try_from(v.clone()).unwrap()))
            .collect()
    }

    fn error_name(e: Error) -> String {
        e.name().to_string()
    }

    #[test]
    fn known_options_fill_the_ticket() {
        let parsed = parse_options(&options(&[
            ("copies", Value::from(3u32)),
            ("sides", Value::from("two-sided-long-edge")),
            ("media", Value::from("na_letter_8.5x11in")),
            ("document-format", Value::from("Application/PDF")),
            ("job-hold-until", Value::from("indefinite")),
            ("orientation-requested", Value::from(4i32)),
            ("print-quality", Value::from(5u32)),
            ("print-color-mode", Value::from("monochrome")),
        ]))
        .unwrap();
        assert_eq!(parsed.ticket.copies, 3);
        assert_eq!(parsed.ticket.sides.as_deref(), Some("two-sided-long-edge"));
        assert_eq!(parsed.ticket.media.as_deref(), Some("na_letter_8.5x11in"));
        assert_eq!(parsed.ticket.job_hold_until.as_deref(), Some("indefinite"));
        assert_eq!(parsed.ticket.orientation_requested, Some(4));
        assert_eq!(parsed.ticket.print_quality, Some(5));
        assert_eq!(
            parsed.ticket.print_color_mode.as_deref(),
            Some("monochrome")
        );
        assert_eq!(parsed.format.as_deref(), Some("application/pdf"));
    }

    #[test]
    fn copies_accepts_signed_and_unsigned() {
        let parsed = parse_options(&options(&[("copies", Value::from(2i32))])).unwrap();
        assert_eq!(parsed.ticket.copies, 2);
        assert_eq!(parse_options(&HashMap::new()).unwrap().ticket.copies, 1);
    }

    #[test]
    fn bad_options_are_invalid_option_errors() {
        let invalid = "org.printspoold.Spooler1.Error.InvalidOption";
        for bad in [
            options(&[("colour", Value::from("yes"))]),
            options(&[("copies", Value::from("2"))]),
            options(&[("copies", Value::from(0u32))]),
            options(&[("copies", Value::from(-1i32))]),
            options(&[("copies", Value::from(1000u32))]),
            options(&[("copies", Value::from(2u64))]),
            options(&[("sides", Value::from("three-sided"))]),
            options(&[("media", Value::from(4u32))]),
            options(&[(
                "document-format",
                Value::from("application/x-shockwave-flash"),
            )]),
            options(&[("job-hold-until", Value::from("weekend"))]),
            options(&[("orientation-requested", Value::from(7i32))]),
        ] {
            let e = parse_options(&bad).unwrap_err();
            assert_eq!(error_name(e), invalid, "{bad:?}");
        }
    }

    #[test]
    fn unknown_option_names_the_known_ones() {
        let e = parse_options(&options(&[("colour", Value::from("yes"))])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("\"colour\"") && text.contains("copies"),
            "{text}"
        );
    }

    #[test]
    fn titles_are_sanitized() {
        assert_eq!(sanitize_title("  report.pdf \n"), "report.pdf");
        assert_eq!(sanitize_title("a\x1b[31mb"), "a\u{fffd}[31mb");
        assert_eq!(sanitize_title(""), "untitled");
        assert_eq!(sanitize_title(&"x".repeat(1000)).chars().count(), 255);
    }

    #[test]
    fn which_jobs_keywords() {
        assert_eq!(parse_which("all").unwrap(), WhichJobs::All);
        assert_eq!(parse_which("completed").unwrap(), WhichJobs::Completed);
        assert_eq!(
            parse_which("not-completed").unwrap(),
            WhichJobs::NotCompleted
        );
        assert_eq!(
            error_name(parse_which("mine").unwrap_err()),
            "org.printspoold.Spooler1.Error.InvalidArgument"
        );
    }

    fn sample_job() -> Job {
        Job {
            id: 42,
            printer: "default".into(),
            owner: "alice".into(),
            name: "report".into(),
            origin: Origin::Dbus,
            identity: crate::core::Assurance::Verified,
            state: JobState::Held,
            reasons: vec!["job-hold-until-specified".into()],
            message: String::new(),
            ticket: JobTicket::default(),
            format: Some("application/pdf".into()),
            document_bytes: Some(1234),
            has_document: true,
            created_at: 1_700_000_000,
            processing_at: None,
            completed_at: None,
            claim: None,
            tcp_peer: None,
        }
    }

    #[test]
    fn job_dict_has_the_documented_keys_and_types() {
        let dict = job_dict(&sample_job(), Disclosure::WHOLE);
        let keys: Vec<&str> = dict.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "created",
                "format",
                "id",
                "message",
                "name",
                "origin",
                "owner",
                "printer",
                "size",
                "state",
                "state-reasons"
            ]
        );
        assert_eq!(dict["id"], Value::U32(42));
        assert_eq!(dict["state"], Value::from("pending-held"));
        assert_eq!(dict["size"], Value::U64(1234));
        assert_eq!(dict["created"], Value::U64(1_700_000_000));
        assert_eq!(dict["origin"], Value::from("dbus"));
        assert_eq!(dict["state-reasons"].value_signature().to_string(), "as");
    }

    #[test]
    fn job_without_document_has_no_format_or_size() {
        let mut job = sample_job();
        job.format = None;
        job.document_bytes = None;
        let dict = job_dict(&job, Disclosure::WHOLE);
        assert!(!dict.contains_key("format") && !dict.contains_key("size"));
    }

    #[test]
    fn withheld_values_are_left_out() {
        let hidden = Disclosure {
            name: false,
            owner: false,
        };
        let dict = job_dict(&sample_job(), hidden);
        assert!(!dict.contains_key("name") && !dict.contains_key("owner"));
        assert!(dict.contains_key("id") && dict.contains_key("state"));
    }

    #[test]
    fn printer_dict_hides_the_device_uri() {
        let info = PrinterInfo {
            name: "lab".into(),
            is_default: true,
            info: "Lab printer".into(),
            location: "Room 1".into(),
            make_and_model: "Acme".into(),
            device_uri: "device:///dev/usb/lp0".into(),
            device_id: Some("MFG:Acme;MDL:1;".into()),
            formats: vec!["application/pdf".into()],
            state: PrinterState::Idle,
            reasons: vec!["none".into()],
            message: String::new(),
            accepting_jobs: true,
            queued_jobs: 2,
            state_changed_at: 0,
            up_since: 0,
        };
        let dict = printer_dict(&info);
        assert_eq!(dict["queued-jobs"], Value::U32(2));
        assert_eq!(dict["is-default"], Value::Bool(true));
        assert_eq!(dict["device-id"], Value::from("MFG:Acme;MDL:1;"));
        assert!(
            dict.values()
                .all(|v| v != &Value::from("device:///dev/usb/lp0"))
        );
    }
}
