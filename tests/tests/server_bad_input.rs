//! Every row of the bad-input table against a running wisp-server, plus load: 200
//! concurrent echoing connections, and 50 garbage connections beside a live one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wisp_codec::{Connection, Message};
use wisp_tests::*;

fn raw_session(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&upgrade_request(port, path, "")).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "EOF in the 101 head");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "));
    s
}

/// Sends raw bytes after a handshake and returns the server's close code.
fn close_code_for(port: u16, bytes: &[u8]) -> u16 {
    let mut s = raw_session(port, "/echo");
    // The server may close before it has read everything: ignore write errors.
    let _ = s.write_all(bytes);
    let mut client = Connection::client(Default::default(), || [0; 4]);
    let mut buf = [0u8; 4096];
    loop {
        match client.poll_event() {
            Ok(Some(Message::Close(f))) => return f.map_or(1005, |f| f.code.0),
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => panic!("server broke the protocol: {e}"),
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => panic!("no close frame for {bytes:02x?}"),
            Ok(n) => client.handle_input(&buf[..n]),
        }
    }
}

#[test]
fn http_rows_400_426_431_404() {
    let s = Server::start(&[]);
    let p = s.port;
    // Not a valid upgrade request: 400 with the reason in the body.
    let r = http(p, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&r), 400, "{r}");
    assert!(r.contains("Upgrade: websocket"), "reason in the body: {r}");
    assert_eq!(status(&http(p, b"garbage\r\n\r\n")), 400);
    assert_eq!(status(&http(p, b"\x00\xff\xfe junk \r\n\r\n")), 400);
    let no_key = "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(status(&http(p, no_key.as_bytes())), 400);
    let post = String::from_utf8(upgrade_request(p, "/echo", ""))
        .unwrap()
        .replacen("GET", "POST", 1);
    assert_eq!(status(&http(p, post.as_bytes())), 400);
    // Wrong version: 426 and the version we speak.
    let v8 = String::from_utf8(upgrade_request(p, "/echo", ""))
        .unwrap()
        .replace("Version: 13", "Version: 8");
    let r = http(p, v8.as_bytes());
    assert_eq!(status(&r), 426, "{r}");
    assert!(r.contains("Sec-WebSocket-Version: 13\r\n"));
    // A head over 8 KiB: 431.
    let big = upgrade_request(p, "/echo", &format!("X-Pad: {}\r\n", "a".repeat(9000)));
    assert_eq!(status(&http(p, &big)), 431);
    // An upgrade to an unknown path: 404.
    assert_eq!(status(&http(p, &upgrade_request(p, "/nope", ""))), 404);
}

#[test]
fn over_max_connections_is_503_and_the_listener_keeps_serving() {
    let s = Server::start(&["--max-connections", "2"]);
    let mut a = connect(s.port, "/echo");
    let b = connect(s.port, "/echo");
    let r = http(s.port, &upgrade_request(s.port, "/echo", ""));
    assert_eq!(status(&r), 503, "{r}");
    assert!(r.contains("Retry-After: "), "{r}");
    drop(b);
    // Once a slot is free, connections are served again.
    wait_until(5, "a free slot", || {
        status(&http_head(s.port, &upgrade_request(s.port, "/echo", ""))) == 101
    });
    a.send_text("still served").unwrap();
    assert_eq!(next_data(&mut a), Message::Text("still served".into()));
}

#[test]
fn a_head_dribbled_one_byte_a_second_is_dropped_at_the_handshake_timeout() {
    let s = Server::start(&["--handshake-timeout", "2s"]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let head = upgrade_request(s.port, "/echo", "");
    let start = Instant::now();
    let mut dropped = None;
    for b in head.iter() {
        // Each byte alone is a valid step: a per-read timeout would never fire.
        if c.write_all(&[*b]).is_err() {
            dropped = Some(start.elapsed());
            break;
        }
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {
                dropped = Some(start.elapsed());
                break;
            }
            Ok(n) => panic!("unexpected answer {:?}", &buf[..n]),
            Err(_) => {} // one second passed
        }
    }
    let took = dropped.expect("the server never dropped the slow head");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // A client that sends nothing at all is dropped too.
    let mut silent = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut sink = Vec::new();
    let _ = silent.read_to_end(&mut sink);
    assert!(start.elapsed() < Duration::from_secs(5));
    // Meanwhile the server serves others.
    let mut ws = connect(s.port, "/echo");
    ws.send_text("ok").unwrap();
    assert_eq!(next_data(&mut ws), Message::Text("ok".into()));
}

