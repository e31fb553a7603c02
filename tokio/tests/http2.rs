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
    runtime().block_on(async {
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
    runtime().block_on(async {
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
    runtime().block_on(async {
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
    runtime().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let port = serve_here(move |mut ws, _| {
            let tx = tx.clone();
            async move {
                ws.send(Message::Text("bye soon".into())).await.unwrap();
                ws.close_with(CloseCode::GOING_AWAY, "server leaves")
                    .await
                    .unwrap();
                let mut rest = Vec::new();
                while let Some(m) = tokio::time::timeout(STEP, ws.next()).await.unwrap() {
                    rest.push(format!("{m:?}"));
                }
                let _ = tx.send((rest, ws.connection().close_code()));
            }
        })
        .await;
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
        let (rest, code) = tokio::time::timeout(STEP, rx.recv())
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

#[test]
fn a_reader_that_stops_holds_its_own_stream_not_the_connection() {
    let (_server, port) = echo_example();
    runtime().block_on(async {
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
        busy.send(big.clone()).await.unwrap();
        assert!(next(&mut busy).await == big);
        // The stalled socket still gets every byte once it reads.
        for _ in 0..64 {
            let m = tokio::time::timeout(STEP, stalled.next()).await.unwrap();
            assert!(m.unwrap().unwrap() == chunk);
        }
        writer.await.unwrap();
    });
}

#[test]
fn bad_extended_connects_get_a_clear_status() {
    let (_server, port) = echo_example();
    runtime().block_on(async {
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
    runtime().block_on(async {
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
    runtime().block_on(async {
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

/// Hypercorn (Python, ASGI; wsproto's framing) serves WebSockets over HTTP/2 by RFC
/// 8441: an independent peer for the client, over h2c, and HTTP/1.1 on the same port.
#[test]
fn connect_async_against_hypercorn_over_h2c() {
    let mut cmd = std::process::Command::new(python());
    cmd.arg("tests/peers/hypercorn_echo.py")
        .args(["--timeout", "120"]);
    let (_peer, port) = start_listening(cmd);
    let url = format!("ws://127.0.0.1:{port}/echo");
    runtime().block_on(async {
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
