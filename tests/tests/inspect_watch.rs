//! `/inspect?watch=ID` over real sockets: a watcher sees every frame of its target in
//! order, close frames and the end of TCP included; the scenario commands; the errors
//! (close 1008 with a reason); a watcher that does not read never slows its target.

use std::sync::Arc;

use serde_json::Value;
use wisp_codec::extension::DeflateOffer;
use wisp_codec::handshake::ClientRequest;
use wisp_codec::{CloseCode, Message};
use wisp_tests::{close_code, connect, connect_from, next_data, upgrade_over, Raw, Server};

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

/// Opens `path` (an /inspect connection) offering permessage-deflate as browsers do:
/// the socket (compressing if the server agreed) and its handshake report.
fn inspect_offering_deflate(port: u16, path: &str) -> (Raw, Value) {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let req = ClientRequest::new(&format!("127.0.0.1:{port}"), path, *b"wisp test nonce!")
        .deflate(DeflateOffer::default());
    let (mut ws, _) = upgrade_over(stream, port, &req);
    let hs = json(next_data(&mut ws));
    assert_eq!(hs["type"], "handshake", "{hs}");
    (ws, hs)
}

/// The next `n` frame reports of direction `dir` whose opcode is in `opcodes`.
fn frame_reports(ws: &mut Raw, dir: &str, opcodes: &[u64], n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = next_data(ws);
        let Message::Text(t) = &m else { continue };
        let Ok(r) = serde_json::from_str::<Value>(t) else {
            continue;
        };
        let opcode = r["opcode"].as_u64().unwrap_or(99);
        if r["type"] == "frame" && r["dir"] == dir && opcodes.contains(&opcode) {
            got.push(r);
        }
    }
    got
}

#[test]
fn deflate_off_declines_compression_so_a_70_kib_message_shows_the_64_bit_length_form() {
    let s = Server::start(&[]);
    // The default: the offer is agreed and the client's message goes compressed.
    let (mut on, hs) = inspect_offering_deflate(s.port, "/inspect");
    let response = hs["response"].as_str().unwrap();
    assert!(response.contains("permessage-deflate"), "{response}");
    assert!(on.connection().deflate_params().is_some());
    on.send_text(&"a".repeat(200)).unwrap();
    let r = &frame_reports(&mut on, "in", &[1], 1)[0];
    assert_eq!(
        (r["rsv"].as_u64(), r["len"].as_u64()),
        (Some(4), r["len"].as_u64())
    );
    assert!(r["len"].as_u64().unwrap() < 200, "compressed: {r}");

    // ?deflate=off: declined, so 70 KiB go out plain, with the 64-bit length form.
    let (mut off, hs) = inspect_offering_deflate(s.port, "/inspect?deflate=off");
    let response = hs["response"].as_str().unwrap();
    assert!(
        !response
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{response}"
    );
    assert!(off.connection().deflate_params().is_none());
    let text = "x".repeat(70 * 1024);
    off.send_text(&text).unwrap();
    assert_eq!(next_data(&mut off), Message::Text(text));
    let r = &frame_reports(&mut off, "in", &[1], 1)[0];
    assert_eq!(
        r["rsv"],
        0,
        "{}",
        r["hex"].as_str().unwrap().get(..40).unwrap()
    );
    assert_eq!(r["len"], 70 * 1024);
    assert_eq!(r["masked"], true);
    // FIN + Text, MASK + 127, then 71680 as 8 bytes: 00 00 00 00 00 01 18 00.
    let hex = r["hex"].as_str().unwrap();
    assert!(
        hex.starts_with("81 ff 00 00 00 00 00 01 18 00 "),
        "{}",
        &hex[..40]
    );
    let r = &frame_reports(&mut off, "out", &[1], 1)[0];
    assert!(r["hex"]
        .as_str()
        .unwrap()
        .starts_with("81 7f 00 00 00 00 00 01 18 00 "));
    // 200 bytes: the 16-bit form.
    off.send_text(&"y".repeat(200)).unwrap();
    let r = &frame_reports(&mut off, "in", &[1], 1)[0];
    assert!(
        r["hex"].as_str().unwrap().starts_with("81 fe 00 c8 "),
        "{r}"
    );
}

#[test]
fn the_compressed_fragments_scenario_sets_rsv1_on_the_first_fragment_only() {
    let s = Server::start(&[]);
    let (mut ws, _) = inspect_offering_deflate(s.port, "/inspect");
    let text = "Hello, compressed fragments! Hello, compressed fragments!";
    let command = serde_json::json!({
        "command": "fragments", "text": text, "fragments": 3, "ping": true, "compress": true,
    });
    ws.send_text(&command.to_string()).unwrap();
    let scenario = next_report(&mut ws);
    assert_eq!(scenario["name"], "compressed fragments", "{scenario}");
    let rfcs: Vec<u64> = scenario["rfc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rfc"].as_u64().unwrap())
        .collect();
    assert!(rfcs.contains(&7692) && rfcs.contains(&6455), "{scenario}");
    // The client inflates the three fragments into the one text.
    assert_eq!(next_data(&mut ws), Message::Text(text.into()));
    let out = frame_reports(&mut ws, "out", &[0, 1, 9], 5);
    let seen: Vec<(u64, u64, bool)> = out
        .iter()
        .map(|r| {
            (
                r["opcode"].as_u64().unwrap(),
                r["rsv"].as_u64().unwrap(),
                r["fin"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, 4, false),
            (9, 0, true),
            (0, 0, false),
            (9, 0, true),
            (0, 0, true)
        ]
    );
    // Each non-final fragment's compressed piece ends in a sync flush.
    for r in &out[..3] {
        if r["opcode"] != 9 {
            assert!(r["hex"].as_str().unwrap().ends_with("00 00 ff ff"), "{r}");
        }
    }

    // Declined compression: the same command is refused.
    let (mut off, _) = inspect_offering_deflate(s.port, "/inspect?deflate=off");
    off.send_text(&command.to_string()).unwrap();
    let e = next_report(&mut off);
    assert_eq!(e["type"], "error", "{e}");
    assert!(e["error"].as_str().unwrap().contains("not agreed"), "{e}");
}

