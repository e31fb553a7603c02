//! Interop with independent peers, both ways (`scripts/setup.sh test` installs them):
//! the Python `websockets` and Node `ws` checklist clients (tests/peers) against the
//! echo example, deflate off, on and without context takeover; and `connect_async`
//! against their echo servers with the same list plus 16 MiB messages, fragments,
//! pings from the peer and `wss://` (a CA made here).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use wisp_tokio::{connect_async_with, ClientOptions, CloseCode, Message, OpCode, WebSocketStream};

/// Every step of a test is bounded: a peer that stops answering fails it, never hangs it.
const STEP: Duration = Duration::from_secs(30);

#[test]
fn python_websockets_client_against_the_echo_example() {
    let (_server, port) = echo_example();
    for mode in ["off", "on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.arg("tests/peers/py_client.py");
        run_checklist(
            cmd,
            &format!("ws://127.0.0.1:{port}/echo"),
            &["--deflate", mode],
        );
    }
}

#[test]
fn node_ws_client_against_the_echo_example() {
    let (_server, port) = echo_example();
    for mode in ["off", "on", "no-takeover"] {
        let mut cmd = node();
        cmd.arg("tests/peers/node_client.js");
        run_checklist(
            cmd,
            &format!("ws://127.0.0.1:{port}/any/path"),
            &["--deflate", mode],
        );
    }
}

fn text_of_size(n: usize) -> String {
    let unit = "aé€😀"; // 1 + 2 + 3 + 4 bytes
    let mut s = unit.repeat(n / 10);
    s.push_str(&"x".repeat(n % 10));
    assert_eq!(s.len(), n);
    s
}

