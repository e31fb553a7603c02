//! WebSockets over HTTP/2 (RFC 8441, feature `http2`): the client and the server of
//! this crate over h2c (prior knowledge, against the echo example) and over TLS with
//! ALPN `h2`, HTTP/1.1 on the same port, several sockets and an ordinary request on
//! one connection, a stream reset in the middle of a message, a stalled reader, bad
//! requests, and the fall-back to HTTP/1.1 when a server does not advertise
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
//!
//! `cargo test -p wisp-tokio --features http2 --test http2` (it starts the echo example
//! built with the same feature: `cargo build -p wisp-tokio --features http2 --examples`).

mod common;

use std::sync::Arc;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use wisp_tokio::http2::{Http2, Http2Connection, Opened, Reason, Upgraded};
use wisp_tokio::{
    connect_async_with, ClientOptions, CloseCode, ConnectError, Error, MaybeTlsStream, Message,
    ServerOptions, Upgrade, WebSocketStream,
};

/// Runs a test's body on a fresh runtime, failing it (never hanging) after 300 s: every
/// wait in it is bounded, whatever a peer does.
fn bounded<F: std::future::Future>(body: F) -> F::Output {
    runtime().block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(300), body)
            .await
            .expect("the test's body ends within 300 s")
    })
}

fn h2_only() -> ClientOptions {
    ClientOptions::default().with_http2(Http2::Only)
}

/// Echoes every text and binary message of a socket until it ends.
async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) {
    while let Some(next) = ws.next().await {
        match next {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            Ok(_) | Err(Error::Protocol(_)) => {}
            Err(_) => break,
        }
    }
}

/// Serves `serve_connection` in this process on a free port: sockets go to
/// `on_socket`; other requests get 404.
async fn serve_here<W, WF>(on_socket: W) -> u16
where
    W: Fn(WebSocketStream<Upgraded>, Opened) -> WF + Clone + Send + Sync + 'static,
    WF: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(wisp_tokio::http2::serve_connection(
                tcp,
                ServerOptions::default(),
                on_socket.clone(),
                |_| {
                    let mut r = http::Response::new("not here\n".to_string());
                    *r.status_mut() = http::StatusCode::NOT_FOUND;
                    r
                },
            ));
        }
    });
    port
}

#[test]
fn h2c_checklist_against_the_echo_example_deflate_on_and_off() {
    let (_server, port) = echo_example();
    let url = format!("ws://127.0.0.1:{port}/any/path");
    bounded(async {
        for offer in [false, true] {
            let options = h2_only().with_deflate(offer);
            let ws = connect_async_with(&url, &options).await.expect("connect");
            assert!(
                matches!(ws.get_ref(), MaybeTlsStream::Http2(_)),
                "an HTTP/2 stream"
            );
            let agreed = checklist_on(ws).await;
            assert_eq!(agreed, offer, "deflate offered: {offer}");
        }
        // HTTP/1.1 upgrades on the same port, as before.
        let options = ClientOptions::default();
        let ws = connect_async_with(&url, &options).await.expect("connect");
        assert!(matches!(ws.get_ref(), MaybeTlsStream::Plain(_)));
        assert!(checklist_on(ws).await);
        // Prefer takes HTTP/2 where it is offered.
        let options = ClientOptions::default().with_http2(Http2::Prefer);
        let ws = connect_async_with(&url, &options).await.expect("connect");
        assert!(matches!(ws.get_ref(), MaybeTlsStream::Http2(_)));
    });
}

#[test]
fn two_sockets_and_a_request_share_one_connection() {
    let (_server, port) = echo_example();
    bounded(async {
        let url = format!("ws://127.0.0.1:{port}");
        let mut conn = Http2Connection::connect(&url, &h2_only()).await.unwrap();
        let mut a = conn.open("/a").await.unwrap();
        let mut b = conn.open("/b?x=1").await.unwrap();
        assert_eq!((a.get_ref().stream_id(), b.get_ref().stream_id()), (1, 3));
        for (ws, text) in [(&mut a, "on a"), (&mut b, "on b")] {
            ws.send(Message::Text(text.into())).await.unwrap();
            assert_eq!(next(ws).await, Message::Text(text.into()));
        }
        // An ordinary GET on the same connection: the server says what it carried.
        let request = http::Request::get(format!("http://127.0.0.1:{port}/stats"))
            .body(())
            .unwrap();
        let mut sender = conn.sender().ready().await.unwrap();
        let (response, _) = sender.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            text.extend_from_slice(&chunk);
        }
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2 sockets, 1 requests on this connection\n"
        );
        for ws in [&mut a, &mut b] {
            ws.close().await.unwrap();
            while let Some(m) = tokio::time::timeout(STEP, ws.next()).await.unwrap() {
                m.unwrap();
            }
            assert_eq!(ws.connection().close_code(), Some(CloseCode::NORMAL));
        }
    });
}

#[test]
fn a_stream_reset_mid_message_is_1006_and_the_other_streams_go_on() {
    bounded(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let port = serve_here(move |mut ws, opened| {
            let tx = tx.clone();
            async move {
                if opened.offer.target == "/watched" {
                    // What the server's socket sees of the reset.
                    let seen = tokio::time::timeout(STEP, ws.next()).await;
                    let _ = tx.send(format!("{seen:?}"));
                } else {
                    echo(ws).await;
                }
            }
        })
        .await;
        let url = format!("ws://127.0.0.1:{port}");
        let mut conn = Http2Connection::connect(&url, &h2_only()).await.unwrap();
        let mut watched = conn.open("/watched").await.unwrap();
        let mut other = conn.open("/other").await.unwrap();
        // Half a frame: a masked binary frame announcing 1000 bytes, with 10 of them.
        let mut half = vec![0x82, 0xfe, 0x03, 0xe8, 1, 2, 3, 4];
        half.extend_from_slice(&[0; 10]);
        watched.get_mut().write_all(&half).await.unwrap();
        watched.get_mut().reset(Reason::CANCEL);
        let seen = tokio::time::timeout(STEP, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            seen.contains("Io") && seen.contains("UnexpectedEof"),
            "the server's socket ends as an abnormal closure (1006): {seen}"
        );
        // Our side of the reset stream ends with an error, not a hang.
        match tokio::time::timeout(STEP, watched.next()).await.unwrap() {
            Some(Err(Error::Io(_))) | None => {}
            other => panic!("after the reset: {other:?}"),
        }
        // The connection and its other stream go on.
        let big = Message::Binary(vec![7; 1 << 20]);
        other.send(big.clone()).await.unwrap();
        assert!(next(&mut other).await == big);
        let third = conn.open("/third").await.unwrap();
        assert!(checklist_on(third).await);
    });
}

