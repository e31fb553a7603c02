//! Attacks that must cost wisp-server nothing (issue 7), each against a running server,
//! memory read from /proc/PID/status. Figures are printed (run with `--nocapture`) and
//! recorded in SECURITY.md; the assertions are bounds, not benchmarks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wisp_codec::Message;
use wisp_tests::{client_frame as frame, close_code, connect, next_data, wait_until, Server};

/// `count` one-byte fragments of one binary message.
fn one_byte_fragments(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * 7);
    for i in 0..count {
        let b0 = match (i, i + 1 == count) {
            (0, true) => 0x82,
            (0, false) => 0x02,
            (_, true) => 0x80,
            (_, false) => 0x00,
        };
        out.extend(frame(b0, &[(i % 251) as u8]));
    }
    out
}

/// Writes `bytes` from another thread (the server may answer before we finish).
fn write_in_background(stream: &TcpStream, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut w = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = w.write_all(&bytes);
    })
}

#[test]
fn header_claiming_one_tib_is_1009_and_costs_nothing() {
    let server = Server::start(&[]);
    let mut c = connect(server.port, "/echo");
    let before = server.rss_kib();
    let mut header = vec![0x82, 0xff];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header.extend_from_slice(&[0; 64]); // a little payload, as an attacker would start
    c.get_mut().write_all(&header).unwrap();
    assert_eq!(close_code(&mut c).map(|(code, _)| code), Some(1009));
    let after = server.rss_kib();
    println!("1 TiB header: RSS {before} KiB -> {after} KiB");
    assert!(after < before + 1024, "RSS grew by {} KiB", after - before);
}

#[test]
fn headers_claiming_large_frames_within_the_limit_cost_only_what_arrives() {
    // 200 peers each announce a 16 MiB frame (the default limit) and send 64 bytes of it.
    let server = Server::start(&[]);
    let before = server.rss_kib();
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut c = connect(server.port, "/echo");
        let mut header = vec![0x82, 0xff];
        header.extend_from_slice(&(16u64 << 20).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        header.extend_from_slice(&[0; 64]);
        c.get_mut().write_all(&header).unwrap();
        held.push(c);
    }
    wait_until(30, "every connection accepted", || server.fds() > 200);
    std::thread::sleep(Duration::from_millis(300));
    let after = server.rss_kib();
    println!(
        "200 claimed 16 MiB frames: RSS {before} KiB -> {after} KiB ({:.1} KiB per peer)",
        (after.saturating_sub(before)) as f64 / 200.0
    );
    // Reserved memory that became resident would be 200 MiB here.
    assert!(
        after < before + 20 * 1024,
        "RSS grew by {} KiB",
        after - before
    );
    drop(held);
}

#[test]
fn hundred_thousand_one_byte_fragments_within_the_limit() {
    let server = Server::start(&[]);
    let before = server.rss_kib();
    let mut times = Vec::new();
    for count in [10_000usize, 100_000] {
        let mut c = connect(server.port, "/echo");
        let start = Instant::now();
        let writer = write_in_background(c.get_ref(), one_byte_fragments(count));
        let got = next_data(&mut c);
        writer.join().unwrap();
        let elapsed = start.elapsed();
        let want: Vec<u8> = (0..count).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            got,
            Message::Binary(want),
            "{count} fragments echoed as one message"
        );
        times.push(elapsed);
        println!("{count} one-byte fragments: echoed in {elapsed:?}");
    }
    let after = server.rss_kib();
    println!(
        "10x the fragments took {:.1}x the time; RSS {before} KiB -> {after} KiB",
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    assert!(
        after < before + 16 * 1024,
        "RSS grew by {} KiB",
        after - before
    );
}

#[test]
fn fragments_past_the_message_limit_are_1009() {
    let server = Server::start(&["--max-message-size", "50000"]);
    let mut c = connect(server.port, "/echo");
    let writer = write_in_background(c.get_ref(), one_byte_fragments(100_000));
    assert_eq!(close_code(&mut c).map(|(code, _)| code), Some(1009));
    drop(c);
    writer.join().unwrap();
}

fn raise_fd_limit(to: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = to.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

fn echo_latency(port: u16) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut c = connect(port, "/echo");
            c.send_text("still there?").unwrap();
            assert_eq!(next_data(&mut c), Message::Text("still there?".into()));
            start.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn ten_thousand_idle_connections() {
    const N: usize = 10_000;
    raise_fd_limit(4 * N as u64);
    // The server raises its own soft limit to the hard one (20,000 here) at start.
    // One client address: lift the per-address limit (256) for this test.
    let server = Server::start(&[
        "--max-connections",
        "15000",
        "--max-connections-per-ip",
        "15000",
    ]);
    let idle_before = echo_latency(server.port);
    let before = server.rss_kib();
    let start = Instant::now();
    let held: Vec<_> = (0..N).map(|_| connect(server.port, "/echo")).collect();
    let opened = start.elapsed();
    wait_until(30, "every connection accepted", || server.fds() > N);
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    let per = (after.saturating_sub(before)) as f64 / N as f64;
    let latency = echo_latency(server.port);
    println!(
        "{N} idle connections opened in {opened:?}; RSS {before} KiB -> {after} KiB = {per:.1} KiB per connection; \
         echo on a new connection: {latency:?} (idle server: {idle_before:?})"
    );
    assert!(
        latency < Duration::from_millis(100),
        "echo took {latency:?} with {N} idle peers"
    );
    drop(held);
}

/// Reads until EOF or an error; panics if that takes more than `limit`.
fn wait_for_drop(stream: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
            Ok(_) => {} // pings and perhaps a close frame
        }
        assert!(start.elapsed() < limit, "not dropped within {limit:?}");
    }
    start.elapsed()
}

