//! Broadcast with permessage-deflate (not a test; `cargo bench -p wisp-bench --bench
//! broadcast`): server CPU per broadcast to `BROADCAST_MEMBERS` (default 1,000) members
//! of one room, each server pinned to core 0 with one thread (one worker) while this
//! process, pinned to core 1, holds the members:
//!
//! - **wisp shared**: this tree's `/chat` with the default deflate (no context takeover
//!   either way): every room event is one `PreparedMessage`, compressed once for all.
//! - **wisp dedicated**: context takeover both ways: each member's connection compresses
//!   each event against its own window (what a prepared message cannot share).
//! - **wisp, no deflate**: the same room, nothing compressed.
//! - **node ws, deflate** and **node ws, no deflate**: `broadcast_peer.js`, npm `ws` sending
//!   every text to every client (compressed per client; `threshold: 0`). Skipped without
//!   node. Its texts go out as they came; wisp's `/chat` wraps each in its JSON event
//!   (about 15% longer once escaped).
//!
//! Every member offers `permessage-deflate; client_max_window_bits` (a browser's offer)
//! except in the no-deflate rows. Once all have joined and the server is quiet, member 0
//! sends `BROADCAST_MESSAGES` (default 100) generated JSON texts of 200-2,000 B; the server
//! CPU (every thread's run time, `/proc/PID/task/*/schedstat`) from before the first until every member has
//! received all of them, per broadcast. `BROADCAST_ROUNDS` (default 3) rounds of every
//! server, interleaved; the table has each row's median and spread.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use wisp_bench::{env_or, masks, pin, serve_deflate_mode};

use wisp_codec::extension::DeflateOffer;
use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Config as CodecConfig, Connection, Message};

/// The marker every broadcast text carries, and nothing else does.
const MARK: &str = "bcast-";

fn json(seed: u64) -> String {
    let mut r = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut below = |n: u64| {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r % n
    };
    let target = 200 + below(1801) as usize;
    let mut s = format!(
        "{{\"id\":\"{MARK}{seed}\",\"user\":\"u{}\",\"items\":[",
        below(1000)
    );
    let words = [
        "price", "order", "cancel", "room", "hello", "window", "deflate", "ok",
    ];
    while s.len() + 40 < target {
        let word = words[below(words.len() as u64) as usize];
        s.push_str(&format!(
            "{{\"k\":\"{word}\",\"v\":{},\"ok\":{}}},",
            below(100_000),
            below(2) == 0
        ));
    }
    s.push_str("{}],\"end\":true}");
    s
}

struct Member {
    s: TcpStream,
    conn: Connection,
    got: usize,
}

fn join(addr: SocketAddr, i: usize, deflate: bool) -> Member {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let path = format!("/chat?room=bench&name=m{i}");
    let mut req = ClientRequest::new(&addr.to_string(), &path, *b"broadcast bench!");
    if deflate {
        req = req.deflate(DeflateOffer {
            client_max_window_bits: Some(None),
            ..Default::default()
        });
    }
    s.write_all(&req.to_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let mut head = Vec::new();
    let (accepted, used) = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed during the handshake");
        head.extend_from_slice(&buf[..n]);
        if let Some(r) = req.parse_response(&head, 16 * 1024).unwrap() {
            break r;
        }
    };
    let mut conn = Connection::client(CodecConfig::default(), masks());
    if let Some(p) = accepted.deflate {
        conn.set_deflate(p);
    }
    conn.handle_input(&head[used..]);
    s.set_nonblocking(true).unwrap();
    Member { s, conn, got: 0 }
}

