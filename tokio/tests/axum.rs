//! The axum example (`examples/axum.rs`: an echo route upgraded through hyper and run
//! on wisp-tokio) against the Python and Node checklist clients, deflate off and on,
//! and a request that is not an upgrade.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn the_axum_example_echoes_for_the_python_and_node_peers() {
    let mut cmd = Command::new(example("axum"));
    cmd.arg("127.0.0.1:0");
    let (_server, port) = start_listening(cmd);
    let url = format!("ws://127.0.0.1:{port}/ws");
    for mode in ["off", "on"] {
        let mut py = Command::new(python());
        py.arg("tests/peers/py_client.py");
        run_checklist(py, &url, &["--deflate", mode]);
        let mut js = node();
        js.arg("tests/peers/node_client.js");
        run_checklist(js, &url, &["--deflate", mode]);
    }
    // A plain GET of the route is refused with the codec's status and reason.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}
