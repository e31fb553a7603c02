//! The Autobahn TestSuite, sections 1 to 10, against both sides of Wisp:
//! the fuzzingclient against wisp-server's `/echo`, the fuzzingserver against
//! wisp-client's Autobahn agent mode. Each run is compared case by case with the
//! committed expectation in `tests/autobahn/` (wstest exits 0 whatever happens, so the
//! gate is the report), and every case must also close cleanly (behaviorClose OK).
//!
//! `wstest` comes from `scripts/setup.sh` (`.autobahn-venv`); the binaries from
//! `cargo build --workspace --bins` (scripts/test.sh does both).

mod server_harness;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use server_harness::{binary, root, wait_until, Guard, Server};

const CASES: &str = r#"["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]"#;
const CASE_COUNT: usize = 301;

fn wstest() -> PathBuf {
    let path = root().join(".autobahn-venv/bin/wstest");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/setup.sh`",
        path.display()
    );
    path
}

/// A fresh output directory under target/autobahn.
fn workdir(name: &str) -> PathBuf {
    let dir = root().join("target/autobahn").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compares the report with the expectation: behaviors with summary.py, and every
/// behaviorClose OK (INFORMATIONAL cases excepted, where the suite only informs).
fn gate(report: &Path, expected: &str) {
    let summary = root().parent().unwrap().join("shared/autobahn/summary.py");
    let expect = root().join("tests/autobahn").join(expected);
    let out = Command::new("python3")
        .arg(&summary)
        .arg(report)
        .args(["--cases", &CASE_COUNT.to_string(), "--expect"])
        .arg(&expect)
        .output()
        .expect("python3 runs summary.py");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "Autobahn results differ from {expected}:\n{text}"
    );
    let close = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             idx=json.load(open(sys.argv[1]+'/index.json'))\n\
             bad=[(a,c,r['behaviorClose']) for a,cs in idx.items() for c,r in cs.items()\n\
                  if r['behaviorClose'] not in ('OK','INFORMATIONAL') and r['behavior']!='INFORMATIONAL']\n\
             print(bad)\n\
             sys.exit(1 if bad else 0)",
        )
        .arg(report)
        .output()
        .unwrap();
    assert!(
        close.status.success(),
        "cases that did not close cleanly: {}",
        String::from_utf8_lossy(&close.stdout)
    );
}

fn wait_for_port(port: u16) {
    wait_until(30, "wstest to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// wstest's fuzzingclient against wisp-server /echo.
#[test]
fn autobahn_fuzzingclient_against_wisp_server() {
    let dir = workdir("servers");
    let server = Server::start(&[]);
    let port = server.port;
    let spec = dir.join("fuzzingclient.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"outdir": "{}", "servers": [{{"agent": "wisp-server", "url": "ws://127.0.0.1:{port}/echo"}}], "cases": {CASES}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    let status = Command::new("timeout")
        .arg("900")
        .arg(wstest())
        .args(["-m", "fuzzingclient", "-s"])
        .arg(&spec)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "wstest: {status}");
    gate(&dir.join("report"), "expected-server.json");
}

/// wstest's fuzzingserver against wisp-client's Autobahn agent.
#[test]
fn autobahn_fuzzingserver_against_wisp_client() {
    let dir = workdir("clients");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = dir.join("fuzzingserver.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"url": "ws://127.0.0.1:{port}", "outdir": "{}", "cases": {CASES}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    // Started directly (not under `timeout`) so that the guard's kill reaches wstest.
    let wstest = Command::new(wstest())
        .args(["-m", "fuzzingserver", "-u", "0", "-s"])
        .arg(&spec)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _wstest = Guard(wstest);
    wait_for_port(port);
    let status = Command::new("timeout")
        .arg("900")
        .arg(binary("wisp-client"))
        .args([
            "--autobahn",
            &format!("ws://127.0.0.1:{port}"),
            "--agent",
            "wisp-client",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "wisp-client --autobahn: {status}");
    gate(&dir.join("report"), "expected-client.json");
}