#[test]
fn protocol_rows_1002_1007_1009() {
    let s = Server::start(&["--max-frame-size", "1KiB", "--max-message-size", "4KiB"]);
    let p = s.port;
    // Unmasked client frame.
    assert_eq!(close_code_for(p, b"\x81\x02hi"), 1002);
    // RSV1 without an extension, reserved opcodes.
    assert_eq!(close_code_for(p, &client_frame(0xc1, b"hi")), 1002);
    assert_eq!(close_code_for(p, &client_frame(0x83, b"")), 1002);
    assert_eq!(close_code_for(p, &client_frame(0x8b, b"")), 1002);
    // Fragmented or oversized control frames, bad continuations.
    assert_eq!(close_code_for(p, &client_frame(0x09, b"")), 1002);
    assert_eq!(close_code_for(p, &client_frame(0x89, &[0; 126])), 1002);
    assert_eq!(close_code_for(p, &client_frame(0x80, b"x")), 1002);
    let mut two_starts = client_frame(0x01, b"a");
    two_starts.extend(client_frame(0x81, b"b"));
    assert_eq!(close_code_for(p, &two_starts), 1002);
    // Invalid close codes.
    assert_eq!(close_code_for(p, &client_frame(0x88, &[0x03, 0xed])), 1002);
    assert_eq!(close_code_for(p, &client_frame(0x88, &[0x03])), 1002);
    // Invalid UTF-8 in text and in a close reason.
    assert_eq!(close_code_for(p, &client_frame(0x81, b"ok\xff")), 1007);
    assert_eq!(
        close_code_for(p, &client_frame(0x88, b"\x03\xe8\xc3\x28")),
        1007
    );
    // A frame over --max-frame-size, a message over --max-message-size, a 1 TiB claim.
    assert_eq!(close_code_for(p, &client_frame(0x82, &[0; 2048])), 1009);
    let mut many = Vec::new();
    for _ in 0..5 {
        many.extend(client_frame(0x00, &[0; 1000]));
    }
    let mut fragments = client_frame(0x02, &[0; 1000]);
    fragments.extend(many);
    assert_eq!(close_code_for(p, &fragments), 1009);
    let tib = [0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_eq!(close_code_for(p, &tib), 1009);
    // Frames before a bad one are answered first, in order.
    let mut s2 = raw_session(p, "/echo");
    let mut bytes = client_frame(0x81, b"first");
    bytes.extend(client_frame(0x81, b"\xff"));
    s2.write_all(&bytes).unwrap();
    let mut out = Vec::new();
    let _ = s2.read_to_end(&mut out);
    assert!(out.starts_with(b"\x81\x05first\x88"), "{out:02x?}");
    assert_eq!(&out[9..11], &[0x03, 0xef]); // 1007
}

/// A handler that panics on its first message.
struct Panicker;

impl wisp_server::Handler for Panicker {
    fn on_message(&mut self, _: &mut wisp_server::Session<'_>, m: Message) {
        if let Message::Text(t) = m {
            panic!("secret internal detail: {t}");
        }
    }
}

#[test]
fn a_panicking_handler_costs_its_connection_a_1011_and_nothing_else() {
    let server =
        wisp_server::Server::bind(wisp_server::Config::default().listen("127.0.0.1:0")).unwrap();
    let _demo = wisp_server::demo::Demo::all().install(&server).unwrap();
    server
        .route("/panic", |_| Ok(wisp_server::Accept::new(Panicker)))
        .unwrap();
    let port = server.local_addr().port();
    let handle = server.shutdown_handle();
    let runner = std::thread::spawn(move || server.run());
    let mut other = connect(port, "/echo");
    for _ in 0..3 {
        let mut ws = connect(port, "/panic");
        ws.send_text("boom").unwrap();
        let (code, reason) = close_code(&mut ws).expect("a close frame");
        assert_eq!(code, 1011);
        assert_eq!(reason, "internal error", "never leak internals");
    }
    other.send_text("unaffected").unwrap();
    assert_eq!(next_data(&mut other), Message::Text("unaffected".into()));
    handle.shutdown();
    assert_eq!(close_code(&mut other).map(|c| c.0), Some(1001));
    runner.join().unwrap().unwrap();
}

#[test]
fn two_hundred_concurrent_echoing_connections() {
    let s = Server::start(&[]);
    let port = s.port;
    let start = Instant::now();
    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let mut ws = connect(port, "/echo");
                for j in 0..20 {
                    let msg = format!("client {i} message {j}");
                    ws.send_text(&msg).unwrap();
                    assert_eq!(next_data(&mut ws), Message::Text(msg));
                }
                ws.close(wisp_codec::CloseCode::NORMAL, "").unwrap();
                assert_eq!(close_code(&mut ws).map(|c| c.0), Some(1000));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn fifty_garbage_connections_leave_a_live_one_undisturbed() {
    let s = Server::start(&["--handshake-timeout", "2s"]);
    let port = s.port;
    let mut live = connect(port, "/echo");
    let garbage: Vec<_> = (0..50u32)
        .map(|i| {
            std::thread::spawn(move || {
                let mut seed = i.wrapping_mul(2654435761) | 1;
                let mut bytes: Vec<u8> = (0..4096)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed as u8
                    })
                    .collect();
                let mut c = match i % 3 {
                    // After a valid handshake.
                    0 => raw_session(port, "/echo"),
                    // Instead of a head, or a head that never ends.
                    1 => TcpStream::connect(("127.0.0.1", port)).unwrap(),
                    _ => {
                        bytes.retain(|b| *b != b'\n');
                        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
                        let _ = c.write_all(b"GET /echo HTTP/1.1\r\nX: ");
                        c
                    }
                };
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let _ = c.write_all(&bytes);
                let mut sink = Vec::new();
                let _ = c.read_to_end(&mut sink); // a close, a 400, or a drop
            })
        })
        .collect();
    for i in 0..50 {
        let msg = format!("live {i}");
        live.send_text(&msg).unwrap();
        assert_eq!(next_data(&mut live), Message::Text(msg));
        std::thread::sleep(Duration::from_millis(10));
    }
    for g in garbage {
        g.join().unwrap();
    }
    live.send_binary(&[1, 2, 3]).unwrap();
    assert_eq!(next_data(&mut live), Message::Binary(vec![1, 2, 3]));
}
