//! Get-Printer-Attributes content: every REQUIRED printer attribute of RFC
//! 8011 5.4 and PWG 5100.12 section 6, and the Job Template defaults and
//! supported values of [`capabilities`].
//!
//! Most of the answer only changes when the queue's configuration does, so
//! it is encoded once per (queue, Host) and kept as bytes with an index by
//! attribute; a request copies the slices it wants and encodes only the
//! few attributes that move (state, counts, clocks). This is the hottest
//! path of the server (benchmarked against cupsd).
//!
//! [`capabilities`]: crate::sources::ipp::service::capabilities

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::core::{JobLimits, PrinterInfo};
use ipp_proto::encode_message;
use ipp_proto::value::{Attribute, DelimiterTag, Group, Message, Operation, Value};

use super::attr;
use super::capabilities as caps;
use super::clock;
use super::requested::{Category, Requested};
use super::uri;
use super::validate::VERSIONS;

/// Hosts remembered per queue: clients normally use one or two names for
/// the server; a client cycling through Host values only evicts its own.
const HOSTS_PER_PRINTER: usize = 4;

/// Encoded static attributes per queue and Host.
pub(super) struct StaticCache {
    /// Makes `printer-uuid` differ between machines with the same queue
    /// names (the machine id when readable).
    uuid_seed: String,
    by_printer: Mutex<HashMap<String, Vec<Arc<StaticAttrs>>>>,
}

impl StaticCache {
    pub(super) fn new(uuid_seed: String) -> Self {
        StaticCache {
            uuid_seed,
            by_printer: Mutex::new(HashMap::new()),
        }
    }

    /// The static attributes of `info` as seen through `host`, built on
    /// first use and again whenever the queue's configuration changed.
    pub(super) fn get(&self, info: &PrinterInfo, host: &str) -> Arc<StaticAttrs> {
        if let Some(hit) = self.lookup(info, host) {
            return hit;
        }
        let built = Arc::new(StaticAttrs::build(info, host, &self.uuid_seed));
        let mut map = self
            .by_printer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entries = map.entry(info.name.clone()).or_default();
        entries.retain(|e| e.host != host);
        entries.insert(0, Arc::clone(&built));
        entries.truncate(HOSTS_PER_PRINTER);
        built
    }

    fn lookup(&self, info: &PrinterInfo, host: &str) -> Option<Arc<StaticAttrs>> {
        let map = self
            .by_printer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(&info.name)?
            .iter()
            .find(|e| e.host == host && e.source.matches(info))
            .cloned()
    }
}

/// The configuration the static attributes were built from.
#[derive(Debug, PartialEq)]
struct StaticAttrsSource {
    info: String,
    location: String,
    make_and_model: String,
    device_id: Option<String>,
    formats: Vec<String>,
}

impl StaticAttrsSource {
    fn of(info: &PrinterInfo) -> Self {
        StaticAttrsSource {
            info: info.info.clone(),
            location: info.location.clone(),
            make_and_model: info.make_and_model.clone(),
            device_id: info.device_id.clone(),
            formats: info.formats.clone(),
        }
    }

    fn matches(&self, info: &PrinterInfo) -> bool {
        self.info == info.info
            && self.location == info.location
            && self.make_and_model == info.make_and_model
            && self.device_id == info.device_id
            && self.formats == info.formats
    }
}

struct StaticAttrEntry {
    name: &'static str,
    category: Category,
    range: Range<usize>,
}

/// The encoded attributes (name, value tags and values, RFC 8010 3.1.4),
/// ready to be copied into a printer attributes group.
pub(super) struct StaticAttrs {
    host: String,
    source: StaticAttrsSource,
    bytes: Vec<u8>,
    index: Vec<StaticAttrEntry>,
    /// `bytes[..all_len]` is the answer to `all`: everything but the
    /// on-request attributes, which are encoded after it.
    all_len: usize,
}

impl StaticAttrs {
    fn build(info: &PrinterInfo, host: &str, uuid_seed: &str) -> Self {
        let mut bytes = Vec::with_capacity(4096);
        let mut index = Vec::new();
        for (name, category, values) in static_attributes(info, host, uuid_seed) {
            let start = bytes.len();
            encode_attribute(Attribute::multi(name, values), &mut bytes);
            index.push(StaticAttrEntry {
                name,
                category,
                range: start..bytes.len(),
            });
        }
        let all_len = index
            .iter()
            .take_while(|e| e.category != Category::OnRequest)
            .last()
            .map_or(0, |e| e.range.end);
        StaticAttrs {
            host: host.to_string(),
            source: StaticAttrsSource::of(info),
            bytes,
            index,
            all_len,
        }
    }

