//! The transport over real sockets: a trivial handler echoing the method,
//! path and body length, driven by raw clients.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::{Body, Handler, HttpRequest, Peer, Response, Server};
use crate::config::ServerLimits;
use crate::sources::ipp::listeners;

const WAIT: Duration = Duration::from_secs(5);

/// Echoes `METHOD PATH BODYLEN`; `/slow` sleeps first, `/ignore` reads
/// nothing, `/peer` answers with the peer.
struct Echo;

impl Handler for Echo {
    fn handle<'a>(
        &'a self,
        req: &'a HttpRequest,
        body: &'a mut Body<'_>,
    ) -> Pin<Box<dyn Future<Output = Response> + Send + 'a>> {
        Box::pin(async move {
            match req.path.as_str() {
                "/slow" => tokio::time::sleep(Duration::from_millis(400)).await,
                "/ignore" => return Response::text(200, "ignored"),
                "/peer" => return Response::text(200, &format!("{:?}", req.peer)),
                _ => {}
            }
            let mut total = 0;
            let mut buf = vec![0u8; 1000];
            loop {
                match body.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(e) => return Response::text(500, &e.to_string()),
                }
            }
            Response::text(200, &format!("{} {} {total}", req.method, req.path))
        })
    }
}

fn limits() -> ServerLimits {
    ServerLimits {
        max_header_bytes: 1024,
        read_timeout: 1,
        head_timeout: 1,
        keepalive_timeout: 2,
        ..ServerLimits::default()
    }
}

/// A server on 127.0.0.1 with a 100 KiB body limit; returns its port.
fn start(limits: ServerLimits) -> (Server, u16) {
    let server = Server::new(limits, 100 * 1024, Arc::new(Echo));
    let mut bound = listeners::bind_all(&["127.0.0.1:0".to_string()]).unwrap();
    let port = bound[0].name.rsplit(':').next().unwrap().parse().unwrap();
    server.spawn_listener(bound.remove(0).listener);
    (server, port)
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

#[derive(Debug)]
struct ReceivedResponse {
    status: u16,
    head: String,
    body: String,
}

impl ReceivedResponse {
    fn closes(&self) -> bool {
        self.head.contains("\r\nConnection: close\r\n")
    }
}

/// Reads one response (an interim 100 has no body).
async fn read_reply<S: AsyncRead + Unpin>(stream: &mut S) -> ReceivedResponse {
    tokio::time::timeout(WAIT, read_reply_inner(stream))
        .await
        .expect("no response in time")
}

async fn read_reply_inner<S: AsyncRead + Unpin>(stream: &mut S) -> ReceivedResponse {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream
            .read_u8()
            .await
            .expect("connection closed before a response");
        head.push(byte);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![
        0;
        if head.starts_with("HTTP/1.1 1") {
            0
        } else {
            length
        }
    ];
    stream.read_exact(&mut body).await.unwrap();
    ReceivedResponse {
        status,
        head,
        body: String::from_utf8(body).unwrap(),
    }
}

/// True when the server closes the connection without sending more.
async fn closed_silently<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    ) && rest.is_empty()
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &str) {
    stream.write_all(bytes.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn keep_alive_serves_sequential_and_pipelined_requests() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    let first = read_reply(&mut c).await;
    assert_eq!((first.status, first.body.as_str()), (200, "POST /a 5"));
    assert!(!first.closes());
    assert!(first.head.contains("\r\nServer: printspoold\r\n"));
    assert!(first.head.contains("\r\nDate: "));
    send(
        &mut c,
        "GET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await;
    assert_eq!(read_reply(&mut c).await.body, "GET /b 0");
    assert_eq!(read_reply(&mut c).await.body, "GET /c 0");
}

#[tokio::test]
async fn http10_closes_unless_keep_alive_is_asked() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(&mut c, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").await;
    let reply = read_reply(&mut c).await;
    assert!(reply.head.contains("\r\nConnection: keep-alive\r\n"));
    send(&mut c, "GET /b HTTP/1.0\r\n\r\n").await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.body, "GET /b 0");
    assert!(reply.closes());
    assert!(closed_silently(&mut c).await);
}

#[tokio::test]
async fn chunked_body_with_extensions_and_trailers() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\nhello\r\n8 ; a=\"b\"\r\n, world!\r\n0\r\nX-Checksum: 1\r\n\r\n",
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "POST /c 13"));
    // The connection stays usable after the trailers.
    send(&mut c, "GET /d HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(read_reply(&mut c).await.body, "GET /d 0");
}

