//! wisp-server over real sockets: static files, /echo, /inspect, /chat, subprotocols,
//! origins, keepalive.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wisp_codec::{CloseCode, Message, OpCode};
use wisp_tests::*;

fn web_dir() -> tempdir::Dir {
    let d = tempdir::Dir::new("web");
    d.write("index.html", b"<!doctype html><title>wisp</title>");
    d.write("app.js", b"console.log('hi')");
    d.write("style.css", b"body{}");
    d.write("pkg/wisp_bg.wasm", b"\0asm\x01\0\0\0");
    d
}

mod tempdir {
    use std::path::PathBuf;
    pub struct Dir(pub PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let p = std::env::temp_dir().join(format!(
                "wisp-test-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn write(&self, rel: &str, data: &[u8]) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        pub fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn get(port: u16, method: &str, target: &str) -> String {
    http(
        port,
        format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn static_files_content_types_head_and_404() {
    let web = web_dir();
    let s = Server::start(&["--web", web.path()]);
    let r = get(s.port, "GET", "/");
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
    assert!(r.ends_with("<title>wisp</title>"));
    for (path, ct) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/pkg/wisp_bg.wasm", "application/wasm"),
        ("/index.html?x=1", "text/html; charset=utf-8"),
    ] {
        let r = get(s.port, "GET", path);
        assert_eq!(status(&r), 200, "{path}: {r}");
        assert_eq!(header(&r, "content-type"), Some(ct), "{path}");
    }
    // HEAD: same headers, no body.
    let r = get(s.port, "HEAD", "/app.js");
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "content-length"), Some("17"));
    assert!(r.ends_with("\r\n\r\n"), "HEAD sent a body: {r:?}");
    for bad in [
        "/nope.html",
        "/../Cargo.toml",
        "/pkg/../index.html",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
        "/pkg/..",
    ] {
        assert_eq!(status(&get(s.port, "GET", bad)), 404, "{bad}");
    }
    assert_eq!(status(&get(s.port, "POST", "/")), 405);
}

#[test]
fn missing_web_dir_is_404_not_a_crash() {
    let s = Server::start(&["--web", "/nonexistent/wisp-web"]);
    assert_eq!(status(&get(s.port, "GET", "/")), 404);
    let mut ws = connect(s.port, "/echo");
    ws.send_text("still up").unwrap();
    assert_eq!(next_data(&mut ws), Message::Text("still up".into()));
}

#[test]
fn echo_every_size_and_type_fragmented_ping_and_close() {
    let s = Server::start(&[]);
    let mut ws = connect(s.port, "/echo");
    for n in [0usize, 1, 125, 126, 65535, 65536, 1 << 20] {
        let text: String = "é".repeat(n / 2) + &"x".repeat(n % 2);
        ws.send_text(&text).unwrap();
        assert_eq!(next_data(&mut ws), Message::Text(text), "text {n}");
        let bin: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        ws.send_binary(&bin).unwrap();
        assert_eq!(next_data(&mut ws), Message::Binary(bin), "binary {n}");
    }
    // A fragmented message with a ping in the middle.
    let c = ws.connection_mut();
    c.send_frame(OpCode::Text, false, b"Hel").unwrap();
    c.send_ping(b"mid").unwrap();
    c.send_frame(OpCode::Continuation, true, b"lo").unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Pong(b"mid".to_vec()));
    assert_eq!(ws.read_message().unwrap(), Message::Text("Hello".into()));
    // Pipelined messages come back in order.
    for i in 0..100 {
        ws.connection_mut().send_text(&i.to_string()).unwrap();
    }
    ws.flush().unwrap();
    for i in 0..100 {
        assert_eq!(next_data(&mut ws), Message::Text(i.to_string()));
    }
    ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(close_code(&mut ws), Some((1000, String::new())));
    // The log has one line for the open and one for the close with the code.
    wait_until(5, "the close log line", || {
        s.logs()
            .iter()
            .any(|l| l.contains("closed /echo: code 1000") && l.contains("127.0.0.1:"))
    });
}

#[test]
fn inspect_reports_the_raw_wire_bytes_of_every_frame() {
    let s = Server::start(&[]);
    let mut ws = connect(s.port, "/inspect");
    // First, the opening handshake as it crossed the socket.
    let Message::Text(hs) = ws.read_message().unwrap() else {
        panic!()
    };
    assert!(
        hs.starts_with(
            r#"{"type":"handshake","request":"GET /inspect HTTP/1.1\r\nHost: 127.0.0.1:"#
        ),
        "{hs}"
    );
    assert!(
        hs.contains(r#""response":"HTTP/1.1 101 Switching Protocols\r\n"#)
            && hs.contains(&format!("Sec-WebSocket-Accept: {}\\r\\n", {
                let key = wisp_codec::handshake::ClientRequest::new("h", "/", *b"wisp test nonce!");
                String::from_utf8(wisp_codec::handshake::accept_key(key.key().as_bytes()).to_vec())
                    .unwrap()
            })),
        "{hs}"
    );
    // The masked "Hello" of RFC 6455 §5.7, written by hand.
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    ws.get_mut().write_all(&hello).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Text("Hello".into()));
    let Message::Text(r_in) = ws.read_message().unwrap() else {
        panic!()
    };
    assert_eq!(
        r_in,
        r#"{"type":"frame","dir":"in","fin":true,"rsv":0,"opcode":1,"masked":true,"len":5,"wire_len":11,"hex":"81 85 37 fa 21 3d 7f 9f 4d 51 58","truncated":false,"reads":[1,1],"read_sizes":[11]}"#,
        "the frame came in the server's first read after the handshake, all 11 bytes of it"
    );
    let Message::Text(r_out) = ws.read_message().unwrap() else {
        panic!()
    };
    assert!(
        r_out.contains(r#""dir":"out""#) && r_out.contains(r#""hex":"81 05 48 65 6c 6c 6f""#),
        "{r_out}"
    );
    // A ping: reported in, and its automatic pong reported out; reports never reported.
    ws.send_ping(b"p").unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::Pong(b"p".to_vec()));
    let Message::Text(a) = ws.read_message().unwrap() else {
        panic!()
    };
    let Message::Text(b) = ws.read_message().unwrap() else {
        panic!()
    };
    assert!(
        a.contains(r#""dir":"in""#) && a.contains(r#""opcode":9"#),
        "{a}"
    );
    assert!(
        b.contains(r#""dir":"out""#) && b.contains(r#""hex":"8a 01 70""#),
        "{b}"
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(close_code(&mut ws).map(|c| c.0), Some(1000));
}

fn text(ws: &mut Raw) -> String {
    match next_data(ws) {
        Message::Text(t) => t,
        m => panic!("expected text, got {m:?}"),
    }
}

#[test]
fn chat_broadcasts_with_sender_and_join_leave_notices() {
    let s = Server::start(&[]);
    let mut a = connect(s.port, "/chat?name=alice");
    assert_eq!(text(&mut a), r#"{"type":"join","who":"alice","members":1}"#);
    let mut b = connect(s.port, "/chat?name=bob");
    assert_eq!(text(&mut a), r#"{"type":"join","who":"bob","members":2}"#);
    assert_eq!(text(&mut b), r#"{"type":"join","who":"bob","members":2}"#);
    b.send_text("hi \"all\"").unwrap();
    let m = r#"{"type":"message","from":"bob","text":"hi \"all\""}"#;
    assert_eq!(text(&mut a), m);
    assert_eq!(text(&mut b), m);
    b.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(close_code(&mut b).map(|c| c.0), Some(1000));
    assert_eq!(text(&mut a), r#"{"type":"leave","who":"bob","members":1}"#);
    // Binary is refused with 1003.
    a.send_binary(b"x").unwrap();
    assert_eq!(close_code(&mut a).map(|c| c.0), Some(1003));
}

#[test]
fn chat_member_that_cannot_keep_up_gets_1008_and_others_never_wait() {
    let s = Server::start(&[]);
    // The slow member: a tiny receive buffer, and it never reads until the end.
    let mut slow = connect(s.port, "/chat?name=slow");
    // Its own join first: it is in the room before the fast member joins, so the fast
    // member's first message is its own join, not the slow member's.
    assert!(text(&mut slow).contains(r#""who":"slow""#));
    let mut fast = connect(s.port, "/chat?name=fast");
    assert!(text(&mut fast).contains("join"));
    let big = "x".repeat(16 * 1024);
    let start = Instant::now();
    // 16 KiB x 2000 = 32 MiB to the slow member: far past its socket buffers and its
    // queue of 256 messages. The sender must never be slowed down by it. The slow
    // member's leave comes once its close wait is over: during the run on a busy
    // machine, or after it.
    let slow_left = r#"{"type":"leave","who":"slow","members":1}"#;
    let mut left = false;
    for i in 0..2000 {
        fast.send_text(&big).unwrap();
        let mut got = text(&mut fast);
        if got == slow_left && !left {
            left = true;
            got = text(&mut fast);
        }
        assert!(got.ends_with("xxx\"}"), "message {i}: {got:.60}");
    }
    // Had the fast member waited for the slow one, a read above would have timed out
    // (20 s): its 2000 round trips went on while the slow member's queue filled.
    println!(
        "2000 x 16 KiB round trips beside a member that reads nothing: {:?}",
        start.elapsed()
    );
    // Now the slow member reads: some messages, then close 1008.
    slow.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (code, reason) = close_code(&mut slow).expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    if !left {
        assert_eq!(text(&mut fast), slow_left);
    }
}

#[test]
fn subprotocol_first_offered_that_the_server_speaks() {
    let s = Server::start(&["--subprotocol", "chat.v2", "--subprotocol", "chat.v1"]);
    let (_, p) = connect_with(s.port, "/echo", &["x", "chat.v1", "chat.v2"]);
    assert_eq!(p.as_deref(), Some("chat.v1"));
    let (_, p) = connect_with(s.port, "/echo", &["nope"]);
    assert_eq!(p, None);
    let (_, p) = connect_with(s.port, "/echo", &[]);
    assert_eq!(p, None);
}

#[test]
fn origins_any_by_default_and_a_list_when_given() {
    let s = Server::start(&[]);
    for origin in ["http://evil.example", "null"] {
        let r = http_head(
            s.port,
            &upgrade_request(s.port, "/echo", &format!("Origin: {origin}\r\n")),
        );
        assert_eq!(status(&r), 101, "{origin}");
    }
    let s = Server::start(&["--origin", "http://127.0.0.1:9001"]);
    let req = |o: &str| upgrade_request(s.port, "/echo", &format!("Origin: {o}\r\n"));
    assert_eq!(
        status(&http_head(s.port, &req("http://127.0.0.1:9001"))),
        101
    );
    assert_eq!(status(&http_head(s.port, &req("http://evil.example"))), 403);
    assert_eq!(
        status(&http_head(s.port, &req("null"))),
        403,
        "null must be listed"
    );
    let s = Server::start(&["--origin", "null"]);
    let r = http_head(
        s.port,
        &upgrade_request(s.port, "/echo", "Origin: null\r\n"),
    );
    assert_eq!(status(&r), 101);
}

#[test]
fn keepalive_pings_and_drops_a_silent_peer() {
    let s = Server::start(&["--ping-interval", "300ms", "--idle-timeout", "1500ms"]);
    // A peer that answers pings stays (read_message answers them).
    let mut live = connect(s.port, "/echo");
    let start = Instant::now();
    let mut pings = 0;
    live.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while start.elapsed() < Duration::from_millis(2500) {
        match live.read_message() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(_) => {}
        }
    }
    assert!(pings >= 2, "{pings} pings");
    live.send_text("alive").unwrap();
    live.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(next_data(&mut live), Message::Text("alive".into()));
    // A peer that sends nothing, not even a pong, is dropped after the idle timeout.
    let mut silent = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    silent
        .write_all(&upgrade_request(s.port, "/echo", ""))
        .unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut all = Vec::new();
    let _ = std::io::Read::read_to_end(&mut silent, &mut all);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(5),
        "{took:?}"
    );
    wait_until(5, "the idle log line", || {
        s.logs().iter().any(|l| l.contains("idle timeout"))
    });
}

#[test]
fn chat_rooms_are_apart_and_a_bad_room_name_gets_1008() {
    let s = Server::start(&[]);
    let mut a = connect(s.port, "/chat?room=red&name=alice");
    assert_eq!(text(&mut a), r#"{"type":"join","who":"alice","members":1}"#);
    let mut b = connect(s.port, "/chat?name=bob");
    assert_eq!(text(&mut b), r#"{"type":"join","who":"bob","members":1}"#);
    let mut c = connect(s.port, "/chat?room=red&name=carol");
    assert_eq!(text(&mut a), r#"{"type":"join","who":"carol","members":2}"#);
    assert_eq!(text(&mut c), r#"{"type":"join","who":"carol","members":2}"#);
    b.send_text("lobby only").unwrap();
    assert_eq!(
        text(&mut b),
        r#"{"type":"message","from":"bob","text":"lobby only"}"#
    );
    c.send_text("red only").unwrap();
    let m = r#"{"type":"message","from":"carol","text":"red only"}"#;
    assert_eq!(text(&mut a), m);
    assert_eq!(text(&mut c), m);
    // bob's next message is his own again: nothing of the red room reached him.
    b.send_text("still").unwrap();
    assert_eq!(
        text(&mut b),
        r#"{"type":"message","from":"bob","text":"still"}"#
    );
    let mut bad = connect(s.port, "/chat?room=no%20spaces");
    let (code, reason) = close_code(&mut bad).unwrap();
    assert_eq!(code, 1008);
    assert!(reason.starts_with("bad room name"), "{reason}");
}
