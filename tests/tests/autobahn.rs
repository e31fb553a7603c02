//! The Autobahn TestSuite, sections 1 to 10, against both sides of Wisp:
//! the fuzzingclient against wisp-server's `/echo`, the fuzzingserver against
//! wisp-client's Autobahn agent mode. Each run is compared case by case with the
//! committed expectation in `tests/autobahn/` (wstest exits 0 whatever happens, so the
//! gate is the report), and every case must also close cleanly (behaviorClose OK).
//! The harness and the gate are `wisp_tests::autobahn`; the gate (`judge`) is tested
//! on small reports made here.
//!
//! `wstest` comes from `scripts/setup.sh` (`.autobahn-venv`, by
//! `scripts/install-autobahn.sh`); the binaries from `cargo build --workspace --bins`
//! (scripts/test.sh does both).

use serde_json::{json, Value};

use wisp_tests::autobahn::{
    case_key, deflate_selection, fuzzingclient, fuzzingserver, judge, read_json, workdir,
    BEHAVIORS, CASES, CASE_COUNT, DEFLATE_CASE_COUNT,
};
use wisp_tests::{binary, root, Server};

/// wstest's fuzzingclient against wisp-server /echo.
#[test]
fn autobahn_fuzzingclient_against_wisp_server() {
    fuzzingclient_against_wisp_server("servers", CASES, CASE_COUNT, "expected-server.json");
}

/// The same with permessage-deflate (sections 12 and 13), which wstest offers there.
#[test]
fn autobahn_deflate_fuzzingclient_against_wisp_server() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-server-deflate{all}.json");
    fuzzingclient_against_wisp_server("servers-deflate", cases, count, &expected);
}

/// wstest's fuzzingserver against wisp-client's Autobahn agent.
#[test]
fn autobahn_fuzzingserver_against_wisp_client() {
    fuzzingserver_against_wisp_client("clients", CASES, CASE_COUNT, "expected-client.json");
}

/// The same with permessage-deflate: the agent offers it, wstest accepts in 12 and 13.
#[test]
fn autobahn_deflate_fuzzingserver_against_wisp_client() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-client-deflate{all}.json");
    fuzzingserver_against_wisp_client("clients-deflate", cases, count, &expected);
}

fn fuzzingclient_against_wisp_server(name: &str, cases: &str, count: usize, expected: &str) {
    let server = Server::start(&[]);
    let url = format!("ws://127.0.0.1:{}/echo", server.port);
    let dir = workdir("autobahn", name);
    fuzzingclient(&dir, "wisp-server", &url, cases, count, expected);
}

fn fuzzingserver_against_wisp_client(name: &str, cases: &str, count: usize, expected: &str) {
    let dir = workdir("autobahn", name);
    fuzzingserver(&dir, cases, count, expected, |base| {
        let args = ["--autobahn", base, "--agent", "wisp-client"];
        (binary("wisp-client"), args.map(String::from).to_vec())
    });
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
