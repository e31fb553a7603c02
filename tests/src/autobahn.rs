//! The Autobahn|Testsuite harness, shared by every driver's Autobahn tests
//! (`tests/tests/autobahn.rs` for wisp-server and wisp-client, `tokio/tests/autobahn.rs`
//! for wisp-tokio): the case selections, wstest started and stopped by its PID, and the
//! gate that compares a report case by case with the committed expectation in
//! `tests/autobahn/` (wstest exits 0 whatever happens, so the gate is the report).
//!
//! `wstest` comes from `scripts/setup.sh test` (`.autobahn-venv`, by
//! `scripts/install-autobahn.sh`).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::redis::free_port;
use crate::{root, Guard};

/// Sections 1 to 10 (6.4.* and 8 are not in the suite's numbering here).
pub const CASES: &str = r#"["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]"#;
/// How many cases [`CASES`] selects.
pub const CASE_COUNT: usize = 301;

/// permessage-deflate (sections 12 and 13) in CI: every size of 12.1 (18 sizes from 16 B
/// to 128 KiB, 1000 messages each), and every parameter combination of 13 (13.1-13.7:
/// window bits 9 and 15, with and without context takeover, as offered and accepted) at
/// its smallest and largest size. The whole of 12 and 13 (216 cases) is
/// `AUTOBAHN_DEFLATE=all`.
pub const DEFLATE_CASES: &str = r#"["12.1.*", "13.1.1", "13.1.18", "13.2.1", "13.2.18", "13.3.1", "13.3.18", "13.4.1", "13.4.18", "13.5.1", "13.5.18", "13.6.1", "13.6.18", "13.7.1", "13.7.18"]"#;
/// How many cases [`DEFLATE_CASES`] selects.
pub const DEFLATE_CASE_COUNT: usize = 32;
const DEFLATE_ALL: &str = r#"["12.*", "13.*"]"#;

/// The deflate selection, its case count and the suffix of its expectation files
/// (`AUTOBAHN_DEFLATE=all`: all of 12 and 13, `expected-*-deflate-all.json`).
pub fn deflate_selection() -> (&'static str, usize, &'static str) {
    match std::env::var("AUTOBAHN_DEFLATE").as_deref() {
        Ok("all") => (DEFLATE_ALL, 216, "-all"),
        _ => (DEFLATE_CASES, DEFLATE_CASE_COUNT, ""),
    }
}

/// Seconds a wstest run may take: 30 minutes, two hours for more than 100 cases (the
/// deflate subset took 440 s and the whole of 12 and 13 over 15 minutes per side on a
/// shared two-core machine). A bound against a hang, not a measure of speed.
fn time_limit(count: usize) -> &'static str {
    if count > 100 {
        "7200"
    } else {
        "1800"
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

/// A fresh output directory `target/<under>/<name>`.
pub fn workdir(under: &str, name: &str) -> PathBuf {
    let dir = root().join("target").join(under).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The behaviors wstest reports, in the order the summary counts them.
pub const BEHAVIORS: [&str; 5] = [
    "OK",
    "NON-STRICT",
    "INFORMATIONAL",
    "UNIMPLEMENTED",
    "FAILED",
];

/// What the gate found in a report: a summary to print, and every reason to fail.
pub struct Verdict {
    /// Per agent: the count of each behavior and close, and every case not plainly OK.
    pub summary: String,
    /// Every reason to fail, one line each (none: the report passes).
    pub problems: Vec<String>,
}

/// Orders case ids numerically ("9.10" after "9.9"); ids that are not numbers sort last.
pub fn case_key(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|part| part.parse().unwrap_or(u32::MAX))
        .collect()
}

/// A text field of one case of index.json ("?" when it is missing).
pub fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case.get(name).and_then(Value::as_str).unwrap_or("?")
}

/// Judges an index.json (`{agent: {case id: {behavior, behaviorClose, ...}}}`) against
/// the committed expectation (`{case id: behavior}`). It fails on an empty report (wstest
/// exits 0 and writes `{}` when it reaches no peer), on fewer than `min_cases` cases, on
/// any case whose behavior differs from the expectation (missing and extra cases
/// included), and on any case that did not close cleanly (behaviorClose other than OK),
/// except INFORMATIONAL cases, where the suite only informs.
pub fn judge(index: &Value, expected: &Value, min_cases: usize) -> Verdict {
    let mut summary = String::new();
    let mut problems = Vec::new();
    let agents = match index.as_object() {
        Some(agents) if !agents.is_empty() => agents,
        Some(_) => {
            problems.push(
                "index.json is empty: wstest ran no case (did it reach the peer?)".to_string(),
            );
            return Verdict { summary, problems };
        }
        None => {
            problems.push("index.json is not a JSON object of agents".to_string());
            return Verdict { summary, problems };
        }
    };
    let Some(want) = expected.as_object() else {
        problems.push("the expectation is not a JSON object {case id: behavior}".to_string());
        return Verdict { summary, problems };
    };
    for (agent, cases) in agents {
        let Some(cases) = cases.as_object() else {
            problems.push(format!("{agent}: its cases are not a JSON object"));
            continue;
        };
        let mut ids: Vec<&String> = cases.keys().collect();
        ids.sort_by_key(|id| case_key(id));
        let mut counts = BTreeMap::<&str, usize>::new();
        let mut closes = BTreeMap::<&str, usize>::new();
        for case in cases.values() {
            *counts.entry(field(case, "behavior")).or_default() += 1;
            *closes.entry(field(case, "behaviorClose")).or_default() += 1;
        }
        let mut line = format!("{agent}: {} cases ", cases.len());
        for b in BEHAVIORS {
            line += &format!(" {b}={}", counts.get(b).unwrap_or(&0));
        }
        for (b, n) in counts.iter().filter(|(b, _)| !BEHAVIORS.contains(b)) {
            line += &format!(" {b}={n}");
        }
        summary += &format!("{line}\n  close:");
        for (b, n) in &closes {
            summary += &format!(" {b}={n}");
        }
        summary.push('\n');
        for id in &ids {
            let case = &cases[id.as_str()];
            let (behavior, close) = (field(case, "behavior"), field(case, "behaviorClose"));
            if behavior != "OK" || close != "OK" {
                summary += &format!(
                    "  {id:<8} {behavior:<13} close={close:<13} code={} {} ms\n",
                    case.get("remoteCloseCode").unwrap_or(&Value::Null),
                    case.get("duration").unwrap_or(&Value::Null),
                );
            }
            if close != "OK" && close != "INFORMATIONAL" && behavior != "INFORMATIONAL" {
                problems.push(format!("{agent} {id}: did not close cleanly ({close})"));
            }
        }
        if cases.len() < min_cases {
            problems.push(format!(
                "{agent}: only {} cases, expected at least {min_cases}",
                cases.len()
            ));
        }
        let mut all: Vec<&String> = want.keys().chain(cases.keys()).collect();
        all.sort_by_key(|id| case_key(id));
        all.dedup();
        for id in all {
            let wanted = want.get(id).and_then(Value::as_str).unwrap_or("-");
            let got = cases.get(id).map_or("-", |case| field(case, "behavior"));
            if wanted != got {
                problems.push(format!("{agent} {id}: expected {wanted}, got {got}"));
            }
        }
    }
    Verdict { summary, problems }
}

