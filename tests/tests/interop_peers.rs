//! Interop with independent peers, both ways: Python `websockets` (`.venv`) and Node
//! `ws` (`node_modules`), installed by `scripts/setup.sh`. Their checklist clients
//! (tests/peers/*_client.*) against wisp-server /echo, and wisp-client against their
//! echo servers with the same list: text and binary of 0 B, 125 B, 126 B, 64 KiB and
//! 1 MiB, fragmented messages, ping, and the close code and reason as seen.

use std::process::Command;
use std::time::Duration;

use wisp_client::{connect_with, Message, Options};
use wisp_tests::peers::*;
use wisp_tests::*;

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

/// Both peers' clients, with each of their offers, against the dedicated mode (context
/// takeover both ways, as offered) with a small window (`--deflate dedicated
/// --deflate-window 10`): the checklist passes compressed, and Python's agreed header
/// (Node shows only the extension's name) keeps the window, and takeover unless the
/// offer declined it.
#[test]
fn python_and_node_clients_against_wisp_server_in_dedicated_mode() {
    let s = Server::start(&["--deflate", "dedicated", "--deflate-window", "10"]);
    for mode in ["on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.arg("tests/peers/py_client.py");
        let agreed = run_checklist_deflate(cmd, &s.url("/echo"), mode);
        assert!(agreed.contains("server_max_window_bits=10"), "{agreed}");
        // The "no-takeover" offer asks for it itself.
        let asked = mode == "no-takeover";
        assert_eq!(
            agreed.contains("server_no_context_takeover"),
            asked,
            "{agreed}"
        );
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

#[test]
fn wisp_client_against_python_websockets_server() {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py");
    let (_peer, port) = start_peer(cmd);
    assert_eq!(wisp_client_checklist(port), None);
}

/// The CLI sends 20,000 messages of 1 KiB and only then expects their echoes; the
/// Python websockets server stops reading while its echoes wait to be read, so a
/// client that waited on its own writes would wait for ever (as the CLI once did).
/// Every echo comes back, in order, and the CLI closes with 1000. The same lines
/// piped to the CLI's stdin all go out too.
#[test]
fn wisp_client_cli_sends_20000_messages_to_a_python_server_that_pushes_back() {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py");
    let (_peer, port) = start_peer(cmd);
    let url = format!("ws://127.0.0.1:{port}/");
    let text = "k".repeat(1024);
    const N: usize = 20_000;
    let out = Command::new(binary("wisp-client"))
        .args([url.as_str(), "--send", &text, "--count", &N.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert_eq!(stdout.lines().count(), N, "{stderr}");
    assert!(stdout.lines().all(|l| l == text), "{stderr}");

    let mut child = Command::new(binary("wisp-client"))
        .arg(&url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = format!("{text}\n").repeat(N);
    let feeder =
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, lines.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    // Python websockets drops the echoes it still owed once our close arrives (it
    // answers the close first, RFC 6455 §5.5.1), so stdin mode sees most, not all.
    let echoed = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(echoed > 0 && echoed <= N, "{echoed} echoes: {stderr}");
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
        deflate: wisp_client::DeflateMode::Off,
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

/// /chat broadcasts as prepared messages (compressed once for the room in shared mode):
/// 10 members of each peer, with each of its deflate offers, receive every text intact.
#[test]
fn chat_broadcast_to_python_websockets_and_node_ws_members_with_deflate() {
    let s = Server::start(&[]);
    for (peer, script) in [
        ("python", "tests/peers/py_chat.py"),
        ("node", "tests/peers/node_chat.js"),
    ] {
        for mode in ["off", "on", "no-takeover"] {
            let mut cmd = if peer == "python" {
                Command::new(python())
            } else {
                node()
            };
            let url = s.url(&format!("/chat?room={peer}-{mode}"));
            let out = cmd
                .args([
                    script,
                    &url,
                    "--deflate",
                    mode,
                    "--members",
                    "10",
                    "--timeout",
                    "60",
                ])
                .current_dir(root())
                .output()
                .expect("run the chat peer");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{peer} {mode}:\n{stdout}\n{stderr}");
            assert!(
                stdout
                    .lines()
                    .any(|l| l == "ok broadcast 10 members 4 messages"),
                "{peer} {mode}: {stdout}"
            );
            let agreed = stdout
                .lines()
                .find_map(|l| l.strip_prefix("extensions "))
                .unwrap_or("");
            assert_eq!(
                agreed.starts_with("permessage-deflate"),
                mode != "off",
                "{peer} {mode}: {stdout}"
            );
        }
    }
}

/// wisp-client offers either mode (`DeflateMode::Takeover`, `DeflateMode::Shared`) and
/// runs the checklist compressed against wisp-server (its default, shared, answers
/// no takeover to both offers; a server with takeover answers each as offered) and
/// against Python websockets (its defaults: takeover, 12-bit windows; it keeps what
/// the shared offer asks).
#[test]
fn wisp_client_offers_both_modes_to_wisp_server_and_python_websockets() {
    use wisp_client::DeflateMode;
    use wisp_codec::extension::ServerDeflate;

    let shared = Server::start(&[]);
    let mut config = wisp_server::Config::default()
        .listen("127.0.0.1:0")
        .workers(1);
    config.deflate = Some(ServerDeflate {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        ..ServerDeflate::default()
    });
    let takeover = wisp_server::Server::bind(config).unwrap();
    let _demo = wisp_server::demo::Demo::all().install(&takeover).unwrap();
    let takeover_url = format!("ws://{}/echo", takeover.local_addr());
    let stop = takeover.shutdown_handle();
    let running = std::thread::spawn(move || takeover.run());
    let mut cmd = Command::new(python());
    cmd.args(["tests/peers/py_echo_server.py", "--deflate", "on"]);
    let (_python, port) = start_peer(cmd);

    for mode in [DeflateMode::Takeover, DeflateMode::Shared] {
        let options = Options {
            deflate: mode,
            ..Options::default()
        };
        let no_takeover = mode == DeflateMode::Shared;
        let p = wisp_client_checklist_at(&shared.url("/echo"), &options).expect("agreed");
        assert!(
            p.server_no_context_takeover && p.client_no_context_takeover,
            "{p:?}"
        );
        let p = wisp_client_checklist_at(&takeover_url, &options).expect("agreed");
        assert_eq!(p.server_no_context_takeover, no_takeover, "{mode:?}: {p:?}");
        assert_eq!(p.client_no_context_takeover, no_takeover, "{mode:?}: {p:?}");
        let url = format!("ws://127.0.0.1:{port}/");
        let p = wisp_client_checklist_at(&url, &options).expect("agreed");
        assert_eq!(p.server_no_context_takeover, no_takeover, "{mode:?}: {p:?}");
        assert_eq!(p.client_no_context_takeover, no_takeover, "{mode:?}: {p:?}");
    }
    // Off: no offer, nothing agreed.
    let off = Options {
        deflate: DeflateMode::Off,
        ..Options::default()
    };
    assert_eq!(wisp_client_checklist_at(&takeover_url, &off), None);
    stop.shutdown();
    running.join().unwrap().unwrap();
}
