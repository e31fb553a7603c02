//! Load benchmark (not a test): echo round trips against wisp-server and the peers it
//! is measured against, every server in its own process pinned to core 0, the load
//! generator pinned to core 1, all in one interleaved run:
//!
//! - `wisp`: wisp-server with one worker (one event loop) on epoll, and `wisp-uring`:
//!   the same on its io_uring engine (`--io uring`); `wisp-nobudget`: `wisp`
//!   with the memory budget off (`Config::memory_budget = u64::MAX`: nothing accounted);
//!   and `wisp-tls`: the same with `Config::tls` (wss://, rustls with the ring provider; a
//!   P-256 certificate made at start with rcgen), driven by a rustls client: its ratios to
//!   `wisp` are the cost of TLS; and `wisp-metrics`: the same as `wisp` with `/metrics`
//!   on (`Server::prometheus`, its text encoded once a second as a scrape would): its
//!   ratios to `wisp` are the cost of counting (`LOAD_SERVERS=wisp,wisp-metrics` for
//!   those two alone),
//! - `fastws`: fastwebsockets 0.10 as in its upstream echo example (hyper upgrade,
//!   current-thread tokio runtime), `tokio-tung`: tokio-tungstenite as in its upstream
//!   echo example (current-thread runtime), `tung`: tungstenite sync, thread per
//!   connection,
//! - `tcp-thr`: a plain TCP echo, thread per connection, and `tcp-mio`: a plain TCP echo
//!   on the same kind of mio event loop as wisp-server. "The TCP echo" in the ratios is
//!   the faster of the two in each round: the ceiling of readiness. `tcp-uring`: a plain
//!   TCP echo on io_uring (`load/tcp_uring.rs`), the ceiling of completions.
//! - `tcp-sf`: a store-and-forward TCP echo, thread per connection: it sends back whole
//!   messages only (the load generator tells it their size first), as a WebSocket echo
//!   must, where the TCP echoes above stream each byte back as it comes. Not part of
//!   "the TCP echo": it shows what echoing whole messages costs without any WebSocket.
//! - external servers (`LOAD_EXTERNAL`, below): any WebSocket echo binary, such as an
//!   older build of wisp-server, or uWebSockets (`bench/uws/build.sh` builds its echo,
//!   `uws=target/uws/uws_echo {port}` with an absolute path),
//!   run in the same interleaved rounds.
//!
//! `cargo bench -p wisp-bench --bench load`. Knobs: `LOAD_SECS` (each run, default 1),
//! `LOAD_ROUNDS` (interleaved rounds, default 5: medians and the range of the per-round
//! ratios are reported), `LOAD_CASE=K` (only case K), `LOAD_SERVERS=wisp,fastws,...`
//! (a subset), `LOAD_IDLE=N` (also hold N idle connections on each server and report
//! server RSS and machine memory per connection; default 10000, 0 to skip),
//! `LOAD_EXTERNAL='name=command args;name2=...'` (WebSocket echo servers started as
//! `taskset -c 0 command args`, `{port}` in the arguments replaced by a free port; each
//! is reported beside wisp and the TCP echo), `LOAD_RATIOS='a/b,c/d'` (the ratios of
//! those servers per round, median and range, besides the ratios to wisp).
//!
//! Cases:
//! - small: 1 connection x bursts of 32 pipelined 16-byte messages (one write each way),
//! - medium: 64 connections x bursts of 16 pipelined 1 KiB messages,
//! - lockstep: 64 connections x 1 KiB, one message in flight per connection,
//! - large: 4 connections x 1 MiB, one message in flight per connection.
//!
//! Server CPU per message is read from the server process's /proc/PID/stat: on two
//! cores the load generator may saturate its own, which caps every server's msg/s
//! alike, so CPU per message is what separates them.
//!
//! The load generator pre-encodes each burst of masked frames once and only skims the
//! server's frames (header and length), so it costs the same for every server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::sync_channel;
use std::thread;
use std::time::{Duration, Instant};
use wisp_bench::{env_or, pin};

use wisp_codec::{apply_mask, FrameHeader, OpCode};