/// Reads a JSON file, or fails the test saying which file and why.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Prints the summary of the report in directory `report` and fails the test if `judge`
/// finds any problem against `tests/autobahn/<expected>`.
pub fn gate(report: &Path, expected: &str, count: usize) {
    let index = read_json(&report.join("index.json"));
    let want = read_json(&root().join("tests/autobahn").join(expected));
    let verdict = judge(&index, &want, count);
    println!("{}", verdict.summary);
    assert!(
        verdict.problems.is_empty(),
        "the Autobahn report {} fails against {expected}:\n  {}",
        report.display(),
        verdict.problems.join("\n  ")
    );
}

/// Runs wstest's fuzzingclient in `dir` against the server `agent` at `url` (its own
/// process, started by the caller), then gates the report.
pub fn fuzzingclient(
    dir: &Path,
    agent: &str,
    url: &str,
    cases: &str,
    count: usize,
    expected: &str,
) {
    let spec = dir.join("fuzzingclient.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"outdir": "{}", "servers": [{{"agent": "{agent}", "url": "{url}"}}], "cases": {cases}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    let status = Command::new("timeout")
        .arg(time_limit(count))
        .arg(wstest())
        .args(["-m", "fuzzingclient", "-s"])
        .arg(&spec)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "wstest: {status}");
    gate(&dir.join("report"), expected, count);
}

/// Runs wstest's fuzzingserver in `dir`, then the client agent that `agent` makes from
/// the server's base URL (`ws://127.0.0.1:PORT`: a program and its arguments), bounded
/// in time; then gates the report.
pub fn fuzzingserver(
    dir: &Path,
    cases: &str,
    count: usize,
    expected: &str,
    agent: impl Fn(&str) -> (PathBuf, Vec<String>),
) {
    let (mut wstest, port) = start_fuzzingserver(dir, cases);
    let (program, args) = agent(&format!("ws://127.0.0.1:{port}"));
    let status = Command::new("timeout")
        .arg(time_limit(count))
        .arg(&program)
        .args(&args)
        .status()
        .unwrap();
    if !status.success() {
        let wstest_state = match wstest.0.try_wait() {
            Ok(Some(exit)) => format!("wstest had exited ({exit})"),
            _ => "wstest was still running".to_string(),
        };
        panic!(
            "{} {args:?}: {status}; {wstest_state}; its log:\n{}",
            program.display(),
            log_tail(&dir.join("wstest.log"))
        );
    }
    gate(&dir.join("report"), expected, count);
}

/// Starts wstest's fuzzingserver on a free port and waits until it accepts connections.
///
/// The port is found free and then released, so another process may take it first:
/// wstest then exits, and it is started again on another port (up to three times). A
/// probe that connects to itself (source port = destination port, which TCP allows on
/// loopback) does not count as wstest listening.
fn start_fuzzingserver(dir: &Path, cases: &str) -> (Guard, u16) {
    let log = dir.join("wstest.log");
    let mut failures = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let spec = dir.join("fuzzingserver.json");
        std::fs::write(
            &spec,
            format!(
                r#"{{"url": "ws://127.0.0.1:{port}", "outdir": "{}", "cases": {cases}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
                dir.join("report").display()
            ),
        )
        .unwrap();
        // Started directly (not under `timeout`) so that the guard's kill reaches wstest.
        let mut wstest = Guard(
            Command::new(wstest())
                .args(["-m", "fuzzingserver", "-u", "0", "-s"])
                .arg(&spec)
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(exit)) = wstest.0.try_wait() {
                failures.push(format!(
                    "wstest exited ({exit}) before it listened on port {port}:\n{}",
                    log_tail(&log)
                ));
                break;
            }
            if let Ok(probe) = TcpStream::connect(("127.0.0.1", port)) {
                if probe.local_addr().ok() != probe.peer_addr().ok() {
                    return (wstest, port);
                }
            }
            assert!(
                Instant::now() < deadline,
                "wstest did not listen on port {port} within 30 s:\n{}",
                log_tail(&log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("wstest could not start:\n{}", failures.join("\n"));
}

/// The last 40 lines of a log file (or why it cannot be read).
fn log_tail(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}
