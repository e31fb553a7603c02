//! `/chat` fan-out benchmark (not a test): 300 members in one room and 10 of them
//! sending, on three instances linked through a real redis-server (`--redis`, 100
//! members each) against one instance with all 300. Reports the messages delivered per
//! second (all members together) and the latency from send to delivery (p50, p99, max).
//!
//! `cargo bench -p wisp-bench --bench fanout` (needs `redis-server` on PATH: `bash
//! scripts/setup.sh`). Knobs: `FANOUT_MSGS` (messages per sender, default 300),
//! `FANOUT_RATE` (messages per second per sender, default 100; 0: as fast as it goes),
//! `FANOUT_ROUNDS` (alternating rounds of both setups, default 3). The instances run in
//! this process (each its own server, workers and Redis link), beside the 300 members'
//! reader threads: on two cores they share the machine, so the figures compare the two
//! setups, not a real deployment.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use wisp_bench::env_or;

use wisp_codec::blocking::{is_timeout, Error, WebSocket};
use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Connection, Message};
use wisp_server::{Config, Server, ShutdownHandle};

const MEMBERS: usize = 300;
const SENDERS: usize = 10;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Redis {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (bash scripts/setup.sh)");
    let r = Redis(child, port);
    for _ in 0..100 {
        if wisp_server::demo::redis_reachable(&format!("redis://127.0.0.1:{port}")).is_ok() {
            return r;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server did not come up");
}

fn start_instance(redis: Option<String>) -> (SocketAddr, ShutdownHandle, thread::JoinHandle<()>) {
    let server = Server::bind(
        Config::default()
            .listen("127.0.0.1:0")
            .workers(2)
            .max_connections_per_ip(10_000)
            .max_handshakes_per_ip(10_000),
    )
    .unwrap();
    let demo = wisp_server::demo::Demo::all()
        .chat_queue(1 << 16)
        .redis(redis)
        .install(&server)
        .unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    let t = thread::spawn(move || {
        server.run().unwrap();
        drop(demo);
    });
    (addr, handle, t)
}

fn member(addr: SocketAddr, name: &str) -> WebSocket<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_nodelay(true).unwrap();
    let req = ClientRequest::new(
        &addr.to_string(),
        &format!("/chat?room=bench&name={name}"),
        *b"fanout bench key",
    );
    s.write_all(&req.to_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let n = loop {
        let k = s.read(&mut chunk).unwrap();
        assert!(k > 0, "EOF in the handshake");
        buf.extend_from_slice(&chunk[..k]);
        if let Some((_, n)) = req.parse_response(&buf, 8192).unwrap() {
            break n;
        }
    };
    let mut seed = name
        .bytes()
        .fold(0x9e37_79b9u32, |h, b| h.rotate_left(5) ^ u32::from(b));
    let masks = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed.to_be_bytes()
    };
    let mut conn = Connection::client(wisp_codec::Config::default(), masks);
    conn.handle_input(&buf[n..]);
    WebSocket::new(s, conn)
}

/// The `"text":"..."` of a message notice (our texts need no unescaping).
fn text_of(json: &str) -> Option<&str> {
    let i = json.find(r#""text":""#)? + 8;
    json[i..].split('"').next()
}

struct Outcome {
    delivered: u64,
    secs: f64,
    lat_us: Vec<u32>,
}

fn run(addrs: &[SocketAddr], msgs: usize, rate: u64) -> Outcome {
    let epoch = Instant::now();
    let mut members: Vec<WebSocket<TcpStream>> = (0..MEMBERS)
        .map(|i| member(addrs[i % addrs.len()], &format!("m{i}")))
        .collect();
    // Every member has heard the join that counts everyone (joins on different
    // instances reach Redis in any order: it need not be the last member's).
    let all = format!(r#""members":{MEMBERS}}}"#);
    for (i, ws) in members.iter_mut().enumerate() {
        loop {
            match ws.read_message() {
                Ok(Message::Text(t)) if t.ends_with(&all) => break,
                Ok(_) => {}
                Err(e) => panic!("m{i} waiting for the joins: {e}"),
            }
        }
    }
    let expected = (SENDERS * msgs) as u64;
    let delivered = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(MEMBERS + 1));
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let delivered = Arc::clone(&delivered);
            let start = Arc::clone(&start);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut lat = Vec::with_capacity(expected as usize);
                    let sender = i < SENDERS;
                    // A sender must not sit in a read while its next message is due.
                    let short = Some(Duration::from_millis(1));
                    if sender {
                        ws.get_ref().set_read_timeout(short).unwrap();
                    }
                    start.wait();
                    let t0 = Instant::now();
                    let began = epoch.elapsed();
                    let mut sent = 0usize;
                    let mut got = 0u64;
                    while got < expected {
                        if sender && sent < msgs {
                            // Rate 0: no pacing.
                            let due = Duration::from_micros(
                                (sent as u64 * 1_000_000).checked_div(rate).unwrap_or(0),
                            );
                            if t0.elapsed() >= due {
                                let at = epoch.elapsed().as_micros();
                                ws.send_text(&format!("{at}")).unwrap();
                                sent += 1;
                                if sent == msgs {
                                    let long = Some(Duration::from_secs(30));
                                    ws.get_ref().set_read_timeout(long).unwrap();
                                }
                                continue;
                            }
                        }
                        match ws.read_message() {
                            Ok(Message::Text(t)) => {
                                if let Some(at) = text_of(&t).and_then(|s| s.parse::<u128>().ok()) {
                                    let now = epoch.elapsed().as_micros();
                                    lat.push(now.saturating_sub(at) as u32);
                                    got += 1;
                                }
                            }
                            Ok(_) => {}
                            Err(Error::Io(e)) if sender && sent < msgs && is_timeout(&e) => {}
                            Err(e) => panic!("member m{i}: {e}"),
                        }
                    }
                    delivered.fetch_add(got, Ordering::Relaxed);
                    (lat, began, epoch.elapsed())
                })
                .unwrap()
        })
        .collect();
    start.wait();
    let mut lat_us = Vec::new();
    // From the first member's start to the last member's last message.
    let (mut first, mut last) = (Duration::MAX, Duration::ZERO);
    for th in threads {
        let (lat, began, ended) = th.join().expect("a member failed");
        lat_us.extend(lat);
        first = first.min(began);
        last = last.max(ended);
    }
    Outcome {
        delivered: delivered.load(Ordering::Relaxed),
        secs: last.saturating_sub(first).as_secs_f64(),
        lat_us,
    }
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let msgs: usize = env_or("FANOUT_MSGS", 300);
    let rate: u64 = env_or("FANOUT_RATE", 100);
    let rounds: usize = env_or("FANOUT_ROUNDS", 3);
    let redis = start_redis();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    println!(
        "fan-out: {MEMBERS} members in one room, {SENDERS} senders x {msgs} messages at {} \
         msg/s each; {rounds} rounds",
        if rate == 0 {
            "full speed".to_string()
        } else {
            rate.to_string()
        }
    );
    for round in 1..=rounds {
        for (name, n) in [("3 instances + Redis", 3), ("1 instance", 1)] {
            let servers: Vec<_> = (0..n)
                .map(|_| start_instance((n > 1).then(|| url.clone())))
                .collect();
            let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.0).collect();
            let mut o = run(&addrs, msgs, rate);
            for (_, h, t) in servers {
                h.shutdown();
                let _ = t.join();
            }
            o.lat_us.sort_unstable();
            println!(
                "round {round} {name:<20} {:>9.0} msg/s delivered ({} in {:.2} s)  latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                o.delivered as f64 / o.secs,
                o.delivered,
                o.secs,
                pct(&o.lat_us, 0.5),
                pct(&o.lat_us, 0.99),
                pct(&o.lat_us, 1.0)
            );
        }
    }
}
