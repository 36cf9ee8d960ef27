//! The document of `SubmitJob`: a file descriptor the caller opened, never
//! a path, so the daemon reads only what the caller itself could read (no
//! confused deputy).
//!
//! Before reading, the descriptor is checked: a regular file or a pipe,
//! open for reading. Anything else (a directory, a socket, a device, an
//! `O_PATH` or write-only descriptor) is refused with a reason. Reading
//! happens on a blocking thread and streams into the spool's staging file;
//! a pipe that stays silent for [`PIPE_IDLE_TIMEOUT`] is given up on, so a
//! client cannot pin a call (and a temp file) forever.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use tokio::sync::mpsc;

use super::errors::Error;
use crate::core::Spooler;
use crate::spool::StagedDocument;

/// How long a pipe may deliver nothing before the document is refused.
pub const PIPE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes read per system call and handed to the staging file at once.
const CHUNK: usize = 64 * 1024;

/// What the descriptor refers to, after [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFdKind {
    /// Read whole with `pread` from offset 0: the caller's file offset is
    /// neither used nor moved.
    Regular {
        len: u64,
    },
    Pipe,
}

/// A descriptor that passed [`check`].
#[derive(Debug)]
pub struct DocumentFd {
    file: File,
    kind: DocumentFdKind,
}

/// Refuses descriptors no document can come from, with the reason.
pub fn check(fd: OwnedFd) -> Result<DocumentFd, Error> {
    let kind = kind_of(&fd)?;
    check_readable(&fd)?;
    Ok(DocumentFd {
        file: File::from(fd),
        kind,
    })
}

fn kind_of(fd: &OwnedFd) -> Result<DocumentFdKind, Error> {
    // SAFETY: `stat` is plain data that fstat fills; the fd is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        let e = io::Error::last_os_error();
        return Err(unreadable(format!(
            "cannot fstat the document descriptor: {e}"
        )));
    }
    let what = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            return Ok(DocumentFdKind::Regular {
                len: st.st_size as u64,
            });
        }
        libc::S_IFIFO => return Ok(DocumentFdKind::Pipe),
        libc::S_IFDIR => "a directory",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "of an unknown file type",
    };
    Err(unreadable(format!(
        "the document descriptor is {what}; pass a regular file or a pipe open for reading"
    )))
}

fn check_readable(fd: &OwnedFd) -> Result<(), Error> {
    // SAFETY: F_GETFL only reads the descriptor's status flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        let e = io::Error::last_os_error();
        return Err(unreadable(format!(
            "cannot read the descriptor's flags: {e}"
        )));
    }
    if flags & libc::O_PATH != 0 {
        return Err(unreadable(
            "the document descriptor was opened with O_PATH and cannot be read; open the file for reading".to_string(),
        ));
    }
    if flags & libc::O_ACCMODE == libc::O_WRONLY {
        return Err(unreadable(
            "the document descriptor is open for writing only; open it for reading".to_string(),
        ));
    }
    Ok(())
}

fn unreadable(message: String) -> Error {
    Error::UnreadableDocument(message)
}

/// Reads the document into a new staging file of the spool and makes it
/// durable. Refuses an empty document, and one past the spool's limit
/// (before reading, when a regular file's size already says so).
pub async fn stage(
    spooler: &Spooler,
    document: DocumentFd,
    pipe_idle: Duration,
) -> Result<StagedDocument, Error> {
    let limit = spooler.max_document_bytes();
    if let DocumentFdKind::Regular { len } = document.kind
        && len > limit
    {
        return Err(Error::DocumentTooLarge(format!(
            "the document is {len} bytes, over the limit of {limit} bytes"
        )));
    }
    let mut staging = spooler.stage_document().await?;
    let (chunks_tx, mut chunks) = mpsc::channel(4);
    // Dropping `chunks` (an error below) makes the reader's next send fail,
    // which ends the thread.
    tokio::task::spawn_blocking(move || read_chunks(document, pipe_idle, chunks_tx));
    while let Some(chunk) = chunks.recv().await {
        let chunk =
            chunk.map_err(|e: io::Error| unreadable(format!("cannot read the document: {e}")))?;
        staging.write(&chunk).await?;
    }
    if staging.is_empty() {
        return Err(unreadable("the document is empty".to_string()));
    }
    Ok(staging.finish().await?)
}

/// The blocking half: reads to end of file, sending each chunk, until the
/// receiver goes away.
fn read_chunks(
    document: DocumentFd,
    pipe_idle: Duration,
    chunks: mpsc::Sender<io::Result<Vec<u8>>>,
) {
    let mut offset = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let read = match document.kind {
            DocumentFdKind::Regular { .. } => document.file.read_at(&mut buf, offset),
            DocumentFdKind::Pipe => wait_readable(&document.file, pipe_idle)
                .and_then(|()| (&document.file).read(&mut buf)),
        };
        match read {
            Ok(0) => return,
            Ok(n) => {
                offset += n as u64;
                buf.truncate(n);
                if chunks.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = chunks.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Waits until the pipe has data or its writer closed it (POLLHUP, after
/// which `read` returns 0), without touching `O_NONBLOCK`: that flag would
/// change the caller's shared open file description too.
fn wait_readable(file: &File, idle: Duration) -> io::Result<()> {
    let timeout_ms = libc::c_int::try_from(idle.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, count 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match rc {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data arrived on the pipe for {} s", idle.as_secs_f32()),
                ));
            }
            n if n > 0 => return Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
