//! A job's attributes (RFC 8011 5.2 and 5.3) as Get-Job-Attributes,
//! Get-Jobs and the job creation operations return them, filtered by
//! `requested-attributes`.

use crate::config::JobPrivateValues;
use crate::core::{Disclosure, Job, Requester};
use ipp_proto::value::{Attribute, DelimiterTag, Group, Value, ValueTag};

use super::attr;
use super::capabilities as caps;
use super::clock;
use super::requested::{Category, Requested};
use super::uri;

/// What rendering needs besides the job: the authority for URIs, the
/// time now, and who asks under which privacy rule.
#[derive(Debug, Clone, Copy)]
pub(super) struct JobView<'a> {
    pub host: &'a str,
    pub now: u64,
    pub requester: &'a Requester,
    pub private: JobPrivateValues,
}

/// What job creation operations answer with (RFC 8011 4.2.1.2).
pub(super) const CREATION_ANSWER: [&str; 5] = [
    "job-uri",
    "job-id",
    "job-state",
    "job-state-reasons",
    "job-state-message",
];

/// Get-Jobs' default (RFC 8011 4.2.6.1).
pub(super) const GET_JOBS_DEFAULT: [&str; 2] = ["job-uri", "job-id"];

/// Collects the wanted attributes; each is built only if wanted.
struct Out<'w> {
    wanted: &'w Requested<'w>,
    group: Group,
}

impl Out<'_> {
    fn put(
        &mut self,
        name: &'static str,
        category: Category,
        make: impl FnOnce(&str) -> Attribute,
    ) {
        if self.wanted.wants(name, category) {
            self.group.push(make(name));
        }
    }
}

/// The job's attributes that `wanted` selects, as one job group. Private
/// values the requester may not see are left out, as CUPS does.
pub(super) fn render(job: &Job, view: &JobView<'_>, wanted: &Requested<'_>) -> Group {
    let mut out = Out {
        wanted,
        group: Group::new(DelimiterTag::Job),
    };
    let shown = view.requester.disclosure(job, &view.private);
    put_description(&mut out, job, view, shown);
    put_template(&mut out, job);
    out.group
}

fn put_description(out: &mut Out<'_>, job: &Job, view: &JobView<'_>, shown: Disclosure) {
    use Category::JobDescription as D;
    let id = i32::try_from(job.id).unwrap_or(i32::MAX);
    out.put("job-id", D, |n| attr::integer(n, id));
    out.put("job-uri", D, |n| {
        attr::uri(n, uri::job_uri(view.host, job.id))
    });
    out.put("job-printer-uri", D, |n| {
        attr::uri(n, uri::printer_uri(view.host, &job.printer))
    });
    if shown.name {
        out.put("job-name", D, |n| attr::name(n, &job.name));
    }
    if shown.owner {
        out.put("job-originating-user-name", D, |n| {
            attr::name(n, &job.owner)
        });
    }
    out.put("job-state", D, |n| {
        Attribute::new(n, Value::Enum(job.state as i32))
    });
    out.put("job-state-reasons", D, |n| state_reasons(n, &job.reasons));
    out.put("job-state-message", D, |n| attr::text(n, &job.message));
    out.put("job-printer-up-time", D, |n| {
        attr::integer(n, clock::ipp_time(view.now))
    });
    out.put("time-at-creation", D, |n| {
        attr::integer(n, clock::ipp_time(job.created_at))
    });
    out.put("time-at-processing", D, |n| time_at(n, job.processing_at));
    out.put("time-at-completed", D, |n| time_at(n, job.completed_at));
    out.put("date-time-at-creation", D, |n| {
        Attribute::new(n, Value::DateTime(clock::date_time(job.created_at)))
    });
    out.put("date-time-at-processing", D, |n| {
        date_time_at(n, job.processing_at)
    });
    out.put("date-time-at-completed", D, |n| {
        date_time_at(n, job.completed_at)
    });
    out.put("job-k-octets", D, |n| match job.document_bytes {
        Some(bytes) => attr::integer(n, k_octets(bytes)),
        None => attr::no_value(n),
    });
    out.put("number-of-documents", D, |n| {
        attr::integer(n, i32::from(job.has_document))
    });
    if let Some(format) = &job.format {
        out.put("document-format", D, |n| {
            Attribute::new(n, Value::MimeMediaType(format.clone()))
        });
    }
}

