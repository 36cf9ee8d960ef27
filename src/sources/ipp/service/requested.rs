//! `requested-attributes` (RFC 8011 4.2.5.1, 4.3.4.1): attribute names and
//! the group names `all`, `job-template`, `job-description` and
//! `printer-description`.

use ipp_proto::value::Message;

/// Which of RFC 8011's attribute groups an attribute belongs to, for the
/// group names a client may request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Category {
    JobTemplate,
    JobDescription,
    PrinterDescription,
    /// Returned only when asked for by name, never for `all` or a group
    /// name (PWG 5100.7 `media-col-database`: large, rarely wanted).
    OnRequest,
}

/// What a client asked to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Requested<'m> {
    all: bool,
    job_template: bool,
    job_description: bool,
    printer_description: bool,
    names: Vec<&'m str>,
}

impl<'m> Requested<'m> {
    pub(super) fn all() -> Self {
        Requested {
            all: true,
            job_template: false,
            job_description: false,
            printer_description: false,
            names: Vec::new(),
        }
    }

    pub(super) fn names(names: &[&'m str]) -> Self {
        Requested {
            all: false,
            job_template: false,
            job_description: false,
            printer_description: false,
            names: names.to_vec(),
        }
    }

    /// The request's `requested-attributes`, or `default` when it has none.
    /// Validation already checked the syntax (1setOf keyword).
    pub(super) fn from_request(msg: &'m Message, default: Requested<'m>) -> Self {
        let Some(attribute) = msg.operation_attr("requested-attributes") else {
            return default;
        };
        let mut wanted = Requested::names(&[]);
        for name in attribute.values.iter().filter_map(|v| v.as_str()) {
            match name {
                "all" => wanted.all = true,
                "job-template" => wanted.job_template = true,
                "job-description" => wanted.job_description = true,
                "printer-description" => wanted.printer_description = true,
                other => wanted.names.push(other),
            }
        }
        wanted
    }

    pub(super) fn is_all(&self) -> bool {
        self.all
    }

    /// Whether the attribute `name` of `category` is to be returned.
    pub(super) fn wants(&self, name: &str, category: Category) -> bool {
        let by_group = match category {
            Category::JobTemplate => self.all || self.job_template,
            Category::JobDescription => self.all || self.job_description,
            Category::PrinterDescription => self.all || self.printer_description,
            Category::OnRequest => false,
        };
        by_group || self.names.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipp_proto::value::{Attribute, DelimiterTag, Group, Value};

    fn request_with(values: &[&str]) -> Message {
        let mut group = Group::new(DelimiterTag::Operation);
        group.push(Attribute::multi(
            "requested-attributes",
            values
                .iter()
                .map(|v| Value::Keyword(v.to_string()))
                .collect(),
        ));
        Message {
            version: (2, 0),
            code: 0x000b,
            request_id: 1,
            groups: vec![group],
        }
    }

    #[test]
    fn group_names_select_their_category_and_names_select_themselves() {
        let msg = request_with(&["job-template", "printer-name"]);
        let wanted = Requested::from_request(&msg, Requested::all());
        assert!(wanted.wants("copies-default", Category::JobTemplate));
        assert!(wanted.wants("printer-name", Category::PrinterDescription));
        assert!(!wanted.wants("printer-state", Category::PrinterDescription));
        assert!(!wanted.is_all());
    }

    #[test]
    fn on_request_attributes_need_their_name() {
        let all = Requested::all();
        assert!(!all.wants("media-col-database", Category::OnRequest));
        let msg = request_with(&["all", "media-col-database"]);
        let named = Requested::from_request(&msg, Requested::all());
        assert!(named.wants("media-col-database", Category::OnRequest));
        assert!(named.wants("printer-name", Category::PrinterDescription));
    }

    #[test]
    fn absent_means_the_default() {
        let msg = Message {
            version: (2, 0),
            code: 0x000a,
            request_id: 1,
            groups: vec![Group::new(DelimiterTag::Operation)],
        };
        let wanted = Requested::from_request(&msg, Requested::names(&["job-id", "job-uri"]));
        assert!(wanted.wants("job-id", Category::JobDescription));
        assert!(!wanted.wants("job-name", Category::JobDescription));
    }
}
