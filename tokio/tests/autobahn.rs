//! The Autobahn TestSuite through wisp-tokio, both sides, with the selections the sync
//! drivers run (`tests/tests/autobahn.rs`): wstest's fuzzingclient against the echo
//! example, its fuzzingserver against the `autobahn_client` example (an agent on
//! `connect_async`). Each report is compared case by case with the committed
//! expectation in `tokio/tests/autobahn/`, and every case must close cleanly
//! (INFORMATIONAL cases excepted). `AUTOBAHN_DEFLATE=all` runs all of 12 and 13.
//! The expectations are the sync drivers' (`tests/autobahn/`), case for case: 1-10 both
//! sides 298 OK and 3 INFORMATIONAL (7.1.6, 7.13.1, 7.13.2), the deflate subset 32 OK.
//!
//! `wstest` comes from `scripts/setup.sh test` (`.autobahn-venv`).

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{echo_example, example, root, wait_until, Guard};
use serde_json::Value;

const CASES: &str = r#"["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]"#;
const CASE_COUNT: usize = 301;
const DEFLATE_CASES: &str = r#"["12.1.*", "13.1.1", "13.1.18", "13.2.1", "13.2.18", "13.3.1", "13.3.18", "13.4.1", "13.4.18", "13.5.1", "13.5.18", "13.6.1", "13.6.18", "13.7.1", "13.7.18"]"#;
const DEFLATE_CASE_COUNT: usize = 32;
const DEFLATE_ALL: &str = r#"["12.*", "13.*"]"#;

fn deflate_selection() -> (&'static str, usize, &'static str) {
    match std::env::var("AUTOBAHN_DEFLATE").as_deref() {
        Ok("all") => (DEFLATE_ALL, 216, "-all"),
        _ => (DEFLATE_CASES, DEFLATE_CASE_COUNT, ""),
    }
}

fn wstest() -> PathBuf {
    let path = root().join(".autobahn-venv/bin/wstest");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/setup.sh test`",
        path.display()
    );
    path
}

fn workdir(name: &str) -> PathBuf {
    let dir = root().join("target/autobahn-tokio").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case.get(name).and_then(Value::as_str).unwrap_or("?")
}

fn case_key(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|p| p.parse().unwrap_or(u32::MAX))
        .collect()
}

/// The gate of `tests/tests/autobahn.rs`: the report equals the expectation case by
/// case, has at least `count` cases, and every case closed cleanly.
fn gate(report: &Path, expected: &str, count: usize) {
    let read = |p: &Path| -> Value {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let index = read(&report.join("index.json"));
    let want = read(&root().join("tokio/tests/autobahn").join(expected));
    let want = want.as_object().expect("{case: behavior}");
    let agents = index.as_object().expect("{agent: {case: ...}}");
    assert!(
        !agents.is_empty(),
        "index.json is empty: wstest ran no case"
    );
    let mut problems = Vec::new();
    for (agent, cases) in agents {
        let cases = cases.as_object().expect("cases");
        let mut counts = BTreeMap::<&str, usize>::new();
        for case in cases.values() {
            *counts.entry(field(case, "behavior")).or_default() += 1;
        }
        println!("{agent}: {} cases {counts:?}", cases.len());
        if cases.len() < count {
            problems.push(format!(
                "{agent}: only {} cases, expected {count}",
                cases.len()
            ));
        }
        let mut all: Vec<&String> = want.keys().chain(cases.keys()).collect();
        all.sort_by_key(|id| case_key(id));
        all.dedup();
        for id in all {
            let wanted = want.get(id).and_then(Value::as_str).unwrap_or("-");
            let got = cases.get(id).map_or("-", |c| field(c, "behavior"));
            if wanted != got {
                problems.push(format!("{agent} {id}: expected {wanted}, got {got}"));
            }
            if let Some(c) = cases.get(id) {
                let close = field(c, "behaviorClose");
                if close != "OK" && close != "INFORMATIONAL" && got != "INFORMATIONAL" {
                    problems.push(format!("{agent} {id}: did not close cleanly ({close})"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} against {expected}:\n  {}",
        report.display(),
        problems.join("\n  ")
    );
}

/// The bound of one wstest run, in seconds: the deflate subset (1000 messages per case
/// through wstest's Python peer) took 440 s on a loaded 2-core machine.
fn limit(name: &str) -> &'static str {
    if name.ends_with("deflate") {
        "1800"
    } else {
        "900"
    }
}

fn fuzzingclient(name: &str, cases: &str, count: usize, expected: &str) {
    let dir = workdir(name);
    let (_server, port) = echo_example();
    let spec = dir.join("fuzzingclient.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"outdir": "{}", "servers": [{{"agent": "wisp-tokio", "url": "ws://127.0.0.1:{port}/echo"}}], "cases": {cases}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    let status = Command::new("timeout")
        .arg(limit(name))
        .arg(wstest())
        .args(["-m", "fuzzingclient", "-s"])
        .arg(&spec)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "wstest: {status}");
    gate(&dir.join("report"), expected, count);
}

fn fuzzingserver(name: &str, cases: &str, count: usize, expected: &str) {
    let dir = workdir(name);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = dir.join("fuzzingserver.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"url": "ws://127.0.0.1:{port}", "outdir": "{}", "cases": {cases}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    let wstest = Command::new(wstest())
        .args(["-m", "fuzzingserver", "-u", "0", "-s"])
        .arg(&spec)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _wstest = Guard(wstest);
    wait_until(30, "wstest to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let status = Command::new("timeout")
        .arg(limit(name))
        .arg(example("autobahn_client"))
        .args([&format!("ws://127.0.0.1:{port}"), "wisp-tokio"])
        .status()
        .unwrap();
    assert!(status.success(), "autobahn_client: {status}");
    gate(&dir.join("report"), expected, count);
}

#[test]
fn autobahn_fuzzingclient_against_the_echo_example() {
    fuzzingclient("servers", CASES, CASE_COUNT, "expected-server.json");
}

#[test]
fn autobahn_deflate_fuzzingclient_against_the_echo_example() {
    let (cases, count, all) = deflate_selection();
    fuzzingclient(
        "servers-deflate",
        cases,
        count,
        &format!("expected-server-deflate{all}.json"),
    );
}

#[test]
fn autobahn_fuzzingserver_against_connect_async() {
    fuzzingserver("clients", CASES, CASE_COUNT, "expected-client.json");
}

#[test]
fn autobahn_deflate_fuzzingserver_against_connect_async() {
    let (cases, count, all) = deflate_selection();
    fuzzingserver(
        "clients-deflate",
        cases,
        count,
        &format!("expected-client-deflate{all}.json"),
    );
}
