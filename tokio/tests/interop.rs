//! Interop with independent peers, both ways (`scripts/setup.sh test` installs them):
//! the Python `websockets` and Node `ws` checklist clients (tests/peers) against the
//! echo example, deflate off, on and without context takeover; and `connect_async`
//! against their echo servers with the same list plus 16 MiB messages, fragments,
//! pings from the peer and `wss://` (a CA made here).

mod common;

use std::process::Command;

use common::*;
use futures_util::{SinkExt, StreamExt};
use wisp_tokio::{connect_async_with, ClientOptions, CloseCode, DeflateMode, Message};

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

/// The shared offer (`DeflateMode::Shared`) to Python websockets and Node ws servers,
/// which keep no window either way when asked: both `*_no_context_takeover` agreed, and
/// the checklist passes compressed.
#[test]
fn connect_async_offers_the_shared_mode_to_python_and_node_servers() {
    let mut python_server = Command::new(python());
    python_server.arg("tests/peers/py_echo_server.py");
    let mut node_server = Command::new("node");
    node_server.arg("tests/peers/node_echo_server.js");
    for mut cmd in [python_server, node_server] {
        cmd.args(["--deflate", "on", "--timeout", "120"]);
        let (_peer, port) = start_listening(cmd);
        let url = format!("ws://127.0.0.1:{port}/echo");
        let options = ClientOptions::default().with_deflate_mode(DeflateMode::Shared);
        runtime().block_on(async {
            let ws = connect_async_with(&url, &options).await.expect("connect");
            let p = ws.connection().deflate_params().expect("deflate agreed");
            assert!(
                p.server_no_context_takeover && p.client_no_context_takeover,
                "{p:?}"
            );
            assert!(checklist_on(ws).await);
        });
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
    let certs = TestCerts::new();
    std::fs::write(dir.join("cert.pem"), &certs.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &certs.key_pem).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py")
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"));
    let (_peer, port) = start_listening(cmd);
    let options = ClientOptions::default().with_tls(certs.client_config());
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
