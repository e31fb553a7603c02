//! `/inspect?watch=ID` over real sockets: a watcher sees every frame of its target in
//! order, close frames and the end of TCP included; the scenario commands; the errors
//! (close 1008 with a reason); a watcher that does not read never slows its target.

use std::sync::Arc;

use serde_json::Value;
use wisp_codec::{CloseCode, Message};
use wisp_tests::{close_code, connect, connect_from, next_data, Raw, Server};

fn json(m: Message) -> Value {
    match m {
        Message::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}")),
        m => panic!("expected a JSON text, got {m:?}"),
    }
}

/// Opens an /inspect connection: the socket and its id (from the handshake report).
fn inspect(port: u16, origin: Option<&str>) -> (Raw, u64) {
    let (mut ws, _) = connect_from(port, "/inspect", &[], origin);
    let hs = json(next_data(&mut ws));
    assert_eq!(hs["type"], "handshake", "{hs}");
    (ws, hs["id"].as_u64().expect("an id"))
}

/// The next report on an /inspect connection that is not a frame report.
fn next_report(ws: &mut Raw) -> Value {
    loop {
        let r = json(next_data(ws));
        if r["type"] != "frame" {
            return r;
        }
    }
}

/// Reads a watcher's reports until the server closes it: the reports and the close.
fn read_all(w: &mut Raw) -> (Vec<Value>, Option<(u16, String)>) {
    let mut reports = Vec::new();
    loop {
        match w.read_message() {
            Ok(Message::Text(t)) => reports.push(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(f)) => {
                return (
                    reports,
                    Some(f.map_or((1005, String::new()), |f| (f.code.0, f.reason))),
                )
            }
            Ok(_) => {}
            Err(e) => panic!("watcher read failed: {e}"),
        }
    }
}

/// What a report is, in a word: `handshake`, `in:1`, `out:8 4000 bye`, `scenario:ping`...
fn summary(r: &Value) -> String {
    match r["type"].as_str().unwrap() {
        "frame" => {
            let mut s = format!("{}:{}", r["dir"].as_str().unwrap(), r["opcode"]);
            if r["fin"] == false {
                s.push_str(" fin=0");
            }
            if let Some(c) = r.get("close") {
                s.push_str(&format!(" {} {}", c["code"], c["reason"].as_str().unwrap()));
            }
            s
        }
        "scenario" => format!("scenario:{}", r["name"].as_str().unwrap()),
        t => t.to_string(),
    }
}

#[test]
fn a_watcher_sees_every_frame_of_its_target_in_order_including_the_close_frames() {
    let s = Server::start(&[]);
    let (mut t, id) = inspect(s.port, None);
    let mut w = connect(s.port, &format!("/inspect?watch={id}"));
    let hello = json(w.read_message().unwrap());
    assert_eq!(
        (hello["type"].as_str(), hello["id"].as_u64()),
        (Some("watching"), Some(id))
    );
    assert_eq!(hello["ended"], false);

    // A message and its echo, a ping and its pong.
    t.send_text("Hello").unwrap();
    assert_eq!(next_data(&mut t), Message::Text("Hello".into()));
    t.send_ping(b"p").unwrap();
    // The fragments scenario: one message of three fragments with a ping between each two.
    t.send_text(r#"{"command":"fragments","text":"Hello, fragments","fragments":3,"ping":true}"#)
        .unwrap();
    let mut got = Vec::new();
    loop {
        match t.read_message().unwrap() {
            Message::Text(m) if !m.starts_with('{') => {
                got.push(m);
                break;
            }
            Message::Text(m) if m.contains(r#""type":"scenario""#) => {
                assert!(
                    m.contains("MAY be injected in the middle of a fragmented message."),
                    "{m}"
                )
            }
            _ => {}
        }
    }
    assert_eq!(
        got,
        ["Hello, fragments"],
        "the fragments arrive as one message"
    );
    // The client starts the closing handshake; the server answers with the same code.
    t.close(CloseCode(4000), "bye").unwrap();
    assert_eq!(close_code(&mut t), Some((4000, String::new())));

    let (reports, closed) = read_all(&mut w);
    let seqs: Vec<u64> = reports.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=reports.len() as u64).collect::<Vec<_>>(),
        "consecutive"
    );
    let ms: Vec<f64> = reports.iter().map(|r| r["ms"].as_f64().unwrap()).collect();
    assert!(
        ms.windows(2).all(|p| p[0] <= p[1]),
        "times in order: {ms:?}"
    );
    let seen: Vec<String> = reports.iter().map(summary).collect();
    assert_eq!(
        seen,
        [
            "handshake",
            "in:1",
            "out:1",
            "in:9",
            "out:10",
            "in:1",
            "scenario:fragments",
            "out:1 fin=0",
            "out:9",
            "out:0 fin=0",
            "out:9",
            "out:0",
            "in:10",
            "in:10",
            "in:8 4000 bye",
            "out:8 4000 ",
            "end",
        ]
    );
    let end = reports.last().unwrap();
    assert_eq!(end["first"], "client");
    assert_eq!(end["sent"]["code"], 4000);
    assert_eq!(end["received"]["code"], 4000);
    assert_eq!(end["received"]["reason"], "bye");
    assert_eq!(end["how"], "closing handshake done");
    assert_eq!(end["tcp"], "the server closed it");
    assert_eq!(closed, Some((1000, "the watched connection ended".into())));

    // Once ended, the connection can still be watched: its record, then close 1000.
    let mut late = connect(s.port, &format!("/inspect?watch={id}"));
    let (again, closed) = read_all(&mut late);
    assert_eq!(again[0]["ended"], true);
    assert_eq!(again[1..].iter().map(summary).collect::<Vec<_>>(), seen);
    assert_eq!(closed.map(|c| c.0), Some(1000));
}

