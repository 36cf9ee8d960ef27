//! `GET`: a status page at `/` (queues and jobs) and a small page per
//! queue at `/printers/NAME` (its `printer-more-info`). Everything shown
//! comes from configuration or clients, so all of it is HTML-escaped.
//! Jobs of others show their private values (`job_private_values`) as
//! "withheld", as Get-Jobs leaves them out: over TCP a page request names
//! nobody, so only the Unix socket's verified user sees its own jobs whole.

use std::fmt::Write;

use crate::config::JobPrivateValues;
use crate::core::{Job, JobFilter, PrinterInfo, Requester, Spooler, WhichJobs};
use crate::sources::ipp::http::{HttpRequest, Response};

use super::uri::{self, UriTarget};

/// Jobs listed on a page: enough to see what is going on, bounded.
const JOBS_SHOWN: usize = 100;

pub(super) fn serve_get(spooler: &Spooler, req: &HttpRequest, requester: &Requester) -> Response {
    let host = uri::authority(req.host());
    let viewer = Viewer {
        requester,
        private: spooler.job_private_values(),
    };
    match uri::parse_path(&req.path) {
        UriTarget::Root => Response::html(overview(spooler, &viewer)),
        UriTarget::DefaultPrinter => {
            printer_response(spooler, &spooler.default_printer(), &host, &viewer)
        }
        UriTarget::Printer(name) => printer_response(spooler, name, &host, &viewer),
        _ => not_found(),
    }
}

/// Who looks at the page, and what stays private from them.
struct Viewer<'a> {
    requester: &'a Requester,
    private: JobPrivateValues,
}

/// Shown instead of a private value.
const WITHHELD: &str = "<em>withheld</em>";

fn not_found() -> Response {
    Response::text(404, "Not found.\n")
}

fn printer_response(spooler: &Spooler, name: &str, host: &str, viewer: &Viewer<'_>) -> Response {
    match spooler.printer(name) {
        Some(info) => Response::html(printer_page(spooler, &info, host, viewer)),
        None => not_found(),
    }
}

/// Text made safe for HTML element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}</style>\
         </head><body>\n{body}</body></html>\n",
        title = escape(title),
    )
}

fn overview(spooler: &Spooler, viewer: &Viewer<'_>) -> String {
    let mut body = String::from("<h1>printspoold</h1>\n<h2>Printers</h2>\n");
    body.push_str(
        "<table><tr><th>Name</th><th>Description</th><th>Location</th>\
         <th>State</th><th>Accepting</th><th>Queued</th></tr>\n",
    );
    for p in spooler.printers() {
        let _ = writeln!(
            body,
            "<tr><td><a href=\"/printers/{name}\">{name}</a>{default}</td><td>{info}</td>\
             <td>{location}</td><td>{state}</td><td>{accepting}</td><td>{queued}</td></tr>",
            name = escape(&p.name),
            default = if p.is_default { " (default)" } else { "" },
            info = escape(&p.info),
            location = escape(&p.location),
            state = state_text(&p),
            accepting = if p.accepting_jobs { "yes" } else { "no" },
            queued = p.queued_jobs,
        );
    }
    body.push_str("</table>\n<h2>Jobs</h2>\n");
    let jobs = spooler.jobs(&JobFilter {
        printer: None,
        which: WhichJobs::All,
        owner: None,
        limit: Some(JOBS_SHOWN),
    });
    body.push_str(&jobs_table(&jobs, viewer));
    page("printspoold", &body)
}

fn printer_page(spooler: &Spooler, info: &PrinterInfo, host: &str, viewer: &Viewer<'_>) -> String {
    let mut body = format!("<h1>{}</h1>\n<table>\n", escape(&info.name));
    let rows = [
        ("Description", escape(&info.info)),
        ("Location", escape(&info.location)),
        ("Make and model", escape(&info.make_and_model)),
        ("State", state_text(info)),
        (
            "Accepting jobs",
            (if info.accepting_jobs { "yes" } else { "no" }).to_string(),
        ),
        ("Queued jobs", info.queued_jobs.to_string()),
        ("Formats", escape(&info.formats.join(", "))),
        ("Print to", escape(&uri::printer_uri(host, &info.name))),
    ];
    for (label, value) in rows {
        let _ = writeln!(body, "<tr><th>{label}</th><td>{value}</td></tr>");
    }
    body.push_str("</table>\n<h2>Jobs</h2>\n");
    let jobs = spooler.jobs(&JobFilter {
        printer: Some(info.name.clone()),
        which: WhichJobs::All,
        owner: None,
        limit: Some(JOBS_SHOWN),
    });
    body.push_str(&jobs_table(&jobs, viewer));
    body.push_str("<p><a href=\"/\">All printers</a></p>\n");
    page(&info.name, &body)
}

fn state_text(info: &PrinterInfo) -> String {
    let reasons: Vec<&str> = info
        .reasons
        .iter()
        .map(String::as_str)
        .filter(|r| *r != "none")
        .collect();
    let mut text = info.state.keyword().to_string();
    if !reasons.is_empty() {
        let _ = write!(text, " ({})", reasons.join(", "));
    }
    if !info.message.is_empty() {
        let _ = write!(text, ": {}", info.message);
    }
    escape(&text)
}

fn jobs_table(jobs: &[Job], viewer: &Viewer<'_>) -> String {
    if jobs.is_empty() {
        return "<p>No jobs.</p>\n".to_string();
    }
    let mut table = String::from(
        "<table><tr><th>Id</th><th>Printer</th><th>Owner</th><th>Name</th>\
         <th>State</th><th>Size</th></tr>\n",
    );
    for job in jobs {
        let size = job
            .document_bytes
            .map_or_else(|| "-".to_string(), |b| format!("{} KiB", b.div_ceil(1024)));
        let shown = viewer.requester.disclosure(job, &viewer.private);
        let private = |visible: bool, value: &str| {
            if visible {
                escape(value)
            } else {
                WITHHELD.to_string()
            }
        };
        let _ = writeln!(
            table,
            "<tr><td>{id}</td><td>{printer}</td><td>{owner}</td><td>{name}</td>\
             <td>{state}</td><td>{size}</td></tr>",
            id = job.id,
            printer = escape(&job.printer),
            owner = private(shown.owner, &job.owner),
            name = private(shown.name, &job.name),
            state = escape(&job_state_text(job)),
        );
    }
    table.push_str("</table>\n");
    table
}

fn job_state_text(job: &Job) -> String {
    if job.message.is_empty() {
        job.state.keyword().to_string()
    } else {
        format!("{}: {}", job.state.keyword(), job.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralizes_markup_and_controls() {
        assert_eq!(
            escape("<script>alert('x')</script>&\"\n"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn others_see_private_values_withheld() {
        let job = Job {
            id: 3,
            printer: "lab".into(),
            owner: "alice".into(),
            name: "salaries.pdf".into(),
            document_bytes: Some(10),
            ..crate::test_support::job()
        };
        let table = |requester: &Requester| {
            jobs_table(
                std::slice::from_ref(&job),
                &Viewer {
                    requester,
                    private: JobPrivateValues::DEFAULT,
                },
            )
        };
        let own = table(&Requester::verified("alice", false));
        assert!(
            own.contains("salaries.pdf") && own.contains("alice"),
            "{own}"
        );
        let other = table(&Requester::claimed("alice"));
        assert!(!other.contains("salaries.pdf"), "{other}");
        assert!(!other.contains("alice"), "{other}");
        assert_eq!(other.matches(WITHHELD).count(), 2, "{other}");
    }
}