    /// Bytes of the whole encoding.
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends the encoding of every wanted attribute to `out`.
    pub(super) fn append(&self, wanted: &Requested<'_>, out: &mut Vec<u8>) {
        let (whole, rest) = if wanted.is_all() {
            (
                self.all_len,
                &self.index[self.index.partition_point(|e| e.range.end <= self.all_len)..],
            )
        } else {
            (0, self.index.as_slice())
        };
        out.extend_from_slice(&self.bytes[..whole]);
        for entry in rest.iter().filter(|e| wanted.wants(e.name, e.category)) {
            out.extend_from_slice(&self.bytes[entry.range.clone()]);
        }
    }
}

/// One attribute alone, encoded with the crate's encoder: a message is
/// 8 header bytes, the group tag, the attribute, end-of-attributes.
fn encode_attribute(attribute: Attribute, out: &mut Vec<u8>) {
    const HEADER_AND_GROUP_TAG: usize = 9;
    let msg = Message {
        version: (2, 0),
        code: 0,
        request_id: 1,
        groups: vec![Group {
            tag: DelimiterTag::Printer,
            attributes: vec![attribute],
        }],
    };
    let mut whole = Vec::new();
    encode_message(&msg, &mut whole);
    let end = whole.len().saturating_sub(1);
    if let Some(encoded) = whole.get(HEADER_AND_GROUP_TAG..end) {
        out.extend_from_slice(encoded);
    }
}

