//! A real `redis-server` (Debian's package, installed by `scripts/setup.sh`) on a free
//! loopback port, without persistence, stopped by its PID; and a raw RESP command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{wait_until, Guard};

/// A free loopback port (bound and released: good enough on a quiet machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running redis-server; killed when dropped.
pub struct Redis {
    /// The loopback port it listens on.
    pub port: u16,
    child: Option<Guard>,
}

impl Redis {
    /// Starts redis-server on a free port and waits until it answers PING.
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// Starts redis-server on `port` (a restart on the same port).
    pub fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (bash scripts/setup.sh installs it)");
        let r = Redis {
            port,
            child: Some(Guard(child)),
        };
        wait_until(10, "redis-server to answer PING", || {
            command_on(port, &["PING"]).is_ok_and(|a| a == "+PONG")
        });
        r
    }

    /// `redis://127.0.0.1:PORT`, as `--redis` takes it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends SIGTERM to its PID and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut g) = self.child.take() {
            let pid = g.0.id() as libc::pid_t;
            // SAFETY: kill(2) on the PID of our own child, which we have not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let _ = g.0.wait();
        }
    }

    /// One command's reply (see [`command_on`]).
    pub fn command(&self, args: &[&str]) -> String {
        command_on(self.port, args).expect("redis command")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one command in RESP and reads the reply: simple strings and integers as their
/// line (`+PONG`, `:2`), an array as its elements joined by spaces (one level deep,
/// integers without their `:`).
pub fn command_on(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let line = read_line(&mut r)?;
    let Some(n) = line.strip_prefix('*') else {
        return Ok(line);
    };
    let n: usize = n.parse().unwrap_or(0);
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let l = read_line(&mut r)?;
        if let Some(len) = l.strip_prefix('$') {
            let len: usize = len.parse().unwrap_or(0);
            let mut b = vec![0; len + 2];
            r.read_exact(&mut b)?;
            items.push(String::from_utf8_lossy(&b[..len]).into_owned());
        } else {
            items.push(l.trim_start_matches(':').to_string());
        }
    }
    Ok(items.join(" "))
}

fn read_line(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end().to_string())
}
