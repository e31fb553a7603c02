//! `scripts/cluster.sh`: redis-server, three wisp-server instances and nginx in front of
//! them. Two members connect through nginx, land on two different instances, and hear
//! each other.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use wisp_codec::Message;
use wisp_tests::*;

fn text(ws: &mut Raw) -> serde_json::Value {
    match next_data(ws) {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        m => panic!("expected text, got {m:?}"),
    }
}

#[test]
fn cluster_script_balances_and_messages_cross_instances() {
    let child = Command::new("bash")
        .arg(root().join("scripts/cluster.sh"))
        .env("WISP_SERVER", binary("wisp-server"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut script = Guard(child);
    // The script's stdout is read to its end (closing it early would kill the script
    // with SIGPIPE at its next line).
    let (tx, rx) = std::sync::mpsc::channel();
    let out = BufReader::new(script.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut logs = Vec::new();
    let mut port = None;
    for line in rx.iter().take(20) {
        if let Some(log) = line.split("log ").nth(1) {
            logs.push(log.trim_end_matches(')').to_string());
        }
        if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
            port = rest.split('/').next().and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let port = port.expect("cluster.sh printed no URL");
    assert_eq!(logs.len(), 3, "{logs:?}");

    let mut a = connect(port, "/chat?room=lobby&name=ann");
    assert_eq!(text(&mut a)["who"], "ann");
    let mut b = connect(port, "/chat?room=lobby&name=ben");
    let j = text(&mut b);
    assert_eq!(
        (j["who"].as_str(), j["members"].as_u64()),
        (Some("ben"), Some(2))
    );
    assert_eq!(text(&mut a)["who"], "ben");

    // nginx's round robin put them on two instances (their logs say where).
    let mut served = HashSet::new();
    wait_until(10, "both opens in the instances' logs", || {
        served = logs
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                std::fs::read_to_string(l)
                    .unwrap_or_default()
                    .contains("open /chat")
            })
            .map(|(i, _)| i)
            .collect();
        served.len() == 2
    });

    b.send_text("across").unwrap();
    let m = text(&mut a);
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str()),
        (Some("ben"), Some("across"))
    );
    a.send_text("back").unwrap();
    let m = text(&mut b);
    // b hears its own message first, then a's.
    assert_eq!(m["text"], "across");
    assert_eq!(text(&mut b)["text"], "back");

    // SIGTERM: the script stops what it started.
    // SAFETY: kill(2) on the PID of our own unreaped child.
    unsafe { libc::kill(script.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = script.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    for l in &logs {
        assert!(!std::path::Path::new(l).exists(), "{l} left behind");
    }
}
