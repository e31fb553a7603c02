//! The wisp-server process: command line, and graceful shutdown on SIGTERM and SIGINT
//! during traffic.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wisp_codec::blocking::Error;
use wisp_codec::Message;
use wisp_tests::*;

fn hard_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the rlimit we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_max
}

#[test]
fn help_shows_every_default_and_bad_values_exit_2() {
    let out = Command::new(binary("wisp-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--listen <ADDR>",
        "[default: 127.0.0.1:9001]",
        "--max-message-size <SIZE>",
        "[default: 64MiB]",
        "[default: 16MiB]",
        // The open-file limit (the server raises its soft limit to the hard one) less 64.
        &*format!("[default: {}]", hard_fd_limit() - 64),
        "--handshake-timeout <DUR>",
        "[default: 10s]",
        "[default: 30s]",
        "[default: 60s]",
        "--origin <URL>",
        "--subprotocol <NAME>",
        "RUST_LOG",
    ] {
        assert!(help.contains(opt), "--help lacks {opt:?}:\n{help}");
    }
    for bad in [
        &["--max-message-size", "lots"][..],
        &["--max-frame-size", "12parsecs"],
        &["--handshake-timeout", "soon"],
        &["--idle-timeout", "0s"],
        &["--max-connections", "-1"],
        &["--listen"],
        &["--listen", "nonsense"],
        &["--frobnicate"],
        &["--max-connections=many"],
        &["--max-connections", "100000000"],
        &["--workers", "0"],
    ] {
        let out = Command::new(binary("wisp-server"))
            .args(bad)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{bad:?}: one line, got {err:?}");
        assert!(err.starts_with("wisp-server: "), "{bad:?}: {err:?}");
    }
    for v in ["--version", "-V"] {
        let out = Command::new(binary("wisp-server")).arg(v).output().unwrap();
        assert!(out.status.success(), "{v}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("wisp-server {}\n", env!("CARGO_PKG_VERSION")),
            "{v}"
        );
    }
}

/// `RUST_LOG` works as env_logger users expect: a filter per target, levels left out
/// or included.
#[test]
fn rust_log_filters_per_target() {
    // warn: the open of the first connection (info) is left out, the 503 (warn) is not.
    let quiet = Server::start_with_env(
        &["--max-connections", "1"],
        &[("RUST_LOG", "wisp_server=warn")],
    );
    let _held = connect(quiet.port, "/echo");
    let refused = http(quiet.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let mut logs = Vec::new();
    wait_until(5, "the 503 warning", || {
        logs.extend(quiet.logs());
        logs.iter()
            .any(|l| l.contains("WARN") && l.contains("(503)"))
    });
    assert!(!logs.iter().any(|l| l.contains("INFO")), "{logs:?}");
    // debug: a connection that closes before its request head is a debug line.
    let loud = Server::start_with_env(&[], &[("RUST_LOG", "wisp_server=debug")]);
    drop(std::net::TcpStream::connect(("127.0.0.1", loud.port)).unwrap());
    wait_until(5, "the debug line", || {
        loud.logs().iter().any(|l| {
            l.contains("DEBUG")
                && l.contains("wisp_server")
                && l.contains("before a complete request head")
        })
    });
}

fn signal_during_traffic(signal: &str) {
    let mut s = Server::start(&[]);
    let port = s.port;
    let echoed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let echoed = Arc::clone(&echoed);
            std::thread::spawn(move || {
                let mut ws = connect(port, "/echo");
                let mut n = 0u64;
                loop {
                    // Keep sending until the server's close arrives.
                    if ws.send_text(&format!("{i}:{n}")).is_err() {
                        break;
                    }
                    n += 1;
                    match ws.read_message() {
                        Ok(Message::Text(_)) => {
                            echoed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Message::Close(f)) => return f.map(|f| f.code.0),
                        Ok(_) => {}
                        Err(Error::Closed) => break,
                        Err(e) => panic!("client {i}: {e}"),
                    }
                }
                // Our send failed because the close already arrived: find it.
                loop {
                    match ws.read_message() {
                        Ok(Message::Close(f)) => return f.map(|f| f.code.0),
                        Ok(_) => continue,
                        Err(_) => {
                            return ws.connection().close_received().flatten().map(|f| f.code.0)
                        }
                    }
                }
            })
        })
        .collect();
    wait_until(10, "traffic", || echoed.load(Ordering::Relaxed) > 200);
    let start = Instant::now();
    let status = Command::new("kill")
        .args([signal, &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for c in clients {
        assert_eq!(c.join().unwrap(), Some(1001), "every client sees 1001");
    }
    let exit = loop {
        if let Some(st) = s.child.0.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(8), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(s.logs().iter().any(|l| l.contains("shutdown complete")));
}

#[test]
fn sigterm_during_traffic_every_client_sees_1001_and_exit_0() {
    signal_during_traffic("-TERM");
}

#[test]
fn sigint_too() {
    signal_during_traffic("-INT");
}

#[test]
fn shutdown_waits_at_most_five_seconds_for_peers_that_never_answer() {
    let mut s = Server::start(&[]);
    // A peer that completed the handshake and then never reads nor answers.
    let _mute = {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        std::io::Write::write_all(&mut c, &upgrade_request(s.port, "/echo", "")).unwrap();
        c
    };
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    let exit = loop {
        if let Some(st) = s.child.0.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(8), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    assert_eq!(exit.code(), Some(0));
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_millis(6500),
        "{took:?}"
    );
}