#[path = "load/tcp_uring.rs"]
mod tcp_uring;

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
        name: "lockstep 64 conn x 1 KiB",
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
    /// WebSocket over TLS.
    Wss,
    Tcp,
    /// TCP to `tcp-sf`: first the message size (8 bytes, little-endian), then raw bytes.
    TcpWhole,
}

/// The TLS side of the benchmark: the CA the load generator trusts, and the directory
/// of the server's certificate and key (made once, read by the `wisp-tls` process).
mod tls {
    use std::net::TcpStream;
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};

    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

    pub type Stream = StreamOwned<ClientConnection, TcpStream>;

    struct Made {
        dir: PathBuf,
        ca: CertificateDer<'static>,
    }

    fn made() -> &'static Made {
        static M: OnceLock<Made> = OnceLock::new();
        M.get_or_init(|| {
            use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
            let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_key = KeyPair::generate().unwrap();
            let ca_cert = ca.self_signed(&ca_key).unwrap();
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
                .unwrap()
                .signed_by(&key, &ca_cert, &ca_key)
                .unwrap();
            let dir = std::env::temp_dir().join(format!("wisp-load-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
            Made {
                dir,
                ca: ca_cert.der().clone(),
            }
        })
    }

    /// Where the server process finds `cert.pem` and `key.pem` (`LOAD_TLS_DIR`).
    pub fn dir() -> PathBuf {
        made().dir.clone()
    }

    pub fn remove() {
        if let Some(m) = std::env::var_os("LOAD_TLS_DIR") {
            let _ = std::fs::remove_dir_all(m);
        } else {
            let _ = std::fs::remove_dir_all(&made().dir);
        }
    }

    fn config() -> Arc<ClientConfig> {
        static C: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        C.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add(made().ca.clone()).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            Arc::new(
                ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
    }

    /// A TLS connection over `tcp`, its handshake done.
    pub fn connect(tcp: TcpStream) -> Stream {
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut s = StreamOwned::new(ClientConnection::new(config(), name).unwrap(), tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).unwrap();
        }
        s
    }
}

