//! Interop with independent peers, both ways: Python `websockets` (`.venv`) and Node
//! `ws` (`node_modules`), installed by `scripts/setup.sh`. Their checklist clients
//! (tests/peers/*_client.*) against wisp-server /echo, and wisp-client against their
//! echo servers with the same list: text and binary of 0 B, 125 B, 126 B, 64 KiB and
//! 1 MiB, fragmented messages, ping, and the close code and reason as seen.

mod server_harness;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use server_harness::*;
use wisp_client::{connect_with, Message, Options};
use wisp_codec::OpCode;

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

fn node() -> Command {
    assert!(
        root().join("node_modules/ws").exists(),
        "node_modules/ws is missing: run scripts/setup.sh"
    );
    let mut c = Command::new("node");
    c.current_dir(root());
    c
}

/// Runs a peer's checklist client against `url` and checks every step passed.
fn run_checklist(cmd: Command, url: &str) {
    run_checklist_deflate(cmd, url, "off");
}

/// [`run_checklist`] with the peer's `--deflate` mode (off, on, no-takeover): with
/// compression on, the agreed extension the peer printed must be permessage-deflate.
fn run_checklist_deflate(mut cmd: Command, url: &str, deflate: &str) {
    cmd.args(["--deflate", deflate]);
    let out = cmd
        .arg(url)
        .args(["--timeout", "60"])
        .current_dir(root())
        .output()
        .expect("run the peer client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "peer client failed:\n{stdout}\n{stderr}"
    );
    for step in [
        "text 0",
        "text 125",
        "text 126",
        "text 65536",
        "text 1048576",
        "binary 0",
        "binary 125",
        "binary 126",
        "binary 65536",
        "binary 1048576",
        "fragmented text",
        "fragmented binary",
        "ping",
        "close",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {step}")),
            "no `ok {step}`:\n{stdout}"
        );
    }
    let agreed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("extensions "))
        .unwrap_or("");
    assert_eq!(
        agreed.starts_with("permessage-deflate"),
        deflate != "off",
        "{stdout}"
    );
    // Python prints the whole header value; Node's `ws.extensions` has the names only.
    if deflate == "no-takeover" && agreed.contains(';') {
        assert!(agreed.contains("client_no_context_takeover"), "{agreed}");
    }
    // The close code and reason as the peer saw them: our echo of its 1000.
    assert!(
        stdout.lines().any(|l| l.starts_with("close 1000")),
        "{stdout}"
    );
}

#[test]
fn python_websockets_client_against_wisp_server() {
    let s = Server::start(&[]);
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_client.py");
    run_checklist(cmd, &s.url("/echo"));
}

#[test]
fn node_ws_client_against_wisp_server() {
    let s = Server::start(&[]);
    let mut cmd = node();
    cmd.arg("tests/peers/node_client.js");
    run_checklist(cmd, &s.url("/echo"));
}

#[test]
fn python_websockets_client_against_wisp_server_with_deflate() {
    let s = Server::start(&[]);
    for mode in ["on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.arg("tests/peers/py_client.py");
        run_checklist_deflate(cmd, &s.url("/echo"), mode);
    }
}

#[test]
fn node_ws_client_against_wisp_server_with_deflate() {
    let s = Server::start(&[]);
    for mode in ["on", "no-takeover"] {
        let mut cmd = node();
        cmd.arg("tests/peers/node_client.js");
        run_checklist_deflate(cmd, &s.url("/echo"), mode);
    }
}

#[test]
fn wisp_client_against_python_websockets_server_with_deflate() {
    for mode in ["on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.args(["tests/peers/py_echo_server.py", "--deflate", mode]);
        let (_peer, port) = start_peer(cmd);
        let p = wisp_client_checklist(port);
        let p = p.expect("permessage-deflate agreed");
        // websockets answers with its defaults: a 12-bit server window.
        assert_eq!(p.client_no_context_takeover, mode == "no-takeover", "{p:?}");
    }
}

#[test]
fn wisp_client_against_node_ws_server_with_deflate() {
    for mode in ["on", "no-takeover"] {
        let mut cmd = node();
        cmd.args(["tests/peers/node_echo_server.js", "--deflate", mode]);
        let (_peer, port) = start_peer(cmd);
        let p = wisp_client_checklist(port).expect("permessage-deflate agreed");
        assert_eq!(p.server_no_context_takeover, mode == "no-takeover", "{p:?}");
    }
}

/// Starts a peer echo server and returns it with its port.
fn start_peer(mut cmd: Command) -> (Guard, u16) {
    cmd.args(["--port", "0", "--timeout", "120"])
        .current_dir(root())
        .stderr(Stdio::inherit());
    let (child, line) = spawn_ready(&mut cmd);
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no LISTENING line: {line:?}"));
    (Guard(child), port)
}

fn text_of_size(n: usize) -> String {
    let unit = "aé€😀"; // 1 + 2 + 3 + 4 bytes
    let s = unit.repeat(n / 10) + &"x".repeat(n % 10);
    assert_eq!(s.len(), n);
    s
}

