//! The Autobahn TestSuite, sections 1 to 10, against both sides of Wisp:
//! the fuzzingclient against wisp-server's `/echo`, the fuzzingserver against
//! wisp-client's Autobahn agent mode. Each run is compared case by case with the
//! committed expectation in `tests/autobahn/` (wstest exits 0 whatever happens, so the
//! gate is the report), and every case must also close cleanly (behaviorClose OK).
//! The gate itself (`judge`) is tested on small reports made here.
//!
//! `wstest` comes from `scripts/setup.sh` (`.autobahn-venv`, by
//! `scripts/install-autobahn.sh`); the binaries from `cargo build --workspace --bins`
//! (scripts/test.sh does both).

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use wisp_tests::{binary, root, wait_until, Guard, Server};

const CASES: &str = r#"["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]"#;
const CASE_COUNT: usize = 301;

/// permessage-deflate (sections 12 and 13) in CI: every size of 12.1 (18 sizes from 16 B
/// to 128 KiB, 1000 messages each), and every parameter combination of 13 (13.1-13.7:
/// window bits 9 and 15, with and without context takeover, as offered and accepted) at
/// its smallest and largest size. The whole of 12 and 13 (216 cases, about 15 minutes per
/// side with wstest's Python peer) is `AUTOBAHN_DEFLATE=all`.
const DEFLATE_CASES: &str = r#"["12.1.*", "13.1.1", "13.1.18", "13.2.1", "13.2.18", "13.3.1", "13.3.18", "13.4.1", "13.4.18", "13.5.1", "13.5.18", "13.6.1", "13.6.18", "13.7.1", "13.7.18"]"#;
const DEFLATE_CASE_COUNT: usize = 32;
const DEFLATE_ALL: &str = r#"["12.*", "13.*"]"#;

/// The deflate selection and its case count (`AUTOBAHN_DEFLATE=all`: all of 12 and 13).
fn deflate_selection() -> (&'static str, usize, &'static str) {
    match std::env::var("AUTOBAHN_DEFLATE").as_deref() {
        Ok("all") => (DEFLATE_ALL, 216, "-all"),
        _ => (DEFLATE_CASES, DEFLATE_CASE_COUNT, ""),
    }
}

/// Seconds a wstest run may take: 15 minutes, an hour for more than 100 cases (the whole
/// of 12 and 13 took over 15 minutes per side on a shared two-core machine).
fn time_limit(count: usize) -> &'static str {
    if count > 100 {
        "3600"
    } else {
        "900"
    }
}

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

/// The behaviors wstest reports, in the order the summary counts them.
const BEHAVIORS: [&str; 5] = [
    "OK",
    "NON-STRICT",
    "INFORMATIONAL",
    "UNIMPLEMENTED",
    "FAILED",
];

/// What the gate found in a report: a summary to print, and every reason to fail.
struct Verdict {
    summary: String,
    problems: Vec<String>,
}

/// Orders case ids numerically ("9.10" after "9.9"); ids that are not numbers sort last.
fn case_key(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|part| part.parse().unwrap_or(u32::MAX))
        .collect()
}

/// A text field of one case of index.json ("?" when it is missing).
fn field<'a>(case: &'a Value, name: &str) -> &'a str {
    case.get(name).and_then(Value::as_str).unwrap_or("?")
}

