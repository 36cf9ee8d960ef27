//! Job Template attributes (RFC 8011 5.2) of a job creation request, turned
//! into a [`JobTicket`]. Whatever [`capabilities`] does not list is not
//! taken: it is returned in `unsupported` for the caller to refuse
//! (`ipp-attribute-fidelity` true) or ignore and report (false), as RFC
//! 8011 4.1.7 and 4.2.1.2 say.
//!
//! [`capabilities`]: crate::sources::ipp::service::capabilities

use crate::core::JobTicket;
use ipp_proto::value::{Attribute, Value};

use super::attr;
use super::capabilities as caps;

/// The ticket and what could not go into it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ParsedTicket {
    pub ticket: JobTicket,
    /// Each attribute as RFC 8011 4.1.7 returns it: with its unsupported
    /// values, or with the out-of-band `unsupported` value when this server
    /// does not know the attribute at all.
    pub unsupported: Vec<Attribute>,
}

/// Reads the attributes of the job attributes group. `Err` carries the
/// message of a bad request: a single-valued attribute with several values.
pub(super) fn parse<'a>(
    attributes: impl IntoIterator<Item = &'a Attribute>,
) -> Result<ParsedTicket, String> {
    let mut parsed = ParsedTicket {
        ticket: JobTicket::default(),
        unsupported: Vec::new(),
    };
    for attribute in attributes {
        let taken = take(attribute, &mut parsed.ticket)?;
        if !taken {
            parsed.unsupported.push(unsupported_form(attribute));
        }
    }
    Ok(parsed)
}

/// Puts one attribute into the ticket; `Ok(false)` when its value (or the
/// attribute itself) is not supported.
fn take(attribute: &Attribute, ticket: &mut JobTicket) -> Result<bool, String> {
    let name = attribute.name.as_str();
    let taken = match name {
        "copies" => one(attribute, copies).map(|v| v.map(|n| ticket.copies = n)),
        "sides" => one(attribute, |v| listed(v, &caps::SIDES))
            .map(|v| v.map(|s| ticket.sides = Some(s.to_string()))),
        "media" => one(attribute, media).map(|v| v.map(|m| ticket.media = Some(m.to_string()))),
        "media-col" => {
            one(attribute, media_col).map(|v| v.map(|m| ticket.media = Some(m.to_string())))
        }
        "orientation-requested" => one(attribute, |v| enum_in(v, &caps::ORIENTATIONS))
            .map(|v| v.map(|o| ticket.orientation_requested = Some(o))),
        "print-quality" => one(attribute, |v| enum_in(v, &caps::QUALITIES))
            .map(|v| v.map(|q| ticket.print_quality = Some(q))),
        "output-bin" => one(attribute, |v| listed(v, &caps::OUTPUT_BINS))
            .map(|v| v.map(|b| ticket.output_bin = Some(b.to_string()))),
        "print-color-mode" => one(attribute, |v| listed(v, &caps::COLOR_MODES))
            .map(|v| v.map(|m| ticket.print_color_mode = Some(m.to_string()))),
        "printer-resolution" => {
            one(attribute, resolution).map(|v| v.map(|r| ticket.printer_resolution = Some(r)))
        }
        "job-hold-until" => one(attribute, |v| listed(v, &caps::HOLD_UNTIL))
            .map(|v| v.map(|h| ticket.job_hold_until = Some(h.to_string()))),
        "finishings" => Ok(finishings(attribute).map(|f| ticket.finishings = f)),
        _ => Ok(None),
    }?;
    Ok(taken.is_some())
}