#[test]
fn a_close_from_the_server_ends_the_stream() {
    bounded(async {
        let (port, mut rx) =
            serve_then_close("bye soon", CloseCode::GOING_AWAY, "server leaves").await;
        let url = format!("ws://127.0.0.1:{port}/");
        let mut ws = connect_async_with(&url, &h2_only()).await.unwrap();
        assert_eq!(next(&mut ws).await, Message::Text("bye soon".into()));
        let mut got = Vec::new();
        while let Some(m) = tokio::time::timeout(STEP, ws.next()).await.unwrap() {
            got.push(m.expect("a clean end: END_STREAM after the close frames"));
        }
        assert!(
            matches!(&got[..], [Message::Close(Some(c))] if c.code == CloseCode::GOING_AWAY),
            "{got:?}"
        );
        let (_, rest, code) = tokio::time::timeout(STEP, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rest.len(),
            1,
            "the server saw our answering close: {rest:?}"
        );
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
    });
}

/// What a socket of [`serve_then_close`] saw: whether it came on an HTTP/2 stream,
/// what came after its close (the answering close), how it ended.
type Closed = (bool, Vec<String>, Option<CloseCode>);

/// Serves sockets in this process that each get `text`, then a close with `code` and
/// `reason`, and say what they saw.
async fn serve_then_close(
    text: &'static str,
    code: CloseCode,
    reason: &'static str,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Closed>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let port = serve_here(move |mut ws, opened| {
        let tx = tx.clone();
        async move {
            ws.send(Message::Text(text.into())).await.unwrap();
            ws.close_with(code, reason).await.unwrap();
            let mut rest = Vec::new();
            while let Some(m) = tokio::time::timeout(STEP, ws.next()).await.unwrap() {
                rest.push(format!("{m:?}"));
            }
            let _ = tx.send((opened.http2, rest, ws.connection().close_code()));
        }
    })
    .await;
    (port, rx)
}

#[test]
fn a_reader_that_stops_holds_its_own_stream_not_the_connection() {
    let (_server, port) = echo_example();
    bounded(async {
        let url = format!("ws://127.0.0.1:{port}");
        let mut conn = Http2Connection::connect(&url, &h2_only().with_deflate(false))
            .await
            .unwrap();
        let (mut stalled, mut stalled_writer) = conn.open("/stalled").await.unwrap().split();
        let mut busy = conn.open("/busy").await.unwrap();
        // 4 MiB of echoes owed to a socket that does not read: far over its stream's
        // window, so the server's writes to it wait (and so its reads, and so our
        // writes: the writer is a task of its own)...
        let chunk = Message::Binary(vec![1; 64 * 1024]);
        let sent = chunk.clone();
        let writer = tokio::spawn(async move {
            for _ in 0..64 {
                stalled_writer.send(sent.clone()).await.unwrap();
            }
        });
        // ...while another socket on the same connection moves 16 MiB both ways.
        let big = Message::Binary(vec![2; 16 << 20]);
        tokio::time::timeout(STEP, busy.send(big.clone()))
            .await
            .expect("the other stream's window is not held by the stalled one")
            .unwrap();
        assert!(next(&mut busy).await == big);
        // The stalled socket still gets every byte once it reads.
        for _ in 0..64 {
            let m = tokio::time::timeout(STEP, stalled.next()).await.unwrap();
            assert!(m.unwrap().unwrap() == chunk);
        }
        tokio::time::timeout(STEP, writer).await.unwrap().unwrap();
    });
}

#[test]
fn bad_extended_connects_get_a_clear_status() {
    let (_server, port) = echo_example();
    bounded(async {
        let url = format!("ws://127.0.0.1:{port}");
        let conn = Http2Connection::connect(&url, &h2_only()).await.unwrap();
        let authority = format!("127.0.0.1:{port}");
        let connect = |protocol: Option<&'static str>, version: &str| {
            let mut b = http::Request::builder()
                .method(http::Method::CONNECT)
                .header("sec-websocket-version", version);
            b = match protocol {
                Some(p) => b
                    .uri(format!("http://{authority}/chat"))
                    .extension(h2::ext::Protocol::from_static(p)),
                // A plain CONNECT has only :authority (RFC 9113 §8.5).
                None => b.uri(authority.clone()),
            };
            b.body(()).unwrap()
        };
        let rows = [
            (connect(None, "13"), 400, "RFC 8441 §4"),
            (connect(Some("webtransport"), "13"), 501, "RFC 8441 §5"),
            (connect(Some("websocket"), "12"), 426, "RFC 6455 §4.4"),
        ];
        for (request, status, why) in rows {
            let mut sender = conn.sender().ready().await.unwrap();
            let (response, _) = sender.send_request(request, false).unwrap();
            let response = tokio::time::timeout(STEP, response).await.unwrap().unwrap();
            assert_eq!(response.status(), status, "{why}");
            if status == 426 {
                assert_eq!(response.headers()["sec-websocket-version"], "13");
            }
            let mut body = response.into_body();
            let chunk = body.data().await.unwrap().unwrap();
            assert!(
                String::from_utf8_lossy(&chunk).contains(why),
                "the body says why: {chunk:?}"
            );
        }
    });
}

