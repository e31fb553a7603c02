//! The server-level fuzz check (`server_session`): arbitrary bytes after a valid opening
//! handshake, over a real socket, against a real `wisp-server` running in this process.
//!
//! Shared by `fuzz_targets/server_session.rs` and `tests/tests/server_fuzz_corpus.rs`
//! (which replays the committed corpus on stable).
//!
//! Input: byte 0 picks the route (`/echo`, `/inspect`, `/chat`), the rest is written to
//! the socket after the handshake, then our side half-closes. What must hold: the server
//! answers with a close or a drop within a bound (never a hang), everything it sent is a
//! valid stream of server frames (RFC 6455 as our own client reads it), a close it sends
//! carries a code that is valid on the wire, and no connection thread panics.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wisp_codec::handshake::ClientRequest;
use wisp_codec::{Config, Connection, Message};

static PANICKED: AtomicBool = AtomicBool::new(false);

/// The port of the in-process server, started on first use with small limits and short
/// timeouts, and a panic hook that records any panic (the server catches them per
/// connection, so they would otherwise go unseen).
fn server_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            default_hook(info);
        }));
        let codec = wisp_server::codec::Config {
            max_message_size: 1 << 20,
            max_frame_size: 256 << 10,
            ping_interval: Some(Duration::from_secs(1)),
            idle_timeout: Some(Duration::from_secs(2)),
            ..wisp_server::Config::default().codec
        };
        // The engine under test, as the test harness's servers take it (`WISP_TEST_IO`).
        let io = std::env::var("WISP_TEST_IO")
            .ok()
            .map(|v| v.parse().expect("WISP_TEST_IO: uring, epoll or auto"))
            .unwrap_or_default();
        let config = wisp_server::Config::default()
            .listen("127.0.0.1:0")
            .codec(codec)
            .handshake_timeout(Duration::from_secs(2))
            .io(io);
        let server = wisp_server::Server::bind(config).expect("bind 127.0.0.1:0");
        let demo = wisp_server::demo::Demo::all()
            .install(&server)
            .expect("the demo's routes");
        let port = server.local_addr().port();
        std::thread::spawn(move || {
            let _demo = demo;
            server.run()
        });
        port
    })
}

/// Runs one input through a real connection; `Err` says what went wrong.
pub fn server_session(data: &[u8]) -> Result<(), String> {
    let Some((&route, bytes)) = data.split_first() else {
        return Ok(());
    };
    let path = ["/echo", "/inspect", "/chat"][usize::from(route % 3)];
    let port = server_port();
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = ClientRequest::new(&format!("127.0.0.1:{port}"), path, *b"fuzzing session!");
    stream
        .write_all(&request.to_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let leftover = loop {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("handshake read: {e}"))?;
        if n == 0 {
            return Err("EOF before the 101 response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some((_, used)) = request
            .parse_response(&buf, 8192)
            .map_err(|e| format!("bad 101 response: {e}"))?
        {
            break buf[used..].to_vec();
        }
    };
    // Our client reads the server's output: it must be valid RFC 6455 server frames.
    let mut client = Connection::client(
        Config {
            max_message_size: 64 << 20,
            max_frame_size: 64 << 20,
            auto_pong: false,
            ..Config::default()
        },
        || [0x5a, 0xa5, 0x3c, 0xc3],
    );
    client.handle_input(&leftover);
    // Write what we can (the server may stop reading after failing us), then half-close.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let start = Instant::now();
    loop {
        loop {
            match client.poll_event() {
                Ok(Some(Message::Close(Some(f)))) if !f.code.is_valid_on_wire() => {
                    return Err(format!("server sent close code {}", f.code));
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(format!("server output breaks RFC 6455: {e}")),
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => client.handle_input(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(format!(
                    "server neither closed nor dropped in {:?}",
                    start.elapsed()
                ))
            }
            Err(_) => break, // reset: a drop
        }
    }
    if PANICKED.load(Ordering::SeqCst) {
        return Err("a server thread panicked".into());
    }
    Ok(())
}
