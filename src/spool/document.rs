//! [`DocumentHandle`]: where a job's document bytes are, for a backend to
//! read: `docs/<id>.doc` whole, or the extent of a journal segment that
//! holds a small document inline.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// An open file and the range of it that is the document.
#[derive(Debug)]
pub struct DocumentHandle {
    pub file: File,
    pub offset: u64,
    pub len: u64,
    /// For messages: the file the bytes are in.
    pub path: PathBuf,
}

impl DocumentHandle {
    /// Reads up to `buf.len()` bytes of the document at `at` (relative to
    /// its start); 0 at its end.
    pub fn read_at(&self, buf: &mut [u8], at: u64) -> io::Result<usize> {
        let left = self.len.saturating_sub(at);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset + at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} ends before the document does", self.path.display()),
            ));
        }
        Ok(n)
    }

    /// The whole document (tests, small documents).
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        self.file.read_exact_at(&mut bytes, self.offset)?;
        Ok(bytes)
    }
}