#[test]
fn prefer_falls_back_to_http11_where_http2_has_no_extended_connect() {
    bounded(async {
        // A server of HTTP/1.1 only: the h2c preface is refused, a new connection upgrades.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(ws) = wisp_tokio::accept_async(tcp).await {
                        echo(ws).await;
                    }
                });
            }
        });
        // hyper with HTTP/2 but without extended CONNECT: it does not advertise it, so
        // the client must not send one.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let no_connect = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = hyper::service::service_fn(|mut req: http::Request<_>| async move {
                    let up = match Upgrade::from_request(&req, &ServerOptions::default()) {
                        Ok(up) => up,
                        Err(e) => return Ok::<_, std::convert::Infallible>(Upgrade::refusal(&e)),
                    };
                    let on = hyper::upgrade::on(&mut req);
                    let response: http::Response<String> = up.response();
                    tokio::spawn(async move {
                        if let Ok(io) = on.await {
                            echo(up.into_stream(hyper_util::rt::TokioIo::new(io))).await;
                        }
                    });
                    Ok(response)
                });
                tokio::spawn(async move {
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = builder.serve_connection_with_upgrades(io, service).await;
                });
            }
        });
        for port in [plain, no_connect] {
            let url = format!("ws://127.0.0.1:{port}/x");
            let prefer = ClientOptions::default().with_http2(Http2::Prefer);
            let ws = connect_async_with(&url, &prefer).await.expect("falls back");
            assert!(matches!(ws.get_ref(), MaybeTlsStream::Plain(_)), "{port}");
            assert!(checklist_on(ws).await);
            let only = connect_async_with(&url, &h2_only()).await;
            assert!(
                matches!(
                    only,
                    Err(ConnectError::NoExtendedConnect | ConnectError::Http2(_))
                ),
                "{only:?}"
            );
        }
    });
}

#[test]
fn wss_with_alpn_h2_and_http11_on_one_port() {
    let certs = TestCerts::new();
    let server_tls = certs.server_config(&[b"h2", b"http/1.1"]);
    bounded(async {
        let (port, versions) = serve_tls_recording(server_tls).await;
        let url = format!("wss://localhost:{port}/tls");
        for offer in [true, false] {
            let options = h2_only()
                .with_tls(certs.client_config())
                .with_deflate(offer);
            let ws = connect_async_with(&url, &options)
                .await
                .expect("h2 over TLS");
            assert!(matches!(ws.get_ref(), MaybeTlsStream::Http2(_)));
            assert_eq!(checklist_on(ws).await, offer);
        }
        let options = ClientOptions::default().with_tls(certs.client_config());
        let ws = connect_async_with(&url, &options)
            .await
            .expect("HTTP/1.1 over TLS");
        assert!(matches!(ws.get_ref(), MaybeTlsStream::Tls(_)));
        assert!(checklist_on(ws).await);
        assert_eq!(*versions.lock().unwrap(), [true, true, false]);
    });
}

/// Hypercorn's echo (`tests/peers/hypercorn_echo.py`) on a free port, and its URL.
fn hypercorn() -> (Guard, String) {
    let mut cmd = std::process::Command::new(python());
    cmd.arg("tests/peers/hypercorn_echo.py")
        .args(["--timeout", "120"]);
    let (peer, port) = start_listening(cmd);
    (peer, format!("ws://127.0.0.1:{port}/echo"))
}

/// Hypercorn (Python, ASGI; wsproto's framing) serves WebSockets over HTTP/2 by RFC
/// 8441: an independent peer for the client, over h2c, and HTTP/1.1 on the same port.
#[test]
fn connect_async_against_hypercorn_over_h2c() {
    let (_peer, url) = hypercorn();
    bounded(async {
        for offer in [false, true] {
            let mut ws = connect_async_with(&url, &h2_only().with_deflate(offer))
                .await
                .expect("extended CONNECT to hypercorn");
            assert!(matches!(ws.get_ref(), MaybeTlsStream::Http2(_)));
            ws.send(Message::Text("version?".into())).await.unwrap();
            assert_eq!(next(&mut ws).await, Message::Text("http_version=2".into()));
            let agreed = checklist_on(ws).await;
            assert_eq!(agreed, offer, "deflate offered: {offer}");
        }
        let mut ws = connect_async_with(&url, &ClientOptions::default())
            .await
            .expect("HTTP/1.1 upgrade to hypercorn");
        ws.send(Message::Text("version?".into())).await.unwrap();
        assert_eq!(
            next(&mut ws).await,
            Message::Text("http_version=1.1".into())
        );
        assert!(checklist_on(ws).await);
    });
}

/// Python's `h2` (the HTTP/2 state machine) with `wsproto` (the framing) as an
/// independent RFC 8441 client against the echo example: SETTINGS advertised, 200
/// without an accept key, 0 B to 16 MiB, fragments, a ping, and END_STREAM after the
/// close handshake.
#[test]
fn python_h2_client_against_the_echo_example() {
    let (_server, port) = echo_example();
    for deflate in [false, true] {
        let mut cmd = std::process::Command::new(python());
        cmd.current_dir(root())
            .arg("tests/peers/py_h2_client.py")
            .args(["127.0.0.1", &port.to_string(), "/python/h2"]);
        if deflate {
            cmd.arg("--deflate");
        }
        let out = cmd.output().expect("run py_h2_client.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = if deflate { "deflate on" } else { "deflate off" };
        assert!(stdout.starts_with(mode), "{stdout}");
        assert!(
            stdout.contains("\nclose 1000") && stdout.ends_with("ok close\n"),
            "{stdout}"
        );
        assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 15);
    }
}

