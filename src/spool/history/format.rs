//! The bytes of one history segment, and its file name: encoding for
//! [`HistoryStore::seal`](super::HistoryStore::seal), strict bounds-checked
//! decoding for everything that reads one (the byte diagram is in the
//! [module doc](super)).
//!
//! Nothing here trusts a length or an offset read from disk: each is
//! checked against the file's length (and against the other values that
//! must agree with it) before it is used to index or to allocate, so a
//! damaged or hostile segment yields a [`Damage`] message, never a panic
//! nor an allocation larger than the file.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use super::super::DocumentInfo;
use super::super::layout::to_hex;

/// The first 8 bytes of every segment.
pub(crate) const MAGIC: &[u8; 8] = b"PSPLHIS1";
/// The last 8 bytes of every segment.
pub(crate) const END_MAGIC: &[u8; 8] = b"PSPLHEND";
/// `[u64 footer offset][u32 count][u32 crc32 footer][u32 crc32 trailer][8 magic]`.
pub(crate) const TRAILER_LEN: u64 = 28;
/// One footer slot: `[u32 id][u64 offset]`.
pub(crate) const SLOT_LEN: u64 = 12;
/// `[u32 body length][u32 crc32 body]` before each entry's body.
pub(crate) const ENTRY_HEAD_LEN: u64 = 8;
/// More entries than this in one segment is not something `seal` writes.
pub(crate) const MAX_ENTRIES: u32 = 1 << 20;

const DOC_NONE: u8 = 0;
const DOC_INLINE: u8 = 1;
const DOC_FILE: u8 = 2;

/// Why a segment cannot be trusted (for the log and `corrupt/*.reason`).
pub(crate) type Damage = String;

/// A job's document as a history entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryDocument {
    /// Created without one (Create-Job with no Send-Document).
    None,
    /// Stored inside the segment: `len` bytes at `offset` of the segment
    /// file (read them from the handle [`HistoryStore::read`](super::HistoryStore::read)
    /// returns: a rewrite by cleanup replaces the file, never its bytes).
    Inline { offset: u64, len: u64 },
    /// `docs/<id>.doc`, with its length and SHA-256.
    File(DocumentInfo),
}

/// What [`HistoryStore::seal`](super::HistoryStore::seal) is given per job:
/// borrowed, so the caller's buffers are not copied.
#[derive(Debug, Clone, Copy)]
pub enum DocumentToSeal<'a> {
    None,
    Inline(&'a [u8]),
    File(&'a DocumentInfo),
}

/// One finished job for [`HistoryStore::seal`](super::HistoryStore::seal).
#[derive(Debug, Clone, Copy)]
pub struct JobToSeal<'a> {
    pub id: u32,
    /// The core's record, opaque here.
    pub meta: &'a [u8],
    pub document: DocumentToSeal<'a>,
}

/// One job read back from a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub id: u32,
    pub meta: Vec<u8>,
    pub document: HistoryDocument,
    /// Bytes this entry takes in its segment (head, body, footer slot):
    /// what purging it frees there.
    pub stored_bytes: u64,
}

/// `<first>-<last>.hist`, or `<first>-<last>.<n>.hist` when a segment of
/// the same range already existed (a job sealed twice after a crash):
/// first and last are the lowest and highest id inside, 10 decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HistorySegmentName {
    pub first: u32,
    pub last: u32,
    /// 0 for the plain name.
    pub variant: u16,
}

/// Variants tried before `seal` gives up on a free name.
pub(crate) const MAX_VARIANT: u16 = 999;

impl HistorySegmentName {
    pub fn file_name(&self) -> String {
        if self.variant == 0 {
            format!("{:010}-{:010}.hist", self.first, self.last)
        } else {
            format!("{:010}-{:010}.{}.hist", self.first, self.last, self.variant)
        }
    }

    /// Only the canonical form (so two names never claim one range).
    pub fn parse(name: &str) -> Option<HistorySegmentName> {
        let stem = name.strip_suffix(".hist")?;
        let (range, variant) = match stem.split_once('.') {
            Some((range, n)) => {
                let variant: u16 = n.parse().ok()?;
                if variant == 0 || variant > MAX_VARIANT || variant.to_string() != n {
                    return None;
                }
                (range, variant)
            }
            None => (stem, 0),
        };
        let (first, last) = range.split_once('-')?;
        let digits = |s: &str| s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(first) || !digits(last) {
            return None;
        }
        let first: u32 = first.parse().ok()?;
        let last: u32 = last.parse().ok()?;
        (first <= last).then_some(HistorySegmentName {
            first,
            last,
            variant,
        })
    }

    pub fn covers(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }
}

/// CRC-32 (IEEE 802.3, as zlib and the `crc32fast` crate compute it).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0, bytes)
}

