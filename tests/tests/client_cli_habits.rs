//! The CLI habits users bring from wscat and websocat, each against a real server:
//! --origin, --pin-cert and the usual self-signed certificate, --cert/--key (mutual TLS
//! with Python `websockets`), --slash commands, -P, --ping-interval, --max-messages,
//! --timestamps, --jsonl; bad arguments (exit 2) and failures (exit 1), one line each.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use wisp_tests::peers::{python, start_peer};
use wisp_tests::tls::Pki;
use wisp_tests::*;

fn client() -> Command {
    let mut c = Command::new(binary("wisp-client"));
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(args: &[&str]) -> Output {
    client().args(args).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 1 and one line on stderr, which is returned.
fn fails(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    err
}

fn stdin_client(args: &[&str]) -> Child {
    client()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for the child to exit by itself.
fn exits_by_itself(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn origin_is_sent() {
    let s = Server::start(&["--origin", "https://good.example"]);
    let ok = run(&[
        &s.url("/echo"),
        "--origin",
        "https://good.example",
        "--send",
        "hi",
    ]);
    assert!(ok.status.success(), "{ok:?}");
    let refused = run(&[
        &s.url("/echo"),
        "--origin",
        "https://evil.example",
        "--send",
        "hi",
    ]);
    assert!(fails(&refused).contains("HTTP 403"), "{refused:?}");
}

/// The certificate `openssl req -x509` makes: self-signed, CA:TRUE, used by the server.
fn self_signed_ca_true(dir: &std::path::Path) -> (String, String) {
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    let (c, k) = (dir.join("self.pem"), dir.join("self-key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
fn a_self_signed_ca_certificate_is_explained_and_can_be_pinned() {
    let pki = Pki::localhost();
    let (cert, key) = self_signed_ca_true(&pki.dir);
    let s = Server::start(&["--tls-cert", &cert, "--tls-key", &key]);
    let url = format!("wss://localhost:{}/echo", s.port);
    let err = fails(&run(&[&url, "--ca", &cert, "--send", "x"]));
    assert!(err.contains("is a CA certificate"), "{err}");
    assert!(err.contains("--pin-cert"), "{err}");
    assert!(!err.contains("OtherError"), "no Debug dump: {err}");
    let ok = run(&[&url, "--pin-cert", &cert, "--send", "pinned"]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(stdout(&ok), "pinned\n");
    // Another certificate pinned: refused, in words.
    let err = fails(&run(&[
        &url,
        "--pin-cert",
        Pki::path(&pki.ca),
        "--send",
        "x",
    ]));
    assert!(
        err.contains("not signed by a CA this client trusts"),
        "{err}"
    );
    // Mozilla's roots: webpki's CA:TRUE check comes first, the same sentence.
    let err = fails(&run(&[&url, "--send", "x"]));
    assert!(err.contains("is a CA certificate"), "{err}");
}

#[test]
fn client_certificates_with_python_websockets_requiring_them() {
    let server_pki = Pki::localhost();
    let client_pki = Pki::new(&["wisp-client"]);
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py")
        .args(["--tls-cert", Pki::path(&server_pki.cert)])
        .args(["--tls-key", Pki::path(&server_pki.key)])
        .args(["--client-ca", Pki::path(&client_pki.ca)]);
    let (_peer, port) = start_peer(cmd);
    let url = format!("wss://localhost:{port}/");
    let ca = Pki::path(&server_pki.ca);
    let ok = run(&[
        &url,
        "--ca",
        ca,
        "--cert",
        Pki::path(&client_pki.cert),
        "--key",
        Pki::path(&client_pki.key),
        "--send",
        "mutual",
    ]);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(stdout(&ok), "mutual\n");
    // No client certificate: Python's ssl ends the connection after TLS 1.3's
    // handshake, without an alert; the line says what is likely missing.
    let err = fails(&run(&[&url, "--ca", ca, "--send", "x"]));
    assert!(
        err.contains("client certificate? --cert FILE --key FILE"),
        "{err}"
    );
    // A key that is not the certificate's; a file with no key.
    let err = fails(&run(&[
        &url,
        "--ca",
        ca,
        "--cert",
        Pki::path(&client_pki.cert),
        "--key",
        Pki::path(&client_pki.other_key),
    ]));
    assert!(err.contains("client key"), "{err}");
    let err = fails(&run(&[
        &url,
        "--ca",
        ca,
        "--cert",
        Pki::path(&client_pki.cert),
        "--key",
        Pki::path(&client_pki.ca),
    ]));
    assert!(err.contains("no PEM private key"), "{err}");
}

#[test]
fn slash_commands_and_show_ping_pong() {
    let s = Server::start(&[]);
    let mut child = stdin_client(&[&s.url("/echo"), "--slash", "-P"]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/ping are you there\n//literal\n/pong unsolicited\n/close 4000 bye\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("[pong] are you there\n"), "{text}");
    assert!(text.contains("/literal\n"), "{text}");
    // Without --slash a line starting with / is a message like any other.
    let mut child = stdin_client(&[&s.url("/echo")]);
    child.stdin.take().unwrap().write_all(b"/ping x\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "/ping x\n");
}

#[test]
fn close_command_sends_the_code_and_reason() {
    let s = Server::start(&[]);
    // /echo answers a close with the same code and reason; --show-frames shows both.
    let mut child = stdin_client(&[&s.url("/echo"), "--slash", "--show-frames"]);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"/close 4000 bye now\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // Ours: 2 bytes of code and "bye now", masked; the server answers with the code,
    // 4000 (0f a0).
    let frames = String::from_utf8_lossy(&out.stderr);
    let ours = frames
        .lines()
        .find(|l| l.starts_with("> FIN=1 RSV=000 opcode=0x8 (close) MASK=1"))
        .unwrap_or_else(|| panic!("{frames}"));
    let wire: Vec<u8> = ours
        .split(" | ")
        .nth(1)
        .unwrap()
        .split(' ')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    let key = &wire[2..6];
    let payload: Vec<u8> = wire[6..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    assert_eq!(payload, b"\x0f\xa0bye now");
    assert!(
        frames.contains("< FIN=1 RSV=000 opcode=0x8 (close) MASK=0 payload_len=2 | 88 02 0f a0"),
        "{frames}"
    );
}

#[test]
fn ping_interval_with_jsonl_and_pongs_shown() {
    let s = Server::start(&[]);
    let mut child = stdin_client(&[
        &s.url("/echo"),
        "--ping-interval",
        "0.05",
        "--ping-timeout",
        "5",
        "-P",
        "--jsonl",
    ]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..20 {
        let line = lines.next().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
        seen.push((
            v["direction"].as_str().unwrap().to_string(),
            v["type"].as_str().unwrap().to_string(),
        ));
        if seen.contains(&("in".into(), "pong".into())) {
            break;
        }
    }
    assert!(seen.contains(&("out".into(), "ping".into())), "{seen:?}");
    assert!(seen.contains(&("in".into(), "pong".into())), "{seen:?}");
    drop(child.stdin.take());
    assert!(exits_by_itself(&mut child).success());
}

#[test]
fn max_messages_exits_after_n() {
    let s = Server::start(&[]);
    let mut child = stdin_client(&[&s.url("/echo"), "--max-messages", "2"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\nthree\n").unwrap();
    // stdin stays open: the client stops by itself after two messages.
    let status = exits_by_itself(&mut child);
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out, "one\ntwo\n");
    drop(stdin);
}

#[test]
fn timestamps_and_json_lines() {
    let s = Server::start(&[]);
    let out = run(&[&s.url("/echo"), "--send", "stamped", "--timestamps"]);
    assert!(out.status.success(), "{out:?}");
    let line = stdout(&out);
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(rest, "stamped\n");
    assert_eq!(time.len(), "2026-12-07T20:13:00.123Z".len(), "{time}");
    assert!(time.as_bytes()[10] == b'T' && time.ends_with('Z'), "{time}");

    let out = run(&[&s.url("/echo"), "--send", "h\u{e9}\"llo", "--jsonl"]);
    assert!(out.status.success(), "{out:?}");
    let v: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(
        (v[0]["direction"].as_str(), v[1]["direction"].as_str()),
        (Some("out"), Some("in"))
    );
    assert_eq!(v[1]["type"], "text");
    assert_eq!(v[1]["text"], "h\u{e9}\"llo");
    let out = run(&[&s.url("/echo"), "--send", "AB", "--binary", "--jsonl"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["base64"].as_str()),
        (Some("binary"), Some("QUI="))
    );
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["ws://h/", "--ping-interval", "soon"][..],
        &["ws://h/", "--cert", "c.pem"],
        &["ws://h/", "--max-messages", "0"],
        &["ws://h/", "--jsonl", "--timestamps"],
        &["ws://h/", "--ca", "a.pem", "--pin-cert", "b.pem"],
        &["ws://h/", "--reconnect", "--send", "x"],
        &["ftp://h/"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_dns_failure_is_said_by_name() {
    let err = fails(&run(&["ws://wisp-no-such-host.invalid/", "--send", "x"]));
    assert!(
        err.contains("cannot resolve the host name \"wisp-no-such-host.invalid\""),
        "{err}"
    );
}

#[test]
fn help_shows_every_default() {
    let out = run(&["--help"]);
    let help = stdout(&out);
    for want in [
        "--ping-interval <SECS>",
        "[default: 0]",
        "[default: 10]",
        "[default: 30]",
        "[default: 1000]",
        "--proxy <URL>",
        "--no-proxy",
        "--reconnect",
        "--slash",
        "--jsonl",
    ] {
        assert!(help.contains(want), "{want} missing from --help:\n{help}");
    }
}

/// A server that completes the opening handshake, then reads everything and answers
/// nothing (no pong, no close): the peer `--ping-timeout` is for.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "EOF before the request head");
            head.extend_from_slice(&b[..n]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let key = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_string())
            })
            .expect("a Sec-WebSocket-Key");
        let accept = wisp_codec::handshake::accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        );
        s.write_all(response.as_bytes()).unwrap();
        // Read (and drop) until the client goes away.
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    (port, t)
}

#[test]
fn ping_timeout_fails_when_no_pong_comes() {
    let (port, server) = silent_server();
    let mut child = stdin_client(&[
        &format!("ws://127.0.0.1:{port}/"),
        "--ping-interval",
        "0.1",
        "--ping-timeout",
        "0.3",
    ]);
    // stdin stays open: only the missing pong ends the session.
    let stdin = child.stdin.take();
    let status = exits_by_itself(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("no pong within"), "{err}");
    drop(stdin);
    server.join().unwrap();
}
