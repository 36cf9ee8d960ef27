//! The byte format of one journal entry, and nothing else: encoding a
//! [`Record`] and decoding (and checking) the entry at an offset.
//!
//! ```text
//! [u32 le body_len][u32 le crc32(body)][body]
//! body = [u8 kind][u64 le lsn][u32 le job id][u64 le version][payload]
//! ```
//!
//! Payloads: `Header` `[u64 seq][u32 next_id]`; `Accept` and `Attach`
//! `[u32 meta_len][meta][document]`; `Update` `[u32 meta_len][meta]`;
//! `Forget` nothing. A document is `[u8 0]` (none), `[u8 1][u32 len][bytes]`
//! (inline) or `[u8 2][u64 len][32 bytes sha256]` (the file `docs/<id>.doc`).
//!
//! A body length of 0 is zero-filled (never written) space; any entry that
//! does not decode whole with a matching CRC ends its segment's replay.

/// Length and CRC in front of every body.
pub(crate) const FRAME_BYTES: usize = 8;
/// kind + lsn + id + version.
const BODY_FIXED: usize = 1 + 8 + 4 + 8;

/// What an entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Header = 1,
    Accept = 2,
    Update = 3,
    Attach = 4,
    Forget = 5,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Header,
            2 => Kind::Accept,
            3 => Kind::Update,
            4 => Kind::Attach,
            5 => Kind::Forget,
            _ => return None,
        })
    }
}

/// A job's document as a log entry carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryDocument {
    None,
    /// The bytes themselves, inside the entry.
    Inline(Vec<u8>),
    /// `docs/<id>.doc`, renamed into place (and its name made durable by
    /// the appender) before the entry is written.
    File {
        len: u64,
        sha256: [u8; 32],
    },
}

/// One entry to append; the appender gives it its lsn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Header {
        seq: u64,
        next_id: u32,
    },
    Accept {
        id: u32,
        version: u64,
        meta: Vec<u8>,
        document: EntryDocument,
    },
    Update {
        id: u32,
        version: u64,
        meta: Vec<u8>,
    },
    Attach {
        id: u32,
        version: u64,
        meta: Vec<u8>,
        document: EntryDocument,
    },
    Forget {
        id: u32,
        version: u64,
    },
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Header { .. } => Kind::Header,
            Record::Accept { .. } => Kind::Accept,
            Record::Update { .. } => Kind::Update,
            Record::Attach { .. } => Kind::Attach,
            Record::Forget { .. } => Kind::Forget,
        }
    }

    /// Whether the entry names a `docs/` file (the appender then syncs
    /// `docs/` before writing it).
    pub fn names_file(&self) -> bool {
        matches!(
            self,
            Record::Accept {
                document: EntryDocument::File { .. },
                ..
            } | Record::Attach {
                document: EntryDocument::File { .. },
                ..
            }
        )
    }

    /// Accepts and attaches bring new data; on a full disk they are refused
    /// so that updates and forgets keep the remaining room.
    pub fn grows_spool(&self) -> bool {
        matches!(self, Record::Accept { .. } | Record::Attach { .. })
    }
}

/// Where in an entry (relative to its first byte) the meta and the inline
/// document bytes were put.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    pub meta: Option<(u64, u64)>,
    pub inline: Option<(u64, u64)>,
}

/// Appends `record`, with `lsn`, to `out`; returns where its parts went,
/// relative to the entry's start.
pub(crate) fn encode(record: &Record, lsn: u64, out: &mut Vec<u8>) -> Placement {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_BYTES]);
    let (id, version) = match record {
        Record::Header { .. } => (0, 0),
        Record::Accept { id, version, .. }
        | Record::Update { id, version, .. }
        | Record::Attach { id, version, .. }
        | Record::Forget { id, version } => (*id, *version),
    };
    out.push(record.kind() as u8);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    let mut placement = Placement::default();
    let mut put_meta = |out: &mut Vec<u8>, meta: &[u8]| {
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        placement.meta = Some(((out.len() - start) as u64, meta.len() as u64));
        out.extend_from_slice(meta);
    };
    match record {
        Record::Header { seq, next_id } => {
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&next_id.to_le_bytes());
        }
        Record::Accept { meta, document, .. } | Record::Attach { meta, document, .. } => {
            put_meta(out, meta);
            placement.inline = encode_document(document, start, out);
        }
        Record::Update { meta, .. } => put_meta(out, meta),
        Record::Forget { .. } => {}
    }
    let body = &out[start + FRAME_BYTES..];
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    placement
}

