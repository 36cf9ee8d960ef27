//! Segment files: `journal/<seq>.wal`, `seq` in 16 lower-case hex digits,
//! each a fixed size and zero-filled before it is used.
//!
//! Zero-filled, not sparse: the blocks are allocated and written once,
//! when the segment is prepared (off the request path), so an
//! `fdatasync` after an append flushes only data, never block-allocation
//! metadata. And a zero body length reads as "nothing written here".

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::super::SpoolError;
use super::super::error::IoContext;

const SUFFIX: &str = ".wal";
/// Zeros are written in pieces of this size.
const ZERO_CHUNK: usize = 1 << 20;

/// `journal/<seq>.wal`.
pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}{SUFFIX}"))
}

/// Only the canonical name: 16 lower-case hex digits and `.wal`.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(SUFFIX)?;
    let canonical = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    canonical.then(|| u64::from_str_radix(hex, 16).ok())?
}

/// The segments in `dir`, by seq.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut seqs = Vec::new();
    for entry in std::fs::read_dir(dir).context("list", dir)? {
        let entry = entry.context("list", dir)?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_segment_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// Creates segment `seq` of `size` zero bytes: written in `tmp/`,
/// fdatasynced, renamed into `journal/`, `journal/` fsynced. Returns it
/// open for reading and writing.
pub(crate) fn prepare_segment(
    journal: &Path,
    tmp: &Path,
    seq: u64,
    size: u64,
) -> Result<File, SpoolError> {
    let temp = tmp.join(format!("segment-{seq:016x}"));
    let result = write_zero_file(&temp, size);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    let file = result?;
    let path = segment_path(journal, seq);
    std::fs::rename(&temp, &path).context("move the new segment to", &path)?;
    super::super::sync_dir(journal)?;
    Ok(file)
}

fn write_zero_file(path: &Path, size: u64) -> Result<File, SpoolError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .context("create", path)?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut left = size;
    while left > 0 {
        let n = left.min(ZERO_CHUNK as u64) as usize;
        file.write_all(&zeros[..n]).context("write", path)?;
        left -= n as u64;
    }
    file.sync_data().context("fdatasync", path)?;
    Ok(file)
}

/// Opens an existing segment for reading (and writing, for the appender).
pub(crate) fn open_segment(dir: &Path, seq: u64) -> Result<File, SpoolError> {
    let path = segment_path(dir, seq);
    OpenOptions::new()
        .read(true)
        // Never blocks on a FIFO (open quarantines those first; this is
        // the last line); a regular file reads as ever.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .context("open", &path)
}

/// A whole segment's bytes (replay and compaction read segments whole:
/// they are bounded by the segment size).
pub(crate) fn read_segment(dir: &Path, seq: u64) -> Result<Vec<u8>, SpoolError> {
    let path = segment_path(dir, seq);
    let file = open_segment(dir, seq)?;
    let meta = file.metadata().context("stat", &path)?;
    if !meta.is_file() {
        return Err(SpoolError::Corrupt {
            path,
            reason: "not a regular file".into(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut &file, &mut bytes).context("read", &path)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_segment_names_are_recognised() {
        assert_eq!(parse_segment_name("00000000000000ff.wal"), Some(255));
        assert_eq!(parse_segment_name("00000000000000FF.wal"), None);
        assert_eq!(parse_segment_name("ff.wal"), None);
        assert_eq!(parse_segment_name("00000000000000ff.wa"), None);
        let dir = Path::new("/s/journal");
        let name = segment_path(dir, 0x1234);
        let file = name.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(file), Some(0x1234));
    }
}