async fn next(
    ws: &mut WebSocketStream<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>,
) -> Message {
    loop {
        let m = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a reply in time")
            .expect("the stream goes on")
            .expect("no error");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

/// The checklist, from our side: echoes of 0 B to 16 MiB, fragmented messages, a ping
/// answered, the close handshake. Returns whether deflate was agreed.
async fn checklist(url: &str, options: &ClientOptions) -> bool {
    let mut ws = connect_async_with(url, options).await.expect("connect");
    let deflate = ws.connection().deflate_params().is_some();
    for size in [0, 125, 126, 65536, 1 << 20, 16 << 20] {
        let text = Message::Text(text_of_size(size));
        ws.send(text.clone()).await.unwrap();
        assert!(next(&mut ws).await == text, "text {size}");
        let binary: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        let binary = Message::Binary(binary);
        ws.send(binary.clone()).await.unwrap();
        assert!(next(&mut ws).await == binary, "binary {size}");
    }
    // Fragments: 4 text frames, then binary with an empty frame in the middle.
    {
        let c = ws.connection_mut();
        c.send_frame(OpCode::Text, false, "frag".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Continuation, false, "mént".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Continuation, false, b"").unwrap();
        c.send_frame(OpCode::Continuation, true, "ed 😀".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Binary, false, &[1; 1000]).unwrap();
        c.send_frame(OpCode::Continuation, false, b"").unwrap();
        c.send_frame(OpCode::Continuation, true, &[2; 70_000])
            .unwrap();
    }
    ws.flush().await.unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Text("fragmént😀".replace('😀', "ed 😀"))
    );
    let mut want = vec![1u8; 1000];
    want.extend_from_slice(&[2; 70_000]);
    assert_eq!(next(&mut ws).await, Message::Binary(want));
    // Our ping gets the peer's pong.
    ws.connection_mut()
        .send_ping(b"wisp-ping-\x00\xff")
        .unwrap();
    ws.flush().await.unwrap();
    loop {
        match tokio::time::timeout(STEP, ws.next())
            .await
            .expect("pong in time")
        {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(p, b"wisp-ping-\x00\xff");
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    // The close handshake: our close, the peer's answer, the end of the stream.
    ws.close_with(CloseCode::NORMAL, "bye").await.unwrap();
    loop {
        match tokio::time::timeout(STEP, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(_)) => {}
            None => break,
            Some(Err(e)) => panic!("close failed: {e}"),
        }
    }
    assert_eq!(ws.connection().close_code(), Some(CloseCode::NORMAL));
    deflate
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn client_against(peer: Command) {
    for mode in ["off", "on", "no-takeover"] {
        let mut cmd = Command::new(peer.get_program());
        cmd.args(peer.get_args())
            .args(["--deflate", mode, "--timeout", "120"]);
        let (_peer, port) = start_listening(cmd);
        let url = format!("ws://127.0.0.1:{port}/echo");
        for offer in [false, true] {
            let options = ClientOptions::default().with_deflate(offer);
            let agreed = runtime().block_on(checklist(&url, &options));
            assert_eq!(agreed, offer && mode != "off", "{mode}, offered: {offer}");
        }
    }
}

#[test]
fn connect_async_against_python_websockets_server() {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py");
    client_against(cmd);
}

#[test]
fn connect_async_against_node_ws_server() {
    let mut cmd = Command::new("node");
    cmd.arg("tests/peers/node_echo_server.js");
    client_against(cmd);
}

#[test]
fn connect_async_answers_the_peers_pings_and_split_halves_work_on_two_tasks() {
    let mut cmd = Command::new(python());
    cmd.args([
        "tests/peers/py_echo_server.py",
        "--ping-interval",
        "0.05",
        "--timeout",
        "60",
    ]);
    let (_peer, port) = start_listening(cmd);
    runtime().block_on(async move {
        let url = format!("ws://127.0.0.1:{port}/");
        let ws = connect_async_with(&url, &ClientOptions::default())
            .await
            .unwrap();
        let (mut reader, mut writer) = ws.split();
        // The writer sends 200 messages of 64 KiB from its own task while the reader
        // counts the echoes and the peer's pings (which the reader's polls answer).
        let sender = tokio::spawn(async move {
            for i in 0..200u32 {
                let mut m = vec![0u8; 64 << 10];
                m[..4].copy_from_slice(&i.to_be_bytes());
                writer.send(Message::Binary(m)).await.unwrap();
            }
            writer
        });
        let (mut echoes, mut pings) = (0u32, 0u32);
        while echoes < 200 || pings < 3 {
            match tokio::time::timeout(STEP, reader.next())
                .await
                .expect("in time")
            {
                Some(Ok(Message::Binary(m))) => {
                    assert_eq!(m[..4], echoes.to_be_bytes());
                    echoes += 1;
                }
                Some(Ok(Message::Ping(_))) => pings += 1,
                other => panic!("{other:?}"),
            }
        }
        let mut writer = sender.await.unwrap();
        writer.close().await.unwrap();
        while let Some(m) = tokio::time::timeout(STEP, reader.next()).await.unwrap() {
            if let Err(e) = m {
                panic!("{e}");
            }
        }
        assert_eq!(
            reader.with_connection(|c| c.close_code()),
            Some(CloseCode::NORMAL)
        );
    });
}

#[test]
fn wss_through_tokio_rustls_against_python_websockets() {
    let dir = std::env::temp_dir().join(format!("wisp-tokio-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py")
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"));
    let (_peer, port) = start_listening(cmd);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let options = ClientOptions::default().with_tls(Arc::new(tls));
    runtime().block_on(async {
        let url = format!("wss://localhost:{port}/");
        let mut ws = connect_async_with(&url, &options).await.unwrap();
        assert!(matches!(ws.get_ref(), wisp_tokio::MaybeTlsStream::Tls(_)));
        let big = Message::Binary(vec![9; 3 << 20]);
        ws.send(big.clone()).await.unwrap();
        assert!(next(&mut ws).await == big);
        ws.close().await.unwrap();
        while let Some(m) = tokio::time::timeout(STEP, ws.next()).await.unwrap() {
            m.unwrap();
        }
        // Mozilla's roots do not know this CA: the default trust refuses it.
        let refused = connect_async_with(&url, &ClientOptions::default()).await;
        assert!(
            matches!(refused, Err(wisp_tokio::ConnectError::Tls(_))),
            "{refused:?}"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
