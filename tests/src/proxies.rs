//! Real proxies for the client's proxy tests, each on a free loopback port with its
//! configuration and log in a temporary directory of its own, stopped by PID on drop:
//! Debian's `tinyproxy` (HTTP CONNECT, Basic auth) and `pproxy` from the repository's
//! `.venv` (SOCKS5 with RFC 1929 username/password). Both are installed by
//! `scripts/setup.sh test`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::redis::free_port;
use super::{root, wait_until, Guard};

/// A proxy process, its port and its log file.
pub struct Proxy {
    /// The loopback port it listens on.
    pub port: u16,
    /// Its temporary directory (configuration and log).
    pub dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Guard>,
}

fn temp_dir(kind: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wisp-{kind}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Proxy {
    /// tinyproxy on a free port; with `auth`, `BasicAuth user password`. No
    /// `ConnectPort` line, so it tunnels to any port.
    pub fn tinyproxy(auth: Option<(&str, &str)>) -> Proxy {
        let port = free_port();
        let dir = temp_dir("tinyproxy");
        let log = dir.join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Connect\n\
             LogFile \"{}\"\nAllow 127.0.0.1\n",
            log.display()
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let file = dir.join("tinyproxy.conf");
        std::fs::write(&file, conf).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy (bash scripts/setup.sh test installs it)");
        Proxy::ready(port, dir, log, child)
    }

    /// pproxy as a SOCKS5 server on a free port, with `user:password` required
    /// (`--auth 0`: no remembering an address that authenticated once), logging every
    /// request's destination as the client sent it (`-v`).
    pub fn pproxy_socks5(user: &str, password: &str) -> Proxy {
        let port = free_port();
        let dir = temp_dir("pproxy");
        let log = dir.join("pproxy.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(root().join(".venv/bin/pproxy"))
            .arg("-l")
            .arg(format!("socks5://127.0.0.1:{port}#{user}:{password}"))
            .args(["-v", "--auth", "0"])
            .env("PYTHONUNBUFFERED", "1")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("pproxy in .venv (bash scripts/setup.sh test installs it)");
        Proxy::ready(port, dir, log, child)
    }

    fn ready(port: u16, dir: PathBuf, log: PathBuf, child: std::process::Child) -> Proxy {
        let p = Proxy {
            port,
            dir,
            log,
            child: Some(Guard(child)),
        };
        wait_until(20, "the proxy to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        p
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the log holds `needle`, and returns it.
    pub fn wait_log(&self, needle: &str) -> String {
        wait_until(10, &format!("{needle:?} in the proxy's log"), || {
            self.log().contains(needle)
        });
        self.log()
    }

    /// Sends SIGTERM to its PID and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut g) = self.child.take() {
            // SAFETY: kill(2) on the PID of our own child, not reaped yet.
            unsafe { libc::kill(g.0.id() as libc::pid_t, libc::SIGTERM) };
            let _ = g.0.wait();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
