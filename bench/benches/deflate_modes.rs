//! permessage-deflate's modes under load (not a test; `cargo bench -p wisp-bench --bench
//! deflate_modes`): server CPU per echoed message and resident memory per idle deflate
//! connection, every server in one run, each pinned to core 0 with one thread (one
//! worker) while this process, pinned to core 1, is the load:
//!
//! - **wisp shared**: this tree's wisp-server with its default, the shared mode (it
//!   answers `server_no_context_takeover; client_no_context_takeover`: one compressor
//!   and one inflater per worker, lent to each connection for its step).
//! - **wisp dedicated**: this tree with context takeover both ways (`ServerDeflate`'s
//!   flags off): a compressor and an inflater per connection.
//! - **wisp main**: the wisp-server binary named by `DEFLATE_MODES_MAIN` (built from the
//!   commit before the shared mode: its default answered `server_no_context_takeover`
//!   only, a compressor allocated per connection and freed after 1 s of quiet, an
//!   inflater per connection for the client's window); skipped when unset.
//! - **node ws**: npm `ws` with `perMessageDeflate` (`tests/peers/node_echo_server.js
//!   --deflate on`: takeover both ways, every message compressed); skipped without node.
//! - **uWS SHARED_COMPRESSOR** and **uWS DEDICATED (takeover)**: uWebSockets'
//!   `bench/uws/echo.cpp` in its two deflate modes, from the binary named by
//!   `DEFLATE_MODES_UWS` (`uws_echo_z`, built by `bench/uws/build.sh`); skipped when unset.
//! - **wisp, no deflate**: this tree with `Config::deflate = None`, for scale.
//!
//! The load: `DEFLATE_MODES_CLIENTS` connections (default 50), each offering
//! `permessage-deflate; client_max_window_bits` (a browser's offer) and echoing
//! `DEFLATE_MODES_MESSAGES` (default 400) generated JSON messages of 200-2,000 B in
//! lockstep, one thread each. Server CPU (user + system, `/proc/PID/stat`) over those
//! echoes, per message. Then `DEFLATE_MODES_IDLE` (default 1,000) more connections each
//! echo one message and stay open; after 2.5 s of quiet (wisp gives buffers back after
//! 1 s) the growth of the server's `VmRSS`, per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use wisp_bench::{env_or, json, masks, pin, serve_deflate_mode};

use wisp_codec::extension::DeflateOffer;
use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Config as CodecConfig, Connection, Message};

struct Client {
    s: TcpStream,
    conn: Connection,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, deflate: bool) -> Client {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut req = ClientRequest::new(&addr.to_string(), "/echo", *b"deflate bench ky");
        if deflate {
            req = req.deflate(DeflateOffer {
                client_max_window_bits: Some(None),
                ..Default::default()
            });
        }
        s.write_all(&req.to_bytes()).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
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
        Client { s, conn, buf }
    }

    fn echo(&mut self, text: &str) {
        self.conn.send_text(text).unwrap();
        while !self.conn.pending_output_front().is_empty() {
            let n = self.s.write(self.conn.pending_output_front()).unwrap();
            self.conn.advance_output(n);
        }
        loop {
            if let Some(m) = self.conn.poll_event().unwrap() {
                if let Message::Text(t) = m {
                    assert_eq!(t.len(), text.len());
                    return;
                }
                continue;
            }
            let n = self.s.read(&mut self.buf).unwrap();
            assert!(n > 0, "the server closed");
            self.conn.handle_input(&self.buf[..n]);
        }
    }
}