#[test]
fn slow_frames_are_dropped_by_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "2s", "--ping-interval", "1s"]);
    // Two bytes of a header, then silence: no complete frame ever arrives.
    let mut c = connect(server.port, "/echo");
    c.get_mut().write_all(&[0x81, 0xfe]).unwrap();
    let silent = wait_for_drop(c.get_mut(), Duration::from_secs(20));
    // A frame dribbled a byte every 100 ms: bytes keep coming, the frame never ends.
    let c = connect(server.port, "/echo");
    let mut w = c.get_ref().try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        for b in frame(0x82, &[0; 1000]) {
            if w.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let mut r = c.get_ref().try_clone().unwrap();
    let dribbled = wait_for_drop(&mut r, Duration::from_secs(20));
    dribble.join().unwrap();
    println!("slow frames dropped after {silent:?} (silent) and {dribbled:?} (dribbled)");
    assert!(dribbled < Duration::from_secs(10));
}

#[test]
fn a_peer_that_never_reads_blocks_no_one() {
    let server = Server::start(&[]);
    // The stuck peer sends 1 KiB messages and never reads the echoes: its window fills.
    let stuck = connect(server.port, "/echo");
    let mut w = stuck.get_ref().try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let flood = std::thread::spawn(move || {
        let msg = frame(0x82, &[7; 1024]);
        let mut sent = 0usize;
        while sent < (64 << 20) && w.write_all(&msg).is_ok() {
            sent += msg.len();
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(500));
    // Meanwhile everyone else is served.
    for i in 0..20 {
        let mut c = connect(server.port, "/echo");
        c.get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let text = format!("message {i}");
        c.send_text(&text).unwrap();
        assert_eq!(next_data(&mut c), Message::Text(text));
    }
    let sent = flood.join().unwrap();
    println!(
        "the stuck peer got {} KiB in before its window filled",
        sent / 1024
    );
    drop(stuck);
}

fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger` for its size; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(stream); // close with linger 0 sends RST
}

#[test]
fn resets_in_the_middle_of_a_frame_leak_nothing() {
    // 1,000 connections from one address in a burst: the server may count a reset one
    // after the next connection arrives.
    let server = Server::start(&["--max-connections-per-ip", "2000"]);
    // Warm up, then take the baseline.
    let idle_fds = server.fds();
    reset(connect(server.port, "/echo").into_parts().0);
    wait_until(10, "the warm-up connection to end", || {
        server.fds() <= idle_fds
    });
    std::thread::sleep(Duration::from_millis(300));
    let (threads, fds) = (server.threads(), server.fds());
    let half = frame(0x82, &[1; 1000]);
    for _ in 0..1000 {
        let mut c = connect(server.port, "/echo");
        c.get_mut().write_all(&half[..500]).unwrap();
        reset(c.into_parts().0);
    }
    wait_until(30, "threads and fds back to the baseline", || {
        server.threads() <= threads && server.fds() <= fds
    });
    println!(
        "1000 resets mid-frame: threads {threads} -> {}, fds {fds} -> {}",
        server.threads(),
        server.fds()
    );
}

#[test]
fn arbitrary_bytes_after_the_handshake_get_a_close_or_a_drop() {
    let mut server = Server::start(&["--idle-timeout", "2s", "--ping-interval", "1s"]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut peers = Vec::new();
    for i in 0..200 {
        let c = connect(server.port, "/echo");
        let len = (rand() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rand() as u8).collect();
        if i % 2 == 0 {
            // Start with a valid masked frame so the garbage lands mid-stream.
            let mut valid = frame(0x81, b"hello");
            valid.append(&mut bytes);
            bytes = valid;
        }
        let mut s = c.get_ref().try_clone().unwrap();
        let _ = s.write_all(&bytes);
        peers.push(c);
    }
    for mut c in peers {
        c.get_ref()
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let start = Instant::now();
        let mut sink = [0u8; 4096];
        loop {
            match c.get_mut().read(&mut sink) {
                Ok(0) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    panic!("server neither closed nor dropped within 15 s")
                }
                Err(_) => break,
                Ok(_) => assert!(start.elapsed() < Duration::from_secs(15), "hang"),
            }
        }
    }
    assert!(server.alive(), "the server survived");
    let mut c = connect(server.port, "/echo");
    c.send_text("ok").unwrap();
    assert_eq!(next_data(&mut c), Message::Text("ok".into()));
}
