//! Load benchmark (not a test): messages/s and MB/s of echo round trips against
//! wisp-server, a tungstenite (sync, thread per connection) echo server, and a plain
//! TCP echo (thread per connection: the loopback ceiling of this server model) driven
//! with the same payloads unframed.
//!
//! `cargo bench -p wisp-server --bench load` (`LOAD_SECS=N` sets each run's length,
//! default 1; `LOAD_ROUNDS`, default 9: runs are interleaved; medians are reported,
//! with the range of the per-round ratios; `LOAD_CASE=K` runs only case K, 0-3;
//! `LOAD_SERVERS=w` only wisp-server, `t` tungstenite, `c` the TCP echo, for profiling).
//! Cases:
//! - small: 1 connection x bursts of 32 pipelined 16-byte messages (one write each way),
//! - medium: 64 connections x bursts of 16 pipelined 1 KiB messages,
//! - (medium lockstep: 64 connections x 1 KiB, one message in flight per connection:
//!   bound by context switches on 2 cores, every server does one read and one write
//!   per message; shown for completeness),
//! - large: 4 connections x 1 MiB, one message in flight per connection.
//!
//! The load generator pre-encodes each burst of masked frames once and only skims the
//! server's frames (header and length), so it costs the same for every server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};

use wisp_codec::{apply_mask, FrameHeader, OpCode};

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    connections: usize,
    size: usize,
    burst: usize,
}

const CASES: [Case; 4] = [
    Case {
        name: "small  1 conn x 32 x 16 B",
        connections: 1,
        size: 16,
        burst: 32,
    },
    Case {
        name: "medium 64 conn x 16 x 1 KiB",
        connections: 64,
        size: 1024,
        burst: 16,
    },
    Case {
        name: "(medium lockstep 64 x 1 KiB)",
        connections: 64,
        size: 1024,
        burst: 1,
    },
    Case {
        name: "large  4 conn x 1 MiB",
        connections: 4,
        size: 1 << 20,
        burst: 1,
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    WebSocket,
    Tcp,
}

fn ws_handshake(stream: &mut TcpStream, port: u16) {
    let req = format!(
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut b).unwrap(), 1, "EOF in handshake");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "handshake refused");
}

/// One burst of messages as the client sends it.
fn burst_bytes(kind: Kind, case: Case) -> Vec<u8> {
    let payload: Vec<u8> = (0..case.size).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    for _ in 0..case.burst {
        if kind == Kind::Tcp {
            out.extend_from_slice(&payload);
            continue;
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some(key),
            payload_len: payload.len() as u64,
        }
        .encode_to_vec(&mut out);
        let body = out.len();
        out.extend_from_slice(&payload);
        apply_mask(&mut out[body..], key, 0);
    }
    out
}

/// Skims server frames: counts complete frames (unmasked, unfragmented messages)
/// without copying payloads.
#[derive(Default)]
struct Skimmer {
    header: Vec<u8>,
    /// Payload bytes still to skip in the current frame.
    skip: usize,
    in_payload: bool,
}

impl Skimmer {
    fn feed(&mut self, mut data: &[u8]) -> usize {
        let mut done = 0;
        while !data.is_empty() {
            if self.in_payload {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                if self.skip == 0 {
                    self.in_payload = false;
                    done += 1;
                }
                continue;
            }
            self.header.push(data[0]);
            data = &data[1..];
            let h = &self.header;
            let len = match (h.len(), h.get(1).map(|b| b & 0x7f)) {
                (2, Some(n)) if n < 126 => Some(n as usize),
                (4, Some(126)) => Some(u16::from_be_bytes([h[2], h[3]]) as usize),
                (10, Some(127)) => Some(u64::from_be_bytes(h[2..10].try_into().unwrap()) as usize),
                _ => None,
            };
            if let Some(len) = len {
                self.header.clear();
                if len == 0 {
                    done += 1;
                } else {
                    self.skip = len;
                    self.in_payload = true;
                }
            }
        }
        done
    }
}

/// CPU time (user + system) of this process so far, in seconds: the load generator
/// and the servers all run in it, so per message it compares servers on a busy machine
/// better than wall-clock rates do.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the ")".
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

/// Runs one case against a server; returns (messages, seconds).
fn drive(kind: Kind, addr: SocketAddr, case: Case, secs: f64) -> (u64, f64) {
    let bytes = burst_bytes(kind, case);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..case.connections)
        .map(|_| {
            let bytes = bytes.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                if kind == Kind::WebSocket {
                    ws_handshake(&mut s, addr.port());
                }
                // A burst that fits the socket buffers is written by this thread; a
                // large one by a writer thread, so that a streaming echo cannot block
                // both sides.
                let inline = bytes.len() <= 64 * 1024;
                let mut w = s.try_clone().unwrap();
                let (credit_tx, credit_rx) = sync_channel::<()>(1);
                let inline_bytes = if inline { bytes.clone() } else { Vec::new() };
                let writer = thread::spawn(move || {
                    if inline {
                        return;
                    }
                    while credit_rx.recv().is_ok() {
                        if w.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                });
                let mut s2 = s.try_clone().unwrap();
                let mut send = |credit_tx: &std::sync::mpsc::SyncSender<()>| {
                    if inline {
                        s2.write_all(&inline_bytes).unwrap();
                    } else {
                        credit_tx.send(()).unwrap();
                    }
                };
                let per_burst_bytes = case.size * case.burst;
                let mut buf = vec![0u8; 256 * 1024];
                let mut skim = Skimmer::default();
                let mut messages = 0u64;
                send(&credit_tx);
                let mut got = 0usize;
                loop {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "server closed");
                    got += match kind {
                        Kind::Tcp => n,
                        Kind::WebSocket => skim.feed(&buf[..n]) * case.size,
                    };
                    if got >= per_burst_bytes {
                        assert_eq!(got, per_burst_bytes, "more than one burst back");
                        got = 0;
                        messages += case.burst as u64;
                        if Instant::now() >= deadline {
                            break;
                        }
                        send(&credit_tx);
                    }
                }
                drop(credit_tx);
                writer.join().unwrap();
                messages
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    (total, start.elapsed().as_secs_f64())
}

fn spawn_wisp() -> SocketAddr {
    let server = wisp_server::Server::bind(wisp_server::Config {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .unwrap();
    let addr = server.local_addr();
    thread::spawn(move || server.run());
    addr
}

/// A listener on an ephemeral port serving each connection on its own thread (the
/// server model both comparison peers share), with Nagle off.
fn spawn_thread_per_connection(serve: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let _ = s.set_nodelay(true);
            thread::spawn(move || serve(s));
        }
    });
    addr
}

