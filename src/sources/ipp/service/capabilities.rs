//! What every queue supports, in one table: [`printer_attrs`] advertises it
//! and [`ticket`] accepts exactly it, so the two can never disagree
//! ("advertise only what is implemented").
//!
//! [`printer_attrs`]: crate::sources::ipp::service::printer_attrs
//! [`ticket`]: crate::sources::ipp::service::ticket
//!
//! The queues are spoolers in front of a file or a character device: they
//! pass the document through untouched and record the ticket with the job.
//! The values here are what a ticket may carry, not what a print engine
//! would render.

/// A PWG 5101.1 self-describing media name with its size in hundredths of
/// a millimetre (the unit of `media-size` in `media-col`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MediaSize {
    pub name: &'static str,
    pub x: i32,
    pub y: i32,
}

pub(crate) const MEDIA: [MediaSize; 4] = [
    MediaSize {
        name: "iso_a4_210x297mm",
        x: 21000,
        y: 29700,
    },
    MediaSize {
        name: "na_letter_8.5x11in",
        x: 21590,
        y: 27940,
    },
    MediaSize {
        name: "na_legal_8.5x14in",
        x: 21590,
        y: 35560,
    },
    MediaSize {
        name: "iso_a5_148x210mm",
        x: 14800,
        y: 21000,
    },
];

pub(crate) const MEDIA_DEFAULT: MediaSize = MEDIA[0];

/// Legacy media names (RFC 2911 and `lp -o media=A4`), matched ignoring
/// case, so old clients get the size they mean instead of a refusal.
const MEDIA_ALIASES: [(&str, &str); 8] = [
    ("a4", "iso_a4_210x297mm"),
    ("iso-a4", "iso_a4_210x297mm"),
    ("letter", "na_letter_8.5x11in"),
    ("na-letter", "na_letter_8.5x11in"),
    ("legal", "na_legal_8.5x14in"),
    ("na-legal", "na_legal_8.5x14in"),
    ("a5", "iso_a5_148x210mm"),
    ("iso-a5", "iso_a5_148x210mm"),
];

/// How far a `media-size` may be off a known size and still match it
/// (1 mm: inch sizes do not convert exactly to hundredths of mm).
const MEDIA_TOLERANCE: i32 = 100;

/// The supported media name a client's `media` value means, if any.
pub(crate) fn media_by_name(name: &str) -> Option<&'static str> {
    MEDIA
        .iter()
        .map(|m| m.name)
        .find(|known| known.eq_ignore_ascii_case(name))
        .or_else(|| {
            MEDIA_ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
                .map(|(_, canonical)| *canonical)
        })
}

/// The supported media whose size matches `media-size` within tolerance.
/// The media names, in the order advertised.
pub(crate) fn media_names() -> impl Iterator<Item = &'static str> {
    MEDIA.iter().map(|m| m.name)
}

pub(crate) fn media_by_size(x: i32, y: i32) -> Option<&'static str> {
    MEDIA
        .iter()
        .find(|m| {
            (i64::from(m.x) - i64::from(x)).abs() <= i64::from(MEDIA_TOLERANCE)
                && (i64::from(m.y) - i64::from(y)).abs() <= i64::from(MEDIA_TOLERANCE)
        })
        .map(|m| m.name)
}

pub(crate) const COPIES_MAX: i32 = 999;

pub(crate) const SIDES: [&str; 3] = ["one-sided", "two-sided-long-edge", "two-sided-short-edge"];
pub(crate) const SIDES_DEFAULT: &str = "one-sided";

/// `orientation-requested`: portrait, landscape, reverse-landscape,
/// reverse-portrait.
pub(crate) const ORIENTATIONS: [i32; 4] = [3, 4, 5, 6];
pub(crate) const ORIENTATION_DEFAULT: i32 = 3;

/// `print-quality`: draft, normal, high.
pub(crate) const QUALITIES: [i32; 3] = [3, 4, 5];
pub(crate) const QUALITY_DEFAULT: i32 = 4;

pub(crate) const OUTPUT_BINS: [&str; 1] = ["face-down"];

pub(crate) const COLOR_MODES: [&str; 3] = ["auto", "color", "monochrome"];
pub(crate) const COLOR_MODE_DEFAULT: &str = "auto";

/// Units 3: dots per inch (RFC 8010 3.9).
pub(crate) const DPI: i8 = 3;
pub(crate) const RESOLUTIONS: [(i32, i32, i8); 2] = [(300, 300, DPI), (600, 600, DPI)];
pub(crate) const RESOLUTION_DEFAULT: (i32, i32, i8) = (600, 600, DPI);

/// `finishings` 3 is `none`: the only finishing a spooler can honour.
pub(crate) const FINISHINGS: [i32; 1] = [3];

/// The core holds a job for anything but `no-hold`; only these two
/// keywords have a meaning it implements (no time-of-day release).
pub(crate) const HOLD_UNTIL: [&str; 2] = ["no-hold", "indefinite"];
pub(crate) const HOLD_UNTIL_DEFAULT: &str = "no-hold";

/// Identify-Printer makes the backend log a line: a "display" of sorts.
pub(crate) const IDENTIFY_ACTIONS: [&str; 1] = ["display"];

/// Nominal speeds; PWG 5100.12 requires the attributes (and the colour one
/// when `color-supported` is true). A spooler has no engine to be slow.
pub(crate) const PAGES_PER_MINUTE: i32 = 60;
pub(crate) const PAGES_PER_MINUTE_COLOR: i32 = 60;

/// Job Template attributes a job creation request may carry, plus the
/// operation attributes that shape a job (PWG 5100.11
/// `job-creation-attributes-supported`).
pub(crate) const JOB_CREATION_ATTRIBUTES: [&str; 13] = [
    "copies",
    "finishings",
    "ipp-attribute-fidelity",
    "job-hold-until",
    "job-name",
    "media",
    "media-col",
    "orientation-requested",
    "output-bin",
    "print-color-mode",
    "print-quality",
    "printer-resolution",
    "sides",
];

/// `which-jobs` values Get-Jobs implements.
pub(crate) const WHICH_JOBS: [&str; 3] = ["completed", "not-completed", "all"];
