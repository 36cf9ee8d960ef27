//! Where things live under the spool directory, and the record format.
//!
//! A record (`jobs/<id>.job`) is one line of JSON, the *envelope header*,
//! followed by the core's opaque meta bytes:
//!
//! ```text
//! {"format":1,"id":7,"document":{"len":1024,"sha256":"9f…"},"meta_len":312,"meta_sha256":"4a…"}\n
//! {"id":7,"printer":"office",…}            <- exactly meta_len bytes, the core's own JSON
//! ```
//!
//! The header is what the spool itself needs to check a job on recovery:
//! the document's length and hash (to tell a whole document from a torn
//! one) and the meta's length and hash (to tell a whole record from a
//! damaged one). Keeping the meta outside the header leaves it opaque: the
//! spool never parses the core's JSON, and `head -1` shows the envelope.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DocumentInfo;

/// Bumped when the envelope changes incompatibly; recovery moves records
/// of an unknown format to `corrupt/` rather than guessing.
pub(crate) const RECORD_FORMAT: u32 = 1;

const RECORD_SUFFIX: &str = ".job";
const DOCUMENT_SUFFIX: &str = ".doc";

/// The paths of one spool directory.
#[derive(Debug, Clone)]
pub(crate) struct SpoolLayout {
    pub root: PathBuf,
    /// Committed jobs only: everything here was renamed in whole.
    pub jobs: PathBuf,
    /// Files being written; emptied on every open.
    pub tmp: PathBuf,
    /// Records recovery could not read, kept for a human to look at.
    pub corrupt: PathBuf,
    /// Layout 2: the journal's segments.
    pub journal: PathBuf,
    /// Layout 2: documents larger than [`super::INLINE_MAX`].
    pub docs: PathBuf,
}

impl SpoolLayout {
    pub fn new(root: &Path) -> SpoolLayout {
        SpoolLayout {
            root: root.to_path_buf(),
            jobs: root.join("jobs"),
            tmp: root.join("tmp"),
            corrupt: root.join("corrupt"),
            journal: root.join("journal"),
            docs: root.join("docs"),
        }
    }

    /// `format`: says which layout the spool has (`printspoold spool 2`).
    pub fn format_file(&self) -> PathBuf {
        self.root.join("format")
    }

    /// Layout 2: `docs/<id>.doc`.
    pub fn doc_file(&self, id: u32) -> PathBuf {
        self.docs.join(format!("{id}{DOCUMENT_SUFFIX}"))
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    pub fn next_id_file(&self) -> PathBuf {
        self.root.join("next-id")
    }

    /// The queues an administrator paused (see [`super::paused`]).
    pub fn paused_file(&self) -> PathBuf {
        self.root.join("paused-printers")
    }

    pub fn record(&self, id: u32) -> PathBuf {
        self.jobs.join(format!("{id}{RECORD_SUFFIX}"))
    }

    pub fn document(&self, id: u32) -> PathBuf {
        self.jobs.join(format!("{id}{DOCUMENT_SUFFIX}"))
    }

    /// A fresh name in `tmp/`; `serial` comes from a per-spool counter and
    /// the lock guarantees no other process writes here.
    pub fn temp(&self, kind: &str, serial: u64) -> PathBuf {
        self.tmp.join(format!("{kind}-{serial}"))
    }
}

/// What a file name in `jobs/` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobFile {
    Record(u32),
    Document(u32),
}

impl JobFile {
    pub fn classify(name: &OsStr) -> Option<JobFile> {
        let name = name.to_str()?;
        if let Some(id) = name.strip_suffix(RECORD_SUFFIX) {
            return parse_id(id).map(JobFile::Record);
        }
        name.strip_suffix(DOCUMENT_SUFFIX)
            .and_then(parse_id)
            .map(JobFile::Document)
    }
}

/// Only the canonical decimal form, so `007.job` and `7.job` cannot both
/// claim job 7.
fn parse_id(text: &str) -> Option<u32> {
    let id: u32 = text.parse().ok()?;
    (id.to_string() == text).then_some(id)
}