/// The raw exchange of one row: `bytes` written as they are, then what the server
/// sends back, decoded by a client `Connection`, until its close frame: the messages
/// and the close code (1006 if the transport ends without one).
async fn raw_answer<S>(io: S, bytes: &[u8]) -> (Vec<Message>, u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut io = io;
    io.write_all(bytes).await.unwrap();
    io.flush().await.unwrap();
    let mut client = wisp_tokio::Connection::client(Default::default(), || [0; 4]);
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match client.poll_event() {
            Ok(Some(Message::Close(f))) => return (seen, f.map_or(1005, |f| f.code.0)),
            Ok(Some(m)) => {
                seen.push(m);
                continue;
            }
            Ok(None) => {}
            Err(e) => panic!("the server broke the protocol: {e}"),
        }
        match tokio::time::timeout(STEP, io.read(&mut buf)).await.unwrap() {
            Ok(0) | Err(_) => return (seen, 1006),
            Ok(n) => client.handle_input(&buf[..n]),
        }
    }
}

/// Autobahn's case payloads that the codec's own tests cover (1.x text and binary
/// sizes, 2.x pings, 3.x reserved bits, 4.x reserved opcodes, 5.x fragments with
/// pings between them, 6.x UTF-8 split across frames, 7.x close codes, 9.x a large
/// message), and the bad-input table's rows: through an HTTP/2 stream they give the
/// echo example's same answers (messages, close code) as over HTTP/1.1.
#[test]
fn autobahn_case_payloads_give_the_same_events_over_h2_as_over_http11() {
    let (_server, port) = echo_example();
    let close = |code: u16| client_frame(0x88, &code.to_be_bytes());
    let then_close = |mut frames: Vec<u8>| {
        frames.extend(close(1000));
        frames
    };
    let cat = |frames: &[Vec<u8>]| then_close(frames.concat());
    let mut rows: Vec<(&str, Vec<u8>, u16)> = Vec::new();
    for (case, n) in [
        ("1.1.x text", 0),
        ("1.1.x", 125),
        ("1.1.x", 126),
        ("1.1.x", 127),
    ] {
        rows.push((case, then_close(client_frame(0x81, &vec![b'*'; n])), 1000));
    }
    for n in [0, 125, 126, 65535, 65536] {
        rows.push((
            "1.2.x binary",
            then_close(client_frame(0x82, &vec![0xfe; n])),
            1000,
        ));
    }
    rows.extend([
        (
            "2.1 ping, no payload",
            then_close(client_frame(0x89, b"")),
            1000,
        ),
        (
            "2.3 ping, binary payload",
            then_close(client_frame(0x89, &[0, 0xff, 0xfe, 0xfd])),
            1000,
        ),
        (
            "2.4 ping, 125 bytes",
            then_close(client_frame(0x89, &[0xfe; 125])),
            1000,
        ),
        (
            "2.5 ping, 126 bytes",
            client_frame(0x89, &[0xfe; 126]),
            1002,
        ),
        (
            "2.6 unsolicited pong",
            then_close(client_frame(0x8a, b"unsolicited")),
            1000,
        ),
        ("3.1 RSV1", client_frame(0xc1, b"Hello"), 1002),
        (
            "3.2 RSV2 after a good frame",
            cat(&[client_frame(0x81, b"Hello"), client_frame(0xa1, b"Hello")]),
            1002,
        ),
        ("4.1.1 opcode 3", client_frame(0x83, b""), 1002),
        ("4.2.1 opcode 0xb", client_frame(0x8b, b""), 1002),
        ("5.1 fragmented ping", client_frame(0x09, b"x"), 1002),
        (
            "5.3 text in two fragments",
            cat(&[client_frame(0x01, b"frag"), client_frame(0x80, b"ment")]),
            1000,
        ),
        (
            "5.6 a ping between fragments",
            cat(&[
                client_frame(0x01, b"frag"),
                client_frame(0x89, b"ping"),
                client_frame(0x80, b"ment"),
            ]),
            1000,
        ),
        ("5.9 continuation first", client_frame(0x80, b"x"), 1002),
        (
            "6.2.3 UTF-8 split inside a character",
            cat(&[
                client_frame(0x01, b"\xce"),
                client_frame(0x80, b"\xba\xe1\xbd\xb9"),
            ]),
            1000,
        ),
        (
            "6.3.1 invalid UTF-8",
            client_frame(0x81, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80"),
            1007,
        ),
        (
            "6.4.x invalid UTF-8 in a later fragment",
            cat(&[
                client_frame(0x01, b"\xce\xba"),
                client_frame(0x80, b"\xf4\x90\x80\x80"),
            ]),
            1007,
        ),
        ("7.3.1 empty close", client_frame(0x88, b""), 1005),
        ("7.3.2 one-byte close", client_frame(0x88, &[0x03]), 1002),
        (
            "7.5.1 invalid UTF-8 reason",
            client_frame(0x88, b"\x03\xe8\xc3\x28"),
            1007,
        ),
        ("7.7.x close code 3000", close(3000), 3000),
        ("7.9.x close code 1005 on the wire", close(1005), 1002),
        ("7.9.x close code 999", close(999), 1002),
        (
            "9.1.x 8 MiB text",
            then_close(client_frame(0x81, &vec![b'*'; 8 << 20])),
            1000,
        ),
        (
            "1 TiB claimed",
            vec![0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            1009,
        ),
    ]);
    bounded(async {
        let h1 = ClientOptions::default().with_deflate(false);
        let url = format!("ws://127.0.0.1:{port}/autobahn");
        let mut conn = Http2Connection::connect(&url, &h2_only().with_deflate(false))
            .await
            .unwrap();
        for (case, bytes, code) in &rows {
            let (stream, _) = conn.open("/autobahn").await.unwrap().into_parts();
            let over_h2 = raw_answer(stream, bytes).await;
            let (tcp, _) = connect_async_with(&url, &h1).await.unwrap().into_parts();
            let over_h1 = raw_answer(tcp, bytes).await;
            assert_eq!(over_h2.1, *code, "{case}: the close code over h2");
            assert!(over_h2 == over_h1, "{case}: h2 and HTTP/1.1 differ");
        }
    });
}

/// The page the browser test loads: it opens wss:// to its own host, sends a text and
/// puts the echo (or the failure) in `body[data-done]`.
const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>h2</title><body><script>
const ws = new WebSocket(`wss://${location.host}/socket`);
ws.onopen = () => ws.send("over " + location.protocol);
ws.onmessage = (e) => { document.body.dataset.done = "echoed " + e.data; ws.close(); };
ws.onerror = () => { document.body.dataset.done = "failed"; };
</script>"#;

/// Debian's Chromium (156 here) against a TLS server with ALPN h2 and http/1.1 that
/// advertises extended CONNECT: the page comes over HTTP/2 (the server sees its
/// request's version), and the socket too, as an extended CONNECT on a stream (the
/// server records which), with Chromium as it is and with its `WebSocketOverHttp2`
/// feature switched on. In the same run, a server whose ALPN offers http/1.1 only gets
/// the page and the socket over HTTP/1.1.
#[test]
fn chromium_over_https_h2() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists()
            && root().join("node_modules/playwright-core").exists(),
        "Chromium or playwright-core is missing: run `bash scripts/setup.sh test`"
    );
    let certs = TestCerts::new();
    let dir = std::env::temp_dir().join(format!("wisp-tokio-h2-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), &certs.cert_pem).unwrap();
    let rt = runtime();
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let serve = |server_tls: Arc<rustls::ServerConfig>| {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen));
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let sockets = Arc::clone(&seen);
                        let on_socket = move |ws, opened: Opened| {
                            let how = if opened.http2 {
                                "socket h2"
                            } else {
                                "socket http/1.1"
                            };
                            sockets.lock().unwrap().push(how.to_string());
                            echo(ws)
                        };
                        let on_request = move |req: &http::Request<_>| {
                            seen.lock()
                                .unwrap()
                                .push(format!("page {:?}", req.version()));
                            let mut r = http::Response::new(PAGE.to_string());
                            r.headers_mut()
                                .insert("content-type", "text/html".parse().unwrap());
                            r
                        };
                        let _ = wisp_tokio::http2::serve_connection(
                            tls,
                            ServerOptions::default(),
                            on_socket,
                            on_request,
                        )
                        .await;
                    });
                }
            });
            port
        })
    };
    let h2_port = serve(certs.server_config(&[b"h2", b"http/1.1"]));
    let h1_port = serve(certs.server_config(&[b"http/1.1"]));
    let runs = [
        (h2_port, "", "page HTTP/2.0", "socket h2"),
        (h2_port, "WebSocketOverHttp2", "page HTTP/2.0", "socket h2"),
        (h1_port, "", "page HTTP/1.1", "socket http/1.1"),
    ];
    for (port, features, page, socket) in runs {
        seen.lock().unwrap().clear();
        let out = std::process::Command::new("node")
            .arg(root().join("tests/browser/h2.mjs"))
            .current_dir(root())
            .env("WISP_URL", format!("https://localhost:{port}/"))
            .env("WISP_CERT", dir.join("cert.pem"))
            .env("WISP_FEATURES", features)
            .env("CHROMIUM", &chromium)
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "h2.mjs ({features}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), "echoed over https:", "{features}");
        let seen = seen.lock().unwrap().clone();
        println!("Chromium, features [{features}]: the server saw {seen:?}");
        assert!(seen.iter().any(|s| s == page), "{seen:?}");
        let sockets: Vec<_> = seen.iter().filter(|s| s.starts_with("socket")).collect();
        assert_eq!(sockets, [socket], "{features}: {seen:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that never finishes its HTTP/1.1 request head is dropped after the
/// options' handshake timeout, as `accept_async` drops it: no connection is held open
/// by a slow or silent peer.
#[test]
fn a_request_head_that_never_ends_is_dropped_after_the_handshake_timeout() {
    bounded(async {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut options = ServerOptions::default();
            options.handshake_timeout = Some(std::time::Duration::from_millis(500));
            let _ = wisp_tokio::http2::serve_connection(
                tcp,
                options,
                |ws, _| echo(ws),
                |_| http::Response::new(String::new()),
            )
            .await;
        });
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(STEP, tcp.read_to_end(&mut answer))
            .await
            .expect("the server ends the connection")
            .unwrap();
        // hyper closes without an answer (a 408 would do too).
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    });
}