fn ws_handshake(stream: &mut impl ReadWrite, port: u16) {
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

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One burst of messages as the client sends it.
fn burst_bytes(kind: Kind, case: Case) -> Vec<u8> {
    let payload: Vec<u8> = (0..case.size).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    for _ in 0..case.burst {
        if matches!(kind, Kind::Tcp | Kind::TcpWhole) {
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
            // A header whole in `data` is read in place; one split across reads is
            // gathered a byte at a time until it is whole.
            let whole = if self.header.is_empty() {
                Self::whole_header(data)
            } else {
                None
            };
            let len = match whole {
                Some((len, n)) => {
                    data = &data[n..];
                    len
                }
                None => {
                    self.header.push(data[0]);
                    data = &data[1..];
                    let Some((len, _)) = Self::whole_header(&self.header) else {
                        continue;
                    };
                    self.header.clear();
                    len
                }
            };
            if len == 0 {
                done += 1;
            } else {
                self.skip = len;
                self.in_payload = true;
            }
        }
        done
    }

    /// The payload length and header length of a server frame whose header is all in
    /// `data`.
    fn whole_header(data: &[u8]) -> Option<(usize, usize)> {
        match *data.get(1)? & 0x7f {
            126 => Some((
                u16::from_be_bytes(data.get(2..4)?.try_into().ok()?) as usize,
                4,
            )),
            127 => Some((
                u64::from_be_bytes(data.get(2..10)?.try_into().ok()?) as usize,
                10,
            )),
            n => Some((n as usize, 2)),
        }
    }
}

/// The cores each thread of process `pid` may run on (`Cpus_allowed_list`).
fn cpus_of(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .collect()
}

/// CPU time (user + system) of process `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the ")".
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

/// A numeric field of /proc/PID/status or /proc/meminfo, in KiB.
fn kib_field(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
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
                if kind == Kind::Wss {
                    return drive_tls(tls::connect(s), addr.port(), &bytes, case, deadline);
                }
                if kind == Kind::WebSocket {
                    ws_handshake(&mut s, addr.port());
                }
                if kind == Kind::TcpWhole {
                    s.write_all(&(case.size as u64).to_le_bytes()).unwrap();
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
                        Kind::Tcp | Kind::TcpWhole => n,
                        _ => skim.feed(&buf[..n]) * case.size,
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

/// One wss:// connection of a case: a rustls stream is one object, so one thread
/// writes each burst and then reads its echo (a 1 MiB burst fits what the server
/// queues before it stops reading, so this cannot block both sides).
fn drive_tls(mut s: tls::Stream, port: u16, bytes: &[u8], case: Case, deadline: Instant) -> u64 {
    ws_handshake(&mut s, port);
    let per_burst_bytes = case.size * case.burst;
    let mut buf = vec![0u8; 256 * 1024];
    let mut skim = Skimmer::default();
    let mut messages = 0u64;
    loop {
        s.write_all(bytes).unwrap();
        let mut got = 0;
        while got < per_burst_bytes {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "server closed");
            got += skim.feed(&buf[..n]) * case.size;
        }
        assert_eq!(got, per_burst_bytes, "more than one burst back");
        messages += case.burst as u64;
        if Instant::now() >= deadline {
            return messages;
        }
    }
}

/// A comparison server of the run, in its own process (this benchmark re-executed with
/// `LOAD_SERVE=name`).
struct Peer {
    name: String,
    kind: Kind,
    addr: SocketAddr,
    child: Child,
    /// Started from `LOAD_EXTERNAL`: asked to stop with SIGTERM first (10 s to exit, so
    /// that a server run under a profiler writes its profile).
    external: bool,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.external {
            // SAFETY: kill sends a signal to our own child process.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVERS: [(&str, Kind); 12] = [
    ("wisp", Kind::WebSocket),
    ("wisp-uring", Kind::WebSocket),
    ("wisp-nobudget", Kind::WebSocket),
    ("wisp-metrics", Kind::WebSocket),
    ("wisp-tls", Kind::Wss),
    ("fastws", Kind::WebSocket),
    ("tokio-tung", Kind::WebSocket),
    ("tung", Kind::WebSocket),
    ("tcp-thr", Kind::Tcp),
    ("tcp-mio", Kind::Tcp),
    ("tcp-uring", Kind::Tcp),
    ("tcp-sf", Kind::TcpWhole),
];

fn start_peer(name: &'static str, kind: Kind) -> Peer {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("LOAD_SERVE", name)
        .env("LOAD_TLS_DIR", tls::dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: no port in {line:?}"));
    Peer {
        name: name.into(),
        kind,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
        external: false,
    }
}

/// An external WebSocket echo server: `spec` is `name=command args`, `{port}` in the
/// arguments replaced by a free port; started pinned to core 0 and waited for until it
/// accepts connections (10 s at most).
fn start_external(spec: &str) -> Peer {
    let (name, command) = spec
        .split_once('=')
        .unwrap_or_else(|| panic!("LOAD_EXTERNAL: {spec:?} is not name=command"));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let args: Vec<String> = command
        .split_whitespace()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {args:?}: {e}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{name}: not listening on {addr}");
        thread::sleep(Duration::from_millis(50));
    }
    Peer {
        name: name.into(),
        kind: Kind::WebSocket,
        addr,
        child,
        external: true,
    }
}

/// The server side: binds 127.0.0.1:0, prints `PORT n`, serves until killed.
fn serve(name: &str) {
    pin(0);
    if name.starts_with("wisp") {
        let tls = (name == "wisp-tls").then(|| {
            let dir = std::path::PathBuf::from(std::env::var_os("LOAD_TLS_DIR").unwrap());
            wisp_server::TlsConfig::from_pem_files(&dir.join("cert.pem"), &dir.join("key.pem"))
                .unwrap()
        });
        let budget = wisp_server::Config::default().memory_budget;
        let config = wisp_server::Config::default()
            .memory_budget(if name == "wisp-nobudget" {
                u64::MAX
            } else {
                budget
            })
            .tls(tls)
            .io(if name == "wisp-uring" {
                wisp_server::IoEngine::Uring
            } else {
                wisp_server::IoEngine::Epoll
            })
            .listen("127.0.0.1:0")
            .workers(1)
            .max_connections(15_000)
            // The load generator is one address.
            .max_connections_per_ip(15_000)
            .max_handshakes_per_ip(15_000);
        let server = wisp_server::Server::bind(config).unwrap();
        let _demo = wisp_server::demo::Demo::all().install(&server).unwrap();
        if name == "wisp-metrics" {
            // Counting on, and a scrape every second (its text encoded and dropped).
            let metrics = server.prometheus();
            thread::spawn(move || loop {
                std::hint::black_box(metrics.encode());
                thread::sleep(Duration::from_secs(1));
            });
        }
        print_port(server.local_addr().port());
        server.run().unwrap();
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    print_port(l.local_addr().unwrap().port());
    match name {
        "tung" => thread_per_connection(l, |s| {
            let Ok(mut ws) = tungstenite::accept(s) else {
                return;
            };
            while let Ok(msg) = ws.read() {
                if (msg.is_binary() || msg.is_text()) && ws.send(msg).is_err() {
                    return;
                }
            }
        }),
        "tcp-thr" => thread_per_connection(l, |s| {
            let mut r = s;
            let Ok(mut w) = r.try_clone() else {
                return;
            };
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if w.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        }),
        "tcp-mio" => tcp_mio(l),
        "tcp-uring" => tcp_uring::serve(l),
        "tcp-sf" => thread_per_connection(l, whole_message_echo),
        "fastws" => peers::fastwebsockets(l),
        "tokio-tung" => peers::tokio_tungstenite(l),
        other => panic!("unknown server {other}"),
    }
}

/// Tells the load generator where to connect.
fn print_port(port: u16) {
    println!("PORT {port}");
    let _ = std::io::stdout().flush();
}

/// Each connection on its own thread (the server model of tungstenite sync).
fn thread_per_connection(l: TcpListener, serve: fn(TcpStream)) {
    for s in l.incoming().flatten() {
        let _ = s.set_nodelay(true);
        thread::spawn(move || serve(s));
    }
}

/// Sends back whole messages only: as much as has arrived is read, and the complete
/// messages in it are written back at once (what a WebSocket echo does, without the
/// WebSocket). The message size comes first, as 8 bytes.
fn whole_message_echo(s: TcpStream) {
    let mut r = s;
    let Ok(mut w) = r.try_clone() else {
        return;
    };
    let mut size = [0u8; 8];
    if r.read_exact(&mut size).is_err() {
        return;
    }
    let size = u64::from_le_bytes(size).clamp(1, 64 << 20) as usize;
    let mut buf = vec![0u8; size.max(256 * 1024)];
    let mut have = 0;
    loop {
        if have == buf.len() {
            buf.resize(buf.len() + size, 0);
        }
        match r.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        let whole = have - have % size;
        if whole > 0 {
            if w.write_all(&buf[..whole]).is_err() {
                return;
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
    }
}

/// A plain TCP echo on one mio event loop: the ceiling of the event-loop model.
fn tcp_mio(l: TcpListener) {
    use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
    use mio::{Events, Interest, Poll, Token};
    l.set_nonblocking(true).unwrap();
    let mut listener = MioListener::from_std(l);
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut listener, Token(usize::MAX), Interest::READABLE)
        .unwrap();
    let mut conns: Vec<Option<(MioStream, Vec<u8>)>> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = Events::with_capacity(1024);
    loop {
        poll.poll(&mut events, None).unwrap();
        for ev in events.iter() {
            if ev.token() == Token(usize::MAX) {
                while let Ok((mut s, _)) = listener.accept() {
                    let _ = s.set_nodelay(true);
                    let t = conns.len();
                    poll.registry()
                        .register(&mut s, Token(t), Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    conns.push(Some((s, Vec::new())));
                }
                continue;
            }
            let t = ev.token().0;
            let Some(Some((s, pending))) = conns.get_mut(t) else {
                continue;
            };
            let mut dead = false;
            // Echo what arrives; keep what the socket does not take for the next edge.
            loop {
                while !pending.is_empty() {
                    match s.write(pending) {
                        Ok(n) => {
                            pending.drain(..n);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            dead = true;
                            break;
                        }
                    }
                }
                if dead || !pending.is_empty() {
                    break;
                }
                match s.read(&mut buf) {
                    Ok(0) => {
                        dead = true;
                        break;
                    }
                    // A short read drained the socket (edge-triggered readiness: what
                    // comes later raises a new edge), as wisp-server does.
                    Ok(n) if n < buf.len() => {
                        match s.write(&buf[..n]) {
                            Ok(m) => pending.extend_from_slice(&buf[m..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                pending.extend_from_slice(&buf[..n])
                            }
                            Err(_) => dead = true,
                        }
                        break;
                    }
                    Ok(n) => match s.write(&buf[..n]) {
                        Ok(m) => pending.extend_from_slice(&buf[m..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            pending.extend_from_slice(&buf[..n])
                        }
                        Err(_) => dead = true,
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => dead = true,
                }
                if dead {
                    break;
                }
            }
            if dead {
                conns[t] = None;
            }
        }
    }
}

/// The two async peers, each as its upstream echo example, on a current-thread runtime.
mod peers {
    use std::net::TcpListener;

    /// Accepts on `l` forever on a current-thread runtime, each connection served by a
    /// task of its own, Nagle off.
    fn accept_loop<F, Fut>(l: TcpListener, serve: F)
    where
        F: Fn(tokio::net::TcpStream) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        l.set_nonblocking(true).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(l).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
        });
    }

    pub fn fastwebsockets(l: TcpListener) {
        use bytes::Bytes;
        use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
        use http_body_util::Empty;
        use hyper::body::Incoming;
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper::{Request, Response};

        async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
            let mut ws = FragmentCollector::new(fut.await?);
            loop {
                let frame = ws.read_frame().await?;
                match frame.opcode {
                    OpCode::Close => break,
                    OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                    _ => {}
                }
            }
            Ok(())
        }

        async fn server_upgrade(
            mut req: Request<Incoming>,
        ) -> Result<Response<Empty<Bytes>>, WebSocketError> {
            let (response, fut) = upgrade::upgrade(&mut req)?;
            tokio::task::spawn(async move {
                let _ = tokio::task::unconstrained(handle_client(fut)).await;
            });
            Ok(response)
        }

        accept_loop(l, |stream| async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = http1::Builder::new()
                .serve_connection(io, service_fn(server_upgrade))
                .with_upgrades();
            let _ = conn.await;
        });
    }

    pub fn tokio_tungstenite(l: TcpListener) {
        use futures_util::{future, StreamExt, TryStreamExt};

        accept_loop(l, |stream| async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (write, read) = ws.split();
            let _ = read
                .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
                .forward(write)
                .await;
        });
    }
}

/// What idle connections cost, in KiB per connection.
struct IdleCost {
    /// The server process's RSS growth.
    rss: f64,
    /// The drop of the machine's MemAvailable (both ends and the kernel).
    available: f64,
    /// The same, counted: both processes' RSS, and the kernel's slab, stacks, page
    /// tables and TCP buffers. Untouched by the page cache and by the kernel's
    /// background reclaim, which move MemAvailable by tens of MiB on this VM.
    counted: f64,
}

/// The machine's memory as counted for [`IdleCost::counted`] (without the processes'
/// RSS), and MemAvailable, in KiB: the medians of five readings 100 ms apart.
fn machine_kib() -> (f64, f64) {
    let mut counted = Vec::new();
    let mut available = Vec::new();
    for _ in 0..5 {
        let field = |f| kib_field("/proc/meminfo", f) as f64;
        let tcp_pages = tcp_sockstat("mem") as f64;
        counted.push(field("Slab") + field("KernelStack") + field("PageTables") + tcp_pages * 4.0);
        available.push(field("MemAvailable"));
        thread::sleep(Duration::from_millis(100));
    }
    (median(counted), median(available))
}

/// A field of the `TCP:` line of /proc/net/sockstat (`inuse`, `tw`, `mem` in pages...);
/// 0 when it cannot be read.
fn tcp_sockstat(field: &str) -> u64 {
    let stat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let Some(line) = stat.lines().find_map(|l| l.strip_prefix("TCP:")) else {
        return 0;
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == field)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(0)
}

/// Waits (70 s at most) until few TCP connections are in TIME_WAIT: each holds kernel
/// memory that goes as it expires, which would hide what the next measurement adds.
fn settle_time_wait() {
    let deadline = Instant::now() + Duration::from_secs(70);
    let tw = || tcp_sockstat("tw");
    let first = tw();
    while tw() > 500 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(500));
    }
    if first > 500 {
        println!(
            "  (waited for {first} connections in TIME_WAIT to expire: {} left)",
            tw()
        );
    }
}

/// Closes a connection with a reset (SO_LINGER 0): no TIME_WAIT is left behind to
/// expire during the next measurement.
fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger`, of the size given, for a socket we own.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Holds `n` idle WebSocket (or TCP) connections on `peer` and returns what they cost.
fn idle_memory(peer: &Peer, n: usize) -> IdleCost {
    let pid = peer.child.id();
    let status = format!("/proc/{pid}/status");
    let own = "/proc/self/status";
    thread::sleep(Duration::from_millis(300));
    let rss = || {
        (
            kib_field(&status, "VmRSS") as f64,
            kib_field(own, "VmRSS") as f64,
        )
    };
    let ((server0, self0), (kernel0, avail0)) = (rss(), machine_kib());
    let mut held = Vec::with_capacity(n);
    let mut held_tls = Vec::new();
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect(peer.addr) else {
            break;
        };
        match peer.kind {
            Kind::WebSocket => ws_handshake(&mut s, peer.addr.port()),
            Kind::Wss => {
                reset(&s);
                let mut t = tls::connect(s);
                ws_handshake(&mut t, peer.addr.port());
                held_tls.push(t);
                continue;
            }
            Kind::Tcp | Kind::TcpWhole => {}
        }
        reset(&s);
        held.push(s);
    }
    thread::sleep(Duration::from_millis(1000));
    let ((server1, self1), (kernel1, avail1)) = (rss(), machine_kib());
    let k = (held.len() + held_tls.len()).max(1) as f64;
    drop(held);
    drop(held_tls);
    thread::sleep(Duration::from_millis(500));
    IdleCost {
        rss: (server1 - server0) / k,
        available: (avail0 - avail1) / k,
        counted: ((server1 - server0) + (self1 - self0) + (kernel1 - kernel0)) / k,
    }
}

fn main() {
    if let Ok(name) = std::env::var("LOAD_SERVE") {
        return serve(&name);
    }
    pin(1);
    let secs: f64 = env_or("LOAD_SECS", 1.0);
    let rounds: usize = env_or("LOAD_ROUNDS", 5);
    let idle: usize = env_or("LOAD_IDLE", 10_000);
    let only: Option<usize> = std::env::var("LOAD_CASE").ok().and_then(|s| s.parse().ok());
    let wanted = std::env::var("LOAD_SERVERS").unwrap_or_default();
    let external = std::env::var("LOAD_EXTERNAL").unwrap_or_default();
    let peers: Vec<Peer> = SERVERS
        .iter()
        .filter(|(n, _)| wanted.is_empty() || wanted.split(',').any(|w| w == *n))
        .map(|&(n, k)| start_peer(n, k))
        .chain(
            external
                .split(';')
                .filter(|s| !s.trim().is_empty())
                .map(|s| start_external(s.trim())),
        )
        .collect();
    println!(
        "servers pinned to core 0, load generator to core 1; {rounds} interleaved rounds of {secs} s"
    );
    for p in &peers {
        let cpus = cpus_of(p.child.id());
        if cpus.iter().any(|c| c != "0") {
            println!(
                "  WARNING: {} runs on cpus {cpus:?}, not core 0 alone",
                p.name
            );
        }
    }
    for (i, case) in CASES.into_iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let mut runs: Vec<Vec<Run>> = peers.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Each round starts with the next server, so no server always runs first.
            for j in 0..peers.len() {
                let k = (j + round) % peers.len();
                let p = &peers[k];
                let pid = p.child.id();
                let (c0, g0) = (cpu_seconds(pid), cpu_seconds(std::process::id()));
                let (messages, secs) = drive(p.kind, p.addr, case, secs);
                let cpu = cpu_seconds(pid) - c0;
                let generator = cpu_seconds(std::process::id()) - g0;
                runs[k].push(Run {
                    messages,
                    secs,
                    cpu,
                    generator,
                });
            }
        }
        report(&peers, &runs, case);
    }
    if idle > 0 {
        println!("\n{idle} idle connections held on each server (KiB per connection):");
        settle_time_wait();
        for p in &peers {
            let c = idle_memory(p, idle);
            println!(
                "  {:<13} server RSS {:>7.2}   machine: MemAvailable drop {:>7.2}, counted (both ends' RSS, kernel slab, stacks, page tables, TCP buffers) {:>7.2}",
                p.name, c.rss, c.available, c.counted
            );
        }
    }
    tls::remove();
}

fn report(peers: &[Peer], runs: &[Vec<Run>], case: Case) {
    let rate = |r: &Run| r.messages as f64 / r.secs;
    let per_cpu = |r: &Run| r.messages as f64 / r.cpu.max(0.01);
    println!("\n{}", case.name);
    for (p, rs) in peers.iter().zip(runs) {
        println!(
            "  {:<13} {:>10.0} msg/s {:>9.1} MB/s   server CPU {:>7.2} us/msg ({:>8.0} msg per CPU-s, {:>3.0}% busy)   load generator {:>3.0}% busy",
            p.name,
            median(rs.iter().map(rate).collect()),
            median(rs.iter().map(rate).collect()) * case.size as f64 / 1e6,
            median(rs.iter().map(|r| r.cpu / r.messages.max(1) as f64 * 1e6).collect()),
            median(rs.iter().map(per_cpu).collect()),
            median(rs.iter().map(|r| r.cpu / r.secs * 100.0).collect()),
            median(rs.iter().map(|r| r.generator / r.secs * 100.0).collect()),
        );
    }
    let idx = |n: &str| peers.iter().position(|p| p.name == n);
    let ratio_line = |label: &str, f: &dyn Fn(usize) -> Option<f64>| {
        let v: Vec<f64> = (0..runs.first().map_or(0, Vec::len))
            .filter_map(f)
            .collect();
        if v.is_empty() {
            return;
        }
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!("  {label}: {:.2} ({lo:.2}-{hi:.2})", median(v.clone()));
    };
    // Any pair asked for: `LOAD_RATIOS=tokio-ct/fastws-ct,tokio-mt2/fastws-mt2`.
    for pair in std::env::var("LOAD_RATIOS").unwrap_or_default().split(',') {
        let Some((Some(a), Some(b))) = pair.split_once('/').map(|(a, b)| (idx(a), idx(b))) else {
            continue;
        };
        ratio_line(&format!("{pair} msg/s"), &|r| {
            Some(rate(&runs[a][r]) / rate(&runs[b][r]))
        });
        ratio_line(&format!("{pair} msg per server CPU-s"), &|r| {
            Some(per_cpu(&runs[a][r]) / per_cpu(&runs[b][r]))
        });
    }
    let Some(w) = idx("wisp") else {
        return;
    };
    if let Some(n) = idx("wisp-nobudget") {
        ratio_line("wisp/wisp-nobudget msg/s", &|r| {
            Some(rate(&runs[w][r]) / rate(&runs[n][r]))
        });
        ratio_line("wisp/wisp-nobudget msg per server CPU-s", &|r| {
            Some(per_cpu(&runs[w][r]) / per_cpu(&runs[n][r]))
        });
    }
    if let Some(m) = idx("wisp-metrics") {
        ratio_line("wisp-metrics/wisp msg/s", &|r| {
            Some(rate(&runs[m][r]) / rate(&runs[w][r]))
        });
        ratio_line("wisp-metrics/wisp msg per server CPU-s", &|r| {
            Some(per_cpu(&runs[m][r]) / per_cpu(&runs[w][r]))
        });
    }
    if let Some(f) = idx("fastws") {
        ratio_line("wisp/fastws msg/s", &|r| {
            Some(rate(&runs[w][r]) / rate(&runs[f][r]))
        });
        ratio_line("wisp/fastws msg per server CPU-s", &|r| {
            Some(per_cpu(&runs[w][r]) / per_cpu(&runs[f][r]))
        });
    }
    if let Some(t) = idx("wisp-tls") {
        ratio_line("wisp-tls/wisp msg/s", &|r| {
            Some(rate(&runs[t][r]) / rate(&runs[w][r]))
        });
        ratio_line("wisp-tls/wisp server CPU per message", &|r| {
            Some(per_cpu(&runs[w][r]) / per_cpu(&runs[t][r]))
        });
    }
    let tcp: Vec<usize> = ["tcp-thr", "tcp-mio"]
        .iter()
        .filter_map(|n| idx(n))
        .collect();
    let best_tcp = |r: usize| tcp.iter().map(|&t| rate(&runs[t][r])).fold(0.0, f64::max);
    if !tcp.is_empty() {
        ratio_line("wisp/TCP echo (faster of the two) msg/s", &|r| {
            Some(rate(&runs[w][r]) / best_tcp(r))
        });
    }
    // The io_uring engine against epoll, fastwebsockets and the TCP echoes (the
    // issue's targets), and the io_uring TCP echo against the readiness ones.
    if let Some(u) = idx("wisp-uring") {
        let against = |label: &str, o: usize| {
            ratio_line(&format!("wisp-uring/{label} msg/s"), &|r| {
                Some(rate(&runs[u][r]) / rate(&runs[o][r]))
            });
            ratio_line(&format!("wisp-uring/{label} msg per server CPU-s"), &|r| {
                Some(per_cpu(&runs[u][r]) / per_cpu(&runs[o][r]))
            });
        };
        against("wisp", w);
        for n in ["fastws", "tcp-thr", "tcp-mio", "tcp-uring"] {
            if let Some(o) = idx(n) {
                against(n, o);
            }
        }
        if !tcp.is_empty() {
            ratio_line("wisp-uring/TCP echo (faster epoll one) msg/s", &|r| {
                Some(rate(&runs[u][r]) / best_tcp(r))
            });
        }
    }
    if let (Some(t), false) = (idx("tcp-uring"), tcp.is_empty()) {
        ratio_line("tcp-uring/TCP echo (faster epoll one) msg/s", &|r| {
            Some(rate(&runs[t][r]) / best_tcp(r))
        });
    }
    // The store-and-forward TCP echo, fastwebsockets and the external servers, each
    // against wisp and against the TCP echo.
    let builtin = |n: &str| SERVERS.iter().any(|(s, _)| *s == n);
    for (o, p) in peers.iter().enumerate() {
        if builtin(&p.name) && p.name != "tcp-sf" && p.name != "fastws" {
            continue;
        }
        if p.name != "fastws" {
            ratio_line(&format!("wisp/{} msg/s", p.name), &|r| {
                Some(rate(&runs[w][r]) / rate(&runs[o][r]))
            });
            ratio_line(&format!("wisp/{} msg per server CPU-s", p.name), &|r| {
                Some(per_cpu(&runs[w][r]) / per_cpu(&runs[o][r]))
            });
        }
        if !tcp.is_empty() {
            ratio_line(&format!("{}/TCP echo msg/s", p.name), &|r| {
                Some(rate(&runs[o][r]) / best_tcp(r))
            });
        }
    }
}

/// One timed run against one server.
struct Run {
    messages: u64,
    secs: f64,
    /// CPU seconds of the server process during the run.
    cpu: f64,
    /// CPU seconds of the load generator (this process) during the run.
    generator: f64,
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
