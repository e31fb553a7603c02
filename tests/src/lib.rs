//! # wisp-tests
//!
//! Workspace-level tests live in `tests/tests/`, one binary each; this library is their
//! harness, shared by all of them (`use wisp_tests::...`): the workspace binaries, a
//! wisp-server process on an ephemeral port, and a raw WebSocket client on the codec;
//! Autobahn ([`autobahn`]), the interop peers ([`peers`]), a real redis-server ([`redis`]) and TLS ([`tls`]).

pub mod autobahn;
pub mod peers;
pub mod proxies;
pub mod redis;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use wisp_codec::blocking::WebSocket;
use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Config, Connection, Message};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The path of a workspace binary, built first (once per test process) if needed.
pub fn binary(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "wisp-server",
                "-p",
                "wisp-client",
                "--bins",
            ])
            .current_dir(root())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the binaries failed");
    });
    // The test executable is target/<profile>/deps/NAME-HASH: the binaries are one up
    // (this follows CARGO_TARGET_DIR and the profile).
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join(name)
}

/// Kills the child when dropped, so a failing test leaves nothing running.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A wisp-server process listening on 127.0.0.1 on an ephemeral port.
pub struct Server {
    /// The process, killed when the `Server` is dropped.
    pub child: Guard,
    /// The port it listens on (from its ready line).
    pub port: u16,
    /// Its log lines (stderr), as they come.
    pub stderr: std::sync::mpsc::Receiver<String>,
}

impl Server {
    /// Starts wisp-server with `args` and waits for its ready line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with("", args)
    }

    /// Starts wisp-server through `sh -c` after a shell `prefix` (e.g.
    /// `ulimit -n 65536;`), or directly when the prefix is empty.
    pub fn start_with(prefix: &str, args: &[&str]) -> Server {
        Server::start_full(prefix, args, &[("RUST_LOG", "info")])
    }

    /// Starts wisp-server with `args` and these environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_full("", args, env)
    }

    fn start_full(prefix: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = if prefix.is_empty() {
            Command::new(binary("wisp-server"))
        } else {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("{prefix} exec \"$0\" \"$@\""))
                .arg(binary("wisp-server"));
            sh
        };
        cmd.args(["--listen", "127.0.0.1:0"]);
        // The engine under test (`WISP_TEST_IO=uring|epoll`; unset: the server's `auto`),
        // so the engine-specific suites run on both (scripts/test.sh).
        if let Ok(io) = std::env::var("WISP_TEST_IO") {
            cmd.args(["--io", &io]);
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped());
        let (mut child, line) = spawn_ready(&mut cmd);
        let port = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .or_else(|| line.trim().strip_prefix("listening on https://127.0.0.1:"))
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in the ready line {line:?}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Server {
            child: Guard(child),
            port,
            stderr: rx,
        }
    }

    /// Log lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// `ws://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// VmRSS of the server in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status(self.pid(), "VmRSS")
    }

    /// Threads of the server (/proc/PID/task).
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .count()
    }

    /// Open file descriptors of the server (/proc/PID/fd).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }
}

