//! The IPP data model: a message is a list of attribute groups, a group a list
//! of attributes, an attribute a name with one or more typed values.

/// Delimiter tags that open an attribute group (RFC 8010 section 3.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DelimiterTag {
    Operation = 0x01,
    Job = 0x02,
    Printer = 0x04,
    Unsupported = 0x05,
    Subscription = 0x06,
    EventNotification = 0x07,
    Resource = 0x08,
    Document = 0x09,
    System = 0x0a,
}

impl DelimiterTag {
    /// The group tag for a byte, or `None` for end-of-attributes (0x03) and
    /// for reserved values.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Operation,
            0x02 => Self::Job,
            0x04 => Self::Printer,
            0x05 => Self::Unsupported,
            0x06 => Self::Subscription,
            0x07 => Self::EventNotification,
            0x08 => Self::Resource,
            0x09 => Self::Document,
            0x0a => Self::System,
            _ => return None,
        })
    }
}

/// The end-of-attributes delimiter.
pub const END_OF_ATTRIBUTES: u8 = 0x03;

/// Value tags (RFC 8010 section 3.5.2), as raw bytes so unknown ones survive.
pub struct ValueTag;

impl ValueTag {
    pub const UNSUPPORTED: u8 = 0x10;
    pub const UNKNOWN: u8 = 0x12;
    pub const NO_VALUE: u8 = 0x13;
    pub const NOT_SETTABLE: u8 = 0x15;
    pub const DELETE_ATTRIBUTE: u8 = 0x16;
    pub const ADMIN_DEFINE: u8 = 0x17;
    pub const INTEGER: u8 = 0x21;
    pub const BOOLEAN: u8 = 0x22;
    pub const ENUM: u8 = 0x23;
    pub const OCTET_STRING: u8 = 0x30;
    pub const DATE_TIME: u8 = 0x31;
    pub const RESOLUTION: u8 = 0x32;
    pub const RANGE_OF_INTEGER: u8 = 0x33;
    pub const BEG_COLLECTION: u8 = 0x34;
    pub const TEXT_WITH_LANGUAGE: u8 = 0x35;
    pub const NAME_WITH_LANGUAGE: u8 = 0x36;
    pub const END_COLLECTION: u8 = 0x37;
    pub const TEXT_WITHOUT_LANGUAGE: u8 = 0x41;
    pub const NAME_WITHOUT_LANGUAGE: u8 = 0x42;
    pub const KEYWORD: u8 = 0x44;
    pub const URI: u8 = 0x45;
    pub const URI_SCHEME: u8 = 0x46;
    pub const CHARSET: u8 = 0x47;
    pub const NATURAL_LANGUAGE: u8 = 0x48;
    pub const MIME_MEDIA_TYPE: u8 = 0x49;
    pub const MEMBER_ATTR_NAME: u8 = 0x4a;
    /// Extension: the real tag follows as four bytes (RFC 8010 3.5.2).
    pub const EXTENSION: u8 = 0x7f;
}

/// One attribute value. String variants hold validated UTF-8 with no
/// control characters other than those the syntax allows (see [`crate::decode`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i32),
    Boolean(bool),
    Enum(i32),
    OctetString(Vec<u8>),
    DateTime([u8; 11]),
    /// Cross-feed, feed, units (3 = dots per inch, 4 = dots per cm).
    Resolution(i32, i32, i8),
    RangeOfInteger(i32, i32),
    TextWithLanguage {
        language: String,
        text: String,
    },
    NameWithLanguage {
        language: String,
        name: String,
    },
    Text(String),
    Name(String),
    Keyword(String),
    Uri(String),
    UriScheme(String),
    Charset(String),
    NaturalLanguage(String),
    MimeMediaType(String),
    /// A collection: its member attributes in order (RFC 8010 3.1.6).
    Collection(Vec<Attribute>),
    /// Out-of-band values (RFC 8010 3.8): the tag alone carries the meaning.
    OutOfBand(u8),
    /// A value tag this implementation does not know, kept verbatim so it can
    /// be returned in the unsupported-attributes group.
    Other {
        tag: u8,
        data: Vec<u8>,
    },
}