#[tokio::test]
async fn expect_continue_is_answered_before_the_body_is_sent() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let interim = read_reply(&mut c).await;
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    send(&mut c, "data").await;
    assert_eq!(read_reply(&mut c).await.body, "POST /e 4");
}

#[tokio::test]
async fn huge_content_length_gets_413_without_reading_the_body() {
    // A server that waited for the body would answer only after this.
    let (_server, port) = start(ServerLimits {
        read_timeout: 30,
        ..limits()
    });
    let mut c = connect(port).await;
    let started = Instant::now();
    send(
        &mut c,
        "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(reply.closes());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the body"
    );
    assert!(closed_silently(&mut c).await);
}

#[tokio::test]
async fn chunked_body_over_the_limit_gets_413() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n",
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 413);
    assert!(reply.closes());
}

#[tokio::test]
async fn oversized_head_gets_431_and_close() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    send(&mut c, &big).await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 431);
    assert!(reply.closes());
    assert!(closed_silently(&mut c).await);
}

#[tokio::test]
async fn malformed_chunk_size_gets_400() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("chunk"), "{}", reply.body);
    assert!(reply.closes());
}

#[tokio::test]
async fn smuggling_shapes_are_refused_and_closed() {
    let (_server, port) = start(limits());
    for (request, status) in [
        (
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
        ),
        ("GET / HTTP/1.1\r\n\r\n", 400),
    ] {
        let mut c = connect(port).await;
        send(&mut c, request).await;
        let reply = read_reply(&mut c).await;
        assert_eq!(reply.status, status, "{request:?}");
        assert!(reply.closes());
        assert!(closed_silently(&mut c).await);
    }
}

