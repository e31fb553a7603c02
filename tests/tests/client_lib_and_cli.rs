//! wisp-client, the library and the CLI, against a running wisp-server.

use std::io::Write;
use std::process::{Command, Stdio};

use wisp_client::{connect, connect_with, Error, Message, Options};
use wisp_tests::*;

#[test]
fn bad_urls_and_refused_connections_are_clear_errors() {
    assert!(matches!(connect("ws:///echo"), Err(Error::InvalidUrl(_))));
    assert!(matches!(
        connect("ws://:9001/echo"),
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        connect("http://127.0.0.1/"),
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        connect("ws://127.0.0.1:99999/"),
        Err(Error::InvalidUrl(_))
    ));
    assert!(matches!(
        connect("no url at all"),
        Err(Error::InvalidUrl(_))
    ));
    // A port nobody listens on: the reserved port 1 (tcpmux). A port bound and closed
    // again can be taken by a parallel test's server before the connect.
    let e = connect("ws://127.0.0.1:1/").unwrap_err();
    assert!(matches!(e, Error::Connect(..)), "{e:?}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
}

#[test]
fn library_send_receive_ping_close_and_subprotocol() {
    let s = Server::start(&["--subprotocol", "wisp.v1"]);
    let mut c = connect_with(
        &s.url("/echo"),
        &Options {
            protocols: vec!["other".into(), "wisp.v1".into()],
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(c.protocol(), Some("wisp.v1"));
    c.send_text("héllo").unwrap();
    assert_eq!(c.receive().unwrap(), Message::Text("héllo".into()));
    let big = vec![7u8; 1 << 20];
    c.send_binary(&big).unwrap();
    assert_eq!(c.receive().unwrap(), Message::Binary(big));
    c.ping(b"are you there").unwrap();
    assert_eq!(
        c.receive().unwrap(),
        Message::Pong(b"are you there".to_vec())
    );
    let f = c
        .close(wisp_client::CloseCode::NORMAL, "bye")
        .unwrap()
        .unwrap();
    assert_eq!(f.code.0, 1000);
    assert!(matches!(c.send_text("late"), Err(Error::Usage(_))));
    // A refused handshake names the status and keeps the body that says why.
    let e = connect(&s.url("/nope")).unwrap_err();
    match &e {
        Error::Refused { status: 404, body } => {
            assert!(body.contains("no WebSocket endpoint here"), "{body:?}")
        }
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
    assert!(
        e.to_string().contains("HTTP 404: no WebSocket endpoint"),
        "{e}"
    );
}

fn client() -> Command {
    Command::new(binary("wisp-client"))
}

/// wisp-client in stdin mode on `url`, every stream piped.
fn stdin_client(url: &str) -> std::process::Child {
    client()
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn cli_send_count_and_show_frames() {
    let s = Server::start(&[]);
    let out = client()
        .args([
            &s.url("/echo"),
            "--send",
            "Hello",
            "--send",
            "wörld",
            "--count",
            "2",
        ])
        .arg("--show-frames")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Hello\nwörld\nHello\nwörld\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    // Our frames: masked, with their key; the server's: unmasked.
    assert!(
        err.lines().any(
            |l| l.starts_with("> FIN=1 RSV=000 opcode=0x1 (text) MASK=1 key=")
                && l.contains("payload_len=5 | 81 85 ")
        ),
        "{err}"
    );
    assert!(err
        .contains("< FIN=1 RSV=000 opcode=0x1 (text) MASK=0 payload_len=5 | 81 05 48 65 6c 6c 6f"));
    assert!(err.contains("opcode=0x8 (close)"));
    let out = client()
        .args([&s.url("/echo"), "--binary", "--send", "AB"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "binary(2): 41 42\n");
}

#[test]
fn cli_stdin_lines_out_messages_in() {
    let s = Server::start(&[]);
    let mut child = stdin_client(&s.url("/echo"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "one\ntwo\nthree\n");
}

#[test]
fn cli_exit_status_and_errors() {
    let s = Server::start(&[]);
    // An unclean close: the code and reason on stderr, non-zero status.
    let out = client()
        .args([&s.url("/chat"), "--binary", "--send", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("1003") && err.contains("chat takes text only"),
        "{err}"
    );
    for (args, code, needle) in [
        (
            vec!["wss://h/", "--ca", "/nonexistent.pem"],
            1,
            "cannot read the CA file",
        ),
        (vec!["ws:///x"], 2, "no host"),
        (vec!["http://h/"], 2, "is not ws://"),
        (vec!["ws://h:99999/"], 2, "invalid port"),
        (vec![], 2, "required arguments were not provided: <URL>"),
        (vec!["ws://h/", "--count", "zero"], 2, "--count"),
        (
            vec!["ws://h/", "--bogus"],
            2,
            "unexpected argument '--bogus'",
        ),
    ] {
        let out = client().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
    }
    // The refusal's body reaches the user.
    let out = client()
        .args([&s.url("/nope"), "--send", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("HTTP 404: no WebSocket endpoint here"),
        "{err}"
    );
    for v in ["--version", "-V"] {
        let out = client().arg(v).output().unwrap();
        assert!(out.status.success(), "{v}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("wisp-client {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    let out = client().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("--show-frames"));
}

/// `--opt=value` works as in every clap program.
#[test]
fn cli_takes_inline_values() {
    let s = Server::start(&[]);
    let out = client()
        .args([&s.url("/echo"), "--send=x", "--count=2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "x\nx\n");
}

/// An IPv6 peer prints bracketed, as in a URL.
#[test]
fn ipv6_addresses_print_bracketed() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    };
    let port = l.local_addr().unwrap().port();
    drop(l);
    let out = client()
        .arg(format!("ws://[::1]:{port}/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("cannot connect to [::1]:{port}:")),
        "{err}"
    );
}

/// Ctrl-C in stdin mode sends a close frame (1000), waits for the answer, exits 130.
#[test]
fn ctrl_c_in_stdin_mode_closes_cleanly() {
    let s = Server::start(&[]);
    let mut child = stdin_client(&s.url("/echo"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    stdin.flush().unwrap();
    // Wait until the echo is printed, so the session is up, then SIGINT.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "hello\n");
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("interrupted; closed with 1000"), "{err}");
    drop(stdin);
    // The server saw a close handshake with 1000, not a dropped TCP connection (1006).
    let mut logs = Vec::new();
    wait_until(5, "the close log line", || {
        logs.extend(s.logs());
        logs.iter().any(|l| l.contains("closed /echo"))
    });
    let closed = logs.iter().find(|l| l.contains("closed /echo")).unwrap();
    assert!(closed.contains("code 1000"), "{closed}");
}