fn encode_document(
    document: &EntryDocument,
    start: usize,
    out: &mut Vec<u8>,
) -> Option<(u64, u64)> {
    match document {
        EntryDocument::None => {
            out.push(0);
            None
        }
        EntryDocument::Inline(bytes) => {
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            let at = (out.len() - start) as u64;
            out.extend_from_slice(bytes);
            Some((at, bytes.len() as u64))
        }
        EntryDocument::File { len, sha256 } => {
            out.push(2);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(sha256);
            None
        }
    }
}

/// A document as found in an entry: positions, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocumentRef {
    None,
    /// Absolute offset and length in the buffer decoded from.
    Inline {
        offset: u64,
        len: u64,
    },
    File {
        len: u64,
        sha256: [u8; 32],
    },
}

/// A whole, checked entry found at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Frame and body: the next entry starts this many bytes later.
    pub total_len: u64,
    pub kind: Kind,
    pub lsn: u64,
    pub id: u32,
    pub version: u64,
    /// Absolute offset and length of the meta (Accept, Update, Attach).
    pub meta: Option<(u64, u64)>,
    /// Accept and Attach only; `None` otherwise.
    pub document: Option<DocumentRef>,
    /// Header only: the segment's seq and next id.
    pub header: Option<(u64, u32)>,
}

/// Decodes the entry at `at` in `buf`; `None` for zero-filled space, a
/// frame or body running past `buf`, a CRC mismatch or a malformed body:
/// all mean "the log ends here".
pub(crate) fn decode(buf: &[u8], at: usize) -> Option<Decoded> {
    let frame = buf.get(at..at.checked_add(FRAME_BYTES)?)?;
    let len = u32::from_le_bytes(frame[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(frame[4..].try_into().ok()?);
    if len < BODY_FIXED {
        return None;
    }
    let body_start = at + FRAME_BYTES;
    let body = buf.get(body_start..body_start.checked_add(len)?)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut reader = BodyReader {
        body,
        pos: 0,
        base: body_start,
    };
    let kind = Kind::from_byte(reader.u8()?)?;
    let lsn = reader.u64()?;
    let id = reader.u32()?;
    let version = reader.u64()?;
    let mut decoded = Decoded {
        total_len: (FRAME_BYTES + len) as u64,
        kind,
        lsn,
        id,
        version,
        meta: None,
        document: None,
        header: None,
    };
    match kind {
        Kind::Header => decoded.header = Some((reader.u64()?, reader.u32()?)),
        Kind::Accept | Kind::Attach => {
            decoded.meta = Some(reader.extent_u32()?);
            decoded.document = Some(reader.document()?);
        }
        Kind::Update => decoded.meta = Some(reader.extent_u32()?),
        Kind::Forget => {}
    }
    // Trailing bytes would mean a writer we do not know: not ours.
    (reader.pos == body.len()).then_some(decoded)
}

struct BodyReader<'a> {
    body: &'a [u8],
    pos: usize,
    /// Offset of `body` in the decoded buffer.
    base: usize,
}

impl BodyReader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let bytes = self.body.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// `[u32 len][bytes]`: the bytes' absolute offset and length.
    fn extent_u32(&mut self) -> Option<(u64, u64)> {
        let len = self.u32()? as usize;
        let at = self.base + self.pos;
        self.take(len)?;
        Some((at as u64, len as u64))
    }

    fn document(&mut self) -> Option<DocumentRef> {
        Some(match self.u8()? {
            0 => DocumentRef::None,
            1 => {
                let (offset, len) = self.extent_u32()?;
                DocumentRef::Inline { offset, len }
            }
            2 => {
                let len = self.u64()?;
                let sha256 = self.take(32)?.try_into().ok()?;
                DocumentRef::File { len, sha256 }
            }
            _ => return None,
        })
    }
}