// ---- `wisp-client --http2`: the blocking client's CLI on an HTTP/2 stream ----

/// What a run of the `wisp-client` binary gave: exit status, stdout, stderr.
struct Cli {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `wisp-client` (target/debug, built by `cargo build --workspace --bins` or by
/// the harness) with `args` on a blocking thread: writes `stdin`, closes it unless
/// `keep_stdin`, and waits for the exit, 60 s at most (then it is killed: a client that
/// hangs fails the test).
async fn cli(args: &[&str], stdin: &str, keep_stdin: bool) -> Cli {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        use std::process::{Command, Stdio};
        let mut child = Command::new(wisp_tests::binary("wisp-client"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wisp-client");
        let mut input = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(stdin.as_bytes());
            if keep_stdin {
                Some(input)
            } else {
                None
            }
        });
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("wisp-client {args:?} did not exit within 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        drop(writer.join());
        Cli {
            status: status.code(),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    })
    .await
    .unwrap()
}

/// The line `wisp-client --http2` prints when the socket rides on stream 1.
const ON_STREAM_1: &str = "wisp-client: HTTP/2 stream 1 (extended CONNECT, RFC 8441)";
/// ... and when it took the HTTP/1.1 upgrade instead.
const ON_HTTP11: &str = "wisp-client: HTTP/1.1 upgrade";

/// The echo example over h2c: stdin lines (one of 1 MiB, more than a stream's window),
/// a ping with -P, `//` escaping, then a close from the client (`/close`, answered);
/// deflate agreed or not as offered (the RSV1 bit of the frames shown); then the
/// one-shot modes (--send with --count, --max-messages, --jsonl, --timestamps) and
/// --reconnect.
#[test]
fn cli_over_h2c_against_the_echo_example() {
    let (_server, port) = echo_example();
    let url = format!("ws://127.0.0.1:{port}/cli");
    let big = "x".repeat(1 << 20);
    bounded(async {
        for deflate in ["off", "takeover", "shared"] {
            let input = format!("hello\n/ping abc\n//slash\n{big}\n/close 1000 done\n");
            let run = cli(
                &[
                    "--http2=only",
                    "--slash",
                    "-P",
                    "--show-frames",
                    "--deflate",
                    deflate,
                    &url,
                ],
                &input,
                true,
            )
            .await;
            assert_eq!(run.status, Some(0), "{deflate}: {}", run.stderr);
            assert!(run.stderr.starts_with(ON_STREAM_1), "{}", run.stderr);
            let lines: Vec<&str> = run.stdout.lines().collect();
            assert_eq!(
                lines,
                ["hello", "[pong] abc", "/slash", big.as_str()],
                "{deflate}"
            );
            let compressed = run.stderr.contains("RSV=100 opcode=0x1");
            assert_eq!(compressed, deflate != "off", "{deflate}: {}", run.stderr);
            // Our close, and the server's answer with its code.
            assert!(run.stderr.contains("> FIN=1 RSV=000 opcode=0x8 (close)"));
            assert!(run
                .stderr
                .contains("< FIN=1 RSV=000 opcode=0x8 (close) MASK=0"));
        }
        let run = cli(
            &[
                "--http2", "--send", "a", "--send", "b", "--count", "2", "--jsonl", &url,
            ],
            "",
            false,
        )
        .await;
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        assert!(run.stderr.starts_with(ON_STREAM_1), "{}", run.stderr);
        let ins = run
            .stdout
            .lines()
            .filter(|l| l.contains(r#""direction":"in""#));
        assert_eq!(ins.count(), 4, "{}", run.stdout);
        let run = cli(
            &["--http2", "--max-messages", "2", "--timestamps", &url],
            "1\n2\n3\n",
            true,
        )
        .await;
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", run.stdout);
        assert!(
            lines[0].ends_with(" 1") && lines[0].contains('T'),
            "{}",
            run.stdout
        );
        let run = cli(&["--http2", "--reconnect", &url], "again\n", false).await;
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        assert!(run.stderr.contains(ON_STREAM_1), "{}", run.stderr);
        assert_eq!(run.stdout, "again\n");
    });
}

/// A close from the server over h2c: the server (this process) sees the socket come
/// on an HTTP/2 stream, sends a message and closes; the CLI prints the message, answers
/// the close and exits 0 with its stdin still open.
#[test]
fn cli_over_h2_the_server_closes() {
    bounded(async {
        let (port, mut rx) = serve_then_close("welcome", CloseCode::NORMAL, "done").await;
        let url = format!("ws://127.0.0.1:{port}/bye");
        let run = cli(&["--http2", &url], "", true).await;
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        assert!(run.stderr.starts_with(ON_STREAM_1), "{}", run.stderr);
        assert_eq!(run.stdout, "welcome\n");
        let (http2, rest, code) = tokio::time::timeout(STEP, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(http2, "the server got an extended CONNECT");
        assert_eq!(
            rest.len(),
            1,
            "the server saw our answering close: {rest:?}"
        );
        assert_eq!(code, Some(CloseCode::NORMAL));
    });
}

/// wss:// with ALPN: h2 when the server offers it (seen from the server), the HTTP/1.1
/// upgrade when it offers http/1.1 only (prefer), and a one-line error for `only`.
#[test]
fn cli_over_tls_with_alpn() {
    let certs = TestCerts::new();
    let ca = std::env::temp_dir().join(format!("wisp-h2-cli-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, certs.ca.pem()).unwrap();
    let ca_arg = ca.to_str().unwrap().to_string();
    bounded(async {
        let both: &[&[u8]] = &[b"h2", b"http/1.1"];
        let old: &[&[u8]] = &[b"http/1.1"];
        for alpn in [both, old] {
            let server_tls = certs.server_config(alpn);
            let (port, versions) = serve_tls_recording(server_tls).await;
            let url = format!("wss://localhost:{port}/tls");
            let run = cli(&["--http2", "--ca", &ca_arg, &url], "over tls\n", false).await;
            assert_eq!(run.status, Some(0), "{}", run.stderr);
            assert_eq!(run.stdout, "over tls\n");
            let h2 = alpn.len() == 2;
            let line = if h2 { ON_STREAM_1 } else { ON_HTTP11 };
            assert!(run.stderr.starts_with(line), "{alpn:?}: {}", run.stderr);
            let only = cli(&["--http2=only", "--ca", &ca_arg, &url], "again\n", false).await;
            if h2 {
                assert_eq!(only.status, Some(0), "{}", only.stderr);
                assert_eq!(*versions.lock().unwrap(), [true, true]);
            } else {
                assert_eq!(only.status, Some(1));
                assert_eq!(
                    only.stderr,
                    "wisp-client: no WebSocket over HTTP/2 (RFC 8441) here: the server did not \
                     agree to HTTP/2 in the TLS handshake (no ALPN h2)\n"
                );
                assert_eq!(*versions.lock().unwrap(), [false]);
            }
        }
    });
    let _ = std::fs::remove_file(&ca);
}

/// Hypercorn, a real RFC 8441 server: the CLI's socket is on HTTP/2 by Hypercorn's own
/// account (`http_version=2` in the ASGI scope), with and without deflate.
#[test]
fn cli_against_hypercorn_over_h2c() {
    let (_peer, url) = hypercorn();
    bounded(async {
        for deflate in ["off", "takeover"] {
            let run = cli(
                // Hypercorn answers a close at once, before its app has echoed what
                // came before it: wait for the two echoes, then close.
                &[
                    "--http2=only",
                    "--max-messages",
                    "2",
                    "--deflate",
                    deflate,
                    &url,
                ],
                "version?\nhello hypercorn\n",
                true,
            )
            .await;
            assert_eq!(run.status, Some(0), "{}", run.stderr);
            assert!(run.stderr.starts_with(ON_STREAM_1), "{}", run.stderr);
            assert_eq!(run.stdout, "http_version=2\nhello hypercorn\n", "{deflate}");
        }
    });
}

/// wisp-server speaks HTTP/1.1 only (it advertises no ALPN h2, and takes no h2c
/// preface): `--http2` upgrades over HTTP/1.1 as before, `--http2=only` fails with one
/// clear line, over ws:// and wss://.
#[test]
fn cli_falls_back_to_http11_against_wisp_server() {
    let plain = wisp_tests::Server::start(&[]);
    let pki = wisp_tests::tls::Pki::localhost();
    let tls = wisp_tests::Server::start_tls(&pki, &[]);
    let ca = wisp_tests::tls::Pki::path(&pki.ca).to_string();
    bounded(async {
        for (url, extra) in [
            (plain.url("/echo"), vec![]),
            (tls.wss_url("/echo"), vec!["--ca", &ca]),
        ] {
            let mut args = extra.clone();
            args.extend(["--http2", url.as_str()]);
            let run = cli(&args, "still works\n", false).await;
            assert_eq!(run.status, Some(0), "{url}: {}", run.stderr);
            assert!(run.stderr.starts_with(ON_HTTP11), "{url}: {}", run.stderr);
            assert_eq!(run.stdout, "still works\n");
            let mut args = extra.clone();
            args.extend(["--http2=only", url.as_str()]);
            let only = cli(&args, "no\n", false).await;
            assert_eq!(only.status, Some(1), "{url}");
            assert_eq!(only.stdout, "");
            assert_eq!(only.stderr.lines().count(), 1, "one line: {}", only.stderr);
            assert!(
                only.stderr
                    .starts_with("wisp-client: no WebSocket over HTTP/2 (RFC 8441) here: "),
                "{url}: {}",
                only.stderr
            );
        }
    });
}

/// A RST_STREAM in the middle of a message (h2's own server here, so the test picks
/// the moment): the CLI prints what came before, then one line naming the reset (1006),
/// and exits 1, never hangs.
#[test]
fn cli_stream_reset_mid_message_is_a_clear_error() {
    bounded(async {
        let (port, first) = raw_h2_server().await;
        tokio::spawn(async move {
            let (req, mut respond) = first.await.unwrap();
            let mut body = req.into_body();
            let mut send = respond
                .send_response(http::Response::new(()), false)
                .unwrap();
            // A whole text message, a ping, and the start of a binary message announcing
            // 1000 bytes: 10 of them. The client's pong says it has all of it.
            let mut data = vec![0x81, 5];
            data.extend_from_slice(b"first");
            data.extend_from_slice(&[0x89, 3]);
            data.extend_from_slice(b"mid");
            data.extend_from_slice(&[0x82, 0x7e, 0x03, 0xe8]);
            data.extend_from_slice(&[0; 10]);
            send.send_data(bytes::Bytes::from(data), false).unwrap();
            let mut got = Vec::new();
            while got.first() != Some(&0x8a) {
                match body.data().await {
                    Some(Ok(chunk)) => {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        got.extend_from_slice(&chunk);
                    }
                    other => panic!("no pong from the client: {other:?}"),
                }
            }
            send.send_reset(h2::Reason::INTERNAL_ERROR);
            // Held until the client goes.
            let _ = body.data().await;
        });
        let url = format!("ws://127.0.0.1:{port}/reset");
        let run = cli(&["--http2=only", "-P", &url], "", true).await;
        assert_eq!(run.status, Some(1), "{}", run.stderr);
        assert_eq!(run.stdout, "first\n[ping] mid\n");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", run.stderr);
        assert_eq!(lines[0], ON_STREAM_1);
        assert!(
            lines[1]
                .starts_with("wisp-client: connection failed: the peer reset the HTTP/2 stream")
                && lines[1].ends_with("(1006)"),
            "{}",
            lines[1]
        );
    });
}

/// Serves `serve_connection` over TLS (the given config and its ALPN) in this process,
/// every socket echoed, recording whether each came on an HTTP/2 stream.
async fn serve_tls_recording(
    server_tls: Arc<rustls::ServerConfig>,
) -> (u16, Arc<std::sync::Mutex<Vec<bool>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let versions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&versions);
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let on_socket = move |ws, opened: Opened| {
                    seen.lock().unwrap().push(opened.http2);
                    echo(ws)
                };
                let _ = wisp_tokio::http2::serve_connection(
                    tls,
                    ServerOptions::default(),
                    on_socket,
                    |_| http::Response::new(String::new()),
                )
                .await;
            });
        }
    });
    (port, versions)
}

/// The blocking library over h2: a server that takes the connection and says nothing
/// (as an HTTP/1.1 server waiting for the rest of a request head may) is no HTTP/2 by
/// the connect timeout: `NoSettings`, which `Prefer` would fall back from.
#[test]
fn a_silent_server_is_no_http2_after_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || listener.accept().map(|(tcp, _)| tcp));
    let options = wisp_client::Options {
        http2: Http2::Only,
        connect_timeout: std::time::Duration::from_millis(500),
        ..wisp_client::Options::default()
    };
    let e = wisp_client::connect_with(&url, &options).unwrap_err();
    assert!(
        matches!(
            e,
            wisp_client::Error::NoExtendedConnect(
                wisp_client::http2::NoExtendedConnect::NoSettings
            )
        ),
        "{e:?}"
    );
    drop(held.join());
}

