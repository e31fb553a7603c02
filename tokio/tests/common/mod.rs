//! What the tests share: paths, peers and processes started and stopped by PID.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use wisp_tokio::{connect_async_with, ClientOptions, CloseCode, Message, OpCode, WebSocketStream};

/// Every step of a test is bounded: a peer that stops answering fails it, never hangs it.
pub const STEP: Duration = Duration::from_secs(30);

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An example binary of this crate, built by `cargo test` next to the test binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p wisp-tokio` (it builds the examples)",
        path.display()
    );
    path
}

/// A child process killed (by its PID) and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (stdout piped) and waits up to 30 s for a first line containing
/// `127.0.0.1:PORT` or `LISTENING PORT`; returns the process and the port.
pub fn start_listening(mut cmd: Command) -> (Guard, u16) {
    cmd.stderr(Stdio::inherit());
    start_listening_keep_stderr(cmd)
}

/// [`start_listening`], with the stderr `cmd` already has.
pub fn start_listening_keep_stderr(mut cmd: Command) -> (Guard, u16) {
    cmd.current_dir(root()).stdout(Stdio::piped());
    let mut child = Guard(cmd.spawn().expect("start the peer"));
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the peer says where it listens within 30 s");
    let port = line
        .trim()
        .rsplit([':', ' '])
        .find_map(|p| p.trim_end_matches("/ws").parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port)
}

/// The echo example, started on a free port.
pub fn echo_example() -> (Guard, u16) {
    let mut cmd = Command::new(example("echo"));
    cmd.arg("127.0.0.1:0");
    start_listening(cmd)
}

/// `.venv`'s Python (scripts/setup.sh test).
pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/setup.sh test`",
        p.display()
    );
    p
}

/// Node, with `node_modules` (scripts/setup.sh test).
pub fn node() -> Command {
    assert!(
        root().join("node_modules/ws").exists(),
        "node_modules/ws is missing: run `bash scripts/setup.sh test`"
    );
    let mut cmd = Command::new("node");
    cmd.current_dir(root());
    cmd
}

/// Runs a checklist client (tests/peers) against `url`; it must pass every check.
pub fn run_checklist(mut cmd: Command, url: &str, extra: &[&str]) -> String {
    let out = cmd
        .current_dir(root())
        .arg(url)
        .args(extra)
        .args(["--timeout", "60"])
        .output()
        .expect("run the checklist client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "checklist against {url} {extra:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok close"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        14,
        "{stdout}"
    );
    stdout
}

/// Polls `f` every 20 ms for up to `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

pub fn text_of_size(n: usize) -> String {
    let unit = "aé€😀"; // 1 + 2 + 3 + 4 bytes
    let mut s = unit.repeat(n / 10);
    s.push_str(&"x".repeat(n % 10));
    assert_eq!(s.len(), n);
    s
}

pub async fn next(
    ws: &mut WebSocketStream<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>,
) -> Message {
    loop {
        let m = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a reply in time")
            .expect("the stream goes on")
            .expect("no error");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

/// The checklist, from our side: echoes of 0 B to 16 MiB, fragmented messages, a ping
/// answered, the close handshake. Returns whether deflate was agreed.
pub async fn checklist(url: &str, options: &ClientOptions) -> bool {
    let ws = connect_async_with(url, options).await.expect("connect");
    checklist_on(ws).await
}

/// [`checklist`] on a socket already open.
pub async fn checklist_on(
    mut ws: WebSocketStream<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>,
) -> bool {
    let deflate = ws.connection().deflate_params().is_some();
    for size in [0, 125, 126, 65536, 1 << 20, 16 << 20] {
        let text = Message::Text(text_of_size(size));
        ws.send(text.clone()).await.unwrap();
        assert!(next(&mut ws).await == text, "text {size}");
        let binary: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        let binary = Message::Binary(binary);
        ws.send(binary.clone()).await.unwrap();
        assert!(next(&mut ws).await == binary, "binary {size}");
    }
    // Fragments: 4 text frames, then binary with an empty frame in the middle.
    {
        let c = ws.connection_mut();
        c.send_frame(OpCode::Text, false, "frag".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Continuation, false, "mént".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Continuation, false, b"").unwrap();
        c.send_frame(OpCode::Continuation, true, "ed 😀".as_bytes())
            .unwrap();
        c.send_frame(OpCode::Binary, false, &[1; 1000]).unwrap();
        c.send_frame(OpCode::Continuation, false, b"").unwrap();
        c.send_frame(OpCode::Continuation, true, &[2; 70_000])
            .unwrap();
    }
    ws.flush().await.unwrap();
    assert_eq!(
        next(&mut ws).await,
        Message::Text("fragmént😀".replace('😀', "ed 😀"))
    );
    let mut want = vec![1u8; 1000];
    want.extend_from_slice(&[2; 70_000]);
    assert_eq!(next(&mut ws).await, Message::Binary(want));
    // Our ping gets the peer's pong.
    ws.connection_mut()
        .send_ping(b"wisp-ping-\x00\xff")
        .unwrap();
    ws.flush().await.unwrap();
    loop {
        match tokio::time::timeout(STEP, ws.next())
            .await
            .expect("pong in time")
        {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(p, b"wisp-ping-\x00\xff");
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("no pong: {other:?}"),
        }
    }
    // The close handshake: our close, the peer's answer, the end of the stream.
    ws.close_with(CloseCode::NORMAL, "bye").await.unwrap();
    loop {
        match tokio::time::timeout(STEP, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(_)) => {}
            None => break,
            Some(Err(e)) => panic!("close failed: {e}"),
        }
    }
    assert_eq!(ws.connection().close_code(), Some(CloseCode::NORMAL));
    deflate
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A throwaway CA and a `localhost` certificate it signs (webpki refuses a CA as a
/// server's own certificate).
pub struct TestCerts {
    /// The CA's certificate, to trust.
    pub ca: rcgen::Certificate,
    /// The server's certificate and key, PEM.
    pub cert_pem: String,
    /// The server's key, PEM.
    pub key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestCerts {
    /// A new CA and leaf.
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        TestCerts {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            ca,
        }
    }

    /// A client configuration that trusts the CA (ring provider).
    pub fn client_config(&self) -> std::sync::Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        std::sync::Arc::new(config)
    }

    /// A server configuration with the certificate, offering these ALPN protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        std::sync::Arc::new(config)
    }
}

/// One masked client frame: first byte `b0` (FIN, RSV, opcode), `payload` masked with a
/// fixed key.
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
