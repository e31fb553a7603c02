//! permessage-deflate benchmark (not a test; `cargo bench -p wisp-bench --bench deflate`).
//!
//! 1. **Compression** on a JSON corpus generated here, deterministically (chat messages,
//!    market ticks, API objects and event logs, 60 B to 6 KB, about 1.6 MB in all), each
//!    message compressed and then inflated one after the other, as on one connection:
//!    wisp-codec (its own compressor, through `Connection`: framing and the UTF-8 check
//!    included) against Python websockets' own extension with its default parameters
//!    and Python's zlib at the same settings (`deflate_peer.py`, run through the
//!    repository's `.venv` in the same run). Ratio = compressed payload / raw bytes; MB/s
//!    of raw JSON, the best of `DEFLATE_PASSES` passes (default 5).
//! 2. **Echo throughput**: wisp-server in this process (one worker) with deflate on (its
//!    defaults) and off (`Config::deflate = None`), a client on one connection sending
//!    the corpus in pipelined bursts of 16 and reading every echo; messages/s, MB/s of
//!    JSON, and bytes on the wire per message. Bounded: the corpus `DEFLATE_ECHO_ROUNDS`
//!    times (default 3) and 20 s at most per setting.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use wisp_bench::{masks, python_peer, Rng};

use wisp_codec::extension::{DeflateOffer, DeflateParams};
use wisp_codec::handshake::ClientRequest;
use wisp_codec::internals::decode_header;
use wisp_codec::{Config as CodecConfig, Connection, Message};
use wisp_server::{Config, Server};

// ---- the corpus ----------------------------------------------------------------------

const WORDS: &[&str] = &[
    "the", "socket", "frame", "message", "server", "client", "window", "deflate", "ok", "is",
    "ready", "price", "order", "cancel", "room", "hello", "again", "late", "today", "build",
    "release", "merge", "branch", "test", "green", "red", "latency", "p99", "queue", "worker",
];
const USERS: &[&str] = &[
    "ada", "grace", "linus", "ken", "barbara", "edsger", "margaret", "alan",
];
const SYMBOLS: &[&str] = &["WISP", "ACME", "GLOBX", "INITECH", "UMBR", "STARK", "WAYNE"];
const LEVELS: &[&str] = &["debug", "info", "warn", "error"];

