//! `GET /healthz` and `GET /readyz`: ready while serving; on SIGTERM with
//! `--drain-delay`, `/readyz` says 503 while `/healthz` stays 200 until the process exits.

use std::time::{Duration, Instant};

use wisp_tests::*;

fn get(port: u16, path: &str) -> u16 {
    status(&http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    ))
}

#[test]
fn readyz_turns_false_during_the_drain_while_healthz_stays_true() {
    let mut s = Server::start(&["--drain-delay", "3s"]);
    let port = s.port;
    assert_eq!(get(port, "/healthz"), 200);
    assert_eq!(get(port, "/readyz"), 200);
    // SAFETY: a signal to the child this test started, by its PID.
    assert_eq!(
        unsafe { libc::kill(s.pid() as libc::pid_t, libc::SIGTERM) },
        0
    );
    wait_until(10, "/readyz to say 503", || get(port, "/readyz") == 503);
    assert_eq!(get(port, "/healthz"), 200, "alive while draining");
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.alive() {
        assert!(Instant::now() < deadline, "still running after the drain");
        std::thread::sleep(Duration::from_millis(50));
    }
}