#[test]
fn the_close_scenario_starts_the_closing_handshake_from_the_server() {
    let s = Server::start(&[]);
    let (mut t, id) = inspect(s.port, None);
    let mut w = connect(s.port, &format!("/inspect?watch={id}"));
    t.send_text(r#"{"command":"close","code":1001,"reason":"going away now"}"#)
        .unwrap();
    let scenario = next_report(&mut t);
    assert_eq!(scenario["name"], "close");
    assert_eq!(scenario["rfc"][0]["section"], "5.5.1");
    assert_eq!(close_code(&mut t), Some((1001, "going away now".into())));
    let (reports, _) = read_all(&mut w);
    let tail: Vec<String> = reports.iter().rev().take(3).rev().map(summary).collect();
    assert_eq!(tail, ["out:8 1001 going away now", "in:8 1001 ", "end"]);
    assert_eq!(reports.last().unwrap()["first"], "server");
}

#[test]
fn bad_commands_get_an_error_report_and_nothing_else() {
    let s = Server::start(&[]);
    let (mut t, _) = inspect(s.port, None);
    for (command, says) in [
        (r#"{"command":"dance"}"#, "unknown variant"),
        (r#"{"command":"close","code":1005}"#, "may not be sent"),
        (
            r#"{"command":"fragments","text":"x","fragments":99}"#,
            "fragments: 1 to 16",
        ),
        (
            r#"{"command":"ping","data":"x","extra":1}"#,
            "unknown field",
        ),
    ] {
        t.send_text(command).unwrap();
        let r = next_report(&mut t);
        assert_eq!(r["type"], "error", "{command}: {r}");
        assert!(
            r["error"].as_str().unwrap().contains(says),
            "{command}: {r}"
        );
    }
    // JSON without a "command" member is echoed like any text (before its reports).
    t.send_text(r#"{"hello":"x"}"#).unwrap();
    loop {
        match next_data(&mut t) {
            Message::Text(m) if m.contains(r#""type":"frame""#) => continue,
            m => break assert_eq!(m, Message::Text(r#"{"hello":"x"}"#.into())),
        }
    }
}

#[test]
fn watching_an_unknown_id_or_from_another_origin_is_close_1008_with_a_reason() {
    let s = Server::start(&[]);
    let mut w = connect(s.port, "/inspect?watch=999999");
    let (code, reason) = close_code(&mut w).expect("a close frame");
    assert_eq!(code, 1008);
    assert!(
        reason.starts_with("no /inspect connection 999999"),
        "{reason}"
    );
    let mut w = connect(s.port, "/inspect?watch=abc");
    assert_eq!(
        close_code(&mut w),
        Some((1008, r#"watch="abc" is not a connection id"#.into()))
    );
    // Same origin: a page from another site cannot watch this conversation.
    let (_t, id) = inspect(s.port, Some("http://a.example"));
    let path = format!("/inspect?watch={id}");
    let (mut w, _) = connect_from(s.port, &path, &[], Some("http://b.example"));
    assert_eq!(
        close_code(&mut w),
        Some((
            1008,
            format!("connection {id} was opened from another origin")
        ))
    );
    let (mut w, _) = connect_from(s.port, &path, &[], Some("http://a.example"));
    assert_eq!(json(w.read_message().unwrap())["type"], "watching");
    // A watcher is read-only.
    w.send_text("hi").unwrap();
    assert_eq!(
        close_code(&mut w),
        Some((1008, "a watcher is read-only".into()))
    );
}

#[test]
fn a_watcher_that_does_not_read_never_slows_its_target_and_is_dropped_with_a_notice() {
    let server =
        wisp_server::Server::bind(wisp_server::Config::default().listen("127.0.0.1:0")).unwrap();
    let _demo = wisp_server::demo::Demo::all()
        .watch_queue(4)
        .install(&server)
        .unwrap();
    let port = server.local_addr().port();
    let handle = server.shutdown_handle();
    let runner = std::thread::spawn(move || server.run());
    let (mut t, id) = inspect(port, None);
    let mut w = connect(port, &format!("/inspect?watch={id}"));
    assert_eq!(json(w.read_message().unwrap())["type"], "watching");
    // 100 round trips of 64 KiB: 200 reports of about 192 KiB, far more than the
    // watcher's queue of 4 and its socket buffers hold. The watcher reads nothing.
    let payload = Arc::new(vec![0x5a; 64 * 1024]);
    const ROUNDS: usize = 100;
    for i in 0..ROUNDS {
        t.send_binary(&payload).unwrap();
        assert_eq!(
            next_data(&mut t),
            Message::Binary(payload.to_vec()),
            "echo {i}"
        );
        for dir in ["in", "out"] {
            let r = json(next_data(&mut t));
            assert_eq!(r["dir"], dir, "report {i}");
        }
    }
    // The target went on at its own pace to the end; now the watcher reads.
    let (reports, closed) = read_all(&mut w);
    assert_eq!(closed, Some((1008, "too slow: outgoing queue full".into())));
    let (notice, frames) = reports.split_last().expect("reports");
    assert_eq!(notice["type"], "dropped", "the last message is the notice");
    assert!(
        frames.len() < 2 * ROUNDS,
        "{} reports reached it",
        frames.len()
    );
    let seqs: Vec<u64> = frames.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=frames.len() as u64).collect::<Vec<_>>(),
        "in order, no gap"
    );
    // The target is unaffected.
    t.send_text("still here").unwrap();
    assert_eq!(next_data(&mut t), Message::Text("still here".into()));
    handle.shutdown();
    assert_eq!(close_code(&mut t).map(|c| c.0), Some(1001));
    runner.join().unwrap().unwrap();
}
