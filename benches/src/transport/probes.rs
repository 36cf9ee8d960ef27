//! The limit probes: hand-written requests that hit each limit, sent to
//! both servers (started with [`LimitProfile::Probe`](super::servers::LimitProfile)),
//! recording what each answered and when it closed the connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::servers::{PROBE_MAX_BODY, PROBE_PER_PEER};

/// How long a probe waits for the server after its last step.
const FINAL_WAIT: Duration = Duration::from_secs(6);
/// How long a probe waits for an interim `100 Continue`.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// One step of a probe's client.
enum ProbeStep {
    Send(Vec<u8>),
    /// Wait until the server sent this text, or the time passed.
    AwaitText(&'static str, Duration),
}

/// A hand-written exchange and what it tests.
pub struct LimitProbe {
    pub name: &'static str,
    /// Connections opened and held (idle) first, from the same address.
    hold: usize,
    steps: Vec<ProbeStep>,
}

/// What a server did with a probe.
#[derive(Debug, Clone)]
pub struct ProbeSeen {
    /// Status codes of every response, interim ones included, in order.
    pub statuses: Vec<u16>,
    /// When the server closed the connection, from the first byte sent.
    pub closed_after: Option<Duration>,
}

impl ProbeSeen {
    /// "100, 200; closed after 2.0 s", "no answer; closed after 2.0 s".
    pub fn describe(&self) -> String {
        let statuses = if self.statuses.is_empty() {
            "no answer".to_string()
        } else {
            let codes: Vec<String> = self.statuses.iter().map(u16::to_string).collect();
            codes.join(", ")
        };
        match self.closed_after {
            Some(after) if after >= Duration::from_millis(500) => {
                format!("{statuses}; closed after {:.1} s", after.as_secs_f64())
            }
            Some(_) => format!("{statuses}; closed"),
            None => format!("{statuses}; left open"),
        }
    }
}

fn head(extra: &str, length: Option<usize>) -> String {
    let length = length.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
    format!(
        "POST /printers/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ipp\r\n\
         {length}{extra}\r\n"
    )
}

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Every probe, for a Get-Printer-Attributes body `gpa`.
pub fn all(gpa: &[u8]) -> Vec<LimitProbe> {
    use ProbeStep::{AwaitText, Send};
    let close = "Connection: close\r\n";
    let over = PROBE_MAX_BODY as usize + 1;
    let probe = |name, steps| LimitProbe {
        name,
        hold: 0,
        steps,
    };
    let many_headers: String = (0..=100).map(|i| format!("X-{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(20 * 1024));
    vec![
        probe(
            "Get-Printer-Attributes, Content-Length",
            vec![Send(bytes(&[head(close, Some(gpa.len())).as_bytes(), gpa]))],
        ),
        probe(
            "Get-Printer-Attributes, chunked body",
            vec![Send(bytes(&[
                head(&format!("Transfer-Encoding: chunked\r\n{close}"), None).as_bytes(),
                &chunked(gpa, 7),
            ]))],
        ),
        probe(
            "Expect: 100-continue, body sent after the 100",
            vec![
                Send(head(&format!("Expect: 100-continue\r\n{close}"), Some(gpa.len())).into()),
                AwaitText("100 Continue", CONTINUE_WAIT),
                Send(gpa.to_vec()),
            ],
        ),
        probe(
            "Expect: 100-continue, declared length over the limit",
            vec![Send(
                head(&format!("Expect: 100-continue\r\n{close}"), Some(over)).into(),
            )],
        ),
        probe(
            "declared Content-Length over the limit (64 KiB)",
            vec![Send(head(close, Some(over)).into())],
        ),
        probe(
            "chunked body over the limit (64 KiB)",
            vec![Send(bytes(&[
                head(&format!("Transfer-Encoding: chunked\r\n{close}"), None).as_bytes(),
                &chunked(&vec![b'x'; over], 8192),
            ]))],
        ),
        probe(
            "head of 20 KiB (limit 16 KiB)",
            vec![Send(head(&big_header, Some(0)).into())],
        ),
        probe(
            "101 header fields (limit 100)",
            vec![Send(head(&many_headers, Some(0)).into())],
        ),
        probe(
            "head never finished (head timeout 2 s)",
            vec![Send(
                b"POST /printers/bench HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec(),
            )],
        ),
        probe(
            "body stalls after 10 of 100 bytes (read timeout 2 s)",
            vec![Send(bytes(&[head("", Some(100)).as_bytes(), &[0u8; 10]]))],
        ),
        probe(
            "Transfer-Encoding and Content-Length together",
            vec![Send(bytes(&[
                head(
                    &format!("Transfer-Encoding: chunked\r\n{close}"),
                    Some(gpa.len()),
                )
                .as_bytes(),
                &chunked(gpa, 64),
            ]))],
        ),
        probe(
            "HTTP/1.1 without Host",
            vec![Send(bytes(&[
                format!(
                    "POST /printers/bench HTTP/1.1\r\nContent-Type: application/ipp\r\n\
                     Content-Length: {}\r\n{close}\r\n",
                    gpa.len()
                )
                .as_bytes(),
                gpa,
            ]))],
        ),
        probe(
            "Expect: an unknown expectation",
            vec![Send(bytes(&[
                head(&format!("Expect: something\r\n{close}"), Some(gpa.len())).as_bytes(),
                gpa,
            ]))],
        ),
        LimitProbe {
            name: "5th connection from one address (per-peer cap 4)",
            hold: PROBE_PER_PEER,
            steps: vec![Send(bytes(&[head(close, Some(gpa.len())).as_bytes(), gpa]))],
        },
    ]
}

/// Runs `probe` against `addr`.
pub async fn run(addr: SocketAddr, probe: &LimitProbe) -> std::io::Result<ProbeSeen> {
    let mut held = Vec::new();
    for _ in 0..probe.hold {
        held.push(TcpStream::connect(addr).await?);
    }
    // Let the server take the held connections before the probe comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut stream = TcpStream::connect(addr).await?;
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut closed = false;
    for step in &probe.steps {
        match step {
            ProbeStep::Send(data) => {
                // A server that refused early may have closed already.
                if stream.write_all(data).await.is_err() {
                    break;
                }
            }
            ProbeStep::AwaitText(text, wait) => {
                let deadline = tokio::time::Instant::now() + *wait;
                while !contains(&seen, text.as_bytes()) && !closed {
                    closed = read_some(&mut stream, &mut seen, deadline).await;
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + FINAL_WAIT;
    while !closed && tokio::time::Instant::now() < deadline {
        closed = read_some(&mut stream, &mut seen, deadline).await;
    }
    drop(held);
    Ok(ProbeSeen {
        statuses: statuses(&seen),
        closed_after: closed.then(|| started.elapsed()),
    })
}

/// Reads what is there until `deadline`; true when the server closed.
async fn read_some(
    stream: &mut TcpStream,
    seen: &mut Vec<u8>,
    deadline: tokio::time::Instant,
) -> bool {
    let mut buf = [0u8; 16 * 1024];
    match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => {
            seen.extend_from_slice(&buf[..n]);
            false
        }
        Err(_) => false,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The status code of every status line in `seen`.
fn statuses(seen: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(seen);
    text.split("\r\n")
        .filter_map(|line| line.strip_prefix("HTTP/1.1 "))
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_status_line_and_frames_chunks() {
        let seen = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(statuses(seen), vec![100, 200]);
        assert_eq!(chunked(b"abc", 2), b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n");
        assert_eq!(all(b"x").len(), 14);
    }
}
