//! The accept loop, one thread per connection, and the session loop that drives a
//! [`Connection`] over a socket.
//!
//! ## Threads and wake-ups
//! - The accept loop spawns one thread per connection with a small stack
//!   ([`Config::thread_stack`]) and counts them; over [`Config::max_connections`] a
//!   connection goes to a single "rejecter" thread that answers 503 with `Retry-After`
//!   (bounded queue: when even that is full, the connection is dropped), so the accept
//!   loop never waits.
//! - A connection thread reads the request head within one deadline for the whole head
//!   ([`Config::handshake_timeout`]), then runs the session loop: blocking reads with a
//!   read timeout set to the next keepalive deadline (ping or idle drop), every burst of
//!   replies written in one write. It holds no heap buffer while idle.
//! - Nothing ever waits for another connection. The two things that must reach a thread
//!   blocked in `read` do so with `shutdown(SHUT_RD)` on its socket, which makes the read
//!   return at once (later data can still be read): graceful shutdown, and a `/chat`
//!   member whose outgoing queue overflowed.
//! - A `/chat` member also has a writer thread: broadcasts only append to each member's
//!   bounded queue, and the writer writes them, so a slow member never delays anyone.
//!
//! ## Graceful shutdown
//! [`ShutdownHandle::shutdown`] stops the accept loop; every session then sends close
//! 1001 and waits for the peer's close, all within [`Config::shutdown_grace`] of the
//! signal, and [`Server::run`] returns.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use wisp_codec::blocking::{is_timeout, WebSocket};
use wisp_codec::handshake::{self, Request, DEFAULT_MAX_HEAD};
use wisp_codec::{CloseCode, Connection, HandshakeError, State};

use crate::config::Config;
use crate::http;
use crate::routes::{self, Chat, Echo, Handler, Member, Room};
use crate::watch::{self, Inspected, Registry, Watcher};
use log::{debug, error, info, warn};

/// Builds the handler of a custom route for each new connection.
pub type HandlerFactory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// How long a close we started waits for the peer's answer (shutdown excepted).
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Read timeouts are rounded up to this, so a busy connection does not reset its
/// socket timeout on every read.
const TIMEOUT_GRAIN: Duration = Duration::from_millis(50);

/// A `TcpStream` shared by a connection's thread(s) and the server's registry, without
/// duplicating its file descriptor (10,000 connections must fit in the fd limit).
#[derive(Debug, Clone)]
pub(crate) struct SharedStream(Arc<TcpStream>);

impl SharedStream {
    /// Wakes a thread blocked reading this socket: `shutdown(SHUT_RD)`. Reads return
    /// what is already received, then 0 at once instead of blocking.
    pub(crate) fn wake(&self) {
        let _ = self.0.shutdown(Shutdown::Read);
    }

    fn tcp(&self) -> &TcpStream {
        &self.0
    }
}

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SharedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Shared {
    config: Config,
    local_addr: SocketAddr,
    active: AtomicUsize,
    shutting_down: AtomicBool,
    shutdown_at: OnceLock<Instant>,
    registry: Mutex<HashMap<u64, SharedStream>>,
    next_id: AtomicU64,
    room: Arc<Room>,
    watch: Registry,
    custom: Mutex<HashMap<String, HandlerFactory>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    fn shutdown_deadline(&self) -> Instant {
        *self.shutdown_at.get_or_init(Instant::now) + self.config.shutdown_grace
    }
}

/// A bound server, ready to [`run`](Server::run).
///
/// ```no_run
/// let server = wisp_server::Server::bind(wisp_server::Config::default()).unwrap();
/// println!("listening on http://{}/", server.local_addr());
/// server.run().unwrap();
/// ```
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

