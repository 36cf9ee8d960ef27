//! RFC 8011 section 4.1: the checks every request passes before any
//! operation runs, in the order they apply. The first that fails decides
//! the answer, with its status code and a message saying what was wrong.
//!
//! The decoder already refused what breaks RFC 8010 (lengths, tags, UTF-8,
//! limits); these are the protocol rules on top.

use ipp_proto::value::{Attribute, DelimiterTag, Message, Operation, StatusCode, ValueTag};

use super::attr;

/// A request that passed every check.
#[derive(Debug)]
pub(super) struct Checked {
    pub op: Operation,
    /// Operation attributes this server does not know: ignored, and
    /// returned as unsupported (RFC 8011 4.1.7).
    pub ignored: Vec<Attribute>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IppRefusal {
    pub status: StatusCode,
    pub message: String,
}

type RequestCheck = fn(&Message) -> Result<(), String>;

/// The checks, in order, each with the status its failure answers.
const CHECKS: [(RequestCheck, StatusCode); 8] = [
    // 4.1.8: the major version decides the encoding the client expects.
    (
        version_supported,
        StatusCode::ServerErrorVersionNotSupported,
    ),
    // 4.1.1: request-id 0 is reserved.
    (request_id_not_zero, StatusCode::ClientErrorBadRequest),
    // 4.1.3: one operation group, first; each group at most once, in order.
    (groups_in_order, StatusCode::ClientErrorBadRequest),
    // 4.1.4: attributes-charset, then attributes-natural-language.
    (
        charset_and_language_first,
        StatusCode::ClientErrorBadRequest,
    ),
    (
        charset_supported,
        StatusCode::ClientErrorCharsetNotSupported,
    ),
    // 4.1.2 (operation-id) and 5.4.15: only what operations-supported lists.
    (
        operation_supported,
        StatusCode::ServerErrorOperationNotSupported,
    ),
    // 4.1.6/4.1.7: known operation attributes have their syntax, and
    // single-valued ones one value.
    (
        operation_attributes_well_formed,
        StatusCode::ClientErrorBadRequest,
    ),
    // 4.1.5: the target: printer-uri, or job-uri / printer-uri + job-id.
    (target_present, StatusCode::ClientErrorBadRequest),
];

/// Runs every check on `msg`.
pub(super) fn check(msg: &Message) -> Result<Checked, IppRefusal> {
    for (check, status) in CHECKS {
        check(msg).map_err(|message| IppRefusal { status, message })?;
    }
    let op = Operation::from_code(msg.code).ok_or_else(|| IppRefusal {
        status: StatusCode::ServerErrorOperationNotSupported,
        message: format!("operation {:#06x} is not supported", msg.code),
    })?;
    Ok(Checked {
        op,
        ignored: unknown_operation_attributes(msg),
    })
}

/// The versions in `ipp-versions-supported`.
pub(super) const VERSIONS: [(u8, u8); 3] = [(1, 0), (1, 1), (2, 0)];

/// The version an answer carries: the client's when supported, else the
/// closest supported one (RFC 8011 4.1.8).
pub(super) fn response_version(requested: (u8, u8)) -> (u8, u8) {
    if VERSIONS.contains(&requested) {
        return requested;
    }
    match requested.0 {
        0 => (1, 0),
        1 => (1, 1),
        _ => (2, 0),
    }
}

fn version_supported(msg: &Message) -> Result<(), String> {
    if VERSIONS.contains(&msg.version) {
        Ok(())
    } else {
        let (major, minor) = msg.version;
        Err(format!(
            "IPP version {major}.{minor} is not supported (1.0, 1.1 and 2.0 are)"
        ))
    }
}

fn request_id_not_zero(msg: &Message) -> Result<(), String> {
    if msg.request_id == 0 {
        Err("request-id 0 is not allowed".to_string())
    } else {
        Ok(())
    }
}

fn groups_in_order(msg: &Message) -> Result<(), String> {
    match msg.groups.first() {
        Some(group) if group.tag == DelimiterTag::Operation => {}
        _ => return Err("the request has no operation attributes group first".to_string()),
    }
    let in_order = msg
        .groups
        .windows(2)
        .all(|pair| (pair[0].tag as u8) < (pair[1].tag as u8));
    if in_order {
        Ok(())
    } else {
        Err("attribute groups are repeated or out of order".to_string())
    }
}

fn charset_and_language_first(msg: &Message) -> Result<(), String> {
    let attributes = msg
        .group(DelimiterTag::Operation)
        .map(|g| g.attributes.as_slice())
        .unwrap_or_default();
    let first_two = (attributes.first(), attributes.get(1));
    match first_two {
        (Some(charset), Some(language))
            if charset.name == "attributes-charset"
                && language.name == "attributes-natural-language" =>
        {
            Ok(())
        }
        _ => Err(
            "the first operation attributes must be attributes-charset, then attributes-natural-language"
                .to_string(),
        ),
    }
}

fn charset_supported(msg: &Message) -> Result<(), String> {
    let charset = msg
        .operation_attr("attributes-charset")
        .and_then(attr::single)
        .filter(|v| v.tag() == ValueTag::CHARSET)
        .and_then(|v| v.as_str());
    match charset {
        Some(c) if c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("us-ascii") => Ok(()),
        Some(c) => Err(format!("charset {:?} is not supported (utf-8 is)", c)),
        None => Err("attributes-charset must be one charset value".to_string()),
    }
}

fn operation_supported(msg: &Message) -> Result<(), String> {
    match Operation::from_code(msg.code) {
        Some(_) => Ok(()),
        None => Err(format!("operation {:#06x} is not supported", msg.code)),
    }
}

/// The syntax of one operation attribute.
struct Syntax {
    name: &'static str,
    tags: &'static [u8],
    /// `1setOf`: any number of values; otherwise exactly one.
    multi: bool,
}

const fn one(name: &'static str, tags: &'static [u8]) -> Syntax {
    Syntax {
        name,
        tags,
        multi: false,
    }
}

const fn set_of(name: &'static str, tags: &'static [u8]) -> Syntax {
    Syntax {
        name,
        tags,
        multi: true,
    }
}

const CHARSET: &[u8] = &[ValueTag::CHARSET];
const LANGUAGE: &[u8] = &[ValueTag::NATURAL_LANGUAGE];
const URI: &[u8] = &[ValueTag::URI];
const INTEGER: &[u8] = &[ValueTag::INTEGER];
const BOOLEAN: &[u8] = &[ValueTag::BOOLEAN];
const KEYWORD: &[u8] = &[ValueTag::KEYWORD];
const MIME: &[u8] = &[ValueTag::MIME_MEDIA_TYPE];
const NAME: &[u8] = &[
    ValueTag::NAME_WITHOUT_LANGUAGE,
    ValueTag::NAME_WITH_LANGUAGE,
];
const TEXT: &[u8] = &[
    ValueTag::TEXT_WITHOUT_LANGUAGE,
    ValueTag::TEXT_WITH_LANGUAGE,
];
const KEYWORD_OR_NAME: &[u8] = &[
    ValueTag::KEYWORD,
    ValueTag::NAME_WITHOUT_LANGUAGE,
    ValueTag::NAME_WITH_LANGUAGE,
];

/// Every operation attribute some implemented operation takes (RFC 8011
/// section 4, PWG 5100.13 for `requesting-user-uri`, PWG 5100.11 for
/// `identify-actions`). Others are ignored and reported unsupported.
const OPERATION_ATTRIBUTES: [Syntax; 24] = [
    one("attributes-charset", CHARSET),
    one("attributes-natural-language", LANGUAGE),
    one("printer-uri", URI),
    one("job-uri", URI),
    one("job-id", INTEGER),
    one("requesting-user-name", NAME),
    one("requesting-user-uri", URI),
    one("job-name", NAME),
    one("document-name", NAME),
    one("ipp-attribute-fidelity", BOOLEAN),
    one("document-format", MIME),
    one("document-natural-language", LANGUAGE),
    one("compression", KEYWORD),
    one("job-k-octets", INTEGER),
    one("job-impressions", INTEGER),
    one("job-media-sheets", INTEGER),
    one("last-document", BOOLEAN),
    one("which-jobs", KEYWORD),
    one("my-jobs", BOOLEAN),
    one("limit", INTEGER),
    set_of("requested-attributes", KEYWORD),
    one("message", TEXT),
    one("job-hold-until", KEYWORD_OR_NAME),
    set_of("identify-actions", KEYWORD),
];

fn syntax_of(name: &str) -> Option<&'static Syntax> {
    OPERATION_ATTRIBUTES.iter().find(|s| s.name == name)
}

