//! What the tests share: paths, peers and processes started and stopped by PID.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An example binary of this crate, built by `cargo test` next to the test binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p wisp-tokio` (it builds the examples)",
        path.display()
    );
    path
}

/// A child process killed (by its PID) and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (stdout piped) and waits up to 30 s for a first line containing
/// `127.0.0.1:PORT` or `LISTENING PORT`; returns the process and the port.
pub fn start_listening(mut cmd: Command) -> (Guard, u16) {
    cmd.stderr(Stdio::inherit());
    start_listening_keep_stderr(cmd)
}

/// [`start_listening`], with the stderr `cmd` already has.
pub fn start_listening_keep_stderr(mut cmd: Command) -> (Guard, u16) {
    cmd.current_dir(root()).stdout(Stdio::piped());
    let mut child = Guard(cmd.spawn().expect("start the peer"));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the peer says where it listens within 30 s");
    let port = line
        .trim()
        .rsplit([':', ' '])
        .find_map(|p| p.trim_end_matches("/ws").parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port)
}

/// The echo example, started on a free port.
pub fn echo_example() -> (Guard, u16) {
    let mut cmd = Command::new(example("echo"));
    cmd.arg("127.0.0.1:0");
    start_listening(cmd)
}

/// `.venv`'s Python (scripts/setup.sh test).
pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/setup.sh test`",
        p.display()
    );
    p
}

/// Node, with `node_modules` (scripts/setup.sh test).
pub fn node() -> Command {
    assert!(
        root().join("node_modules/ws").exists(),
        "node_modules/ws is missing: run `bash scripts/setup.sh test`"
    );
    let mut cmd = Command::new("node");
    cmd.current_dir(root());
    cmd
}

/// Runs a checklist client (tests/peers) against `url`; it must pass every check.
pub fn run_checklist(mut cmd: Command, url: &str, extra: &[&str]) -> String {
    let out = cmd
        .current_dir(root())
        .arg(url)
        .args(extra)
        .args(["--timeout", "60"])
        .output()
        .expect("run the checklist client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "checklist against {url} {extra:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok close"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        14,
        "{stdout}"
    );
    stdout
}

/// Polls `f` every 20 ms for up to `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}