impl Member {
    /// Reads what is there; counts the broadcasts among it.
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let mut any = false;
        loop {
            match self.s.read(buf) {
                Ok(0) => panic!("the server closed a member"),
                Ok(n) => {
                    any = true;
                    self.conn.handle_input(&buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        while let Some(m) = self.conn.poll_event().unwrap() {
            if let Message::Text(t) = m {
                if t.contains(MARK) {
                    self.got += 1;
                }
            }
        }
        // Pongs and the like.
        while !self.conn.pending_output_front().is_empty() {
            match self.s.write(self.conn.pending_output_front()) {
                Ok(n) => self.conn.advance_output(n),
                Err(_) => break,
            }
        }
        any
    }

    fn say(&mut self, text: &str) {
        self.conn.send_text(text).unwrap();
        while !self.conn.pending_output_front().is_empty() {
            match self.s.write(self.conn.pending_output_front()) {
                Ok(n) => self.conn.advance_output(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::yield_now(),
                Err(e) => panic!("write: {e}"),
            }
        }
    }
}

/// CPU time of process `pid` so far, in seconds: the sum of its threads' run time in
/// nanoseconds (`/proc/PID/task/*/schedstat`), finer than `/proc/PID/stat`'s 10 ms ticks,
/// which a broadcast of a few hundred microseconds needs.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

struct Peer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(row: &str) -> Option<Peer> {
    if let Some(mode) = row.strip_prefix("node-") {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("taskset")
            .args(["-c", "0", "node", "bench/benches/broadcast_peer.js"])
            .arg(port.to_string())
            .arg(mode)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                eprintln!("{row}: not listening, skipped");
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
        return Some(Peer { child, addr });
    }
    let mut child = Command::new(std::env::current_exe().ok()?)
        .env("BROADCAST_SERVE", row)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port: u16 = line.trim().strip_prefix("PORT ")?.parse().ok()?;
    Some(Peer {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// Waits until the server has been quiet for 300 ms (under 1 ms of CPU per 20 ms: its
/// timers and wake-ups), once the joins' notices are out.
fn settle(pid: u32, members: &mut [Member], buf: &mut [u8]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = cpu_seconds(pid);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(300) {
        for m in members.iter_mut() {
            m.pump(buf);
        }
        thread::sleep(Duration::from_millis(20));
        let now = cpu_seconds(pid);
        if now > last + 0.001 {
            quiet_since = Instant::now();
        }
        last = now;
    }
}

/// Server CPU per broadcast, µs, and the agreed extension.
fn measure(row: &str, members: usize, messages: usize) -> Option<(f64, String)> {
    let peer = start(row)?;
    let pid = peer.child.id();
    let deflate = !row.ends_with("plain") && !row.ends_with("off");
    let mut all: Vec<Member> = (0..members).map(|i| join(peer.addr, i, deflate)).collect();
    let agreed = all[0]
        .conn
        .deflate_params()
        .map_or("none".into(), |p| p.to_header());
    let mut buf = vec![0u8; 256 * 1024];
    settle(pid, &mut all, &mut buf);
    let mut speaker = all.remove(0);
    // Readers: the members in 4 groups, each on a thread of this process's core.
    let done = Arc::new(AtomicUsize::new(0));
    let groups: Vec<Vec<Member>> = {
        let mut g: Vec<Vec<Member>> = (0..4).map(|_| Vec::new()).collect();
        for (i, m) in all.into_iter().enumerate() {
            g[i % 4].push(m);
        }
        g
    };
    let cpu0 = cpu_seconds(pid);
    let readers: Vec<_> = groups
        .into_iter()
        .map(|mut group| {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let deadline = Instant::now() + Duration::from_secs(300);
                let mut left = group.len();
                while left > 0 && Instant::now() < deadline {
                    let mut any = false;
                    left = 0;
                    for m in group.iter_mut() {
                        if m.got < messages {
                            any |= m.pump(&mut buf);
                            if m.got < messages {
                                left += 1;
                            }
                        }
                    }
                    if !any {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
                done.fetch_add(group.len() - left, Ordering::Relaxed);
                group
            })
        })
        .collect();
    for i in 0..messages {
        speaker.say(&json(i as u64));
        speaker.pump(&mut buf);
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while speaker.got < messages && Instant::now() < deadline {
        speaker.pump(&mut buf);
        thread::sleep(Duration::from_micros(200));
    }
    let _groups: Vec<Vec<Member>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let cpu = cpu_seconds(pid) - cpu0;
    let reached = done.load(Ordering::Relaxed) + usize::from(speaker.got == messages);
    if reached < members {
        eprintln!("{row}: only {reached} of {members} members got every broadcast");
        return None;
    }
    Some((cpu * 1e6 / messages as f64, agreed))
}

fn main() {
    if let Ok(mode) = std::env::var("BROADCAST_SERVE") {
        return serve_deflate_mode(&mode);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    pin(1);
    let members = env_or("BROADCAST_MEMBERS", 1000);
    let messages = env_or("BROADCAST_MESSAGES", 100);
    let rounds = env_or("BROADCAST_ROUNDS", 3);
    println!(
        "{members} members in one room, {messages} broadcasts of generated JSON (200-2,000 B), \
         {rounds} rounds; each server on core 0, one thread"
    );
    let rows = [
        ("wisp shared (PreparedMessage)", "shared"),
        ("wisp dedicated (takeover)", "dedicated"),
        ("wisp, no deflate", "plain"),
        ("node ws, deflate", "node-on"),
        ("node ws, no deflate", "node-off"),
    ];
    let mut results: Vec<(Vec<f64>, String)> =
        rows.iter().map(|_| (Vec::new(), String::new())).collect();
    for _ in 0..rounds {
        for (i, (_, row)) in rows.iter().enumerate() {
            if let Some((us, agreed)) = measure(row, members, messages) {
                results[i].0.push(us);
                results[i].1 = agreed;
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = {
        let mut v = results[2].0.clone();
        (!v.is_empty()).then(|| median(&mut v))
    };
    println!("| server | agreed | server CPU per broadcast (median) | spread | per member | vs wisp no deflate |\n|---|---|---:|---:|---:|---:|");
    for ((name, _), (mut v, agreed)) in rows.iter().zip(results) {
        if v.is_empty() {
            continue;
        }
        let m = median(&mut v);
        println!(
            "| {name} | `{agreed}` | {m:.0} µs | {:.0}-{:.0} µs | {:.2} µs | {} |",
            v[0],
            v[v.len() - 1],
            m / members as f64,
            base.map_or("-".into(), |b| format!("{:.2}x", m / b))
        );
    }
}