fn spawn_tungstenite() -> SocketAddr {
    spawn_thread_per_connection(|s| {
        let Ok(mut ws) = tungstenite::accept(s) else {
            return;
        };
        while let Ok(msg) = ws.read() {
            if (msg.is_binary() || msg.is_text()) && ws.send(msg).is_err() {
                return;
            }
        }
    })
}

fn spawn_tcp_echo() -> SocketAddr {
    spawn_thread_per_connection(|s| {
        let mut r = s;
        let Ok(mut w) = r.try_clone() else {
            return;
        };
        // Page-aligned, like wisp-server's: the honest ceiling.
        let mut raw = vec![0u8; 256 * 1024 + 4096];
        let off = raw.as_ptr().align_offset(4096);
        let buf = &mut raw[off..off + 256 * 1024];
        loop {
            match r.read(buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if w.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

fn main() {
    let secs: f64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let rounds: usize = std::env::var("LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    // `LOAD_SERVERS=w` runs only wisp-server, `t` tungstenite, `c` the TCP echo (for
    // profiling one of them); default all three, `wtc`.
    let servers = std::env::var("LOAD_SERVERS").unwrap_or_else(|_| "wtc".into());
    let wisp = spawn_wisp();
    let tung = spawn_tungstenite();
    let tcp = spawn_tcp_echo();
    println!(
        "{:<28} {:>14} {:>14} {:>14} {:>14} {:>14} {:>14}   ratio",
        "case", "wisp msg/s", "wisp MB/s", "tung msg/s", "tung MB/s", "tcp msg/s", "tcp MB/s"
    );
    let only: Option<usize> = std::env::var("LOAD_CASE").ok().and_then(|s| s.parse().ok());
    for (i, case) in CASES.into_iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        // `rounds` short runs, interleaved, so that background load on a shared machine
        // hits every server alike. Reported: the median rate of each server, the median
        // of the per-round ratios (each compares runs next to each other in time), their
        // range, and the CPU time per message (server + load generator, this process).
        let mut runs: [Vec<Run>; 3] = Default::default();
        let peers = [
            (Kind::WebSocket, wisp, servers.contains('w')),
            (Kind::WebSocket, tung, servers.contains('t')),
            (Kind::Tcp, tcp, servers.contains('c')),
        ];
        for round in 0..rounds {
            // Each round starts with the next server, so no server always runs first.
            for k in (0..3).map(|j| (j + round) % 3) {
                let (kind, addr, on) = peers[k];
                if on {
                    let c0 = cpu_seconds();
                    let (messages, secs) = drive(kind, addr, case, secs);
                    let cpu = cpu_seconds() - c0;
                    runs[k].push(Run {
                        messages,
                        secs,
                        cpu,
                    });
                }
            }
        }
        let rate = |r: &Run| r.messages as f64 / r.secs;
        let med_rate = |k: usize| median(runs[k].iter().map(rate).collect());
        let against = if case.size >= 1 << 20 { 2 } else { 1 };
        let ratios: Vec<f64> = runs[0]
            .iter()
            .zip(&runs[against])
            .map(|(w, o)| rate(w) / rate(o))
            .collect();
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let ratio = if ratios.is_empty() {
            String::new()
        } else {
            format!(
                "wisp/{} {:.2} ({lo:.2}-{hi:.2})",
                if against == 2 { "tcp" } else { "tungstenite" },
                median(ratios.clone())
            )
        };
        let mb = |k: usize| med_rate(k) * case.size as f64 / 1e6;
        println!(
            "{:<28} {:>14.0} {:>14.1} {:>14.0} {:>14.1} {:>14.0} {:>14.1}   {ratio}",
            case.name,
            med_rate(0),
            mb(0),
            med_rate(1),
            mb(1),
            med_rate(2),
            mb(2)
        );
        let cpu = |k: usize| {
            median(
                runs[k]
                    .iter()
                    .map(|r| r.cpu / r.messages.max(1) as f64 * 1e6)
                    .collect(),
            )
        };
        println!(
            "{:<28} CPU us/msg (server + load generator): wisp {:.2}, tungstenite {:.2}, tcp {:.2}",
            "",
            cpu(0),
            cpu(1),
            cpu(2)
        );
    }
}

/// One timed run against one server.
struct Run {
    messages: u64,
    secs: f64,
    /// CPU seconds of this process (server and load generator) during the run.
    cpu: f64,
}

/// The median (mean of the middle two for an even count); 0 for none.
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
