//! Reconnection (`wisp_client::Reconnecting`, `wisp-client --reconnect`) against a real
//! wisp-server that is stopped (SIGTERM: it closes with 1001) and started again on the
//! same port under the clients.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use wisp_client::{Backoff, Error, Event, Message, Options, Reconnecting};
use wisp_tests::redis::free_port;
use wisp_tests::*;

/// wisp-server on a fixed port (so that it can come back on it), stopped by PID.
struct Restartable {
    port: u16,
    child: Option<Guard>,
}

impl Restartable {
    fn start() -> Restartable {
        let mut s = Restartable {
            port: free_port(),
            child: None,
        };
        s.up();
        s
    }

    fn up(&mut self) {
        let (child, line) = spawn_ready(
            Command::new(binary("wisp-server"))
                .args(["--listen", &format!("127.0.0.1:{}", self.port)])
                .stderr(Stdio::null()),
        );
        assert!(line.contains(&self.port.to_string()), "{line}");
        self.child = Some(Guard(child));
    }

    /// SIGTERM (the server closes its connections with 1001), then waits for it.
    fn down(&mut self) {
        let mut g = self.child.take().expect("running");
        // SAFETY: kill(2) on the PID of our own child, not reaped yet.
        unsafe { libc::kill(g.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = g.0.wait();
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

fn policy() -> Backoff {
    Backoff {
        min: Duration::from_millis(50),
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        ..Backoff::default()
    }
}

fn options() -> Options {
    Options {
        read_timeout: Some(Duration::from_millis(50)),
        ..Options::default()
    }
}

/// The next event that is not a read timeout or the server's close frame (bounded).
fn next(rc: &mut Reconnecting) -> Result<Event, Error> {
    for _ in 0..2000 {
        match rc.next_event() {
            Err(Error::Timeout) | Ok(Event::Message(Message::Close(_))) => continue,
            other => return other,
        }
    }
    panic!("no event in 2000 reads");
}

#[test]
fn comes_back_after_a_restart_within_the_backoff_bounds() {
    let mut server = Restartable::start();
    let backoff = policy();
    let mut rc = Reconnecting::new(&server.url("/echo"), options(), backoff.clone());
    assert!(matches!(
        next(&mut rc).unwrap(),
        Event::Connected { reconnected: false }
    ));
    rc.send_text("before").unwrap();
    assert!(matches!(next(&mut rc).unwrap(), Event::Message(Message::Text(t)) if t == "before"));

    server.down();
    // The server's 1001, then refused connections: each wait within the policy, and
    // never a try sooner than the wait said.
    let mut waits = Vec::new();
    let mut last: Option<(Instant, Duration)> = None;
    let mut reasons = Vec::new();
    while waits.len() < 4 {
        match next(&mut rc).unwrap() {
            Event::Disconnected { reason, retry_in } => {
                let now = Instant::now();
                if let Some((at, wait)) = last {
                    assert!(now.duration_since(at) >= wait, "a try came early");
                }
                last = Some((now, retry_in));
                assert!(
                    retry_in >= backoff.min && retry_in <= backoff.max,
                    "{retry_in:?}"
                );
                waits.push(retry_in);
                reasons.push(reason);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(reasons[0].contains("1001"), "{reasons:?}");
    assert!(!rc.is_connected());
    server.up();
    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries < 50, "no reconnection in 50 tries");
        match next(&mut rc).unwrap() {
            Event::Connected { reconnected } => {
                assert!(reconnected);
                break;
            }
            Event::Disconnected { retry_in, .. } => {
                assert!(retry_in <= backoff.max);
                waits.push(retry_in);
            }
            other => panic!("{other:?}"),
        }
    }
    eprintln!("waits between tries: {waits:?}");
    rc.send_text("after").unwrap();
    assert!(matches!(next(&mut rc).unwrap(), Event::Message(Message::Text(t)) if t == "after"));
    rc.close(wisp_client::CloseCode::NORMAL, "").unwrap();
}

#[test]
fn a_close_1000_from_the_server_ends_the_session_and_1001_does_not() {
    let server = Restartable::start();
    let mut rc = Reconnecting::new(&server.url("/inspect"), options(), policy());
    let command = |rc: &mut Reconnecting, code: u16| {
        rc.send_text(&format!(
            r#"{{"command":"close","code":{code},"reason":"bye"}}"#
        ))
        .unwrap();
    };
    assert!(matches!(next(&mut rc).unwrap(), Event::Connected { .. }));
    command(&mut rc, 1001);
    let mut saw = false;
    for _ in 0..100 {
        match next(&mut rc).unwrap() {
            Event::Message(_) => {}
            Event::Disconnected { reason, .. } => {
                assert!(reason.contains("1001"), "{reason}");
                saw = true;
            }
            Event::Connected { reconnected } => {
                assert!(reconnected && saw);
                break;
            }
        }
    }
    command(&mut rc, 1000);
    for _ in 0..100 {
        match next(&mut rc) {
            Ok(Event::Message(_)) => {}
            Err(Error::Closed) => {
                assert_eq!(rc.last_close().unwrap().code.0, 1000);
                assert!(!rc.is_connected());
                // And it stays so.
                assert!(matches!(rc.next_event(), Err(Error::Closed)));
                return;
            }
            other => panic!("reconnected after 1000: {other:?}"),
        }
    }
    panic!("no close");
}

/// 20 clients lose the server at once and come back: full jitter spreads their tries.
#[test]
fn twenty_clients_do_not_come_back_at_the_same_instant() {
    let mut server = Restartable::start();
    let url = server.url("/echo");
    let n = 20;
    let connected = Arc::new(Barrier::new(n + 1));
    let down = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (url, connected, down) = (url.clone(), connected.clone(), down.clone());
            std::thread::spawn(move || {
                let mut rc = Reconnecting::new(&url, options(), policy());
                assert!(matches!(next(&mut rc).unwrap(), Event::Connected { .. }));
                connected.wait();
                down.wait();
                let mut first_wait = None;
                for _ in 0..200 {
                    match next(&mut rc).unwrap() {
                        Event::Disconnected { retry_in, .. } => {
                            first_wait.get_or_insert(retry_in);
                        }
                        Event::Connected { reconnected: true } => {
                            let _ = rc.close(wisp_client::CloseCode::NORMAL, "");
                            return (first_wait.unwrap(), Instant::now());
                        }
                        other => panic!("{other:?}"),
                    }
                }
                panic!("no reconnection in 200 events");
            })
        })
        .collect();
    connected.wait();
    server.down();
    server.up();
    down.wait();
    let results: Vec<(Duration, Instant)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let first = results.iter().map(|r| r.1).min().unwrap();
    let last = results.iter().map(|r| r.1).max().unwrap();
    let mut waits: Vec<Duration> = results.iter().map(|r| r.0).collect();
    waits.sort();
    waits.dedup();
    eprintln!(
        "20 clients came back over {:?}; {} distinct first waits, from {:?} to {:?}",
        last - first,
        waits.len(),
        waits.first().unwrap(),
        waits.last().unwrap()
    );
    assert!(waits.len() > 1, "every client waited the same: no jitter");
}

fn read_line_until(r: &mut impl BufRead, want: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for _ in 0..100 {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            break;
        }
        let done = l.trim_end() == want;
        lines.push(l.trim_end().to_string());
        if done {
            return lines;
        }
    }
    panic!("no {want:?} in {lines:?}");
}

fn cli(url: &str, args: &[&str]) -> Child {
    Command::new(binary("wisp-client"))
        .arg(url)
        .args(args)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn cli_reconnect_keeps_lines_typed_while_disconnected() {
    let mut server = Restartable::start();
    let mut child = cli(
        &server.url("/echo"),
        &["--reconnect", "--reconnect-max", "0.3"],
    );
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    writeln!(stdin, "one").unwrap();
    read_line_until(&mut out, "one");
    server.down();
    writeln!(stdin, "two").unwrap();
    writeln!(stdin, "three").unwrap();
    server.up();
    read_line_until(&mut out, "two");
    read_line_until(&mut out, "three");
    drop(stdin);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("reconnecting in"), "{err}");
    assert!(err.contains("wisp-client: reconnected to"), "{err}");
}

#[test]
fn cli_reconnect_gives_up_after_the_tries_allowed() {
    let port = free_port();
    let out = Command::new(binary("wisp-client"))
        .arg(format!("ws://127.0.0.1:{port}/"))
        .args([
            "--reconnect",
            "--reconnect-tries",
            "3",
            "--reconnect-max",
            "0.2",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("reconnecting in").count(), 2, "{err}");
    assert!(
        err.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("cannot connect"),
        "{err}"
    );
}

/// The same rule seen from the other end: a listener that accepts and drops every
/// connection (each try fails its handshake) logs when each try arrived, and no two
/// arrive closer than the policy's floor.
#[test]
fn tries_never_come_closer_than_the_floor_as_the_server_logs_them() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    const TRIES: usize = 6;
    let log = std::thread::spawn(move || {
        let mut accepts = Vec::new();
        for s in listener.incoming().take(TRIES) {
            accepts.push(Instant::now());
            drop(s);
        }
        accepts
    });
    let backoff = policy();
    let mut rc = Reconnecting::new(
        &format!("ws://127.0.0.1:{port}/"),
        options(),
        Backoff {
            max_tries: Some(TRIES as u32),
            ..backoff.clone()
        },
    );
    let mut failures = 0;
    while failures < TRIES {
        match rc.next_event() {
            Ok(Event::Disconnected { .. }) => failures += 1,
            Err(Error::Timeout) => {}
            // Giving up after the tries allowed ends the session with an error.
            Err(_) => break,
            Ok(other) => panic!("{other:?}"),
        }
    }
    let accepts = log.join().unwrap();
    assert_eq!(accepts.len(), TRIES);
    let gaps: Vec<Duration> = accepts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between tries, as the listener saw them: {gaps:?}");
    for gap in &gaps {
        assert!(*gap >= backoff.min, "two tries {gap:?} apart: {gaps:?}");
    }
}