/// The checklist, with wisp-client as the client; returns the deflate parameters agreed.
fn wisp_client_checklist(port: u16) -> Option<wisp_codec::extension::DeflateParams> {
    let url = format!("ws://127.0.0.1:{port}/");
    let mut c = connect_with(&url, &Options::default()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for n in [0, 125, 126, 65536, 1 << 20] {
        let t = text_of_size(n);
        c.send_text(&t).unwrap();
        assert_eq!(c.receive().unwrap(), Message::Text(t), "text {n}");
        let b: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
        c.send_binary(&b).unwrap();
        assert_eq!(c.receive().unwrap(), Message::Binary(b), "binary {n}");
    }
    // Fragmented text (a multibyte character split across frames) and binary (with an
    // empty frame in the middle, and a ping between fragments).
    let euro = "€".as_bytes();
    c.send_frame(OpCode::Text, false, b"Hello, w").unwrap();
    c.send_frame(OpCode::Continuation, false, &euro[..1])
        .unwrap();
    c.send_frame(OpCode::Continuation, true, &euro[1..])
        .unwrap();
    assert_eq!(c.receive().unwrap(), Message::Text("Hello, w€".into()));
    c.send_frame(OpCode::Binary, false, &[1; 1000]).unwrap();
    c.send_frame(OpCode::Continuation, false, &[]).unwrap();
    c.ping(b"between").unwrap();
    c.send_frame(OpCode::Continuation, true, &[2; 70000])
        .unwrap();
    assert_eq!(c.receive().unwrap(), Message::Pong(b"between".to_vec()));
    let mut want = vec![1u8; 1000];
    want.extend([2u8; 70000]);
    assert_eq!(c.receive().unwrap(), Message::Binary(want));
    // Ping with a payload.
    c.ping(b"wisp-ping-\x00\xff").unwrap();
    assert_eq!(
        c.receive().unwrap(),
        Message::Pong(b"wisp-ping-\x00\xff".to_vec())
    );
    // Close 1000 "bye": the peer answers 1000.
    let deflate = c.deflate();
    let f = c
        .close(wisp_client::CloseCode::NORMAL, "bye")
        .unwrap()
        .expect("a close code");
    assert_eq!(f.code.0, 1000, "peer answered {f:?}");
    deflate
}

#[test]
fn wisp_client_against_python_websockets_server() {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py");
    let (_peer, port) = start_peer(cmd);
    assert_eq!(wisp_client_checklist(port), None);
}

#[test]
fn wisp_client_against_node_ws_server() {
    let mut cmd = node();
    cmd.arg("tests/peers/node_echo_server.js");
    let (_peer, port) = start_peer(cmd);
    assert_eq!(wisp_client_checklist(port), None);
}

/// A split wisp-client against the Python websockets echo server, which pings every
/// 50 ms and fails the connection (1011) when a pong is 2 s late: one thread sends
/// 10,000 messages (some of 512 KiB, so the writer blocks on a full socket) while the
/// other receives their echoes. Nothing is lost or reordered, the reader answers the
/// pings by itself throughout, and the closing handshake ends it.
#[test]
fn split_client_sends_and_receives_from_two_threads_while_answering_pings() {
    let mut cmd = Command::new(python());
    cmd.args(["tests/peers/py_echo_server.py", "--ping-interval", "0.05"]);
    let (_peer, port) = start_peer(cmd);
    let options = Options {
        deflate: false,
        ..Options::default()
    };
    let client = connect_with(&format!("ws://127.0.0.1:{port}/"), &options).unwrap();
    let (mut reader, writer) = client.split().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    const N: usize = 10_000;
    let message = |i: usize| -> Vec<u8> {
        let len = if i % 500 == 499 {
            512 << 10
        } else {
            (i % 97) * 100
        };
        (0..len).map(|k| (i + k) as u8).collect()
    };
    let started = std::time::Instant::now();
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            writer.send_binary(&message(i)).unwrap();
        }
        writer
    });
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let mut pings = 0;
        let mut i = 0;
        while i < N {
            match reader.receive().unwrap() {
                Message::Binary(b) => {
                    assert!(b == message(i), "message {i} differs ({} bytes)", b.len());
                    i += 1;
                }
                Message::Ping(_) => pings += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let _ = done_tx.send(());
        (reader, pings)
    });
    // A deadlock would stop both threads: the harness gives them a minute, no more.
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the two halves did not finish: deadlock?");
    let writer = sender.join().unwrap();
    let (mut reader, pings) = receiver.join().unwrap();
    println!(
        "{N} messages echoed through a split client in {:?}, {pings} server pings answered",
        started.elapsed()
    );
    assert!(pings >= 1, "the server sent no ping during the run");
    writer.close(wisp_codec::CloseCode::NORMAL, "done").unwrap();
    // The server's answer, then the end.
    let answer = loop {
        match reader.receive() {
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(f)) => break f,
            other => panic!("after our close: {other:?}"),
        }
    };
    assert_eq!(answer.map(|f| f.code.0), Some(1000));
    assert!(matches!(reader.receive(), Err(wisp_client::Error::Closed)));
    assert_eq!(writer.state(), wisp_codec::State::Closed);
}