/// Continues a CRC-32 over more bytes.
pub(crate) fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = crc_table();
    let mut crc = !crc;
    for &b in bytes {
        crc = TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    !crc
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

/// The body of one entry: `[u32 id][u32 meta_len][meta][document]`.
pub(crate) fn encode_body(job: &JobToSeal<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "entry too long");
    out.clear();
    out.extend_from_slice(&job.id.to_le_bytes());
    let meta_len = u32::try_from(job.meta.len()).map_err(|_| too_long())?;
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(job.meta);
    match job.document {
        DocumentToSeal::None => out.push(DOC_NONE),
        DocumentToSeal::Inline(bytes) => {
            out.push(DOC_INLINE);
            let len = u32::try_from(bytes.len()).map_err(|_| too_long())?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(bytes);
        }
        DocumentToSeal::File(info) => {
            out.push(DOC_FILE);
            out.extend_from_slice(&info.len.to_le_bytes());
            out.extend_from_slice(&sha256_bytes(&info.sha256)?);
        }
    }
    if u32::try_from(out.len()).is_err() {
        return Err(too_long());
    }
    Ok(())
}

fn sha256_bytes(hex: &str) -> io::Result<[u8; 32]> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "not a sha256 hex digest");
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = (nibble(pair[0]).ok_or_else(bad)? << 4) | nibble(pair[1]).ok_or_else(bad)?;
    }
    Ok(out)
}

/// The trailer, encoded.
pub(crate) fn encode_trailer(footer_offset: u64, count: u32, footer_crc: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(TRAILER_LEN as usize);
    out.extend_from_slice(&footer_offset.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&footer_crc.to_le_bytes());
    let trailer_crc = crc32(&out);
    out.extend_from_slice(&trailer_crc.to_le_bytes());
    out.extend_from_slice(END_MAGIC);
    out
}

/// A little-endian cursor over a byte slice that never reads past its end.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("{n} bytes needed at {}, past the end", self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, Damage> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, Damage> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    pub fn u64(&mut self) -> Result<u64, Damage> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

/// A segment's trailer and footer, checked: where each entry is.
#[derive(Debug)]
pub(crate) struct SegmentIndex {
    pub footer_offset: u64,
    /// `(id, offset)`, ids strictly increasing, offsets strictly
    /// increasing from [`MAGIC`]'s end, all below `footer_offset`.
    pub slots: Vec<(u32, u64)>,
}

impl SegmentIndex {
    /// Reads and checks the magic, the trailer and the footer of `file`.
    pub fn load(file: &File, name: &HistorySegmentName) -> Result<SegmentIndex, LoadError> {
        let file_len = file.metadata()?.len();
        let minimum = MAGIC.len() as u64 + TRAILER_LEN;
        if file_len < minimum {
            return Err(LoadError::Damaged(format!(
                "{file_len} bytes, shorter than an empty segment"
            )));
        }
        let mut magic = [0u8; 8];
        file.read_exact_at(&mut magic, 0)?;
        if &magic != MAGIC {
            return Err(LoadError::Damaged("no PSPLHIS1 magic".into()));
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        file.read_exact_at(&mut trailer, file_len - TRAILER_LEN)?;
        let (footer_offset, count, footer_crc) = parse_trailer(&trailer, file_len)?;
        // parse_trailer checked footer_offset + count * SLOT_LEN + TRAILER_LEN == file_len,
        // so the footer fits in the file and this allocation is bounded by it.
        let mut footer = vec![0u8; count as usize * SLOT_LEN as usize];
        file.read_exact_at(&mut footer, footer_offset)?;
        if crc32(&footer) != footer_crc {
            return Err(LoadError::Damaged("footer checksum mismatch".into()));
        }
        let slots = parse_footer(&footer, footer_offset, name)?;
        Ok(SegmentIndex {
            footer_offset,
            slots,
        })
    }

    /// The byte range `[start, end)` of entry number `i`.
    pub fn extent(&self, i: usize) -> (u64, u64) {
        let start = self.slots[i].1;
        let end = self
            .slots
            .get(i + 1)
            .map_or(self.footer_offset, |&(_, next)| next);
        (start, end)
    }

    pub fn find(&self, id: u32) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |&(slot, _)| slot).ok()
    }
}

/// Reading a segment failed: the file is damaged, or I/O failed.
#[derive(Debug)]
pub(crate) enum LoadError {
    Damaged(Damage),
    Io(io::Error),
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> LoadError {
        // A short read means the file shrank or lied about its length.
        if e.kind() == io::ErrorKind::UnexpectedEof {
            LoadError::Damaged("shorter than its own index says".into())
        } else {
            LoadError::Io(e)
        }
    }
}

impl From<Damage> for LoadError {
    fn from(d: Damage) -> LoadError {
        LoadError::Damaged(d)
    }
}