/// A numeric field of /proc/PID/status (KiB for the Vm* fields).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Spawns `cmd` with its stdout piped and returns it with its first line (a server's
/// ready line: wisp-server's `listening on ...`, the peers' `LISTENING <port>`).
pub fn spawn_ready(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// What the browser tests need, each checked with the command that provides it (they
/// never skip): the page's wasm build, playwright-core, and Chromium (`$CHROMIUM` or
/// `/usr/bin/chromium`), whose path is returned.
pub fn browser_prerequisites() -> String {
    let require = |path: &Path, fix: &str| {
        assert!(
            path.exists(),
            "{} is missing: {fix} (the browser tests never skip)",
            path.display()
        );
    };
    let root = root();
    for f in [
        "web/pkg/wisp_codec.js",
        "web/pkg-nomod/wisp_codec.js",
        "web/wasm_b64.js",
    ] {
        require(&root.join(f), "run scripts/build-web.sh");
    }
    require(
        &root.join("node_modules/playwright-core/package.json"),
        "run scripts/setup.sh (npm ci installs playwright-core)",
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    require(
        Path::new(&chromium),
        "run scripts/setup.sh (apt-get install chromium)",
    );
    chromium
}

/// One plain HTTP exchange: writes `request`, reads to EOF (at most 10 s).
pub fn http(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `request` and reads only the response head (for a 101 that keeps the
/// connection open).
pub fn http_head(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of an HTTP response.
pub fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A valid upgrade request head for `path`, with `extra` header lines (each ending in
/// `\r\n`).
pub fn upgrade_request(port: u16, path: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// A deterministic mask source for tests.
pub fn masks(seed: u32) -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s.to_be_bytes()
    }
}

/// A raw client: the codec's blocking adapter over a TcpStream, handshake done.
pub type Raw = WebSocket<TcpStream>;

/// Connects to `path` and completes the opening handshake (offering `protocols`).
/// Returns the client and the subprotocol the server chose.
pub fn connect_with(port: u16, path: &str, protocols: &[&str]) -> (Raw, Option<String>) {
    connect_from(port, path, protocols, None)
}

/// Connects like [`connect_with`], sending `Origin: origin` when given.
pub fn connect_from(
    port: u16,
    path: &str,
    protocols: &[&str],
    origin: Option<&str>,
) -> (Raw, Option<String>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = ClientRequest::new(&format!("127.0.0.1:{port}"), path, *b"wisp test nonce!");
    for p in protocols {
        req = req.protocol(p);
    }
    if let Some(o) = origin {
        req = req.origin(o);
    }
    upgrade_over(stream, port, &req)
}

/// Sends `req` over `stream` (plain or TLS), reads the 101 and wraps the stream in a
/// client connection (compressing if `req` offered permessage-deflate and the server
/// agreed); returns it with the subprotocol the server chose.
pub fn upgrade_over<S: Read + Write>(
    mut stream: S,
    port: u16,
    req: &ClientRequest,
) -> (WebSocket<S>, Option<String>) {
    stream.write_all(&req.to_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (accepted, n) = loop {
        let k = stream.read(&mut chunk).unwrap();
        assert!(
            k > 0,
            "EOF during the handshake: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..k]);
        if let Some(done) = req.parse_response(&buf, 8192).unwrap() {
            break done;
        }
    };
    let config = Config {
        max_message_size: 1 << 30,
        max_frame_size: 1 << 30,
        ..Config::default()
    };
    let mut conn = Connection::client(config, masks(u32::from(port)));
    if let Some(params) = accepted.deflate {
        conn.set_deflate(params);
    }
    conn.handle_input(&buf[n..]);
    (WebSocket::new(stream, conn), accepted.protocol)
}

/// Connects to `path` and completes the opening handshake.
pub fn connect(port: u16, path: &str) -> Raw {
    connect_with(port, path, &[]).0
}

/// Reads messages until a data message (text or binary), skipping pings and pongs.
pub fn next_data(ws: &mut Raw) -> Message {
    loop {
        match ws.read_message().expect("a message") {
            Message::Ping(_) | Message::Pong(_) => continue,
            m => return m,
        }
    }
}

/// Reads until the server's close frame; its code (1005 for none), or `None` if the
/// connection ended without one.
pub fn close_code(ws: &mut Raw) -> Option<(u16, String)> {
    loop {
        match ws.read_message() {
            Ok(Message::Close(f)) => {
                return Some(f.map_or((1005, String::new()), |f| (f.code.0, f.reason)))
            }
            Ok(_) => continue,
            Err(wisp_codec::blocking::Error::Protocol(e)) => {
                panic!("server broke the protocol: {e}")
            }
            Err(_) => return None,
        }
    }
}

/// Waits until `f` holds, or panics after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A masked client frame built by hand (for frames the codec refuses to send).
pub fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![b0];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n < 65536 {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A TCP connection to 127.0.0.1:`port` from the source address `src` (127.0.0.x), so
/// that many connections do not run out of one address's ephemeral ports.
pub fn connect_from_source(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: a.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            },
            sin_zero: [0; 8],
        }
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor we own; the addresses are fully
    // initialised sockaddr_in values that outlive the calls; on success the descriptor
    // is handed to TcpStream, which closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let local = sockaddr(SocketAddrV4::new(src, 0));
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = sockaddr(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}