fn operation_attributes_well_formed(msg: &Message) -> Result<(), String> {
    let Some(group) = msg.group(DelimiterTag::Operation) else {
        return Ok(());
    };
    for attribute in &group.attributes {
        let Some(syntax) = syntax_of(&attribute.name) else {
            continue;
        };
        if !syntax.multi && attribute.values.len() != 1 {
            return Err(format!("{} must have exactly one value", syntax.name));
        }
        if let Some(bad) = attribute
            .values
            .iter()
            .find(|v| !syntax.tags.contains(&v.tag()))
        {
            return Err(format!(
                "{} has a value of the wrong syntax (tag {:#04x})",
                syntax.name,
                bad.tag()
            ));
        }
    }
    Ok(())
}

/// Operations whose target is a job rather than a printer.
fn targets_a_job(op: Operation) -> bool {
    matches!(
        op,
        Operation::SendDocument
            | Operation::CancelJob
            | Operation::GetJobAttributes
            | Operation::HoldJob
            | Operation::ReleaseJob
    )
}

fn target_present(msg: &Message) -> Result<(), String> {
    let has = |name: &str| msg.operation_attr(name).is_some();
    let Some(op) = Operation::from_code(msg.code) else {
        return Ok(());
    };
    if targets_a_job(op) {
        if has("job-uri") || (has("printer-uri") && has("job-id")) {
            Ok(())
        } else {
            Err("the target job is missing: send job-uri, or printer-uri and job-id".to_string())
        }
    } else if has("printer-uri") {
        Ok(())
    } else {
        Err("the target printer is missing: send printer-uri".to_string())
    }
}

fn unknown_operation_attributes(msg: &Message) -> Vec<Attribute> {
    msg.group(DelimiterTag::Operation)
        .map(|g| {
            g.attributes
                .iter()
                .filter(|a| syntax_of(&a.name).is_none())
                .map(|a| attr::unsupported(&a.name))
                .collect()
        })
        .unwrap_or_default()
}
