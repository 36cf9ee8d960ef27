//! The loopback ceiling: a minimal HTTP/1.1 keep-alive responder that reads
//! each request (head and body) and writes a canned answer, doing no other
//! work. Its rate is what the load generator, the kernel's loopback and a
//! tokio server can do on this machine at all; a real server can only come
//! close to it.
//!
//! It answers with the bytes printspoold gave for the same request, so the
//! sizes on the wire match: path `/full` gets the full Get-Printer-Attributes
//! answer, `/state` the printer-state one, anything else (Print-Job) the
//! smallest successful IPP answer. It runs the same tokio runtime shape as
//! printspoold (multi-threaded, one worker per core up to four).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{BenchError, Context};
use crate::ipp;

const MAX_HEAD: usize = 16 * 1024;

struct Answers {
    full: Vec<u8>,
    state: Vec<u8>,
    job: Vec<u8>,
}

/// The `ceiling PORT FULL STATE` subcommand: serves until killed.
pub fn main(port: u16, full: &Path, state: &Path) -> Result<(), BenchError> {
    let read = |path: &Path| fs_read(path);
    let answers = Arc::new(Answers {
        full: response(&read(full)?),
        state: response(&read(state)?),
        job: response(&ipp::minimal_success()),
    });
    let runtime = server_runtime("the ceiling")?;
    runtime.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr)
            .await
            .context(|| format!("binding {addr}"))?;
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .context(|| "accepting a connection".into())?;
            let answers = Arc::clone(&answers);
            tokio::spawn(async move {
                // A client going away is the normal end of a connection.
                let _ = serve(stream, &answers).await;
            });
        }
    })
}

/// The runtime a benchmark server runs on: printspoold's shape (a
/// multi-threaded runtime with up to 4 workers), so servers compare on
/// equal terms.
pub fn server_runtime(what: &str) -> Result<tokio::runtime::Runtime, BenchError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context(|| format!("building {what}'s runtime"))
}

fn fs_read(path: &Path) -> Result<Vec<u8>, BenchError> {
    std::fs::read(path).context(|| format!("reading {}", path.display()))
}

/// A whole HTTP response around `body`.
fn response(body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn serve(mut stream: TcpStream, answers: &Answers) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Read one head.
        let head_len = loop {
            if let Some(at) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if input.len() > MAX_HEAD {
                return Ok(());
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            input.extend_from_slice(&chunk[..n]);
        };
        let (path, length) = {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if request.parse(&input[..head_len]).is_err() {
                return Ok(());
            }
            let length = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            (request.path.unwrap_or("/").to_string(), length)
        };
        // Skip the body, reading (and discarding) what is not buffered yet.
        let buffered = input.len() - head_len;
        if buffered >= length {
            input.drain(..head_len + length);
        } else {
            input.clear();
            let mut left = length - buffered;
            while left > 0 {
                let want = left.min(chunk.len());
                let n = stream.read(&mut chunk[..want]).await?;
                if n == 0 {
                    return Ok(());
                }
                left -= n;
            }
        }
        let answer = match path.as_str() {
            "/full" => &answers.full,
            "/state" => &answers.state,
            _ => &answers.job,
        };
        stream.write_all(answer).await?;
    }
}