#[tokio::test]
async fn methods_head_options_and_405() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(&mut c, "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let head = read_reply_head_only(&mut c).await;
    assert!(head.contains("\r\nContent-Length: 8\r\n"), "{head}"); // "GET /h 0"
    send(&mut c, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let options = read_reply(&mut c).await;
    assert!(
        options
            .head
            .contains("\r\nAllow: GET, HEAD, POST, OPTIONS\r\n")
    );
    send(&mut c, "DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let refused = read_reply(&mut c).await;
    assert_eq!(refused.status, 405);
    assert!(refused.head.contains("\r\nAllow: "));
}

async fn read_reply_head_only(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn unread_body_is_drained_when_small_and_closes_when_large() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    let small = "x".repeat(1000);
    send(
        &mut c,
        &format!("POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n{small}"),
    )
    .await;
    assert!(!read_reply(&mut c).await.closes());
    send(&mut c, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(read_reply(&mut c).await.body, "GET /after 0");

    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n",
    )
    .await;
    let writer = tokio::spawn(async move {
        let _ = c.write_all(&[b'x'; 100_000]).await;
        c
    });
    let mut c = writer.await.unwrap();
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.body, "ignored");
    assert!(reply.closes());
}

#[tokio::test]
async fn a_byte_at_a_time_client_does_not_hold_up_others() {
    // Deadlines far away: this is about scheduling, not timeouts.
    let (_server, port) = start(ServerLimits {
        read_timeout: 30,
        head_timeout: 30,
        ..limits()
    });
    let head = b"GET /slowpoke HTTP/1.1\r\nHost: h\r\n\r\n";
    let (first_half, rest) = head.split_at(head.len() / 2);
    let (half_sent, wait_half_sent) = tokio::sync::oneshot::channel::<()>();
    let (finish, wait_finish) = tokio::sync::oneshot::channel::<()>();
    let mut slow = connect(port).await;
    let trickle = tokio::spawn(async move {
        for byte in first_half {
            slow.write_all(&[*byte]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = half_sent.send(());
        // The head stays unfinished until the fast client was answered.
        let _ = wait_finish.await;
        for byte in rest {
            slow.write_all(&[*byte]).await.unwrap();
        }
        read_reply(&mut slow).await
    });
    wait_half_sent.await.unwrap();
    let mut fast = connect(port).await;
    send(&mut fast, "GET /fast HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(read_reply(&mut fast).await.body, "GET /fast 0");
    assert!(
        !trickle.is_finished(),
        "the slow client should still be sending"
    );
    finish.send(()).unwrap();
    assert_eq!(trickle.await.unwrap().body, "GET /slowpoke 0");
}

#[tokio::test]
async fn a_stalled_head_gets_408_and_close() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    let started = Instant::now();
    send(&mut c, "GET /stall HTTP/1.1\r\nHo").await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 408);
    assert!(reply.closes());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(closed_silently(&mut c).await);
}

#[tokio::test]
async fn a_stalled_body_gets_408() {
    let (_server, port) = start(limits());
    let mut c = connect(port).await;
    send(
        &mut c,
        "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
    )
    .await;
    let reply = read_reply(&mut c).await;
    assert_eq!(reply.status, 408);
    assert!(reply.closes());
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_silently() {
    let (server, port) = start(ServerLimits {
        keepalive_timeout: 1,
        ..limits()
    });
    let mut c = connect(port).await;
    send(&mut c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_reply(&mut c).await;
    assert_eq!(server.active_connections(), 1);
    let started = Instant::now();
    assert!(closed_silently(&mut c).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
    let mut watch = server.connections_watch();
    tokio::time::timeout(WAIT, watch.wait_for(|n| *n == 0))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn max_connections_makes_further_clients_wait() {
    let (_server, port) = start(ServerLimits {
        max_connections: 1,
        ..limits()
    });
    let mut first = connect(port).await;
    send(&mut first, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_reply(&mut first).await;
    let mut second = connect(port).await;
    send(&mut second, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let early =
        tokio::time::timeout(Duration::from_millis(300), read_reply_inner(&mut second)).await;
    assert!(
        early.is_err(),
        "second client served while the first held the only slot"
    );
    drop(first);
    assert_eq!(read_reply(&mut second).await.body, "GET /2 0");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let server = Server::new(limits(), 1024, Arc::new(Echo));
    let mut bound = listeners::bind_all(&["127.0.0.1:0".to_string()]).unwrap();
    let port: u16 = bound[0].name.rsplit(':').next().unwrap().parse().unwrap();
    let accepting = server.spawn_listener(bound.remove(0).listener);

    let mut idle = connect(port).await;
    send(&mut idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_reply(&mut idle).await;
    let mut busy = connect(port).await;
    send(&mut busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.active_connections(), 2);

    let stopping = {
        let server = server.clone();
        tokio::spawn(async move { server.shutdown(WAIT).await })
    };
    // The idle keep-alive connection goes at once; the busy one is served.
    assert!(closed_silently(&mut idle).await);
    let reply = read_reply(&mut busy).await;
    assert_eq!(reply.body, "GET /slow 0");
    assert!(reply.closes());
    drop(busy);
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert_eq!(server.active_connections(), 0);
    accepting.await.unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
}

#[tokio::test]
async fn shutdown_still_serves_a_fresh_connections_first_request() {
    let server = Server::new(limits(), 1024, Arc::new(Echo));
    let mut bound = listeners::bind_all(&["127.0.0.1:0".to_string()]).unwrap();
    let port: u16 = bound[0].name.rsplit(':').next().unwrap().parse().unwrap();
    let _accepting = server.spawn_listener(bound.remove(0).listener);
    // Accepted, but its request comes only after shutdown began: across a
    // restart or an idle exit this request must not be lost.
    let mut fresh = connect(port).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.active_connections(), 1);
    let stopping = {
        let server = server.clone();
        tokio::spawn(async move { server.shutdown(WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut fresh, "GET /late HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let reply = read_reply(&mut fresh).await;
    assert_eq!(reply.body, "GET /late 0");
    assert!(reply.closes());
    drop(fresh);
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_grace_ends_a_stuck_connection() {
    let (server, port) = start(ServerLimits {
        read_timeout: 30,
        ..limits()
    });
    let mut stuck = connect(port).await;
    send(
        &mut stuck,
        "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.shutdown(Duration::from_millis(200)).await;
    // Ended by the grace, not by the 30 s read timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.active_connections(), 0);
}

#[tokio::test]
async fn unix_socket_clients_carry_their_credentials() {
    let dir = std::env::temp_dir().join(format!("printspoold-http-{}", std::process::id()));
    let path = dir.join("ipp.sock");
    let server = Server::new(limits(), 1024, Arc::new(Echo));
    let mut bound = listeners::bind_all(&[path.display().to_string()]).unwrap();
    let socket_file = bound[0].own_socket_file().unwrap();
    server.spawn_listener(bound.remove(0).listener);
    let mut c = UnixStream::connect(&path).await.unwrap();
    send(&mut c, "GET /peer HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let reply = read_reply(&mut c).await;
    // SAFETY: getuid and getpid cannot fail.
    let (uid, pid) = unsafe { (libc::getuid(), libc::getpid()) };
    let expected = Peer::Unix {
        uid,
        gid: unsafe { libc::getgid() },
        pid: Some(pid),
    };
    assert_eq!(reply.body, format!("{expected:?}"));
    drop(c);
    server.shutdown(WAIT).await;
    socket_file.remove();
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn peers_are_grouped_by_address_with_loopback_as_one() {
    use super::address_group;
    let group = |ip: &str| address_group(ip.parse().unwrap()).to_string();
    assert_eq!(group("127.0.0.1"), "127.0.0.1");
    assert_eq!(group("127.45.6.7"), "127.0.0.1");
    assert_eq!(group("::ffff:127.0.0.9"), "127.0.0.1");
    assert_eq!(group("192.0.2.7"), "192.0.2.7");
    assert_eq!(group("::ffff:192.0.2.7"), "192.0.2.7");
    assert_eq!(group("::1"), "::1");
    assert_eq!(group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
}

#[tokio::test]
async fn a_peer_over_its_connection_cap_gets_503_and_others_are_served() {
    let (_server, port) = start(ServerLimits {
        max_connections_per_peer: 2,
        ..limits()
    });
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(port).await;
        send(&mut c, "GET /held HTTP/1.1\r\nHost: h\r\n\r\n").await;
        assert_eq!(read_reply(&mut c).await.status, 200);
        held.push(c);
    }
    let mut third = connect(port).await;
    let reply = read_reply(&mut third).await;
    assert_eq!(reply.status, 503);
    assert!(reply.closes());
    assert!(reply.head.contains("Retry-After: 1"), "{}", reply.head);
    // A slot comes free when a connection closes.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = connect(port).await;
        send(&mut c, "GET /again HTTP/1.1\r\nHost: h\r\n\r\n").await;
        let reply = read_reply(&mut c).await;
        if reply.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `server` counts `n` connections.
async fn wait_for_connections(server: &Server, n: usize) {
    let mut count = server.connections_watch();
    tokio::time::timeout(WAIT, count.wait_for(|open| *open == n))
        .await
        .expect("connection count never reached")
        .unwrap();
}

#[tokio::test]
async fn hand_off_keeps_idle_connections_for_the_next_server() {
    let (old, port) = start(limits());
    let mut idle = connect(port).await;
    send(&mut idle, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(read_reply(&mut idle).await.body, "GET /1 0");
    let mut busy = connect(port).await;
    send(&mut busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n").await;
    wait_for_connections(&old, 2).await;

    old.hand_off_idle_connections();
    let stopping = {
        let old = old.clone();
        tokio::spawn(async move { old.shutdown(WAIT).await })
    };
    // The request in flight is answered, without closing its connection:
    // by the old server when it had started on it, else by the new one.
    let busy_reply = tokio::spawn(async move {
        let reply = read_reply(&mut busy).await;
        (busy, reply)
    });
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    let kept = old.take_handed_off();
    assert_eq!(kept.len(), 2, "{kept:?}");

    // A request sent meanwhile waits in the socket for the next server.
    send(&mut idle, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let (new, _) = start(limits());
    for connection in kept {
        new.adopt_connection(connection).unwrap();
    }
    assert_eq!(read_reply(&mut idle).await.body, "GET /2 0");
    let (mut busy, reply) = busy_reply.await.unwrap();
    assert_eq!(reply.body, "GET /slow 0");
    assert!(!reply.closes(), "{}", reply.head);
    send(&mut busy, "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(read_reply(&mut busy).await.body, "GET /3 0");
    wait_for_connections(&new, 2).await;
}

#[tokio::test]
async fn without_hand_off_nothing_is_kept() {
    let (server, port) = start(limits());
    let mut idle = connect(port).await;
    send(&mut idle, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_reply(&mut idle).await;
    server.shutdown(WAIT).await;
    assert!(server.take_handed_off().is_empty());
    assert!(closed_silently(&mut idle).await);
}

#[tokio::test]
async fn a_resumed_connection_waits_as_a_keep_alive_one() {
    // read_timeout 1 s (a new connection's first request), keep-alive 30 s.
    let limits = ServerLimits {
        keepalive_timeout: 30,
        ..limits()
    };
    let (old, port) = start(limits.clone());
    let mut client = connect(port).await;
    send(&mut client, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    read_reply(&mut client).await;
    old.hand_off_idle_connections();
    old.shutdown(WAIT).await;
    let (new, _) = start(limits);
    for connection in old.take_handed_off() {
        new.adopt_connection(connection).unwrap();
    }
    // Past the first-request timeout: a new connection would get 408 now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    send(&mut client, "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let reply = read_reply(&mut client).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "GET /2 0"));
}

#[tokio::test]
async fn a_handed_off_unix_connection_keeps_its_peer_credentials() {
    let dir = crate::test_support::TempDir::new("http-hand-off-unix");
    let path = dir.path().join("ipp.sock");
    let old = Server::new(limits(), 1024, Arc::new(Echo));
    let mut bound = listeners::bind_all(&[path.display().to_string()]).unwrap();
    old.spawn_listener(bound.remove(0).listener);
    let mut client = UnixStream::connect(&path).await.unwrap();
    send(&mut client, "GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    read_reply(&mut client).await;
    old.hand_off_idle_connections();
    old.shutdown(WAIT).await;
    let kept = old.take_handed_off();
    assert!(
        matches!(kept.as_slice(), [super::HandedOff::Unix(_)]),
        "{kept:?}"
    );

    let new = Server::new(limits(), 1024, Arc::new(Echo));
    for connection in kept {
        new.adopt_connection(connection).unwrap();
    }
    send(&mut client, "GET /peer HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    let reply = read_reply(&mut client).await;
    // SAFETY: getuid, getgid and getpid cannot fail.
    let expected = unsafe {
        Peer::Unix {
            uid: libc::getuid(),
            gid: libc::getgid(),
            pid: Some(libc::getpid()),
        }
    };
    assert_eq!(reply.body, format!("{expected:?}"));
}