#[derive(Debug, Serialize, Deserialize)]
struct EnvelopeHeader {
    format: u32,
    id: u32,
    document: Option<DocumentHeader>,
    meta_len: u64,
    meta_sha256: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct DocumentHeader {
    len: u64,
    sha256: String,
}

/// Serializes a record: envelope header line, then `meta` verbatim
/// (layout 1: kept for migration and its tests).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn encode_record(id: u32, meta: &[u8], document: Option<&DocumentInfo>) -> Vec<u8> {
    let header = EnvelopeHeader {
        format: RECORD_FORMAT,
        id,
        document: document.map(|doc| DocumentHeader {
            len: doc.len,
            sha256: doc.sha256.clone(),
        }),
        meta_len: meta.len() as u64,
        meta_sha256: sha256_hex(meta),
    };
    // Serializing plain numbers and strings cannot fail; compact output
    // escapes newlines inside strings, so the header stays one line.
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    out.extend_from_slice(meta);
    out
}

/// A record read back from disk.
#[derive(Debug)]
pub(crate) struct DecodedRecord {
    pub id: u32,
    pub document: Option<DocumentInfo>,
    pub meta: Vec<u8>,
}

/// Parses and checks a record; the error says what is wrong with it.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<DecodedRecord, String> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no envelope header line")?;
    let (header, meta) = (&bytes[..newline], &bytes[newline + 1..]);
    let header: EnvelopeHeader =
        serde_json::from_slice(header).map_err(|e| format!("envelope header: {e}"))?;
    if header.format != RECORD_FORMAT {
        return Err(format!("unknown record format {}", header.format));
    }
    if header.meta_len != meta.len() as u64 {
        return Err(format!(
            "meta is {} bytes, the envelope says {}",
            meta.len(),
            header.meta_len
        ));
    }
    if sha256_hex(meta) != header.meta_sha256 {
        return Err("meta does not match its sha256".into());
    }
    let document = match header.document {
        Some(doc) if !is_sha256_hex(&doc.sha256) => {
            return Err(format!("document sha256 {:?} is not a hash", doc.sha256));
        }
        Some(doc) => Some(DocumentInfo {
            len: doc.len,
            sha256: doc.sha256,
        }),
        None => None,
    };
    Ok(DecodedRecord {
        id: header.id,
        document,
        meta: meta.to_vec(),
    })
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The 32 bytes of a lower-case hex SHA-256 (as [`to_hex`] writes it);
/// `None` for anything else.
pub(crate) fn sha256_from_hex(text: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(text) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_and_without_document() {
        let doc = DocumentInfo {
            len: 3,
            sha256: sha256_hex(b"abc"),
        };
        let meta = b"{\"multi\":\"line\nmeta\"}";
        for document in [None, Some(&doc)] {
            let decoded = decode_record(&encode_record(42, meta, document)).unwrap();
            assert_eq!(decoded.id, 42);
            assert_eq!(decoded.meta, meta);
            assert_eq!(
                decoded.document.map(|d| (d.len, d.sha256)),
                document.map(|d| (d.len, d.sha256.clone()))
            );
        }
    }

    #[test]
    fn damaged_records_are_rejected() {
        let good = encode_record(1, b"{\"a\":1}", None);
        let truncated = &good[..good.len() - 1];
        assert!(decode_record(truncated).unwrap_err().contains("bytes"));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() = b'2';
        assert!(decode_record(&flipped).unwrap_err().contains("sha256"));
        assert!(decode_record(b"").is_err());
        assert!(decode_record(b"garbage\n").is_err());
        let future = String::from_utf8(good)
            .unwrap()
            .replace("\"format\":1", "\"format\":9");
        assert!(
            decode_record(future.as_bytes())
                .unwrap_err()
                .contains("format")
        );
    }

    #[test]
    fn only_canonical_job_file_names_are_recognised() {
        let classify = |s: &str| JobFile::classify(OsStr::new(s));
        assert_eq!(classify("7.job"), Some(JobFile::Record(7)));
        assert_eq!(classify("7.doc"), Some(JobFile::Document(7)));
        assert_eq!(classify("007.job"), None);
        assert_eq!(classify("+7.job"), None);
        assert_eq!(classify("4294967296.job"), None);
        assert_eq!(classify("next-id"), None);
    }

    #[test]
    fn sha256_hex_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