fn parse_trailer(trailer: &[u8], file_len: u64) -> Result<(u64, u32, u32), Damage> {
    let mut c = Cursor::new(trailer);
    let footer_offset = c.u64()?;
    let count = c.u32()?;
    let footer_crc = c.u32()?;
    let trailer_crc = c.u32()?;
    if c.take(8)? != END_MAGIC {
        return Err("no PSPLHEND trailer".into());
    }
    if crc32(&trailer[..16]) != trailer_crc {
        return Err("trailer checksum mismatch".into());
    }
    if count > MAX_ENTRIES {
        return Err(format!("{count} entries, more than {MAX_ENTRIES}"));
    }
    let expected_end = footer_offset
        .checked_add(u64::from(count) * SLOT_LEN)
        .and_then(|n| n.checked_add(TRAILER_LEN));
    if footer_offset < MAGIC.len() as u64 || expected_end != Some(file_len) {
        return Err(format!(
            "footer at {footer_offset} with {count} entries does not end the {file_len}-byte file"
        ));
    }
    Ok((footer_offset, count, footer_crc))
}

fn parse_footer(
    footer: &[u8],
    footer_offset: u64,
    name: &HistorySegmentName,
) -> Result<Vec<(u32, u64)>, Damage> {
    let mut c = Cursor::new(footer);
    let mut slots = Vec::with_capacity(footer.len() / SLOT_LEN as usize);
    let mut previous: Option<(u32, u64)> = None;
    while !c.is_empty() {
        let id = c.u32()?;
        let offset = c.u64()?;
        if !name.covers(id) {
            return Err(format!("job {id} outside the name's range"));
        }
        let min_offset = previous.map_or(MAGIC.len() as u64, |(_, prev)| prev + ENTRY_HEAD_LEN);
        if previous.is_some_and(|(prev, _)| id <= prev) {
            return Err(format!("footer ids not increasing at job {id}"));
        }
        if offset < min_offset || offset.saturating_add(ENTRY_HEAD_LEN) > footer_offset {
            return Err(format!("job {id}'s offset {offset} is out of place"));
        }
        slots.push((id, offset));
        previous = Some((id, offset));
    }
    if let Some(&(_, first)) = slots.first()
        && first != MAGIC.len() as u64
    {
        return Err("bytes between the magic and the first entry".into());
    }
    if slots.is_empty() && footer_offset != MAGIC.len() as u64 {
        return Err("bytes in a segment with no entries".into());
    }
    Ok(slots)
}

/// Checks and decodes one whole entry (`[len][crc][body]`, exactly
/// `bytes.len()` long) found at `offset` for job `id`.
pub(crate) fn decode_entry(bytes: &[u8], offset: u64, id: u32) -> Result<HistoryEntry, Damage> {
    let mut c = Cursor::new(bytes);
    let body_len = c.u32()?;
    let crc = c.u32()?;
    if u64::from(body_len) + ENTRY_HEAD_LEN != bytes.len() as u64 {
        return Err(format!(
            "job {id}: entry says {body_len} bytes, its extent holds {}",
            bytes.len() as u64 - ENTRY_HEAD_LEN
        ));
    }
    let body = c.take(body_len as usize)?;
    if crc32(body) != crc {
        return Err(format!("job {id}: entry checksum mismatch"));
    }
    let mut b = Cursor::new(body);
    let found = b.u32()?;
    if found != id {
        return Err(format!("the footer's job {id} holds job {found}"));
    }
    let meta_len = b.u32()?;
    let meta = b.take(meta_len as usize)?.to_vec();
    let document = match b.u8()? {
        DOC_NONE => HistoryDocument::None,
        DOC_INLINE => {
            let len = b.u32()?;
            let start = b.position();
            b.take(len as usize)?;
            HistoryDocument::Inline {
                offset: offset + ENTRY_HEAD_LEN + start as u64,
                len: u64::from(len),
            }
        }
        DOC_FILE => {
            let len = b.u64()?;
            let sha256 = to_hex(b.take(32)?);
            HistoryDocument::File(DocumentInfo { len, sha256 })
        }
        other => return Err(format!("job {id}: unknown document kind {other}")),
    };
    if !b.is_empty() {
        return Err(format!("job {id}: bytes after the document"));
    }
    Ok(HistoryEntry {
        id,
        meta,
        document,
        stored_bytes: bytes.len() as u64 + SLOT_LEN,
    })
}

/// Reads exactly `buf.len()` bytes from `reader`, a short file being damage.
pub(crate) fn read_exact_or_damage(
    reader: &mut impl Read,
    buf: &mut [u8],
) -> Result<(), LoadError> {
    reader.read_exact(buf).map_err(LoadError::from)
}