impl Value {
    /// The value tag this value is encoded with.
    pub fn tag(&self) -> u8 {
        match self {
            Value::Integer(_) => ValueTag::INTEGER,
            Value::Boolean(_) => ValueTag::BOOLEAN,
            Value::Enum(_) => ValueTag::ENUM,
            Value::OctetString(_) => ValueTag::OCTET_STRING,
            Value::DateTime(_) => ValueTag::DATE_TIME,
            Value::Resolution(..) => ValueTag::RESOLUTION,
            Value::RangeOfInteger(..) => ValueTag::RANGE_OF_INTEGER,
            Value::TextWithLanguage { .. } => ValueTag::TEXT_WITH_LANGUAGE,
            Value::NameWithLanguage { .. } => ValueTag::NAME_WITH_LANGUAGE,
            Value::Text(_) => ValueTag::TEXT_WITHOUT_LANGUAGE,
            Value::Name(_) => ValueTag::NAME_WITHOUT_LANGUAGE,
            Value::Keyword(_) => ValueTag::KEYWORD,
            Value::Uri(_) => ValueTag::URI,
            Value::UriScheme(_) => ValueTag::URI_SCHEME,
            Value::Charset(_) => ValueTag::CHARSET,
            Value::NaturalLanguage(_) => ValueTag::NATURAL_LANGUAGE,
            Value::MimeMediaType(_) => ValueTag::MIME_MEDIA_TYPE,
            Value::Collection(_) => ValueTag::BEG_COLLECTION,
            Value::OutOfBand(tag) => *tag,
            Value::Other { tag, .. } => *tag,
        }
    }

    /// The string inside any of the string-like syntaxes.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s)
            | Value::Name(s)
            | Value::Keyword(s)
            | Value::Uri(s)
            | Value::UriScheme(s)
            | Value::Charset(s)
            | Value::NaturalLanguage(s)
            | Value::MimeMediaType(s) => Some(s),
            Value::TextWithLanguage { text, .. } => Some(text),
            Value::NameWithLanguage { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The integer inside `integer` or `enum`.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            Value::Integer(i) | Value::Enum(i) => Some(*i),
            _ => None,
        }
    }
}

/// A named attribute with one value, or several for a `1setOf` syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub values: Vec<Value>,
}

impl Attribute {
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        Attribute {
            name: name.into(),
            values: vec![value],
        }
    }

    pub fn multi(name: impl Into<String>, values: Vec<Value>) -> Self {
        Attribute {
            name: name.into(),
            values,
        }
    }

    /// The first (often only) value.
    pub fn first(&self) -> Option<&Value> {
        self.values.first()
    }
}

/// An attribute group, in the order it appeared on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub tag: DelimiterTag,
    pub attributes: Vec<Attribute>,
}

impl Group {
    pub fn new(tag: DelimiterTag) -> Self {
        Group {
            tag,
            attributes: Vec::new(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn push(&mut self, attribute: Attribute) {
        self.attributes.push(attribute);
    }
}

/// A whole IPP request or response, without the document data that may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// (major, minor), e.g. (2, 0).
    pub version: (u8, u8),
    /// The operation-id of a request or the status-code of a response.
    pub code: u16,
    pub request_id: u32,
    pub groups: Vec<Group>,
}

impl Message {
    /// The first group with this tag.
    pub fn group(&self, tag: DelimiterTag) -> Option<&Group> {
        self.groups.iter().find(|g| g.tag == tag)
    }

    /// An attribute of the operation group.
    pub fn operation_attr(&self, name: &str) -> Option<&Attribute> {
        self.group(DelimiterTag::Operation)?.get(name)
    }
}

/// Operation ids this server knows by name (RFC 8011 5.4.15, PWG 5100.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PrintJob = 0x0002,
    ValidateJob = 0x0004,
    CreateJob = 0x0005,
    SendDocument = 0x0006,
    CancelJob = 0x0008,
    GetJobAttributes = 0x0009,
    GetJobs = 0x000a,
    GetPrinterAttributes = 0x000b,
    HoldJob = 0x000c,
    ReleaseJob = 0x000d,
    PausePrinter = 0x0010,
    ResumePrinter = 0x0011,
    IdentifyPrinter = 0x003c,
}

impl Operation {
    /// Every operation this server implements, advertised in
    /// `operations-supported` (advertise only what is implemented).
    pub const ALL: [Operation; 13] = [
        Operation::PrintJob,
        Operation::ValidateJob,
        Operation::CreateJob,
        Operation::SendDocument,
        Operation::CancelJob,
        Operation::GetJobAttributes,
        Operation::GetJobs,
        Operation::GetPrinterAttributes,
        Operation::HoldJob,
        Operation::ReleaseJob,
        Operation::PausePrinter,
        Operation::ResumePrinter,
        Operation::IdentifyPrinter,
    ];

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|op| *op as u16 == code)
    }
}