/// Stops a running server gracefully from any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Starts the graceful shutdown: no more connections are accepted, every connection
    /// gets close 1001, and [`Server::run`] returns once they are closed or the grace
    /// period is over.
    pub fn shutdown(&self) {
        let _ = self.shared.shutdown_at.get_or_init(Instant::now);
        if self.shared.shutting_down.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wake the accept loop with a connection of our own.
        let mut addr = self.shared.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

impl Server {
    /// Binds the listening socket of `config.listen`.
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.listen)?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                config,
                local_addr,
                active: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                shutdown_at: OnceLock::new(),
                registry: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                room: Arc::new(Room::default()),
                watch: Registry::default(),
                custom: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The address actually bound (the real port when `--listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// A handle that stops the server from another thread or a signal watcher.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Adds a WebSocket route served by handlers from `factory` (one per connection).
    /// The built-in routes `/echo`, `/chat` and `/inspect` cannot be replaced.
    pub fn route(&self, path: &str, factory: HandlerFactory) {
        if let Ok(mut c) = self.shared.custom.lock() {
            c.insert(path.to_string(), factory);
        }
    }

    /// Accepts and serves connections until [`ShutdownHandle::shutdown`], then closes
    /// every connection with 1001 and returns when all are closed or the grace period
    /// ([`Config::shutdown_grace`]) is over.
    pub fn run(self) -> io::Result<()> {
        let shared = self.shared;
        let reject_tx = spawn_rejecter();
        for stream in self.listener.incoming() {
            if shared.stopping() {
                break;
            }
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    warn!("accept failed: {e}");
                    // Out of file descriptors, say: let connections end before retrying.
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            accept_one(&shared, stream, reject_tx.as_ref());
        }
        drop(self.listener);
        let deadline = shared.shutdown_deadline();
        let streams: Vec<SharedStream> = match shared.registry.lock() {
            Ok(r) => r.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        info!(
            "shutting down: closing {} connection(s) with 1001",
            streams.len()
        );
        for s in &streams {
            s.wake();
        }
        drop(streams);
        while shared.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let left = shared.active.load(Ordering::Acquire);
        if left > 0 {
            warn!("shutdown: {left} connection(s) did not finish the close handshake in time");
        }
        info!("shutdown complete");
        Ok(())
    }
}

/// Decrements the connection count when a connection thread ends, however it ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_one(shared: &Arc<Shared>, stream: TcpStream, reject: Option<&SyncSender<TcpStream>>) {
    let max = shared.config.max_connections;
    if shared.active.fetch_add(1, Ordering::AcqRel) >= max {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        let peer = stream.peer_addr().ok();
        match reject.map(|tx| tx.try_send(stream)) {
            Some(Ok(())) => warn!(
                "{} refused: {max} connections already (503)",
                fmt_peer(peer)
            ),
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                warn!("{} dropped: over the connection limit", fmt_peer(peer))
            }
        }
        return;
    }
    let guard = ActiveGuard(Arc::clone(shared));
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let shared2 = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("conn-{id}"))
        .stack_size(shared.config.thread_stack)
        .spawn(move || {
            let _guard = guard;
            let stream = SharedStream(Arc::new(stream));
            if let Ok(mut r) = shared2.registry.lock() {
                r.insert(id, stream.clone());
            }
            let result = catch_unwind(AssertUnwindSafe(|| serve(&shared2, id, &stream)));
            if result.is_err() {
                error!("#{id}: connection thread panicked; connection dropped");
            }
            if let Ok(mut r) = shared2.registry.lock() {
                r.remove(&id);
            }
        });
    if let Err(e) = spawned {
        error!("cannot start a connection thread: {e}");
    }
}

fn fmt_peer(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_string(), |p| p.to_string())
}

/// One thread answering 503 for connections over the limit, so the accept loop never
/// waits on them: it reads what the client sent (briefly), answers, and closes.
fn spawn_rejecter() -> Option<SyncSender<TcpStream>> {
    let (tx, rx): (SyncSender<TcpStream>, Receiver<TcpStream>) = sync_channel(64);
    thread::Builder::new()
        .name("rejecter".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            for mut stream in rx {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 2048];
                let mut head = Vec::new();
                while head.len() < DEFAULT_MAX_HEAD {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = stream.write_all(&http::service_unavailable());
                finish_http(&stream);
            }
        })
        .ok()
        .map(|_| tx)
}

/// Ends a plain HTTP exchange without losing the response to a reset.
fn finish_http(stream: &TcpStream) {
    drain_and_close(stream, Duration::from_millis(200), 64 * 1024);
}

/// Half-closes, then reads and drops what the peer still sends, for at most `wait` and
/// `max` bytes: what we wrote last is not destroyed by a reset for unread input.
fn drain_and_close(stream: &TcpStream, wait: Duration, max: usize) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    let mut left = max;
    let mut s = stream;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// What a WebSocket path is served by.
enum Route {
    Echo,
    Inspect,
    /// `/inspect?watch=ID`.
    Watch,
    Chat,
    Custom(HandlerFactory),
}

fn ws_route(shared: &Shared, path: &str) -> Option<Route> {
    match path {
        "/echo" => Some(Route::Echo),
        "/inspect" => Some(Route::Inspect),
        "/chat" => Some(Route::Chat),
        _ => shared
            .custom
            .lock()
            .ok()?
            .get(path)
            .map(|f| Route::Custom(Arc::clone(f))),
    }
}

/// Reads the request head within one deadline for the whole head: a client that
/// dribbles bytes cannot hold the thread past it.
/// Returns the parsed request, its raw head and the bytes that followed it.
fn read_head(
    shared: &Shared,
    stream: &SharedStream,
    peer: &str,
) -> Option<(Request, Vec<u8>, Vec<u8>)> {
    let deadline = Instant::now() + shared.config.handshake_timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let mut s = stream.clone();
    loop {
        if shared.stopping() {
            return None;
        }
        let now = Instant::now();
        if now >= deadline {
            info!("{peer} dropped: no complete request head within the handshake timeout");
            return None;
        }
        let _ = stream.tcp().set_read_timeout(Some(deadline - now));
        match s.read(&mut chunk) {
            Ok(0) => {
                debug!("{peer} closed before a complete request head");
                return None;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        match handshake::parse_request(&buf, DEFAULT_MAX_HEAD) {
            Ok(None) => continue,
            Ok(Some((req, n))) => {
                let head = buf.drain(..n).collect();
                return Some((req, head, buf));
            }
            Err(e) => {
                info!("{peer} bad request head: {} {e}", e.status());
                let _ = s.write_all(&e.response());
                finish_http(stream.tcp());
                return None;
            }
        }
    }
}

fn refuse(stream: &SharedStream, peer: &str, req: &Request, e: HandshakeError) {
    info!(
        "{peer} {} {} -> {} ({e})",
        req.first,
        req.second,
        e.status()
    );
    let _ = (&*stream.0).write_all(&e.response());
    finish_http(stream.tcp());
}

/// Serves one TCP connection: the request head, then a WebSocket session or a file.
fn serve(shared: &Arc<Shared>, id: u64, stream: &SharedStream) {
    let peer = fmt_peer(stream.tcp().peer_addr().ok());
    let _ = stream.tcp().set_nodelay(true);
    let _ = stream
        .tcp()
        .set_write_timeout(Some(shared.config.idle_timeout));
    if shared.stopping() {
        return;
    }
    let Some((req, head, leftover)) = read_head(shared, stream, &peer) else {
        return;
    };
    let target = req.second.clone();
    let path = target.split('?').next().unwrap_or("").to_string();
    let route = match ws_route(shared, &path) {
        Some(Route::Inspect) if watch::watch_param(&target).is_some() => Some(Route::Watch),
        r => r,
    };
    let Some(route) = route else {
        let upgrade = req
            .tokens("upgrade")
            .any(|t| t.eq_ignore_ascii_case("websocket"));
        if upgrade {
            info!("{peer} {} {target} -> 404 (no WebSocket route)", req.first);
            let _ = (&*stream.0).write_all(&http::simple_response(
                404,
                "no WebSocket endpoint here (try /echo, /chat or /inspect)\n",
                "",
            ));
        } else {
            let status = http::serve_file(&mut stream.clone(), &shared.config.web, &req);
            match status {
                Ok(s) => info!("{peer} {} {target} -> {s}", req.first),
                Err(e) => debug!("{peer} {} {target}: write failed: {e}", req.first),
            }
        }
        finish_http(stream.tcp());
        return;
    };
    let offer = match req.validate() {
        Ok(o) => o,
        Err(e) => return refuse(stream, &peer, &req, e),
    };
    let origin = offer.origin.clone();
    let origins = &shared.config.origins;
    if !origins.is_empty() {
        let allowed = offer
            .origin
            .as_deref()
            .is_none_or(|o| origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
        if !allowed {
            return refuse(stream, &peer, &req, HandshakeError::OriginRefused);
        }
    }
    let protocol = offer
        .protocols
        .iter()
        .find(|p| shared.config.subprotocols.iter().any(|s| s == *p))
        .cloned();
    let response = handshake::response(&offer.key, protocol.as_deref());
    if (&*stream.0).write_all(&response).is_err() {
        return;
    }
    let codec_config = wisp_codec::Config {
        max_frame_size: shared.config.max_frame_size,
        max_message_size: shared.config.max_message_size,
        auto_pong: true,
        record_frames: matches!(route, Route::Inspect),
    };
    let mut conn = Connection::server(codec_config);
    let mut inspected = None;
    if matches!(route, Route::Inspect) {
        // The first /inspect message: the opening handshake as it crossed the socket.
        let t = shared.watch.register(id, origin.clone());
        t.publish_handshake(&head, &response);
        let _ = conn.send_text(&routes::handshake_report(&head, &response, Some(id), None));
        while conn.poll_wire_frame().is_some() {}
        inspected = Some(t);
    }
    drop(head);
    conn.handle_input(&leftover);
    drop(leftover);
    let mut ws = WebSocket::new(stream.clone(), conn);
    info!(
        "#{id} {peer} open {path}{}",
        protocol
            .as_deref()
            .map(|p| format!(" (subprotocol {p})"))
            .unwrap_or_default()
    );

    let mut writer = None;
    let (mut handler, sink): (Box<dyn Handler>, Sink) = match route {
        Route::Echo => (Box::new(Echo), Sink::Direct),
        Route::Inspect => {
            let target = inspected.clone().expect("registered above");
            (Box::new(Inspected { target }), Sink::Direct)
        }
        Route::Custom(f) => (f(), Sink::Direct),
        Route::Watch => {
            let q = shared.config.watch_queue;
            let (target, member) =
                match shared
                    .watch
                    .attach(&target, origin.as_deref(), stream.clone(), q)
                {
                    Ok(w) => w,
                    Err(reason) => {
                        info!("#{id} {peer} {target}: close 1008 ({reason})");
                        let _ = ws.close(CloseCode::POLICY_VIOLATION, &reason);
                        // Read the peer's close reply, so that our close is not lost to a reset.
                        drain_and_close(stream.tcp(), Duration::from_secs(1), 64 * 1024);
                        return;
                    }
                };
            let handler = Watcher {
                target,
                member: Arc::clone(&member),
            };
            match spawn_writer(shared, id, &member) {
                Ok(h) => writer = Some(h),
                Err(()) => {
                    let _ = ws.close(CloseCode::TRY_AGAIN_LATER, "server busy");
                    let mut h = handler;
                    h.on_end();
                    return;
                }
            }
            (Box::new(handler), Sink::Queued(member))
        }
        Route::Chat => {
            let name = routes::chat_name(&target).unwrap_or_else(|| format!("user-{id}"));
            let member = Member::new(name, stream.clone(), shared.config.chat_queue);
            match spawn_writer(shared, id, &member) {
                Ok(h) => writer = Some(h),
                Err(()) => {
                    let _ = ws.close(CloseCode::TRY_AGAIN_LATER, "server busy");
                    return;
                }
            }
            shared.room.join(Arc::clone(&member));
            (
                Box::new(Chat {
                    room: Arc::clone(&shared.room),
                    member: Arc::clone(&member),
                }),
                Sink::Queued(member),
            )
        }
    };

    let how = run_session(shared, id, &mut ws, handler.as_mut(), &sink);
    if catch_unwind(AssertUnwindSafe(|| handler.on_end())).is_err() {
        error!("#{id}: handler panicked while ending");
    }
    let conn = ws.connection();
    let clean = conn.state() == State::Closed && conn.error().is_none();
    if let Sink::Queued(m) = &sink {
        m.finish();
    }
    if !clean {
        if matches!(sink, Sink::Direct) && conn.close_sent().is_some() {
            // We failed the connection (or gave up waiting): our close frame is written,
            // but closing now with the peer's bytes unread would send a RST that can
            // destroy it before the peer reads it. Half-close and drain briefly first.
            drain_and_close(stream.tcp(), Duration::from_secs(1), 4 << 20);
        }
        // Unblock a writer stuck on a peer that does not read.
        let _ = stream.tcp().shutdown(Shutdown::Both);
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
    let sent = conn
        .close_sent()
        .map(|f| format!("{} {:?}", f.code, f.reason))
        .unwrap_or_else(|| "none".into());
    let received = match conn.close_received() {
        None => "none".to_string(),
        Some(None) => "1005 (no code)".to_string(),
        Some(Some(f)) => format!("{} {:?}", f.code, f.reason),
    };
    let code = match (conn.close_received(), conn.close_sent()) {
        (Some(Some(f)), _) => f.code.0,
        (Some(None), _) => 1005,
        (None, Some(f)) => f.code.0,
        (None, None) => 1006,
    };
    info!("#{id} {peer} closed {path}: code {code}; {how}; close sent {sent}, received {received}");
    if let Some(t) = inspected {
        // Watchers see the end of TCP: shut it now rather than when the thread ends.
        let _ = stream.tcp().shutdown(Shutdown::Both);
        t.end(&shared.watch, ws.connection_mut(), &how);
    }
}

/// Starts the writer thread of a `/chat` member or an `/inspect` watcher.
fn spawn_writer(
    shared: &Shared,
    id: u64,
    member: &Arc<Member>,
) -> Result<thread::JoinHandle<()>, ()> {
    let m2 = Arc::clone(member);
    thread::Builder::new()
        .name(format!("writer-{id}"))
        .stack_size(shared.config.thread_stack)
        .spawn(move || m2.run_writer())
        .map_err(|e| error!("#{id}: cannot start a writer thread: {e}"))
}

/// Where a session's output goes.
enum Sink {
    /// Written by the session thread itself.
    Direct,
    /// Handed to the `/chat` member's writer thread.
    Queued(Arc<Member>),
}

fn write_out(ws: &mut WebSocket<SharedStream>, sink: &Sink) -> io::Result<()> {
    match sink {
        Sink::Direct => ws.flush(),
        Sink::Queued(member) => {
            let conn = ws.connection_mut();
            loop {
                let n = conn.pending_output().len();
                if n == 0 {
                    return Ok(());
                }
                member.push_raw(conn.pending_output(), conn.close_sent().is_some());
                conn.advance_output(n);
            }
        }
    }
}

fn round_up(d: Duration) -> Duration {
    let g = TIMEOUT_GRAIN.as_millis();
    let ms = d.as_millis().div_ceil(g).max(1) * g;
    Duration::from_millis(ms as u64)
}

/// Bytes of an unfinished frame that count as progress for the idle timeout.
const PROGRESS_BYTES: usize = 64 * 1024;

/// The session loop: decode, react, write, then wait for the next bytes or deadline.
/// Returns how the session ended, for the log.
fn run_session(
    shared: &Shared,
    id: u64,
    ws: &mut WebSocket<SharedStream>,
    handler: &mut dyn Handler,
    sink: &Sink,
) -> String {
    let cfg = &shared.config;
    let mut last_seen = Instant::now();
    let mut pinged = false;
    let mut close_deadline: Option<Instant> = None;
    let mut woken = false;
    let mut failed = false;
    let mut timeout_set: Option<Duration> = None;
    // Progress, for the idle timeout: a complete frame, or PROGRESS_BYTES of one. A peer
    // that dribbles a frame a few bytes at a time is as idle as a silent one.
    let mut frames_seen = ws.connection().frames_received();
    let mut bytes_since = 0usize;
    loop {
        // Decode and react, one message at a time, so replies stay in order.
        if failed {
            while let Ok(Some(_)) = ws.connection_mut().poll_event() {}
        } else {
            let r = catch_unwind(AssertUnwindSafe(|| {
                loop {
                    match ws.connection_mut().poll_event() {
                        Ok(Some(m)) => handler.on_message(ws.connection_mut(), m),
                        Ok(None) => break,
                        Err(e) => {
                            debug!("#{id}: protocol error: {e} (close {})", e.close_code());
                            break;
                        }
                    }
                }
                handler.before_flush(ws.connection_mut());
            }));
            if r.is_err() {
                failed = true;
                error!("#{id}: handler panicked; closing with 1011");
                // Never leak internals: a generic reason only.
                let _ = ws
                    .connection_mut()
                    .send_close(CloseCode::INTERNAL_ERROR, "internal error");
                close_deadline = Some(Instant::now() + CLOSE_WAIT);
            }
        }
        let frames = ws.connection().frames_received();
        if frames != frames_seen {
            frames_seen = frames;
            bytes_since = 0;
            last_seen = Instant::now();
            pinged = false;
        }
        if let Err(e) = write_out(ws, sink) {
            return format!("write failed: {e}");
        }
        let now = Instant::now();
        let conn = ws.connection_mut();
        if conn.state() == State::Closed {
            return match conn.error() {
                Some(e) => format!("protocol error: {e}"),
                None if failed => "handler panicked".into(),
                None => "closing handshake done".into(),
            };
        }
        if conn.close_sent().is_none() {
            if shared.stopping() {
                let _ = conn.send_close(CloseCode::GOING_AWAY, "server shutting down");
                close_deadline = Some(shared.shutdown_deadline());
                continue;
            }
            if let Sink::Queued(m) = sink {
                if let Some((code, reason)) = m.close_request() {
                    if m.overflowed() {
                        warn!("#{id}: too slow, closing with {}: {reason}", code.0);
                    }
                    let _ = conn.send_close(code, reason);
                    close_deadline = Some(now + CLOSE_WAIT);
                    continue;
                }
            }
        }
        if let Some(d) = close_deadline {
            // A queued close may wait behind a backlog: the wait starts once it is out.
            if !shared.stopping() && matches!(sink, Sink::Queued(m) if !m.close_out()) {
                close_deadline = Some(now + CLOSE_WAIT);
            } else if now >= d {
                return "no close reply in time".into();
            }
        }
        let idle_at = last_seen + cfg.idle_timeout;
        if now >= idle_at {
            warn!(
                "#{id}: silent for {:?} (idle timeout), dropping",
                cfg.idle_timeout
            );
            let _ = conn.send_close(CloseCode::GOING_AWAY, "idle timeout");
            let _ = ws
                .get_ref()
                .tcp()
                .set_write_timeout(Some(Duration::from_millis(100)));
            let _ = write_out(ws, sink);
            return "idle timeout".into();
        }
        let ping_at = last_seen + cfg.ping_interval;
        if !pinged && now >= ping_at && conn.close_sent().is_none() {
            let _ = conn.send_ping(b"wisp keepalive");
            pinged = true;
            continue;
        }
        let mut wake_at = idle_at;
        if !pinged {
            wake_at = wake_at.min(ping_at);
        }
        if let Some(d) = close_deadline {
            wake_at = wake_at.min(d);
        }
        if woken {
            // After shutdown(SHUT_RD) reads no longer block: poll gently.
            thread::sleep((wake_at - now).min(Duration::from_millis(10)));
        } else {
            let t = round_up(wake_at - now);
            if timeout_set != Some(t) {
                let _ = ws.get_ref().tcp().set_read_timeout(Some(t));
                timeout_set = Some(t);
            }
        }
        match ws.read_some() {
            Ok(0) => {
                let overflow = matches!(sink, Sink::Queued(m) if m.close_request().is_some());
                if shared.stopping() || overflow {
                    woken = true;
                } else if !woken {
                    return "the peer closed TCP without a close frame".into();
                }
            }
            Ok(n) => {
                bytes_since += n;
                if bytes_since >= PROGRESS_BYTES {
                    bytes_since = 0;
                    last_seen = Instant::now();
                    pinged = false;
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return format!("read failed: {e}"),
        }
    }
}
