//! Shared pieces of the workspace tests: paths, a running wisp-server, a raw WebSocket
//! client built from the codec, and process statistics from /proc.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Config, Connection, Message};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A workspace binary built by `cargo build --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let path = root().join("target/debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// Kills the child when dropped, so a failing test leaves nothing running.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A wisp-server process on an ephemeral port.
pub struct Server {
    pub child: Guard,
    pub port: u16,
}

impl Server {
    /// Starts wisp-server with `args` (plus `--listen 127.0.0.1:0`) through `sh -c`
    /// after `prefix` (e.g. `ulimit -n 65536;`), and waits for its ready line.
    pub fn start_with(prefix: &str, args: &[&str]) -> Server {
        let mut cmd = format!("{prefix} exec '{}' --listen 127.0.0.1:0", binary("wisp-server").display());
        for a in args {
            cmd.push_str(&format!(" '{a}'"));
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the ready line {line:?}"));
        Server { child: Guard(child), port }
    }

    pub fn start(args: &[&str]) -> Server {
        Server::start_with("", args)
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// VmRSS of the server in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status(self.pid(), "VmRSS")
    }

    /// Threads of the server.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid())).unwrap().count()
    }

    /// Open file descriptors of the server.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).unwrap().count()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.0.try_wait().unwrap().is_none()
    }
}

/// A field of /proc/PID/status, in KiB (or a count).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A raw WebSocket client: a TcpStream and a client Connection from the codec.
pub struct Raw {
    pub stream: TcpStream,
    pub conn: Connection,
}

impl Raw {
    /// Connects and completes the opening handshake on `path`.
    pub fn connect(port: u16, path: &str) -> Raw {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = ClientRequest::new(&format!("127.0.0.1:{port}"), path, *b"wisp test nonce!");
        stream.write_all(&req.to_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (_, n) = loop {
            let k = stream.read(&mut chunk).unwrap();
            assert!(k > 0, "EOF during the handshake");
            buf.extend_from_slice(&chunk[..k]);
            if let Some(done) = req.parse_response(&buf, 8192).unwrap() {
                break done;
            }
        };
        let mut seed = 0x9e37_79b9u32 ^ u32::from(port);
        let mut conn = Connection::client(Config { max_message_size: 1 << 30, max_frame_size: 1 << 30, ..Config::default() }, move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed.to_be_bytes()
        });
        conn.handle_input(&buf[n..]);
        Raw { stream, conn }
    }

    /// Writes whatever the connection has queued.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let out = self.conn.pending_output();
        let n = out.len();
        self.stream.write_all(out)?;
        self.conn.advance_output(n);
        Ok(())
    }

    /// Reads until one message (pings answered) or EOF (`None`).
    pub fn next(&mut self) -> Option<Message> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.conn.poll_event() {
                Ok(Some(Message::Ping(_))) => {
                    let _ = self.flush();
                    continue;
                }
                Ok(Some(m)) => {
                    let _ = self.flush();
                    return Some(m);
                }
                Ok(None) => {}
                Err(e) => panic!("server broke the protocol: {e}"),
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.conn.handle_input(&buf[..n]),
            }
        }
    }

    /// Reads until the server's close frame and returns its code, or `None` on EOF first.
    pub fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next()? {
                Message::Close(f) => return Some(f.map_or(1005, |f| f.code.0)),
                _ => continue,
            }
        }
    }
}

/// Waits until `f` holds, or panics after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