/// Status codes (RFC 8011 appendix B) used by this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    SuccessfulOk = 0x0000,
    SuccessfulOkIgnoredOrSubstituted = 0x0001,
    ClientErrorBadRequest = 0x0400,
    ClientErrorForbidden = 0x0401,
    ClientErrorNotAuthenticated = 0x0402,
    ClientErrorNotAuthorized = 0x0403,
    ClientErrorNotPossible = 0x0404,
    ClientErrorTimeout = 0x0405,
    ClientErrorNotFound = 0x0406,
    ClientErrorGone = 0x0407,
    ClientErrorRequestEntityTooLarge = 0x0408,
    ClientErrorRequestValueTooLong = 0x0409,
    ClientErrorDocumentFormatNotSupported = 0x040a,
    ClientErrorAttributesOrValuesNotSupported = 0x040b,
    ClientErrorUriSchemeNotSupported = 0x040c,
    ClientErrorCharsetNotSupported = 0x040d,
    ClientErrorConflictingAttributes = 0x040e,
    ClientErrorCompressionNotSupported = 0x040f,
    ClientErrorCompressionError = 0x0410,
    ClientErrorDocumentFormatError = 0x0411,
    ClientErrorDocumentAccessError = 0x0412,
    ServerErrorInternalError = 0x0500,
    ServerErrorOperationNotSupported = 0x0501,
    ServerErrorServiceUnavailable = 0x0502,
    ServerErrorVersionNotSupported = 0x0503,
    ServerErrorDeviceError = 0x0504,
    ServerErrorTemporaryError = 0x0505,
    ServerErrorNotAcceptingJobs = 0x0506,
    ServerErrorBusy = 0x0507,
    ServerErrorJobCanceled = 0x0508,
    ServerErrorMultipleDocumentJobsNotSupported = 0x0509,
    ServerErrorTooManyJobs = 0x050b,
}

impl StatusCode {
    /// The keyword form, for logs and `status-message`.
    pub fn keyword(self) -> &'static str {
        use StatusCode::*;
        match self {
            SuccessfulOk => "successful-ok",
            SuccessfulOkIgnoredOrSubstituted => "successful-ok-ignored-or-substituted-attributes",
            ClientErrorBadRequest => "client-error-bad-request",
            ClientErrorForbidden => "client-error-forbidden",
            ClientErrorNotAuthenticated => "client-error-not-authenticated",
            ClientErrorNotAuthorized => "client-error-not-authorized",
            ClientErrorNotPossible => "client-error-not-possible",
            ClientErrorTimeout => "client-error-timeout",
            ClientErrorNotFound => "client-error-not-found",
            ClientErrorGone => "client-error-gone",
            ClientErrorRequestEntityTooLarge => "client-error-request-entity-too-large",
            ClientErrorRequestValueTooLong => "client-error-request-value-too-long",
            ClientErrorDocumentFormatNotSupported => "client-error-document-format-not-supported",
            ClientErrorAttributesOrValuesNotSupported => {
                "client-error-attributes-or-values-not-supported"
            }
            ClientErrorUriSchemeNotSupported => "client-error-uri-scheme-not-supported",
            ClientErrorCharsetNotSupported => "client-error-charset-not-supported",
            ClientErrorConflictingAttributes => "client-error-conflicting-attributes",
            ClientErrorCompressionNotSupported => "client-error-compression-not-supported",
            ClientErrorCompressionError => "client-error-compression-error",
            ClientErrorDocumentFormatError => "client-error-document-format-error",
            ClientErrorDocumentAccessError => "client-error-document-access-error",
            ServerErrorInternalError => "server-error-internal-error",
            ServerErrorOperationNotSupported => "server-error-operation-not-supported",
            ServerErrorServiceUnavailable => "server-error-service-unavailable",
            ServerErrorVersionNotSupported => "server-error-version-not-supported",
            ServerErrorDeviceError => "server-error-device-error",
            ServerErrorTemporaryError => "server-error-temporary-error",
            ServerErrorNotAcceptingJobs => "server-error-not-accepting-jobs",
            ServerErrorBusy => "server-error-busy",
            ServerErrorJobCanceled => "server-error-job-canceled",
            ServerErrorMultipleDocumentJobsNotSupported => {
                "server-error-multiple-document-jobs-not-supported"
            }
            ServerErrorTooManyJobs => "server-error-too-many-jobs",
        }
    }
}
