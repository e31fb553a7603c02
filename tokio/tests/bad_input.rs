//! Bad input: every protocol row of wisp-server's bad-input table gets the same close
//! code from a wisp-tokio server as from the blocking driver (`blocking::accept`, the
//! same codec with the same limits), and the committed server fuzz corpus
//! (`fuzz/corpus/server_session`) replayed against the echo example causes no panic,
//! no hang and no invalid output.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use wisp_codec::handshake::ClientRequest;
use wisp_tokio::{Config, Connection, Message, ServerOptions};

fn limits() -> Config {
    Config {
        max_frame_size: 1024,
        max_message_size: 4096,
        ..Config::default()
    }
}

/// A wisp-tokio echo server with `limits()`, on its own runtime thread.
fn tokio_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let options = ServerOptions::default().with_config(limits());
                    let Ok(mut ws) =
                        wisp_tokio::accept_hdr_async_with(tcp, &options, |_, _, r| Ok(r)).await
                    else {
                        return;
                    };
                    while let Some(m) = ws.next().await {
                        match m {
                            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                                let _ = ws.feed(m).await;
                            }
                            Ok(_) | Err(wisp_tokio::Error::Protocol(_)) => {}
                            Err(_) => break,
                        }
                    }
                });
            }
        });
    });
    port
}

/// The blocking driver with `limits()`, one thread per connection.
fn blocking_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
                let Ok(mut ws) = wisp_codec::blocking::accept(tcp, limits()) else {
                    return;
                };
                loop {
                    match ws.read_message() {
                        Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                            let _ = ws.send(m);
                        }
                        Ok(_) => {}
                        Err(wisp_codec::blocking::Error::Protocol(_)) => {}
                        Err(_) => break,
                    }
                }
            });
        }
    });
    port
}

/// A handshake on `port`; returns the socket and what followed the 101.
fn raw_session(port: u16) -> (TcpStream, ClientRequest, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = ClientRequest::new(&format!("127.0.0.1:{port}"), "/echo", *b"bad input tests!");
    s.write_all(&request.to_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "EOF in the 101 head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((_, used)) = request.parse_response(&buf, 8192).unwrap() {
            let rest = buf[used..].to_vec();
            return (s, request, rest);
        }
    }
}

/// The messages and the close code a server answers `bytes` with.
fn answer(port: u16, bytes: &[u8]) -> (Vec<Message>, u16) {
    let (mut s, _, rest) = raw_session(port);
    let _ = s.write_all(bytes);
    let mut client = Connection::client(Config::default(), || [0; 4]);
    client.handle_input(&rest);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
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
        match s.read(&mut buf) {
            Ok(0) => panic!("no close frame for {bytes:02x?} (EOF after {seen:?})"),
            Err(e) => panic!("no close frame for {bytes:02x?} ({e} after {seen:?})"),
            Ok(n) => client.handle_input(&buf[..n]),
        }
    }
}

#[test]
fn bad_input_gets_the_close_codes_of_the_blocking_driver() {
    let (tokio_port, blocking_port) = (tokio_server(), blocking_server());
    let mut rows: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", b"\x81\x02hi".to_vec(), 1002),
        ("RSV1 without extension", client_frame(0xc1, b"hi"), 1002),
        ("reserved opcode 3", client_frame(0x83, b""), 1002),
        ("reserved opcode 0xb", client_frame(0x8b, b""), 1002),
        ("fragmented ping", client_frame(0x09, b""), 1002),
        ("126-byte ping", client_frame(0x89, &[0; 126]), 1002),
        ("continuation first", client_frame(0x80, b"x"), 1002),
        (
            "close code 1005 on the wire",
            client_frame(0x88, &[0x03, 0xed]),
            1002,
        ),
        ("one-byte close payload", client_frame(0x88, &[0x03]), 1002),
        ("invalid UTF-8 text", client_frame(0x81, b"ok\xff"), 1007),
        (
            "invalid UTF-8 close reason",
            client_frame(0x88, b"\x03\xe8\xc3\x28"),
            1007,
        ),
        ("frame over the limit", client_frame(0x82, &[0; 2048]), 1009),
        (
            "1 TiB claimed",
            vec![0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            1009,
        ),
    ];
    let mut two_starts = client_frame(0x01, b"a");
    two_starts.extend(client_frame(0x81, b"b"));
    rows.push(("two message starts", two_starts, 1002));
    let mut fragments = client_frame(0x02, &[0; 1000]);
    for _ in 0..5 {
        fragments.extend(client_frame(0x00, &[0; 1000]));
    }
    rows.push(("message over the limit", fragments, 1009));
    let mut first = client_frame(0x81, b"first");
    first.extend(client_frame(0x81, b"\xff"));
    rows.push(("a good frame, then a bad one", first, 1007));
    for (name, bytes, code) in &rows {
        let from_tokio = answer(tokio_port, bytes);
        let from_blocking = answer(blocking_port, bytes);
        assert_eq!(from_tokio.1, *code, "{name}: wisp-tokio");
        assert_eq!(
            from_tokio, from_blocking,
            "{name}: wisp-tokio vs the blocking driver"
        );
    }
    // A good frame before a bad one is answered first.
    let mut first = client_frame(0x81, b"first");
    first.extend(client_frame(0x81, b"\xff"));
    assert_eq!(
        answer(tokio_port, &first).0,
        [Message::Text("first".into())]
    );
}

#[test]
fn server_fuzz_corpus_replays_against_the_echo_example_without_a_panic() {
    let dir = root().join("fuzz/corpus/server_session");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the corpus holds at least the seeds");
    let log = std::env::temp_dir().join(format!("wisp-tokio-fuzz-{}.stderr", std::process::id()));
    let mut cmd = std::process::Command::new(example("echo"));
    cmd.arg("127.0.0.1:0");
    let (server, port) = {
        let stderr = std::fs::File::create(&log).unwrap();
        cmd.stderr(stderr);
        start_listening_keep_stderr(cmd)
    };
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // Byte 0 picks wisp-server's route; the example echoes on every path.
        let Some((_, bytes)) = data.split_first() else {
            continue;
        };
        if let Err(e) = replay(port, bytes) {
            panic!("{}: {e}", f.display());
        }
    }
    drop(server);
    let stderr = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        !stderr.contains("panicked"),
        "the echo example panicked:\n{stderr}"
    );
    println!("{} inputs replayed", files.len());
}

/// The check of `fuzz/server_checks.rs`: after a valid handshake, arbitrary bytes and
/// a half-close get a close or a drop within the read timeout, and everything the
/// server sent is valid RFC 6455 with close codes valid on the wire.
fn replay(port: u16, bytes: &[u8]) -> Result<(), String> {
    let (mut s, _, rest) = raw_session(port);
    let mut client = Connection::client(
        Config {
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            auto_pong: false,
            ..Config::default()
        },
        || [0x5a, 0xa5, 0x3c, 0xc3],
    );
    client.handle_input(&rest);
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        loop {
            match client.poll_event() {
                Ok(Some(Message::Close(Some(f)))) if !f.code.is_valid_on_wire() => {
                    return Err(format!("close code {}", f.code));
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(format!("output breaks RFC 6455: {e}")),
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => client.handle_input(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err("neither a close nor a drop within 10 s".into())
            }
            Err(_) => return Ok(()), // reset: a drop
        }
    }
}
