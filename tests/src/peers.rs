//! The interop peers (Python `websockets` in `.venv`, Node `ws` in `node_modules`) and
//! the checklist both ways: shared by the interop and TLS tests.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use wisp_client::{connect_with, Message, Options};
use wisp_codec::OpCode;

use crate::{root, spawn_ready, Guard};

/// The Python of the repository's `.venv` (with `websockets`), which must exist.
pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

/// A `node` command run from the repository root, where `node_modules/ws` must exist.
pub fn node() -> Command {
    assert!(
        root().join("node_modules/ws").exists(),
        "node_modules/ws is missing: run scripts/setup.sh"
    );
    let mut c = Command::new("node");
    c.current_dir(root());
    c
}

/// Runs a peer's checklist client against `url` and checks every step passed.
pub fn run_checklist(cmd: Command, url: &str) {
    let _agreed = run_checklist_deflate(cmd, url, "off");
}

/// [`run_checklist`] with the peer's `--deflate` mode (off, on, no-takeover): with
/// compression on, the agreed extension the peer printed must be permessage-deflate; it is returned.
pub fn run_checklist_deflate(mut cmd: Command, url: &str, deflate: &str) -> String {
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
    agreed.to_string()
}

/// Starts a peer echo server and returns it with its port.
pub fn start_peer(mut cmd: Command) -> (Guard, u16) {
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

/// A text of exactly `n` bytes, with characters of every UTF-8 length.
pub fn text_of_size(n: usize) -> String {
    let unit = "aé€😀"; // 1 + 2 + 3 + 4 bytes
    let s = unit.repeat(n / 10) + &"x".repeat(n % 10);
    assert_eq!(s.len(), n);
    s
}

/// The checklist, with wisp-client as the client, against `ws://127.0.0.1:port/`;
/// returns the deflate parameters agreed.
pub fn wisp_client_checklist(port: u16) -> Option<wisp_codec::extension::DeflateParams> {
    wisp_client_checklist_at(&format!("ws://127.0.0.1:{port}/"), &Options::default())
}

/// The checklist, with wisp-client as the client, against `url` with `options`.
pub fn wisp_client_checklist_at(
    url: &str,
    options: &Options,
) -> Option<wisp_codec::extension::DeflateParams> {
    let mut c = connect_with(url, options).unwrap();
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