type StaticAttribute = (&'static str, Category, Vec<Value>);

fn keywords(values: &[&str]) -> Vec<Value> {
    values
        .iter()
        .map(|v| Value::Keyword(v.to_string()))
        .collect()
}

fn enums(values: &[i32]) -> Vec<Value> {
    values.iter().map(|v| Value::Enum(*v)).collect()
}

fn text(value: &str) -> Vec<Value> {
    vec![Value::Text(value.to_string())]
}

/// `text(127)` attributes that ipptool checks with `/^.{0,127}$/`.
fn text127(value: &str) -> Vec<Value> {
    text(attr::clip_chars(value, 127))
}

fn media_size(x: i32, y: i32) -> Value {
    Value::Collection(vec![
        Attribute::new("x-dimension", Value::Integer(x)),
        Attribute::new("y-dimension", Value::Integer(y)),
    ])
}

fn media_col(size: caps::MediaSize) -> Value {
    Value::Collection(vec![Attribute::new(
        "media-size",
        media_size(size.x, size.y),
    )])
}

/// Every static attribute; those returned only on request come last (see
/// [`StaticAttrs::all_len`]).
fn static_attributes(info: &PrinterInfo, host: &str, uuid_seed: &str) -> Vec<StaticAttribute> {
    let mut attrs = printer_description(info, host, uuid_seed);
    attrs.extend(job_template_support());
    // PWG 5100.7: every media a job may ask for, as media-col values.
    attrs.push((
        "media-col-database",
        Category::OnRequest,
        caps::MEDIA.iter().map(|m| media_col(*m)).collect(),
    ));
    attrs
}

fn printer_description(info: &PrinterInfo, host: &str, uuid_seed: &str) -> Vec<StaticAttribute> {
    use Category::PrinterDescription as P;
    let printer_info = if info.info.is_empty() {
        &info.name
    } else {
        &info.info
    };
    let make_and_model = if info.make_and_model.is_empty() {
        "printspoold"
    } else {
        &info.make_and_model
    };
    let mut attrs: Vec<StaticAttribute> = vec![
        ("uri-security-supported", P, keywords(&["none"])),
        (
            "uri-authentication-supported",
            P,
            keywords(&["requesting-user-name"]),
        ),
        (
            "printer-uri-supported",
            P,
            vec![Value::Uri(uri::printer_uri(host, &info.name))],
        ),
        ("printer-name", P, vec![Value::Name(info.name.clone())]),
        ("printer-info", P, text127(printer_info)),
        ("printer-location", P, text127(&info.location)),
        ("printer-make-and-model", P, text127(make_and_model)),
        (
            "printer-more-info",
            P,
            vec![Value::Uri(uri::more_info(host, &info.name))],
        ),
        (
            "printer-uuid",
            P,
            vec![Value::Uri(printer_uuid(uuid_seed, &info.name))],
        ),
        (
            "ipp-versions-supported",
            P,
            VERSIONS
                .iter()
                .map(|(major, minor)| Value::Keyword(format!("{major}.{minor}")))
                .collect(),
        ),
        (
            "operations-supported",
            P,
            Operation::ALL
                .iter()
                .map(|op| Value::Enum(*op as i32))
                .collect(),
        ),
        (
            "multiple-document-jobs-supported",
            P,
            vec![Value::Boolean(false)],
        ),
        (
            "charset-configured",
            P,
            vec![Value::Charset("utf-8".into())],
        ),
        (
            "charset-supported",
            P,
            vec![
                Value::Charset("utf-8".into()),
                Value::Charset("us-ascii".into()),
            ],
        ),
        (
            "natural-language-configured",
            P,
            vec![Value::NaturalLanguage("en".into())],
        ),
        (
            "generated-natural-language-supported",
            P,
            vec![Value::NaturalLanguage("en".into())],
        ),
        (
            "document-format-default",
            P,
            vec![Value::MimeMediaType(
                default_format(&info.formats).to_string(),
            )],
        ),
        (
            "document-format-supported",
            P,
            info.formats
                .iter()
                .map(|f| Value::MimeMediaType(f.clone()))
                .collect(),
        ),
        // The document goes to the device as received: nothing overrides
        // the PDL's own settings.
        ("pdl-override-supported", P, keywords(&["not-attempted"])),
        ("compression-supported", P, keywords(&["none"])),
        ("color-supported", P, vec![Value::Boolean(true)]),
        (
            "pages-per-minute",
            P,
            vec![Value::Integer(caps::PAGES_PER_MINUTE)],
        ),
        (
            "pages-per-minute-color",
            P,
            vec![Value::Integer(caps::PAGES_PER_MINUTE_COLOR)],
        ),
        (
            "job-creation-attributes-supported",
            P,
            keywords(&caps::JOB_CREATION_ATTRIBUTES),
        ),
        ("which-jobs-supported", P, keywords(&caps::WHICH_JOBS)),
        (
            "identify-actions-default",
            P,
            keywords(&caps::IDENTIFY_ACTIONS),
        ),
        (
            "identify-actions-supported",
            P,
            keywords(&caps::IDENTIFY_ACTIONS),
        ),
    ];
    if let Some(device_id) = &info.device_id {
        attrs.push((
            "printer-device-id",
            P,
            text(attr::clip_chars(device_id, 1023)),
        ));
    }
    attrs
}

fn job_template_support() -> Vec<StaticAttribute> {
    use Category::JobTemplate as T;
    let media_names: Vec<&str> = caps::MEDIA.iter().map(|m| m.name).collect();
    let (x, y, units) = caps::RESOLUTION_DEFAULT;
    vec![
        ("copies-default", T, vec![Value::Integer(1)]),
        (
            "copies-supported",
            T,
            vec![Value::RangeOfInteger(1, caps::COPIES_MAX)],
        ),
        ("finishings-default", T, enums(&caps::FINISHINGS)),
        ("finishings-supported", T, enums(&caps::FINISHINGS)),
        (
            "job-hold-until-default",
            T,
            keywords(&[caps::HOLD_UNTIL_DEFAULT]),
        ),
        ("job-hold-until-supported", T, keywords(&caps::HOLD_UNTIL)),
        ("media-default", T, keywords(&[caps::MEDIA_DEFAULT.name])),
        ("media-supported", T, keywords(&media_names)),
        ("media-ready", T, keywords(&media_names)),
        ("media-col-default", T, vec![media_col(caps::MEDIA_DEFAULT)]),
        (
            "media-col-ready",
            T,
            caps::MEDIA.iter().map(|m| media_col(*m)).collect(),
        ),
        ("media-col-supported", T, keywords(&["media-size"])),
        (
            "media-size-supported",
            T,
            caps::MEDIA.iter().map(|m| media_size(m.x, m.y)).collect(),
        ),
        (
            "orientation-requested-default",
            T,
            enums(&[caps::ORIENTATION_DEFAULT]),
        ),
        (
            "orientation-requested-supported",
            T,
            enums(&caps::ORIENTATIONS),
        ),
        ("output-bin-default", T, keywords(&caps::OUTPUT_BINS[..1])),
        ("output-bin-supported", T, keywords(&caps::OUTPUT_BINS)),
        (
            "print-color-mode-default",
            T,
            keywords(&[caps::COLOR_MODE_DEFAULT]),
        ),
        (
            "print-color-mode-supported",
            T,
            keywords(&caps::COLOR_MODES),
        ),
        ("print-quality-default", T, enums(&[caps::QUALITY_DEFAULT])),
        ("print-quality-supported", T, enums(&caps::QUALITIES)),
        (
            "printer-resolution-default",
            T,
            vec![Value::Resolution(x, y, units)],
        ),
        (
            "printer-resolution-supported",
            T,
            caps::RESOLUTIONS
                .iter()
                .map(|(x, y, u)| Value::Resolution(*x, *y, *u))
                .collect(),
        ),
        ("sides-default", T, keywords(&[caps::SIDES_DEFAULT])),
        ("sides-supported", T, keywords(&caps::SIDES)),
    ]
}

/// Octet-stream (the core senses the real format) when the queue takes it,
/// else the queue's first format.
fn default_format(formats: &[String]) -> &str {
    let octet = crate::docformat::OCTET_STREAM;
    if formats.iter().any(|f| f.eq_ignore_ascii_case(octet)) {
        octet
    } else {
        formats.first().map_or(octet, String::as_str)
    }
}

/// A stable name-based UUID (RFC 4122 layout, version 5 bits) for a queue:
/// the same across restarts, different between machines.
fn printer_uuid(seed: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("printspoold\0{seed}\0{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The attributes that come from `[server.limits]`: how long a Create-Job
/// waits for its document, and what happens then (PWG 5100.13 / RFC 8011
/// `multiple-operation-time-out`).
pub(super) fn limit_attributes(limits: &JobLimits, wanted: &Requested<'_>) -> Vec<Attribute> {
    use Category::PrinterDescription as P;
    let mut attrs = Vec::with_capacity(2);
    if wanted.wants("multiple-operation-time-out", P) {
        let seconds = i32::try_from(limits.multiple_operation_timeout).unwrap_or(i32::MAX);
        attrs.push(attr::integer("multiple-operation-time-out", seconds));
    }
    if wanted.wants("multiple-operation-time-out-action", P) {
        attrs.push(attr::keyword(
            "multiple-operation-time-out-action",
            "abort-job",
        ));
    }
    attrs
}

/// The attributes that change while the queue runs, built per request.
pub(super) fn dynamic_attributes(
    info: &PrinterInfo,
    now: u64,
    wanted: &Requested<'_>,
) -> Vec<Attribute> {
    use Category::PrinterDescription as P;
    let mut attrs = Vec::with_capacity(9);
    let mut put = |name: &'static str, make: &dyn Fn(&str) -> Attribute| {
        if wanted.wants(name, P) {
            attrs.push(make(name));
        }
    };
    put("printer-state", &|n| {
        Attribute::new(n, Value::Enum(info.state as i32))
    });
    put("printer-state-reasons", &|n| {
        if info.reasons.is_empty() {
            attr::keyword(n, "none")
        } else {
            attr::keywords(n, info.reasons.iter().map(String::as_str))
        }
    });
    put("printer-state-message", &|n| attr::text(n, &info.message));
    put("printer-is-accepting-jobs", &|n| {
        attr::boolean(n, info.accepting_jobs)
    });
    put("queued-job-count", &|n| {
        attr::integer(n, i32::try_from(info.queued_jobs).unwrap_or(i32::MAX))
    });
    put("printer-up-time", &|n| {
        attr::integer(n, clock::ipp_time(now))
    });
    put("printer-current-time", &|n| {
        Attribute::new(n, Value::DateTime(clock::date_time(now)))
    });
    put("printer-state-change-time", &|n| {
        attr::integer(n, clock::ipp_time(info.state_changed_at))
    });
    put("printer-state-change-date-time", &|n| {
        Attribute::new(n, Value::DateTime(clock::date_time(info.state_changed_at)))
    });
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::PrinterState;
    use ipp_proto::decode::{DecodeLimits, decode_response};

    pub(crate) fn sample_printer() -> PrinterInfo {
        PrinterInfo {
            name: "lab".to_string(),
            is_default: true,
            info: "Lab printer".to_string(),
            location: "Room 1".to_string(),
            make_and_model: "printspoold file printer".to_string(),
            device_uri: "file:///tmp/out".to_string(),
            device_id: None,
            formats: crate::docformat::SUPPORTED
                .iter()
                .map(|s| s.to_string())
                .collect(),
            state: PrinterState::Idle,
            reasons: vec!["none".to_string()],
            message: String::new(),
            accepting_jobs: true,
            queued_jobs: 0,
            state_changed_at: 1000,
            up_since: 1000,
        }
    }

    /// The static bytes wrapped into a message and decoded again.
    fn decode_group(bytes: &[u8]) -> Group {
        let mut msg = vec![2, 0, 0, 0, 0, 0, 0, 1, DelimiterTag::Printer as u8];
        msg.extend_from_slice(bytes);
        msg.push(ipp_proto::value::END_OF_ATTRIBUTES);
        let (decoded, _) = decode_response(&msg, &DecodeLimits::default()).unwrap();
        decoded.groups.into_iter().next().unwrap()
    }

    #[test]
    fn static_bytes_decode_to_the_attributes() {
        let statics = StaticAttrs::build(&sample_printer(), "h:631", "seed");
        let mut out = Vec::new();
        statics.append(&Requested::all(), &mut out);
        let group = decode_group(&out);
        assert_eq!(
            group.get("printer-uri-supported").unwrap().values,
            vec![Value::Uri("ipp://h:631/printers/lab".into())],
            "one value: libcups cannot use several"
        );
        assert_eq!(group.get("uri-security-supported").unwrap().values.len(), 1);
        assert_eq!(
            group.get("operations-supported").unwrap().values.len(),
            Operation::ALL.len()
        );
        let media_col = &group.get("media-col-default").unwrap().values[0];
        assert_eq!(*media_col, super::media_col(caps::MEDIA_DEFAULT));
    }

    #[test]
    fn media_col_database_only_when_named() {
        let statics = StaticAttrs::build(&sample_printer(), "h", "seed");
        let mut all = Vec::new();
        statics.append(&Requested::all(), &mut all);
        assert!(decode_group(&all).get("media-col-database").is_none());
        let mut named = Vec::new();
        statics.append(&Requested::names(&["media-col-database"]), &mut named);
        let group = decode_group(&named);
        assert_eq!(
            group.get("media-col-database").unwrap().values.len(),
            caps::MEDIA.len()
        );
    }

    #[test]
    fn requested_names_select_slices() {
        let statics = StaticAttrs::build(&sample_printer(), "h", "seed");
        let mut out = Vec::new();
        let msg_names = ["printer-name", "sides-default"];
        statics.append(&Requested::names(&msg_names), &mut out);
        let group = decode_group(&out);
        let names: Vec<_> = group.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["printer-name", "sides-default"]);
    }

    #[test]
    fn cache_rebuilds_when_the_configuration_changes() {
        let cache = StaticCache::new("seed".into());
        let mut info = sample_printer();
        let first = cache.get(&info, "h");
        assert!(Arc::ptr_eq(&first, &cache.get(&info, "h")));
        info.location = "Room 2".to_string();
        assert!(!Arc::ptr_eq(&first, &cache.get(&info, "h")));
        for i in 0..10 {
            cache.get(&info, &format!("host{i}"));
        }
        let map = cache.by_printer.lock().unwrap();
        assert_eq!(map["lab"].len(), HOSTS_PER_PRINTER);
    }

    #[test]
    fn uuid_is_stable_and_well_formed() {
        let a = printer_uuid("m", "lab");
        assert_eq!(a, printer_uuid("m", "lab"));
        assert_ne!(a, printer_uuid("m", "other"));
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[9 + 14..9 + 15], "5");
    }

    #[test]
    fn long_printer_info_is_clipped_to_127_characters() {
        let mut info = sample_printer();
        info.info = "é".repeat(300);
        let statics = StaticAttrs::build(&info, "h", "seed");
        let mut out = Vec::new();
        statics.append(&Requested::names(&["printer-info"]), &mut out);
        let group = decode_group(&out);
        let value = group.get("printer-info").unwrap().values[0]
            .as_str()
            .unwrap();
        assert_eq!(value.chars().count(), 127);
    }
}