/// A single-valued attribute's value through `accept`: `Ok(None)` when
/// not supported, `Err` when it has several values.
fn one<T>(
    attribute: &Attribute,
    accept: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, String> {
    match attr::single(attribute) {
        Some(value) => Ok(accept(value)),
        None => Err(format!("{} must have exactly one value", attribute.name)),
    }
}

fn copies(value: &Value) -> Option<u32> {
    match value {
        Value::Integer(n) if (1..=caps::COPIES_MAX).contains(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

/// A keyword (or name, where RFC 8011 allows `type2 keyword | name`) from
/// `supported`, as the static string of the list.
fn listed(value: &Value, supported: &[&'static str]) -> Option<&'static str> {
    match value {
        Value::Keyword(s) | Value::Name(s) => supported.iter().copied().find(|k| k == s),
        _ => None,
    }
}

fn enum_in(value: &Value, supported: &[i32]) -> Option<i32> {
    match value {
        Value::Enum(n) if supported.contains(n) => Some(*n),
        _ => None,
    }
}

fn media(value: &Value) -> Option<&'static str> {
    match value {
        Value::Keyword(s) | Value::Name(s) => caps::media_by_name(s),
        _ => None,
    }
}

/// `media-col` (PWG 5100.7): only `media-size` is supported, and it must be
/// one of the known sizes. Other members are ignored: a spooler has no
/// trays or media types to choose from.
fn media_col(value: &Value) -> Option<&'static str> {
    let Value::Collection(members) = value else {
        return None;
    };
    let size = members.iter().find(|m| m.name == "media-size")?;
    let Some(Value::Collection(dimensions)) = attr::single(size) else {
        return None;
    };
    let dimension = |name: &str| match dimensions
        .iter()
        .find(|d| d.name == name)
        .and_then(attr::single)
    {
        Some(Value::Integer(n)) => Some(*n),
        _ => None,
    };
    caps::media_by_size(dimension("x-dimension")?, dimension("y-dimension")?)
}

fn resolution(value: &Value) -> Option<(i32, i32, i8)> {
    match value {
        Value::Resolution(x, y, units) => caps::RESOLUTIONS
            .iter()
            .copied()
            .find(|r| *r == (*x, *y, *units)),
        _ => None,
    }
}

/// `finishings` is `1setOf enum`: every value must be supported.
fn finishings(attribute: &Attribute) -> Option<Vec<i32>> {
    attribute
        .values
        .iter()
        .map(|v| enum_in(v, &caps::FINISHINGS))
        .collect()
}

/// The attribute as the unsupported-attributes group carries it: known
/// attributes with their values, unknown ones with `unsupported`.
fn unsupported_form(attribute: &Attribute) -> Attribute {
    if is_known(&attribute.name) {
        attribute.clone()
    } else {
        attr::unsupported(&attribute.name)
    }
}

fn is_known(name: &str) -> bool {
    caps::JOB_CREATION_ATTRIBUTES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipp_proto::value::ValueTag;

    fn job_group(attributes: Vec<Attribute>) -> Vec<Attribute> {
        attributes
    }

    fn size(x: i32, y: i32) -> Value {
        Value::Collection(vec![Attribute::new(
            "media-size",
            Value::Collection(vec![
                Attribute::new("x-dimension", Value::Integer(x)),
                Attribute::new("y-dimension", Value::Integer(y)),
            ]),
        )])
    }

    #[test]
    fn supported_values_fill_the_ticket() {
        let group = job_group(vec![
            attr::integer("copies", 2),
            attr::keyword("sides", "two-sided-long-edge"),
            attr::keyword("media", "A4"),
            Attribute::new("orientation-requested", Value::Enum(4)),
            Attribute::new("print-quality", Value::Enum(5)),
            Attribute::new("printer-resolution", Value::Resolution(300, 300, 3)),
            attr::keyword("job-hold-until", "indefinite"),
            attr::enums("finishings", &[3]),
        ]);
        let parsed = parse(&group).unwrap();
        assert!(parsed.unsupported.is_empty(), "{:?}", parsed.unsupported);
        let t = parsed.ticket;
        assert_eq!(t.copies, 2);
        assert_eq!(t.sides.as_deref(), Some("two-sided-long-edge"));
        assert_eq!(t.media.as_deref(), Some("iso_a4_210x297mm"));
        assert_eq!(t.orientation_requested, Some(4));
        assert_eq!(t.print_quality, Some(5));
        assert_eq!(t.printer_resolution, Some((300, 300, 3)));
        assert_eq!(t.job_hold_until.as_deref(), Some("indefinite"));
        assert_eq!(t.finishings, vec![3]);
    }

    #[test]
    fn media_col_size_maps_to_the_media_name() {
        let group = job_group(vec![Attribute::new("media-col", size(21590, 27940))]);
        let parsed = parse(&group).unwrap();
        assert_eq!(parsed.ticket.media.as_deref(), Some("na_letter_8.5x11in"));
        let odd = job_group(vec![Attribute::new("media-col", size(10000, 10000))]);
        assert_eq!(parse(&odd).unwrap().unsupported.len(), 1);
    }

    #[test]
    fn unsupported_values_and_attributes_are_reported_not_taken() {
        let group = job_group(vec![
            attr::integer("copies", 1000),
            attr::keyword("sides", "two-sided-sideways"),
            attr::integer("number-up", 2),
            attr::enums("finishings", &[3, 4]),
        ]);
        let parsed = parse(&group).unwrap();
        assert_eq!(parsed.ticket, JobTicket::default());
        let names: Vec<_> = parsed.unsupported.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["copies", "sides", "number-up", "finishings"]);
        // A known attribute keeps its value; an unknown one says `unsupported`.
        assert_eq!(parsed.unsupported[0].values, vec![Value::Integer(1000)]);
        assert_eq!(
            parsed.unsupported[2].values,
            vec![Value::OutOfBand(ValueTag::UNSUPPORTED)]
        );
    }

    #[test]
    fn several_values_for_a_single_valued_attribute_is_a_bad_request() {
        let group = job_group(vec![Attribute::multi(
            "copies",
            vec![Value::Integer(1), Value::Integer(2)],
        )]);
        assert!(parse(&group).is_err());
    }

    #[test]
    fn wrong_syntax_is_an_unsupported_value() {
        let group = job_group(vec![attr::text("copies", "two")]);
        let parsed = parse(&group).unwrap();
        assert_eq!(parsed.unsupported.len(), 1);
        assert_eq!(parsed.ticket.copies, 1);
    }
}
