//! The Autobahn TestSuite through wisp-tokio, both sides, with the selections the sync
//! drivers run (`tests/tests/autobahn.rs`, whose harness this is:
//! `wisp_tests::autobahn`): wstest's fuzzingclient against the echo example, its
//! fuzzingserver against the `autobahn_client` example (an agent on `connect_async`).
//! Each report is compared case by case with the sync drivers' expectation in
//! `tests/autobahn/` (1-10 both sides 298 OK and 3 INFORMATIONAL: 7.1.6, 7.13.1, 7.13.2;
//! the deflate subset 32 OK), and every case must close cleanly (INFORMATIONAL cases
//! excepted). `AUTOBAHN_DEFLATE=all` runs all of 12 and 13.
//!
//! `wstest` comes from `scripts/setup.sh test` (`.autobahn-venv`).

mod common;

use common::{echo_example, example};
use wisp_tests::autobahn::{
    deflate_selection, fuzzingclient, fuzzingserver, workdir, CASES, CASE_COUNT,
};

fn against_the_echo_example(name: &str, cases: &str, count: usize, expected: &str) {
    let (_server, port) = echo_example();
    let url = format!("ws://127.0.0.1:{port}/echo");
    let dir = workdir("autobahn-tokio", name);
    fuzzingclient(&dir, "wisp-tokio", &url, cases, count, expected);
}

fn against_connect_async(name: &str, cases: &str, count: usize, expected: &str) {
    let dir = workdir("autobahn-tokio", name);
    fuzzingserver(&dir, cases, count, expected, |base| {
        let args = [base.to_string(), "wisp-tokio".to_string()];
        (example("autobahn_client"), args.to_vec())
    });
}

#[test]
fn autobahn_fuzzingclient_against_the_echo_example() {
    against_the_echo_example("servers", CASES, CASE_COUNT, "expected-server.json");
}

#[test]
fn autobahn_deflate_fuzzingclient_against_the_echo_example() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-server-deflate{all}.json");
    against_the_echo_example("servers-deflate", cases, count, &expected);
}

#[test]
fn autobahn_fuzzingserver_against_connect_async() {
    against_connect_async("clients", CASES, CASE_COUNT, "expected-client.json");
}

#[test]
fn autobahn_deflate_fuzzingserver_against_connect_async() {
    let (cases, count, all) = deflate_selection();
    let expected = format!("expected-client-deflate{all}.json");
    against_connect_async("clients-deflate", cases, count, &expected);
}