/// CPU time (user + system) of process `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Peer {
    name: String,
    addr: SocketAddr,
    child: Child,
    /// The clients offer permessage-deflate.
    deflate: bool,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mode(name: &str, mode: &str) -> Peer {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("DEFLATE_MODES_SERVE", mode)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    Peer {
        name: name.into(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
        deflate: mode != "plain",
    }
}

/// A server started as `taskset -c 0 program args`, `{port}` replaced by a free port.
fn start_external(name: &str, program: &str, args: &[&str]) -> Option<Peer> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(program)
        .args(&args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            eprintln!("{name}: not listening on {addr}, skipped");
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
    Some(Peer {
        name: name.into(),
        addr,
        child,
        deflate: true,
    })
}

struct Figures {
    agreed: String,
    cpu_us: f64,
    idle_kib: f64,
}

fn measure(peer: &Peer, clients: usize, messages: usize, idle: usize) -> Figures {
    let pid = peer.child.id();
    let mut conns: Vec<Client> = (0..clients)
        .map(|_| Client::connect(peer.addr, peer.deflate))
        .collect();
    let agreed = conns[0]
        .conn
        .deflate_params()
        .map_or("none".to_string(), |p| p.to_header());
    // Warm up: every connection echoes a few messages first.
    for (i, c) in conns.iter_mut().enumerate() {
        for j in 0..3 {
            c.echo(&json((i * 1000 + j) as u64));
        }
    }
    let cpu0 = cpu_seconds(pid);
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            thread::spawn(move || {
                for j in 0..messages {
                    c.echo(&json((i * 100_000 + j) as u64));
                }
                c
            })
        })
        .collect();
    let conns: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let cpu = cpu_seconds(pid) - cpu0;
    let cpu_us = cpu * 1e6 / (clients * messages) as f64;

    thread::sleep(Duration::from_millis(2500));
    let rss0 = rss_kib(pid);
    let mut idle_conns = Vec::with_capacity(idle);
    for i in 0..idle {
        let mut c = Client::connect(peer.addr, peer.deflate);
        c.echo(&json(7_000_000 + i as u64));
        idle_conns.push(c);
    }
    thread::sleep(Duration::from_millis(2500));
    let rss1 = rss_kib(pid);
    drop(idle_conns);
    drop(conns);
    Figures {
        agreed,
        cpu_us,
        idle_kib: (rss1 as f64 - rss0 as f64) / idle as f64,
    }
}

fn main() {
    if let Ok(mode) = std::env::var("DEFLATE_MODES_SERVE") {
        return serve_deflate_mode(&mode);
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    pin(1);
    let clients = env_or("DEFLATE_MODES_CLIENTS", 50);
    let messages = env_or("DEFLATE_MODES_MESSAGES", 400);
    let idle = env_or("DEFLATE_MODES_IDLE", 1000);
    println!(
        "{clients} clients x {messages} JSON messages (200-2,000 B) echoed in lockstep, then \
         {idle} idle connections; each server on core 0, one thread"
    );
    let mut peers: Vec<Box<dyn FnOnce() -> Option<Peer>>> = vec![
        Box::new(|| Some(start_mode("wisp shared (default)", "shared"))),
        Box::new(|| Some(start_mode("wisp dedicated (takeover)", "dedicated"))),
    ];
    if let Ok(bin) = std::env::var("DEFLATE_MODES_MAIN") {
        peers.push(Box::new(move || {
            start_external(
                "wisp main (old default)",
                &bin,
                &[
                    "--listen",
                    "127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--max-connections-per-ip",
                    "100000",
                    "--max-handshakes-per-ip",
                    "100000",
                ],
            )
        }));
    }
    peers.push(Box::new(|| {
        start_external(
            "node ws (perMessageDeflate)",
            "node",
            &[
                "tests/peers/node_echo_server.js",
                "--port",
                "{port}",
                "--deflate",
                "on",
                "--timeout",
                "600",
            ],
        )
    }));
    if let Ok(bin) = std::env::var("DEFLATE_MODES_UWS") {
        for (name, mode) in [
            ("uWS SHARED_COMPRESSOR", "shared"),
            ("uWS DEDICATED (takeover)", "dedicated"),
        ] {
            let bin = bin.clone();
            peers.push(Box::new(move || {
                start_external(name, &bin, &["{port}", mode])
            }));
        }
    }
    peers.push(Box::new(|| Some(start_mode("wisp, no deflate", "plain"))));
    println!(
        "| server | agreed | server CPU per echoed message | RSS per idle connection |\n|---|---|---:|---:|"
    );
    for start in peers {
        let Some(peer) = start() else { continue };
        let f = measure(&peer, clients, messages, idle);
        println!(
            "| {} | `{}` | {:.1} µs | {:.2} KiB |",
            peer.name, f.agreed, f.cpu_us, f.idle_kib
        );
    }
}
