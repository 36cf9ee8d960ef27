//! The write log QEMU's `blklogwrites` block driver keeps: the kernel's
//! dm-log-writes format (`drivers/md/dm-log-writes.c`), all little-endian.
//!
//! ```text
//! sector 0      super: magic u64, version u64, nr_entries u64, sectorsize u32
//! sector 1..    entries, in the order the driver logged them:
//!               one sector header: sector u64, nr_sectors u64, flags u64,
//!                                  data_len u64 (rest of the sector zero)
//!               then nr_sectors * sectorsize bytes of data (none for a
//!               flush, whose nr_sectors is 0, nor for a discard)
//! ```
//!
//! Sector numbers and counts are in units of the log's `sectorsize` (QEMU's
//! `log-sector-size`, 512 unless set). QEMU updates the super block (and
//! so `nr_entries`) only at a flush: entries after the last flush are not
//! counted and not replayed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::ReplayError;

/// `WRITE_LOG_MAGIC` of dm-log-writes.
pub const LOG_MAGIC: u64 = 0x006a_7366_7773_6872;
const LOG_VERSION: u64 = 1;
const FLUSH_FLAG: u64 = 1 << 0;
const FUA_FLAG: u64 = 1 << 1;
const DISCARD_FLAG: u64 = 1 << 2;
const MARK_FLAG: u64 = 1 << 3;

/// One logged request, without its data (read on demand, see
/// [`WriteLog::read_data`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Byte offset on the logged disk.
    pub offset: u64,
    /// Bytes written (or discarded); 0 for a flush.
    pub len: u64,
    pub kind: EntryKind,
    /// Byte offset of the data in the log file.
    data_at: u64,
}

/// What a [`LogEntry`] did to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Write,
    /// A write with FUA: durable by itself (and nothing else).
    ForcedWrite,
    /// A cache flush: every write logged before it is durable.
    Flush,
    /// Discarded blocks read back as anything; replayed as zeroes.
    Discard,
    /// A dm-log-writes mark (QEMU writes none); ignored.
    Mark,
}

impl EntryKind {
    /// Whether the disk's state right after this entry is one a power cut
    /// may leave with every earlier write in place (a flush point).
    pub fn is_flush_point(self) -> bool {
        matches!(self, EntryKind::Flush | EntryKind::ForcedWrite)
    }
}

/// A parsed log: the entry headers, and the open file for their data.
#[derive(Debug)]
pub struct WriteLog {
    pub sector_size: u64,
    pub entries: Vec<LogEntry>,
    file: File,
}

impl WriteLog {
    /// Reads the super block and every entry header it counts.
    pub fn open(path: &Path) -> Result<WriteLog, ReplayError> {
        let context = |e: io::Error| ReplayError::io("read the write log", path, e);
        let mut file = File::open(path).map_err(context)?;
        let mut head = [0u8; 28];
        file.read_exact(&mut head).map_err(context)?;
        let magic = le64(&head[0..8]);
        let version = le64(&head[8..16]);
        let count = le64(&head[16..24]);
        let sector_size = u64::from(u32::from_le_bytes([head[24], head[25], head[26], head[27]]));
        if magic != LOG_MAGIC || version != LOG_VERSION {
            return Err(ReplayError::Format(format!(
                "{}: not a dm-log-writes log (magic {magic:#x}, version {version})",
                path.display()
            )));
        }
        if !sector_size.is_power_of_two() || !(512..=65536).contains(&sector_size) {
            return Err(ReplayError::Format(format!(
                "{}: sector size {sector_size} is not a power of two in 512..=65536",
                path.display()
            )));
        }
        let log_len = file.metadata().map_err(context)?.len();
        let mut entries = Vec::new();
        let mut at = sector_size;
        let mut header = [0u8; 32];
        for index in 0..count {
            file.seek(SeekFrom::Start(at)).map_err(context)?;
            file.read_exact(&mut header).map_err(context)?;
            let entry = decode_entry(&header, at, sector_size).map_err(|problem| {
                ReplayError::Format(format!(
                    "{}: entry {index} at byte {at}: {problem}",
                    path.display()
                ))
            })?;
            let data_bytes =
                if entry.kind == EntryKind::Write || entry.kind == EntryKind::ForcedWrite {
                    entry.len
                } else {
                    0
                };
            at = entry.data_at + data_bytes.div_ceil(sector_size) * sector_size;
            if at > log_len {
                return Err(ReplayError::Format(format!(
                    "{}: entry {index} runs past the end of the log ({at} > {log_len})",
                    path.display()
                )));
            }
            entries.push(entry);
        }
        Ok(WriteLog {
            sector_size,
            entries,
            file,
        })
    }

