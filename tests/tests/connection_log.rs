//! One log line per connection end (issue 28): the client's address, the route, the
//! duration, messages and bytes each way and the close code and reason, as text by
//! default and, with `--log-format json`, as fields of a JSON object on a line where
//! every line is one.

use std::time::{Duration, Instant};

use serde_json::Value;
use wisp_codec::{CloseCode, Message};
use wisp_tests::*;

/// Echoes 3 texts of 5 bytes, closes with 1000 "done"; returns the client's address.
fn one_session(port: u16) -> String {
    let mut ws = connect(port, "/echo");
    let local = ws.get_ref().local_addr().unwrap().to_string();
    for _ in 0..3 {
        ws.send(Message::Text("hello".into())).unwrap();
        assert_eq!(next_data(&mut ws), Message::Text("hello".into()));
    }
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(close_code(&mut ws).map(|c| c.0), Some(1000));
    local
}

/// Log lines until one contains `what` (at most 10 s); all lines read so far.
fn lines_until(s: &Server, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.contains(what)) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no log line with {what:?} in {lines:#?}");
        if let Ok(l) = s.stderr.recv_timeout(left) {
            lines.push(l);
        }
    }
    lines
}

#[test]
fn a_connection_ends_with_one_text_line_that_says_it_all() {
    // With --metrics the worker takes the connection's counts at every step: the end
    // line adds them up the same.
    for args in [&[][..], &["--metrics"][..]] {
        end_line_says_it_all(args);
    }
}

fn end_line_says_it_all(args: &[&str]) {
    let s = Server::start(args);
    let peer = one_session(s.port);
    let lines = lines_until(&s, " closed /echo");
    let end = lines.iter().find(|l| l.contains(" closed /echo")).unwrap();
    for part in [
        &format!(" {peer} closed /echo: code 1000; closing handshake done; "),
        "received 1000 \"done\"; open ",
        // 3 texts and the close each way: 15 + 6 bytes in, 15 + 2 out (the code echoed).
        "in 4 messages (21 bytes), out 4 messages (17 bytes)",
    ] {
        assert!(end.contains(part), "{args:?}: {part:?} is not in {end:?}");
    }
}

#[test]
fn with_log_format_json_every_line_is_an_object_and_the_end_has_fields() {
    let s = Server::start(&["--log-format", "json"]);
    let peer = one_session(s.port);
    let lines = lines_until(&s, " closed /echo");
    let objects: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    for (o, l) in objects.iter().zip(&lines) {
        assert!(o.is_object(), "{l}");
        for field in ["ts", "level", "target", "msg"] {
            assert!(o[field].is_string(), "no {field} in {l}");
        }
    }
    let end = objects
        .iter()
        .find(|o| {
            o["msg"]
                .as_str()
                .is_some_and(|m| m.contains(" closed /echo"))
        })
        .unwrap();
    assert_eq!(end["level"], "INFO");
    assert_eq!(end["peer"], peer.as_str());
    assert_eq!(end["route"], "/echo");
    assert_eq!(end["messages_in"], 4);
    assert_eq!(end["bytes_in"], 21);
    assert_eq!(end["messages_out"], 4);
    assert_eq!(end["bytes_out"], 17);
    assert_eq!(end["close_code"], 1000);
    assert_eq!(end["close_reason"], "done");
    assert!(end["duration_ms"].is_u64(), "{end}");
}

#[test]
fn an_unknown_log_format_is_one_line_and_exit_2() {
    let out = std::process::Command::new(binary("wisp-server"))
        .args(["--log-format", "xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("possible values: text, json"), "{err}");
}
