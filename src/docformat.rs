//! Document formats: what the server accepts, and sensing the real one from
//! magic bytes when a client says `application/octet-stream` or a file is
//! dropped with no type at all.

pub const PDF: &str = "application/pdf";
pub const POSTSCRIPT: &str = "application/postscript";
pub const TEXT: &str = "text/plain";
pub const JPEG: &str = "image/jpeg";
pub const PWG_RASTER: &str = "image/pwg-raster";
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Every `document-format-supported` value, in the order advertised.
pub const SUPPORTED: [&str; 6] = [PDF, POSTSCRIPT, TEXT, JPEG, PWG_RASTER, OCTET_STREAM];

/// Bytes of a document's head that [`sense`] looks at.
pub const SENSE_BYTES: usize = 512;

/// Whether `mime` is a format this server accepts. Parameters such as
/// `;charset=utf-8` are ignored.
pub fn is_supported(mime: &str) -> bool {
    let base = base_type(mime);
    SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(base))
}

/// The MIME type without parameters, trimmed.
pub fn base_type(mime: &str) -> &str {
    mime.split(';').next().unwrap_or("").trim()
}

/// The format the content of `head` (the first [`SENSE_BYTES`] or fewer)
/// shows, or [`OCTET_STREAM`] when nothing matches.
pub fn sense(head: &[u8]) -> &'static str {
    if head.starts_with(b"%PDF-") {
        PDF
    } else if head.starts_with(b"%!") || head.starts_with(b"\x04%!") {
        POSTSCRIPT
    } else if head.starts_with(b"\xff\xd8\xff") {
        JPEG
    } else if head.starts_with(b"RaS2") {
        PWG_RASTER
    } else if looks_like_text(head) {
        TEXT
    } else {
        OCTET_STREAM
    }
}

/// Valid UTF-8 (allowing a code point cut at the end) with no control
/// characters other than tab, newline, form feed and carriage return.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        // A multi-byte character cut by the head limit is still text.
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senses_each_format_by_magic() {
        assert_eq!(sense(b"%PDF-1.7\n"), PDF);
        assert_eq!(sense(b"%!PS-Adobe-3.0\n"), POSTSCRIPT);
        assert_eq!(sense(b"\xff\xd8\xff\xe0\x00\x10JFIF"), JPEG);
        assert_eq!(sense(b"RaS2PwgRaster\0"), PWG_RASTER);
        assert_eq!(sense("Grüße\r\n\tand more\x0c".as_bytes()), TEXT);
        assert_eq!(sense(b"\x00\x01\x02binary"), OCTET_STREAM);
        assert_eq!(sense(b""), OCTET_STREAM);
    }

    #[test]
    fn text_cut_inside_a_character_is_still_text() {
        let cut = &"aé".as_bytes()[..2];
        assert_eq!(sense(cut), TEXT);
    }

    #[test]
    fn supported_ignores_parameters_and_case() {
        assert!(is_supported("text/plain; charset=utf-8"));
        assert!(is_supported("Application/PDF"));
        assert!(!is_supported("image/png"));
    }
}