fn sentence(r: &mut Rng, words: u64) -> String {
    (0..words)
        .map(|_| r.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `min` to `min + span - 1` words.
fn words(r: &mut Rng, min: u64, span: u64) -> String {
    let n = min + r.below(span);
    sentence(r, n)
}

/// About 4,000 JSON messages, the same on every run.
fn corpus() -> Vec<String> {
    let mut r = Rng(0x5eed_1234_abcd_ef01);
    let mut out = Vec::new();
    for i in 0..4000u64 {
        let ts = 1_764_547_200_000 + i * 137;
        let m = match r.below(4) {
            0 => format!(
                r#"{{"type":"message","room":"lobby","from":"{}","ts":{ts},"text":"{}"}}"#,
                r.pick(USERS),
                words(&mut r, 3, 25)
            ),
            1 => {
                let n = 1 + r.below(20);
                let ticks: Vec<String> = (0..n)
                    .map(|_| {
                        format!(
                            r#"{{"s":"{}","bid":{}.{:02},"ask":{}.{:02},"qty":{}}}"#,
                            r.pick(SYMBOLS),
                            100 + r.below(50),
                            r.below(100),
                            100 + r.below(50),
                            r.below(100),
                            r.below(10_000)
                        )
                    })
                    .collect();
                format!(
                    r#"{{"type":"ticks","ts":{ts},"ticks":[{}]}}"#,
                    ticks.join(",")
                )
            }
            2 => {
                let n = 1 + r.below(12);
                let items: Vec<String> = (0..n)
                    .map(|k| {
                        format!(
                            r#"{{"id":{},"name":"{}","email":"{}@example.org","active":{},"roles":["{}","{}"],"score":{},"bio":"{}"}}"#,
                            1000 + i * 16 + k,
                            r.pick(USERS),
                            r.pick(USERS),
                            r.below(2) == 0,
                            r.pick(&["admin", "member", "guest"]),
                            r.pick(&["reader", "writer"]),
                            r.below(1000),
                            words(&mut r, 4, 8)
                        )
                    })
                    .collect();
                format!(
                    r#"{{"type":"users","page":{},"total":{},"items":[{}]}}"#,
                    r.below(50),
                    r.below(5000),
                    items.join(",")
                )
            }
            _ => format!(
                r#"{{"type":"log","level":"{}","ts":{ts},"worker":{},"conn":{},"msg":"{}","fields":{{"bytes":{},"ms":{}.{}}}}}"#,
                r.pick(LEVELS),
                r.below(8),
                r.below(100_000),
                words(&mut r, 5, 10),
                r.below(1 << 20),
                r.below(500),
                r.below(10)
            ),
        };
        out.push(m);
    }
    out
}

// ---- compression -----------------------------------------------------------------------

struct Row {
    name: String,
    raw: usize,
    compressed: usize,
    compress_s: f64,
    inflate_s: f64,
}

/// The payload bytes of a stream of frames (headers left out).
fn payload_bytes(mut wire: &[u8]) -> usize {
    let mut total = 0;
    while let Ok(Some((h, n))) = decode_header(wire) {
        total += h.payload_len as usize;
        wire = &wire[n + h.payload_len as usize..];
    }
    total
}

fn wisp_run(name: &str, corpus: &[String], bits: u8, takeover: bool, passes: usize) -> Row {
    let params = DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    };
    let raw: usize = corpus.iter().map(String::len).sum();
    let (mut best_c, mut best_i, mut compressed) = (f64::MAX, f64::MAX, 0);
    for _ in 0..passes {
        let mut s = Connection::server(CodecConfig::default());
        s.set_deflate(params);
        s.set_compress_threshold(0);
        let mut c = Connection::client(CodecConfig::default(), masks());
        c.set_deflate(params);
        let mut wire = Vec::with_capacity(raw);
        let t = Instant::now();
        for m in corpus {
            s.send_text(m).unwrap();
            while !s.pending_output_front().is_empty() {
                wire.extend_from_slice(s.pending_output_front());
                s.advance_output(s.pending_output_front().len());
            }
        }
        best_c = best_c.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut got = 0;
        for chunk in wire.chunks(64 * 1024) {
            c.handle_input(chunk);
            while let Some(m) = c.poll_event().unwrap() {
                if let Message::Text(text) = m {
                    got += text.len();
                }
            }
        }
        best_i = best_i.min(t.elapsed().as_secs_f64());
        assert_eq!(got, raw, "every message inflated");
        compressed = payload_bytes(&wire);
    }
    Row {
        name: name.into(),
        raw,
        compressed,
        compress_s: best_c,
        inflate_s: best_i,
    }
}

/// `deflate_peer.py` on the same corpus, through the repository's `.venv`.
fn python_rows(corpus: &[String], passes: usize) -> Vec<Row> {
    python_peer("deflate_peer.py", corpus, passes)
        .unwrap_or_default()
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Row {
                name: v["name"].as_str().unwrap().into(),
                raw: v["raw"].as_u64().unwrap() as usize,
                compressed: v["compressed"].as_u64().unwrap() as usize,
                compress_s: v["compress_s"].as_f64().unwrap(),
                inflate_s: v["inflate_s"].as_f64().unwrap(),
            }
        })
        .collect()
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<34} {:>10} {:>11} {:>7} {:>13} {:>12}",
        "", "raw B", "deflated B", "ratio", "compress MB/s", "inflate MB/s"
    );
    for r in rows {
        let mb = r.raw as f64 / 1e6;
        println!(
            "{:<34} {:>10} {:>11} {:>6.1}% {:>13.1} {:>12.1}",
            r.name,
            r.raw,
            r.compressed,
            100.0 * r.compressed as f64 / r.raw as f64,
            mb / r.compress_s,
            mb / r.inflate_s
        );
    }
}