/// Judges an index.json (`{agent: {case id: {behavior, behaviorClose, ...}}}`) against
/// the committed expectation (`{case id: behavior}`). It fails on an empty report (wstest
/// exits 0 and writes `{}` when it reaches no peer), on fewer than `min_cases` cases, on
/// any case whose behavior differs from the expectation (missing and extra cases
/// included), and on any case that did not close cleanly (behaviorClose other than OK),
/// except INFORMATIONAL cases, where the suite only informs.
fn judge(index: &Value, expected: &Value, min_cases: usize) -> Verdict {
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
fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Prints the summary of the report in directory `report` and fails the test if `judge`
/// finds any problem against `tests/autobahn/<expected>`.
fn gate(report: &Path, expected: &str, count: usize) {
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

fn wait_for_port(port: u16) {
    wait_until(30, "wstest to listen", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// wstest's fuzzingclient against wisp-server /echo.
#[test]
fn autobahn_fuzzingclient_against_wisp_server() {
    fuzzingclient("servers", CASES, CASE_COUNT, "expected-server.json");
}

/// The same with permessage-deflate (sections 12 and 13), which wstest offers there.
#[test]
fn autobahn_deflate_fuzzingclient_against_wisp_server() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-server-deflate{all}.json");
    fuzzingclient("servers-deflate", cases, count, &expected);
}

/// wstest's fuzzingserver against wisp-client's Autobahn agent.
#[test]
fn autobahn_fuzzingserver_against_wisp_client() {
    fuzzingserver("clients", CASES, CASE_COUNT, "expected-client.json");
}

/// The same with permessage-deflate: the agent offers it, wstest accepts in 12 and 13.
#[test]
fn autobahn_deflate_fuzzingserver_against_wisp_client() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-client-deflate{all}.json");
    fuzzingserver("clients-deflate", cases, count, &expected);
}

fn fuzzingclient(name: &str, cases: &str, count: usize, expected: &str) {
    let dir = workdir(name);
    let server = Server::start(&[]);
    let port = server.port;
    let spec = dir.join("fuzzingclient.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{"outdir": "{}", "servers": [{{"agent": "wisp-server", "url": "ws://127.0.0.1:{port}/echo"}}], "cases": {cases}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            dir.join("report").display()
        ),
    )
    .unwrap();
    let status = Command::new("timeout")
        .arg(time_limit(count))
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
        .arg(time_limit(count))
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
    gate(&dir.join("report"), expected, count);
}

/// A report of one agent with the given (case id, behavior, behaviorClose) results.
fn report(cases: &[(&str, &str, &str)]) -> Value {
    let cases: serde_json::Map<String, Value> = cases
        .iter()
        .map(|(id, behavior, close)| {
            let case = json!({"behavior": behavior, "behaviorClose": close,
                              "duration": 3, "remoteCloseCode": 1000});
            (id.to_string(), case)
        })
        .collect();
    json!({ "agent": cases })
}

const SAMPLE: [(&str, &str, &str); 4] = [
    ("1.1.1", "OK", "OK"),
    ("7.1.6", "INFORMATIONAL", "INFORMATIONAL"),
    ("9.10", "OK", "OK"),
    ("9.9", "NON-STRICT", "OK"),
];

fn sample_expectation() -> Value {
    json!({"1.1.1": "OK", "7.1.6": "INFORMATIONAL", "9.9": "NON-STRICT", "9.10": "OK"})
}

#[test]
fn gate_passes_a_report_equal_to_its_expectation_and_counts_it() {
    let verdict = judge(&report(&SAMPLE), &sample_expectation(), 4);
    assert_eq!(verdict.problems, Vec::<String>::new());
    let lines: Vec<&str> = verdict.summary.lines().collect();
    assert_eq!(
        lines,
        [
            "agent: 4 cases  OK=2 NON-STRICT=1 INFORMATIONAL=1 UNIMPLEMENTED=0 FAILED=0",
            "  close: INFORMATIONAL=1 OK=3",
            "  7.1.6    INFORMATIONAL close=INFORMATIONAL code=1000 3 ms",
            "  9.9      NON-STRICT    close=OK            code=1000 3 ms",
        ]
    );
}

#[test]
fn gate_fails_an_empty_report_with_a_clear_message() {
    let verdict = judge(&json!({}), &sample_expectation(), 1);
    assert_eq!(verdict.problems.len(), 1);
    assert!(verdict.problems[0].contains("index.json is empty"));
    let verdict = judge(&json!({ "agent": {} }), &sample_expectation(), 1);
    assert!(verdict.problems.iter().any(|p| p.contains("only 0 cases")));
}

#[test]
fn gate_fails_a_changed_missing_or_extra_case() {
    let mut cases = SAMPLE.to_vec();
    cases[2].1 = "FAILED";
    cases.remove(0);
    cases.push(("10.1.1", "OK", "OK"));
    let verdict = judge(&report(&cases), &sample_expectation(), 1);
    assert_eq!(
        verdict.problems,
        [
            "agent 1.1.1: expected OK, got -",
            "agent 9.10: expected OK, got FAILED",
            "agent 10.1.1: expected -, got OK",
        ]
    );
    assert!(verdict.summary.contains("FAILED=1"));
}

#[test]
fn gate_fails_too_few_cases() {
    let verdict = judge(&report(&SAMPLE), &sample_expectation(), 5);
    assert_eq!(
        verdict.problems,
        ["agent: only 4 cases, expected at least 5"]
    );
}

#[test]
fn gate_fails_an_unclean_close_except_in_informational_cases() {
    let mut cases = SAMPLE.to_vec();
    cases[0].2 = "WRONG CODE";
    cases[1].2 = "UNCLEAN";
    let verdict = judge(&report(&cases), &sample_expectation(), 1);
    assert_eq!(
        verdict.problems,
        ["agent 1.1.1: did not close cleanly (WRONG CODE)"]
    );
    assert!(verdict
        .summary
        .contains("  1.1.1    OK            close=WRONG CODE"));
}

/// The committed expectations cover the selected cases with behaviors the suite knows.
#[test]
fn expectations_name_every_case_once_with_a_known_behavior() {
    for (name, count) in [
        ("expected-server.json", CASE_COUNT),
        ("expected-client.json", CASE_COUNT),
        ("expected-server-deflate.json", DEFLATE_CASE_COUNT),
        ("expected-client-deflate.json", DEFLATE_CASE_COUNT),
        ("expected-server-deflate-all.json", 216),
        ("expected-client-deflate-all.json", 216),
    ] {
        let want = read_json(&root().join("tests/autobahn").join(name));
        let want = want.as_object().expect("an object");
        assert_eq!(want.len(), count, "{name}");
        for (id, behavior) in want {
            let behavior = behavior.as_str().unwrap_or("(not a string)");
            assert!(BEHAVIORS.contains(&behavior), "{name}: {id}: {behavior}");
            assert!(case_key(id).iter().all(|&n| n != u32::MAX), "{name}: {id}");
        }
    }
}
