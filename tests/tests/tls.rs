//! TLS: `wisp-server --tls-cert --tls-key` (https:// and wss://) and `wisp-client
//! wss://`, against a throwaway CA and server certificate made at test time (rcgen).
//! The peers: Python `websockets` and Node `ws` clients trusting that CA against wss://
//! /echo, wisp-client against a Python `websockets` wss:// echo server; the files
//! checked before the port is bound; bad input on the TLS port, each case checked
//! against the connections that keep echoing and the server's threads and descriptors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use wisp_client::{connect_with, Error, Message, Options};
use wisp_tests::peers::*;
use wisp_tests::tls::*;
use wisp_tests::*;

fn client() -> Command {
    Command::new(binary("wisp-client"))
}

fn options(pki: &Pki) -> Options {
    Options {
        ca: Some(pki.ca.clone()),
        ..Options::default()
    }
}

#[test]
fn bad_tls_files_are_one_line_and_exit_2_before_the_port_is_bound() {
    let pki = Pki::localhost();
    let missing = pki.dir.join("missing.pem");
    let empty = pki.dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let p = Pki::path;
    for (cert, key, needle) in [
        (p(&missing), p(&pki.key), "cannot read the TLS certificate"),
        (p(&pki.cert), p(&missing), "cannot read the TLS key"),
        (p(&empty), p(&pki.key), "no PEM certificate"),
        (p(&pki.key), p(&pki.key), "no PEM certificate"),
        (p(&pki.cert), p(&empty), "no PEM private key"),
        (p(&pki.cert), p(&pki.cert), "no PEM private key"),
        (p(&pki.cert), p(&pki.other_key), "do not go together"),
    ] {
        // A port that is free now: a server that bound it before failing would be seen.
        let out = Command::new(binary("wisp-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                cert,
                "--tls-key",
                key,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cert} {key}: {err}");
        assert_eq!(err.lines().count(), 1, "{cert} {key}: {err}");
        assert!(err.contains(needle), "{cert} {key}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // Nothing was served: no ready line.
        assert!(
            out.stdout.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // One of the pair alone is a usage error.
    let out = Command::new(binary("wisp-server"))
        .args(["--tls-cert", p(&pki.cert)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[test]
fn python_websockets_client_over_wss() {
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &[]);
    let mut cmd = Command::new(python());
    cmd.args(["tests/peers/py_client.py", "--ca", Pki::path(&pki.ca)]);
    run_checklist(cmd, &s.wss_url("/echo"));
    let mut cmd = Command::new(python());
    cmd.args(["tests/peers/py_client.py", "--ca", Pki::path(&pki.ca)]);
    run_checklist_deflate(cmd, &s.wss_url("/echo"), "on");
}

#[test]
fn node_ws_client_over_wss() {
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &[]);
    let mut cmd = node();
    cmd.args(["tests/peers/node_client.js", "--ca", Pki::path(&pki.ca)]);
    run_checklist(cmd, &s.wss_url("/echo"));
}

#[test]
fn wisp_client_against_python_websockets_wss_server() {
    let pki = Pki::localhost();
    let mut cmd = Command::new(python());
    cmd.args([
        "tests/peers/py_echo_server.py",
        "--tls-cert",
        Pki::path(&pki.cert),
        "--tls-key",
        Pki::path(&pki.key),
    ]);
    let (_peer, port) = start_peer(cmd);
    // By IP address and by name, each checked against the certificate.
    assert_eq!(
        wisp_client_checklist_at(&format!("wss://127.0.0.1:{port}/"), &options(&pki)),
        None
    );
    let user = Options {
        tls: Some(pki.client_config()),
        ..Options::default()
    };
    assert_eq!(
        wisp_client_checklist_at(&format!("wss://localhost:{port}/"), &user),
        None
    );
}

#[test]
fn wisp_client_refuses_an_untrusted_or_misnamed_certificate() {
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &[]);
    // Mozilla's roots do not know the test CA.
    let e = connect_with(&s.wss_url("/echo"), &Options::default()).unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    // In words, with rustls's error as the source.
    assert!(
        e.to_string()
            .contains("is not signed by a CA this client trusts"),
        "{e}"
    );
    let source = std::error::Error::source(&e).and_then(std::error::Error::source);
    assert!(
        matches!(
            source.and_then(|s| s.downcast_ref::<rustls::Error>()),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{source:?}"
    );
    // A certificate for another name.
    let other = Pki::new(&["other.example"]);
    let s2 = Server::start_tls(&other, &[]);
    let e = connect_with(&s2.wss_url("/echo"), &options(&other)).unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    assert!(e.to_string().contains("is not for the name"), "{e}");
    // An unreadable CA file.
    let bad = Options {
        ca: Some(pki.dir.join("nope.pem")),
        ..Options::default()
    };
    let e = connect_with(&s.wss_url("/echo"), &bad).unwrap_err();
    assert!(e.to_string().contains("cannot read the CA file"), "{e}");
    // The CLI: one line, exit 1.
    for (args, needle) in [
        (
            vec![s.wss_url("/echo")],
            "not signed by a CA this client trusts",
        ),
        (
            vec![
                s2.wss_url("/echo"),
                "--ca".into(),
                Pki::path(&other.ca).into(),
            ],
            "is not for the name",
        ),
    ] {
        let out = client().args(&args).args(["--send", "x"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("wisp-client: TLS: the certificate of 127.0.0.1 "),
            "{err}"
        );
        assert!(err.contains(needle), "{err}");
    }
    // The server logged why each handshake failed, and serves on.
    let ok = client()
        .args([
            &s.wss_url("/echo"),
            "--ca",
            Pki::path(&pki.ca),
            "--send",
            "still here",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "still here\n");
    wait_until(10, "the server's log of the refused handshake", || {
        s.logs()
            .iter()
            .any(|l| l.contains("dropped: TLS: received fatal alert"))
    });
}

#[test]
fn https_serves_the_page_and_every_route_over_wss() {
    let pki = Pki::localhost();
    let web = root().join("web");
    let s = Server::start_tls(&pki, &["--web", &web.to_string_lossy()]);
    let page = https(&pki, s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&page), 200, "{page}");
    assert!(page.contains("<html"), "{page}");
    let css = https(&pki, s.port, b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&css), 200);
    let missing = https(&pki, s.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&missing), 404);
    // /echo, /inspect (its first report is the handshake), /chat.
    let mut echo = connect_tls(&pki, s.port, "/echo");
    echo.send_text("over TLS").unwrap();
    assert_eq!(
        echo.read_message().unwrap(),
        Message::Text("over TLS".into())
    );
    let mut inspect = connect_tls(&pki, s.port, "/inspect");
    let Message::Text(first) = inspect.read_message().unwrap() else {
        panic!("no handshake report")
    };
    assert!(first.contains("handshake"), "{first}");
    let mut a = connect_tls(&pki, s.port, "/chat?room=t&name=a");
    let mut b = connect_tls(&pki, s.port, "/chat?room=t&name=b");
    a.send_text("hello b").unwrap();
    let got = (0..5)
        .map(|_| b.read_message().unwrap())
        .find(|m| matches!(m, Message::Text(t) if t.contains("hello b")));
    assert!(got.is_some(), "b never got a's message");
    // A close with code and reason.
    echo.close(wisp_codec::CloseCode(4001), "done").unwrap();
    assert_eq!(close_code_tls(&mut echo).map(|c| c.0), Some(4001));
}

/// The server's close code and reason (reads until its close frame).
fn close_code_tls(ws: &mut RawTls) -> Option<(u16, String)> {
    loop {
        match ws.read_message() {
            Ok(Message::Close(f)) => {
                return Some(f.map_or((1005, String::new()), |f| (f.code.0, f.reason)))
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

#[test]
fn many_large_messages_sent_before_any_read_all_come_back() {
    // 4 MiB sent before reading anything: the server's writes meet a full socket
    // (rustls' buffer full, WouldBlock), its output passes the high-water mark and it
    // stops reading, then drains on writable edges as the client reads; every message
    // comes back whole and in order. A write that cannot finish is an error, not a hang.
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &[]);
    let mut ws = connect_tls(&pki, s.port, "/echo");
    ws.get_ref()
        .sock
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let n = 16;
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|k| (0..256 * 1024).map(|i| ((i + k) % 251) as u8).collect())
        .collect();
    for m in &msgs {
        ws.send_binary(m).unwrap();
    }
    for (i, m) in msgs.into_iter().enumerate() {
        assert_eq!(
            ws.read_message().unwrap(),
            Message::Binary(m),
            "message {i}"
        );
    }
}

/// Counts what a TLS server holds: threads and descriptors, with one idle peer.
fn settled(s: &Server) -> (usize, usize) {
    (s.threads(), s.fds())
}

#[test]
fn bad_input_on_the_tls_port_drops_that_connection_only() {
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &["--handshake-timeout", "2s"]);
    // A peer that keeps echoing through every attack.
    let mut good = connect_tls(&pki, s.port, "/echo");
    let mut check = |what: &str| {
        good.send_text(what).unwrap();
        assert_eq!(
            good.read_message().unwrap(),
            Message::Text(what.into()),
            "{what}"
        );
    };
    check("before");
    let (threads, fds) = settled(&s);

    // Plain HTTP on the TLS port.
    let plain = http(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!plain.contains("200 OK"), "{plain}");
    check("after plain HTTP");

    // Garbage.
    let mut g = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    g.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    g.write_all(&[0xde; 3000]).unwrap();
    let mut sink = Vec::new();
    let _ = g.read_to_end(&mut sink);
    check("after garbage");

    // A ClientHello dribbled a byte a second: dropped at the handshake deadline
    // while others are served.
    let mut hello = Vec::new();
    {
        let conn = rustls::ClientConnection::new(
            pki.client_config(),
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
        )
        .unwrap();
        let mut conn = conn;
        conn.write_tls(&mut hello).unwrap();
    }
    let mut d = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut sent = 0;
    let dropped = loop {
        if d.write_all(&hello[sent..sent + 1]).is_err() {
            break true;
        }
        sent += 1;
        check("while a ClientHello dribbles");
        std::thread::sleep(Duration::from_secs(1));
        let mut b = [0u8; 1];
        d.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        match d.read(&mut b) {
            Ok(0) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            _ => {}
        }
        if sent == hello.len() - 1 {
            break false;
        }
    };
    assert!(
        dropped,
        "the dribbled ClientHello was not dropped before it was whole"
    );

    // A fatal alert mid-stream, after the WebSocket handshake and half a frame.
    let mut victim = connect_tls(&pki, s.port, "/echo");
    victim.send_text("ok").unwrap();
    assert_eq!(victim.read_message().unwrap(), Message::Text("ok".into()));
    let frame = client_frame(0x82, &[7; 1000]);
    victim.get_mut().write_all(&frame[..500]).unwrap();
    // An unencrypted alert record (level fatal, internal_error) on the raw socket.
    victim
        .get_mut()
        .sock
        .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50])
        .unwrap();
    let mut rest = Vec::new();
    let _ = victim.get_mut().sock.read_to_end(&mut rest);
    check("after an alert mid-stream");

    // A close_notify mid-frame: an end of stream, the session is dropped.
    let mut cn = connect_tls(&pki, s.port, "/echo");
    cn.get_mut().write_all(&frame[..300]).unwrap();
    cn.get_mut().conn.send_close_notify();
    cn.get_mut().flush().unwrap();
    let _ = cn.get_mut().sock.read_to_end(&mut rest);
    check("after a close_notify mid-frame");

    let logs = s.logs();
    for needle in [
        "dropped: TLS: received corrupt message",
        "dropped: no complete TLS handshake within the handshake timeout",
        "read failed: TLS:",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(needle)),
            "no log line with {needle:?}:\n{}",
            logs.join("\n")
        );
    }
    assert!(logs.iter().all(|l| !l.contains("panicked")), "{logs:?}");
    drop((victim, cn, d, g));
    wait_until(10, "the dropped connections' descriptors closed", || {
        settled(&s) == (threads, fds)
    });
    check("at the end");
}

/// A split wisp-client over `wss://`: one thread sends 2,000 messages (some of 256 KiB,
/// so the flush thread meets a full socket) while the other receives their echoes
/// through the shared TLS session; then the closing handshake over TLS.
#[test]
fn split_client_over_wss() {
    let pki = Pki::localhost();
    let s = Server::start_tls(&pki, &[]);
    let client = connect_with(&s.wss_url("/echo"), &options(&pki)).unwrap();
    let (mut reader, writer) = client.split().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    const N: usize = 2000;
    let message = |i: usize| -> Vec<u8> {
        let len = if i % 200 == 199 {
            256 << 10
        } else {
            (i % 61) * 50
        };
        (0..len).map(|k| (i * 7 + k) as u8).collect()
    };
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            writer.send_binary(&message(i)).unwrap();
        }
        writer
    });
    for i in 0..N {
        match reader.receive().unwrap() {
            Message::Binary(b) => assert!(b == message(i), "message {i} ({} bytes)", b.len()),
            other => panic!("message {i}: {other:?}"),
        }
    }
    let writer = sender.join().unwrap();
    writer.close(wisp_client::CloseCode::NORMAL, "bye").unwrap();
    match reader.receive() {
        Ok(Message::Close(Some(f))) => assert_eq!(f.code.0, 1000),
        other => panic!("the server's close: {other:?}"),
    }
    assert!(matches!(reader.receive(), Err(Error::Closed)));
}