// ---- echo throughput -------------------------------------------------------------------

fn start(
    deflate: bool,
) -> (
    SocketAddr,
    wisp_server::ShutdownHandle,
    thread::JoinHandle<()>,
) {
    let mut config = Config::default().listen("127.0.0.1:0").workers(1);
    if !deflate {
        config.deflate = None;
    }
    let server = Server::bind(config).unwrap();
    let _ = wisp_server::demo::Demo::all().install(&server).unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    (addr, handle, thread::spawn(move || server.run().unwrap()))
}

/// Counts the bytes read from and written to a socket.
struct Counted {
    s: TcpStream,
    read: usize,
    written: usize,
}

fn echo(addr: SocketAddr, corpus: &[String], rounds: usize) -> (usize, usize, f64, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = ClientRequest::new(&addr.to_string(), "/echo", *b"deflate bench ky").deflate(
        DeflateOffer {
            client_max_window_bits: Some(None),
            ..Default::default()
        },
    );
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
    let mut io = Counted {
        s,
        read: 0,
        written: 0,
    };
    let (mut messages, mut bytes) = (0, 0);
    let start = Instant::now();
    'outer: for _ in 0..rounds {
        for burst in corpus.chunks(16) {
            for m in burst {
                conn.send_text(m).unwrap();
            }
            while !conn.pending_output_front().is_empty() {
                let n = io.s.write(conn.pending_output_front()).unwrap();
                io.written += n;
                conn.advance_output(n);
            }
            let mut left = burst.len();
            while left > 0 {
                while let Some(m) = conn.poll_event().unwrap() {
                    if let Message::Text(t) = m {
                        left -= 1;
                        messages += 1;
                        bytes += t.len();
                    }
                }
                if left == 0 {
                    break;
                }
                let n = io.s.read(&mut buf).unwrap();
                assert!(n > 0, "the server closed");
                io.read += n;
                conn.handle_input(&buf[..n]);
            }
            if start.elapsed() > Duration::from_secs(20) {
                break 'outer;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    (messages, bytes, secs, io.read + io.written)
}

fn main() {
    let passes: usize = std::env::var("DEFLATE_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rounds: usize = std::env::var("DEFLATE_ECHO_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let corpus = corpus();
    let raw: usize = corpus.iter().map(String::len).sum();
    println!(
        "corpus: {} JSON messages, {} bytes ({} to {} B); best of {passes} passes",
        corpus.len(),
        raw,
        corpus.iter().map(String::len).min().unwrap(),
        corpus.iter().map(String::len).max().unwrap()
    );
    let mut rows = vec![
        wisp_run("wisp 12 bits, takeover", &corpus, 12, true, passes),
        wisp_run("wisp 15 bits, takeover", &corpus, 15, true, passes),
        wisp_run(
            "wisp 15 bits, no takeover (server)",
            &corpus,
            15,
            false,
            passes,
        ),
    ];
    rows.extend(python_rows(&corpus, passes));
    print_rows(&rows);

    println!("\necho: one connection, bursts of 16, the corpus x {rounds} (20 s at most)");
    for deflate in [true, false] {
        let (addr, handle, t) = start(deflate);
        let (messages, bytes, secs, wire) = echo(addr, &corpus, rounds);
        handle.shutdown();
        t.join().unwrap();
        println!(
            "deflate {:<3}  {:>8.0} msg/s  {:>7.1} MB/s of JSON  {:>6.0} wire bytes per message (both ways)",
            if deflate { "on" } else { "off" },
            messages as f64 / secs,
            bytes as f64 / 1e6 / secs,
            wire as f64 / messages as f64
        );
    }
}
