//! The event-loop server at the machine's limits (its own test binary: it needs most of
//! this process's 20,000 file descriptors). Figures are printed (`--nocapture`); the
//! assertions are the bounds the engine promises, not benchmarks.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use wisp_codec::Message;
use wisp_tests::{
    client_frame as frame, connect, connect_from_source, next_data, upgrade_request, wait_until,
    Server,
};

fn raise_own_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    lim.rlim_cur
}

/// Opens a WebSocket connection to /echo from `src` and reads the 101 head.
fn idle_websocket(src: Ipv4Addr, port: u16) -> TcpStream {
    let mut s = connect_from_source(src, port).expect("connect");
    s.write_all(&upgrade_request(port, "/echo", "")).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 256];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0, "EOF before the 101");
        head.extend_from_slice(&b[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

fn mem_available_kib() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemAvailable in /proc/meminfo")
}

fn echo_latency(port: u16) -> Duration {
    let mut c = connect(port, "/echo");
    let start = Instant::now();
    c.send_text("still there?").unwrap();
    assert_eq!(next_data(&mut c), Message::Text("still there?".into()));
    start.elapsed()
}

/// 19,000 idle WebSocket connections at once: this machine's descriptor cap (20,000
/// per process) less some slack, on both ends. The server holds them in a few KiB each
/// and keeps answering.
#[test]
fn nineteen_thousand_idle_connections() {
    const N: usize = 19_000;
    let limit = raise_own_fd_limit();
    assert!(
        limit >= N as u64 + 500,
        "this process may open only {limit} files"
    );
    // Four client addresses of 4,750 connections each: lift the per-address limit.
    let server = Server::start(&[
        "--max-connections",
        "19500",
        "--max-connections-per-ip",
        "19500",
    ]);
    let idle_before = echo_latency(server.port);
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, avail_before) = (server.rss_kib(), mem_available_kib());
    let start = Instant::now();
    let sources: Vec<Ipv4Addr> = (2..=5).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let held: Vec<TcpStream> = (0..N)
        .map(|i| idle_websocket(sources[i % sources.len()], server.port))
        .collect();
    let opened = start.elapsed();
    wait_until(30, "every connection accepted", || server.fds() > N);
    std::thread::sleep(Duration::from_millis(500));
    let (rss_after, avail_after) = (server.rss_kib(), mem_available_kib());
    let latency = echo_latency(server.port);
    let rss_per = rss_after.saturating_sub(rss_before) as f64 / N as f64;
    let machine_per = avail_before.saturating_sub(avail_after) as f64 / N as f64;
    println!(
        "{N} idle connections opened in {opened:?}; server RSS {rss_before} -> {rss_after} KiB = \
         {rss_per:.2} KiB per connection; machine memory (MemAvailable drop, both ends and the \
         kernel) {machine_per:.2} KiB per connection; echo on a new connection: {latency:?} \
         (idle server: {idle_before:?}); server threads: {}",
        server.threads()
    );
    assert!(
        rss_per <= 2.0,
        "{rss_per:.2} KiB of server RSS per idle connection"
    );
    // The echo's latency is printed, not asserted: speed is the benches' to measure.
    drop(held);
}

/// A peer that sends and never reads: the server stops reading it once its unsent
/// output passes the high-water mark, so it costs bounded memory, and everyone else
/// is served meanwhile.
#[test]
fn a_peer_that_never_reads_costs_bounded_memory() {
    let server = Server::start(&[]);
    let before = server.rss_kib();
    let stuck = connect(server.port, "/echo");
    let mut w = stuck.get_ref().try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let flood = std::thread::spawn(move || {
        let msg = frame(0x82, &[7; 60 * 1024]);
        let mut sent = 0usize;
        while sent < (256 << 20) && w.write_all(&msg).is_ok() {
            sent += msg.len();
        }
        sent
    });
    // Meanwhile others echo 1 MiB messages.
    let mut other = connect(server.port, "/echo");
    other
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let big = vec![3u8; 1 << 20];
    for _ in 0..20 {
        other.send_binary(&big).unwrap();
        assert_eq!(next_data(&mut other), Message::Binary(big.clone()));
    }
    let sent = flood.join().unwrap();
    let after = server.rss_kib();
    println!(
        "the stuck peer got {} KiB in before the server stopped reading it; server RSS \
         {before} -> {after} KiB",
        sent / 1024
    );
    assert!(
        sent < 256 << 20,
        "the server kept reading a peer that never reads"
    );
    // 1 MiB high-water mark, one message, the read buffers: far below what was sent.
    assert!(
        after < before + 8 * 1024,
        "server RSS grew by {} KiB",
        after - before
    );
    drop(stuck);
}
