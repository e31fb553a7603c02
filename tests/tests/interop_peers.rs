//! Interop with independent peers, both ways: Python `websockets` (`.venv`) and Node
//! `ws` (`node_modules`), installed by `scripts/setup.sh`. Their checklist clients
//! (tests/peers/*_client.*) against wisp-server /echo, and wisp-client against their
//! echo servers with the same list: text and binary of 0 B, 125 B, 126 B, 64 KiB and
//! 1 MiB, fragmented messages, ping, and the close code and reason as seen.

mod server_harness;

use std::process::Command;

use server_harness::peers::*;
use server_harness::*;

#[test]
fn python_websockets_client_against_wisp_server() {
    let s = Server::start(&[]);
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_client.py");
    run_checklist(cmd, &s.url("/echo"));
}

#[test]
fn node_ws_client_against_wisp_server() {
    let s = Server::start(&[]);
    let mut cmd = node();
    cmd.arg("tests/peers/node_client.js");
    run_checklist(cmd, &s.url("/echo"));
}

#[test]
fn python_websockets_client_against_wisp_server_with_deflate() {
    let s = Server::start(&[]);
    for mode in ["on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.arg("tests/peers/py_client.py");
        run_checklist_deflate(cmd, &s.url("/echo"), mode);
    }
}

#[test]
fn node_ws_client_against_wisp_server_with_deflate() {
    let s = Server::start(&[]);
    for mode in ["on", "no-takeover"] {
        let mut cmd = node();
        cmd.arg("tests/peers/node_client.js");
        run_checklist_deflate(cmd, &s.url("/echo"), mode);
    }
}

#[test]
fn wisp_client_against_python_websockets_server_with_deflate() {
    for mode in ["on", "no-takeover"] {
        let mut cmd = Command::new(python());
        cmd.args(["tests/peers/py_echo_server.py", "--deflate", mode]);
        let (_peer, port) = start_peer(cmd);
        let p = wisp_client_checklist(port);
        let p = p.expect("permessage-deflate agreed");
        // websockets answers with its defaults: a 12-bit server window.
        assert_eq!(p.client_no_context_takeover, mode == "no-takeover", "{p:?}");
    }
}

#[test]
fn wisp_client_against_node_ws_server_with_deflate() {
    for mode in ["on", "no-takeover"] {
        let mut cmd = node();
        cmd.args(["tests/peers/node_echo_server.js", "--deflate", mode]);
        let (_peer, port) = start_peer(cmd);
        let p = wisp_client_checklist(port).expect("permessage-deflate agreed");
        assert_eq!(p.server_no_context_takeover, mode == "no-takeover", "{p:?}");
    }
}

#[test]
fn wisp_client_against_python_websockets_server() {
    let mut cmd = Command::new(python());
    cmd.arg("tests/peers/py_echo_server.py");
    let (_peer, port) = start_peer(cmd);
    assert_eq!(wisp_client_checklist(port), None);
}

#[test]
fn wisp_client_against_node_ws_server() {
    let mut cmd = node();
    cmd.arg("tests/peers/node_echo_server.js");
    let (_peer, port) = start_peer(cmd);
    assert_eq!(wisp_client_checklist(port), None);
}