/// `--http2` through an HTTP CONNECT proxy (tinyproxy, Basic auth): h2c inside the
/// tunnel, to the echo example.
#[test]
fn cli_over_h2c_through_a_proxy() {
    let (_server, port) = echo_example();
    let proxy = wisp_tests::proxies::Proxy::tinyproxy(Some(("wisp", "s3cret")));
    let via = format!("http://wisp:s3cret@127.0.0.1:{}", proxy.port);
    let url = format!("ws://127.0.0.1:{port}/tunnel");
    bounded(async {
        let run = cli(&["--http2=only", "--proxy", &via, &url], "through\n", false).await;
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        assert!(run.stderr.starts_with(ON_STREAM_1), "{}", run.stderr);
        assert_eq!(run.stdout, "through\n");
    });
    assert!(
        proxy.log().contains(&format!("127.0.0.1:{port}")),
        "{}",
        proxy.log()
    );
}

/// The names of this process's threads that carry an HTTP/2 stream for a client.
fn bridge_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").unwrap();
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "wisp-client-h2")
        .count()
}

/// The blocking library over h2: `split()` works on the bridged socket (a reader and a
/// writer on two threads), and the bridge's thread ends with the client: dropped
/// without a close, its end of the socket goes, the stream ends, and the thread is
/// joined.
#[test]
fn the_blocking_client_splits_over_h2_and_its_thread_ends_with_it() {
    let (_server, port) = echo_example();
    let url = format!("ws://127.0.0.1:{port}/split");
    let options = wisp_client::Options {
        http2: Http2::Only,
        ..wisp_client::Options::default()
    };
    let client = wisp_client::connect_with(&url, &options).unwrap();
    assert_eq!(client.http2_stream(), Some(1));
    let (mut reader, writer) = client.split().unwrap();
    let sender = std::thread::spawn(move || {
        for i in 0..100 {
            writer.send_text(&format!("message {i}")).unwrap();
        }
        writer.close(CloseCode::NORMAL, "done")
    });
    let mut echoed = 0;
    loop {
        match reader.receive().unwrap() {
            wisp_client::Message::Text(t) => {
                assert_eq!(t, format!("message {echoed}"));
                echoed += 1;
            }
            wisp_client::Message::Close(_) => break,
            _ => {}
        }
    }
    sender.join().unwrap().unwrap();
    assert_eq!(echoed, 100);
    // The split's halves gone, its (unjoined) thread ends with their socket.
    drop(reader);
    wait_until(30, "the split client's thread ends", || {
        bridge_threads() == 0
    });
    // Without the split: the thread lives while the client does, and not after (other
    // tests of this process may have one for a moment, hence the wait).
    let mut client = wisp_client::connect_with(&url, &options).unwrap();
    client.send_text("one").unwrap();
    assert_eq!(
        client.receive().unwrap(),
        wisp_client::Message::Text("one".into())
    );
    assert!(bridge_threads() >= 1);
    drop(client);
    wait_until(30, "the client's thread ends with it", || {
        bridge_threads() == 0
    });
}