fn put_template(out: &mut Out<'_>, job: &Job) {
    use Category::JobTemplate as T;
    let ticket = &job.ticket;
    let copies = i32::try_from(ticket.copies).unwrap_or(i32::MAX);
    out.put("copies", T, |n| attr::integer(n, copies));
    if !ticket.finishings.is_empty() {
        out.put("finishings", T, |n| attr::enums(n, &ticket.finishings));
    }
    let hold = ticket
        .job_hold_until
        .as_deref()
        .unwrap_or(caps::HOLD_UNTIL_DEFAULT);
    out.put("job-hold-until", T, |n| attr::keyword(n, hold));
    if let Some(media) = &ticket.media {
        out.put("media", T, |n| attr::keyword(n, media));
    }
    if let Some(sides) = &ticket.sides {
        out.put("sides", T, |n| attr::keyword(n, sides));
    }
    if let Some(orientation) = ticket.orientation_requested {
        out.put("orientation-requested", T, |n| {
            attr::enums(n, &[orientation])
        });
    }
    if let Some(quality) = ticket.print_quality {
        out.put("print-quality", T, |n| attr::enums(n, &[quality]));
    }
    if let Some(bin) = &ticket.output_bin {
        out.put("output-bin", T, |n| attr::keyword(n, bin));
    }
    if let Some(mode) = &ticket.print_color_mode {
        out.put("print-color-mode", T, |n| attr::keyword(n, mode));
    }
    if let Some((x, y, units)) = ticket.printer_resolution {
        out.put("printer-resolution", T, |n| {
            Attribute::new(n, Value::Resolution(x, y, units))
        });
    }
}

/// `job-state-reasons` is never empty on the wire (RFC 8011 5.3.8).
fn state_reasons(name: &str, reasons: &[String]) -> Attribute {
    if reasons.is_empty() {
        attr::keyword(name, "none")
    } else {
        attr::keywords(name, reasons.iter().map(String::as_str))
    }
}

fn time_at(name: &str, event: Option<u64>) -> Attribute {
    match event {
        Some(t) => attr::integer(name, clock::ipp_time(t)),
        None => attr::no_value(name),
    }
}

fn date_time_at(name: &str, event: Option<u64>) -> Attribute {
    match event {
        Some(t) => Attribute::new(name, Value::DateTime(clock::date_time(t))),
        None => Attribute::new(name, Value::OutOfBand(ValueTag::NO_VALUE)),
    }
}

/// Kilo-octets rounded up (RFC 8011 5.3.17.1), so a 1-byte job is 1.
fn k_octets(bytes: u64) -> i32 {
    i32::try_from(bytes.div_ceil(1024)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Assurance, JobState, JobTicket, Origin};

    pub(crate) fn sample_job() -> Job {
        Job {
            id: 7,
            printer: "lab".to_string(),
            owner: "alice".to_string(),
            name: "report.pdf".to_string(),
            origin: Origin::Ipp,
            identity: Assurance::Verified,
            state: JobState::Completed,
            reasons: vec!["job-completed-successfully".to_string()],
            message: "printed".to_string(),
            ticket: JobTicket {
                copies: 2,
                media: Some("iso_a4_210x297mm".to_string()),
                ..JobTicket::default()
            },
            format: Some("application/pdf".to_string()),
            document_bytes: Some(1025),
            has_document: true,
            created_at: 1000,
            processing_at: Some(1001),
            completed_at: None,
            claim: None,
            tcp_peer: None,
        }
    }

    fn admin() -> Requester {
        Requester::verified("root", true)
    }

    fn view_as(requester: &Requester) -> JobView<'_> {
        JobView {
            host: "h:631",
            now: 1100,
            requester,
            private: JobPrivateValues::DEFAULT,
        }
    }

    #[test]
    fn all_renders_description_and_template() {
        let group = render(&sample_job(), &view_as(&admin()), &Requested::all());
        let get = |name: &str| group.get(name).map(|a| a.values.clone());
        assert_eq!(get("job-id"), Some(vec![Value::Integer(7)]));
        assert_eq!(
            get("job-uri"),
            Some(vec![Value::Uri("ipp://h:631/jobs/7".into())])
        );
        assert_eq!(
            get("job-printer-uri"),
            Some(vec![Value::Uri("ipp://h:631/printers/lab".into())])
        );
        assert_eq!(get("job-state"), Some(vec![Value::Enum(9)]));
        assert_eq!(get("time-at-creation"), Some(vec![Value::Integer(1000)]));
        assert_eq!(
            get("time-at-completed"),
            Some(vec![Value::OutOfBand(ValueTag::NO_VALUE)])
        );
        assert_eq!(get("job-k-octets"), Some(vec![Value::Integer(2)]));
        assert_eq!(get("copies"), Some(vec![Value::Integer(2)]));
        assert_eq!(
            get("job-hold-until"),
            Some(vec![Value::Keyword("no-hold".into())])
        );
        assert_eq!(get("sides"), None, "only what the ticket has");
    }

    #[test]
    fn requested_names_and_groups_filter() {
        let only = Requested::names(&GET_JOBS_DEFAULT);
        let group = render(&sample_job(), &view_as(&admin()), &only);
        let names: Vec<_> = group.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["job-id", "job-uri"]);
    }

    #[test]
    fn private_values_are_left_out_for_others_only() {
        let names = |requester: &Requester| {
            let group = render(&sample_job(), &view_as(requester), &Requested::all());
            (
                group.get("job-name").is_some(),
                group.get("job-originating-user-name").is_some(),
                group.get("job-id").is_some(),
            )
        };
        assert_eq!(names(&admin()), (true, true, true));
        assert_eq!(
            names(&Requester::verified("alice", false)),
            (true, true, true)
        );
        assert_eq!(
            names(&Requester::verified("bob", false)),
            (false, false, true)
        );
        assert_eq!(names(&Requester::claimed("alice")), (false, false, true));
    }
}