/// Reads until the echoes of `sent` and the reports of those frames came (in whatever
/// order): the echoes, and each frame's `(len, [first, last], read_sizes)`.
#[allow(clippy::type_complexity)]
fn echoes_and_reads(ws: &mut Raw, sent: usize) -> (Vec<Message>, Vec<(u64, [u64; 2], Vec<u64>)>) {
    let (mut echoes, mut reads) = (Vec::new(), Vec::new());
    while echoes.len() < sent || reads.len() < sent {
        let m = next_data(ws);
        let report = match &m {
            Message::Text(t) if t.starts_with('{') => json(m.clone()),
            _ => {
                echoes.push(m);
                continue;
            }
        };
        if report["type"] != "frame" || report["dir"] != "in" {
            continue;
        }
        let numbers = |v: &Value| -> Vec<u64> {
            v.as_array()
                .unwrap_or_else(|| panic!("reads: {report}"))
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect()
        };
        let span = numbers(&report["reads"]);
        reads.push((
            report["len"].as_u64().unwrap(),
            [span[0], span[1]],
            numbers(&report["read_sizes"]),
        ));
    }
    (echoes, reads)
}

#[test]
fn frame_reports_say_which_tcp_reads_brought_each_frame() {
    use std::io::Write as _;
    use std::time::Duration;
    use wisp_tests::client_frame;

    let s = Server::start(&[]);
    let (mut ws, id) = inspect(s.port, None);
    let mut w = connect(s.port, &format!("/inspect?watch={id}"));
    ws.get_ref().set_nodelay(true).unwrap();
    // Writes `bytes` and waits, so the server reads them before the next write: each
    // write is one read on the server (a read of the next piece would find nothing).
    let pause = Duration::from_millis(300);
    let write = |ws: &mut Raw, bytes: &[u8]| {
        ws.get_mut().write_all(bytes).unwrap();
        std::thread::sleep(pause);
    };
    let text = |t: &str| Message::Text(t.into());
    let binary = |b: &[u8]| Message::Binary(b.to_vec());

    // One frame (6 + 20 bytes) written in three pieces with pauses: reads 1 to 3. (The
    // handshake's read held no frame bytes: the client waited for the 101.)
    let a = client_frame(0x81, b"split across 3 reads");
    write(&mut ws, &a[..4]);
    write(&mut ws, &a[4..15]);
    write(&mut ws, &a[15..]);
    assert_eq!(
        echoes_and_reads(&mut ws, 1),
        (
            vec![text("split across 3 reads")],
            vec![(20, [1, 3], vec![4, 11, 11])]
        )
    );

    // Three frames in one write: all three from read 4, of 3 x 9 bytes.
    let three: Vec<u8> = [b"one", b"two", b"six"]
        .iter()
        .flat_map(|t| client_frame(0x81, *t))
        .collect();
    write(&mut ws, &three);
    assert_eq!(
        echoes_and_reads(&mut ws, 3),
        (
            vec![text("one"), text("two"), text("six")],
            vec![(3, [4, 4], vec![27]); 3]
        )
    );

    // A read that ends one frame and starts the next: read 5 holds all of "end" and
    // half of "start", whose rest is read 6.
    let end = client_frame(0x82, b"end");
    let start = client_frame(0x82, b"start");
    write(&mut ws, &[&end[..], &start[..5]].concat());
    write(&mut ws, &start[5..]);
    assert_eq!(
        echoes_and_reads(&mut ws, 2),
        (
            vec![binary(b"end"), binary(b"start")],
            vec![(3, [5, 5], vec![14]), (5, [5, 6], vec![14, 6])]
        )
    );

    // The watcher gets the same fields, and frames the server sent have none.
    ws.close(CloseCode::NORMAL, "").unwrap();
    let (reports, _) = read_all(&mut w);
    let frames: Vec<&Value> = reports.iter().filter(|r| r["type"] == "frame").collect();
    let ins: Vec<&Value> = frames
        .iter()
        .copied()
        .filter(|r| r["dir"] == "in")
        .collect();
    assert_eq!(ins.len(), 7, "six data frames and the close");
    assert_eq!(ins[1]["reads"], serde_json::json!([4, 4]));
    assert_eq!(ins[5]["read_sizes"], serde_json::json!([14, 6]));
    assert!(frames
        .iter()
        .filter(|r| r["dir"] == "out")
        .all(|r| r.get("reads").is_none() && r.get("read_sizes").is_none()));
}