/// The first request and its answer's handle.
type Accepted = (
    http::Request<h2::RecvStream>,
    h2::server::SendResponse<bytes::Bytes>,
);

/// h2's own server in this process, extended CONNECT advertised, for a test that picks
/// each frame: gives the first request (checked to be a CONNECT) with its answer's
/// handle, and drives the connection meanwhile.
async fn raw_h2_server() -> (u16, tokio::sync::oneshot::Receiver<Accepted>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = h2::server::Builder::new()
            .enable_connect_protocol()
            .handshake::<_, bytes::Bytes>(tcp)
            .await
            .unwrap();
        let (req, respond) = conn.accept().await.unwrap().unwrap();
        assert_eq!(req.method(), http::Method::CONNECT);
        let _ = tx.send((req, respond));
        while let Some(Ok(_)) = conn.accept().await {}
    });
    (port, rx)
}

/// The blocking library over h2 against a server that answers and then never reads: a
/// send waits for the stream's window until the write timeout, and dropping the client
/// then still ends its thread (after 5 s for the server), never hangs.
#[test]
fn a_client_dropped_while_its_stream_waits_for_the_window_does_not_hang() {
    bounded(async {
        let (port, first) = raw_h2_server().await;
        tokio::spawn(async move {
            let (req, mut respond) = first.await.unwrap();
            let send = respond
                .send_response(http::Response::new(()), false)
                .unwrap();
            // Held, never read.
            let body = req.into_body();
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            drop((send, body));
        });
        let url = format!("ws://127.0.0.1:{port}/stalled");
        tokio::task::spawn_blocking(move || {
            let options = wisp_client::Options {
                http2: Http2::Only,
                write_timeout: Some(std::time::Duration::from_millis(200)),
                ..wisp_client::Options::default()
            };
            let mut client = wisp_client::connect_with(&url, &options).unwrap();
            let big = vec![1u8; 16 << 20];
            let e = client.send_binary(&big).unwrap_err();
            assert!(e.is_timeout(), "{e:?}");
            let (done, dropped) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                drop(client);
                let _ = done.send(());
            });
            dropped
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the client's drop returns");
        })
        .await
        .unwrap();
    });
}