    /// The bytes `entry` wrote.
    pub fn read_data(&mut self, entry: &LogEntry) -> io::Result<Vec<u8>> {
        let len = usize::try_from(entry.len).map_err(io::Error::other)?;
        let mut data = vec![0u8; len];
        self.file.seek(SeekFrom::Start(entry.data_at))?;
        self.file.read_exact(&mut data)?;
        Ok(data)
    }
}

fn le64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// One entry header at byte `at` of the log.
fn decode_entry(header: &[u8; 32], at: u64, sector_size: u64) -> Result<LogEntry, String> {
    let sector = le64(&header[0..8]);
    let sectors = le64(&header[8..16]);
    let flags = le64(&header[16..24]);
    let kind = if flags & MARK_FLAG != 0 {
        EntryKind::Mark
    } else if flags & DISCARD_FLAG != 0 {
        EntryKind::Discard
    } else if flags & FLUSH_FLAG != 0 && sectors == 0 {
        EntryKind::Flush
    } else if flags & FUA_FLAG != 0 {
        EntryKind::ForcedWrite
    } else if flags & !(FLUSH_FLAG | FUA_FLAG) == 0 {
        EntryKind::Write
    } else {
        return Err(format!("unknown flags {flags:#x}"));
    };
    let offset = sector
        .checked_mul(sector_size)
        .ok_or_else(|| format!("sector {sector} out of range"))?;
    let len = sectors
        .checked_mul(sector_size)
        .filter(|len| *len <= 1 << 32)
        .ok_or_else(|| format!("{sectors} sectors is implausible"))?;
    Ok(LogEntry {
        offset,
        len,
        kind,
        data_at: at + sector_size,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A log as QEMU writes it: super block, then entries.
    pub(crate) fn build_log(entries: &[(u64, u64, &[u8])]) -> Vec<u8> {
        let sector = 512usize;
        let mut log = vec![0u8; sector];
        log[0..8].copy_from_slice(&LOG_MAGIC.to_le_bytes());
        log[8..16].copy_from_slice(&1u64.to_le_bytes());
        log[16..24].copy_from_slice(&(entries.len() as u64).to_le_bytes());
        log[24..28].copy_from_slice(&512u32.to_le_bytes());
        for (disk_sector, flags, data) in entries {
            let mut header = vec![0u8; sector];
            header[0..8].copy_from_slice(&disk_sector.to_le_bytes());
            header[8..16].copy_from_slice(&((data.len() / sector) as u64).to_le_bytes());
            header[16..24].copy_from_slice(&flags.to_le_bytes());
            log.extend_from_slice(&header);
            log.extend_from_slice(data);
        }
        log
    }

    #[test]
    fn parses_writes_flushes_and_discards() {
        let dir = std::env::temp_dir().join(format!("flush-replay-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let block = vec![7u8; 1024];
        std::fs::write(
            &path,
            build_log(&[
                (4, 0, &block),
                (0, FLUSH_FLAG, &[]),
                (2, FUA_FLAG, &block[..512]),
            ]),
        )
        .unwrap();
        let mut log = WriteLog::open(&path).unwrap();
        let kinds: Vec<EntryKind> = log.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [EntryKind::Write, EntryKind::Flush, EntryKind::ForcedWrite]
        );
        assert_eq!(log.entries[0].offset, 2048);
        assert_eq!(log.entries[0].len, 1024);
        assert_eq!(log.entries[2].offset, 1024);
        let third = log.entries[2].clone();
        assert_eq!(log.read_data(&third).unwrap(), vec![7u8; 512]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_is_not_a_log() {
        let dir = std::env::temp_dir().join(format!("flush-replay-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        assert!(matches!(WriteLog::open(&path), Err(ReplayError::Format(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
