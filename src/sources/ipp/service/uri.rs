//! The URIs this server hands out and the ones it accepts as targets.
//!
//! Scheme: `ipp://HOST/printers/NAME` for every queue, the one
//! `printer-uri-supported` value (libcups joins several values with commas
//! into one bad URI); `ipp://HOST/ipp/print` (the IPP Everywhere path) and
//! `/` also reach the default queue;
//! `ipp://HOST/jobs/ID` for jobs (job ids are unique across queues, so a
//! job URI needs no queue); `http://HOST/printers/NAME` for the HTML page.
//! HOST is the client's `Host` header, so the URIs work from where the
//! client stands.

use crate::config::is_valid_queue_name;
use crate::core::JobId;

/// The authority for URIs: the `Host` header when it is a plausible
/// `host[:port]` (it is copied into URIs we return, so nothing else may
/// pass), else `localhost`.
pub(super) fn authority(host: Option<&str>) -> String {
    match host {
        // libcups sends `localhost:0` over a Unix socket: port 0 is no
        // port a client could use, so the URI gets the default one.
        Some(h) if h.ends_with(":0") => "localhost".to_string(),
        Some(h) if is_plausible_authority(h) => h.to_string(),
        _ => "localhost".to_string(),
    }
}

fn is_plausible_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

pub(super) fn printer_uri(host: &str, name: &str) -> String {
    format!("ipp://{host}/printers/{name}")
}

pub(super) fn job_uri(host: &str, id: JobId) -> String {
    format!("ipp://{host}/jobs/{id}")
}

pub(super) fn more_info(host: &str, name: &str) -> String {
    format!("http://{host}/printers/{name}")
}

/// What a URI or an HTTP path designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UriTarget<'u> {
    /// `/`: the default queue for printer operations (as CUPS does), every
    /// queue for Get-Jobs.
    Root,
    /// `/ipp/print`.
    DefaultPrinter,
    /// `/printers/NAME` or `/ipp/print/NAME`.
    Printer(&'u str),
    /// `/jobs`: every queue, for Get-Jobs and job operations.
    AllJobs,
    /// `/jobs/ID`.
    Job(JobId),
    Unknown,
}

/// The target of an `ipp:`, `ipps:`, `http:` or `https:` URI.
pub(super) fn parse_uri(uri: &str) -> UriTarget<'_> {
    let Some(rest) = ["ipp://", "ipps://", "http://", "https://"]
        .iter()
        .find_map(|scheme| strip_prefix_ignore_case(uri, scheme))
    else {
        return UriTarget::Unknown;
    };
    let path = rest.find('/').map_or("/", |slash| &rest[slash..]);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    parse_path(path)
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The target of a request path (one trailing `/` is ignored).
pub(super) fn parse_path(path: &str) -> UriTarget<'_> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    match path {
        "" | "/" => return UriTarget::Root,
        "/ipp/print" => return UriTarget::DefaultPrinter,
        "/jobs" => return UriTarget::AllJobs,
        _ => {}
    }
    if let Some(name) = path
        .strip_prefix("/printers/")
        .or_else(|| path.strip_prefix("/ipp/print/"))
    {
        // The configuration's queue-name rule: anything else names no queue,
        // and is never passed on to the core or into a log line.
        return if is_valid_queue_name(name) {
            UriTarget::Printer(name)
        } else {
            UriTarget::Unknown
        };
    }
    if let Some(id) = path.strip_prefix("/jobs/") {
        return match id.parse::<JobId>() {
            Ok(id) if id > 0 => UriTarget::Job(id),
            _ => UriTarget::Unknown,
        };
    }
    UriTarget::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_uris_it_hands_out() {
        assert_eq!(
            parse_uri(&printer_uri("h:631", "lab")),
            UriTarget::Printer("lab")
        );
        assert_eq!(parse_uri(&job_uri("h:631", 42)), UriTarget::Job(42));
        assert_eq!(parse_uri("ipp://h/ipp/print"), UriTarget::DefaultPrinter);
        assert_eq!(parse_uri("IPP://h/ipp/print/"), UriTarget::DefaultPrinter);
        assert_eq!(parse_uri("ipp://h"), UriTarget::Root);
        assert_eq!(parse_uri("ipp://h/?x=1"), UriTarget::Root);
        assert_eq!(parse_uri("ipp://h/jobs/"), UriTarget::AllJobs);
    }

    #[test]
    fn refuses_what_names_nothing() {
        assert_eq!(parse_uri("file:///etc/passwd"), UriTarget::Unknown);
        assert_eq!(parse_uri("ipp://h/jobs/0"), UriTarget::Unknown);
        assert_eq!(parse_uri("ipp://h/jobs/x"), UriTarget::Unknown);
        assert_eq!(parse_uri("ipp://h/printers/../x"), UriTarget::Unknown);
        assert_eq!(parse_uri("ipp://h/printers/a%0Ab"), UriTarget::Unknown);
        assert_eq!(parse_uri("ipp://h/classes/a"), UriTarget::Unknown);
    }

    #[test]
    fn authority_drops_port_zero_of_unix_socket_clients() {
        assert_eq!(authority(Some("localhost:0")), "localhost");
    }

    #[test]
    fn authority_falls_back_on_anything_odd() {
        assert_eq!(authority(Some("127.0.0.1:8631")), "127.0.0.1:8631");
        assert_eq!(authority(Some("[::1]:631")), "[::1]:631");
        assert_eq!(authority(Some("evil/path")), "localhost");
        assert_eq!(authority(Some("a b")), "localhost");
        assert_eq!(authority(None), "localhost");
    }
}