/// The blocking library over h2: a stream the server resets while the client is in the
/// middle of sending a large message fails that send with the reset, never hangs.
#[test]
fn a_reset_while_the_client_sends_fails_the_send_with_the_reset() {
    bounded(async {
        let (port, first) = raw_h2_server().await;
        tokio::spawn(async move {
            let (req, mut respond) = first.await.unwrap();
            let mut send = respond
                .send_response(http::Response::new(()), false)
                .unwrap();
            let mut body = req.into_body();
            // Some of the message, then the reset.
            let chunk = body.data().await.unwrap().unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            send.send_reset(h2::Reason::CANCEL);
            let _ = body.data().await;
        });
        let url = format!("ws://127.0.0.1:{port}/reset-while-sending");
        tokio::task::spawn_blocking(move || {
            let options = wisp_client::Options {
                http2: Http2::Only,
                ..wisp_client::Options::default()
            };
            let mut client = wisp_client::connect_with(&url, &options).unwrap();
            let big = vec![1u8; 16 << 20];
            match client.send_binary(&big) {
                Err(wisp_client::Error::Io(e)) => {
                    let e = e.to_string();
                    assert!(e.starts_with("the peer reset the HTTP/2 stream"), "{e}");
                    assert!(e.ends_with("(1006)"), "{e}");
                }
                other => panic!("{other:?}"),
            }
        })
        .await
        .unwrap();
    });
}
