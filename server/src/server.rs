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
use wisp_codec::handshake::{self, Request, RequestError, DEFAULT_MAX_HEAD};
use wisp_codec::{CloseCode, Connection, State};

use crate::config::Config;
use crate::http;
use crate::log::{debug, error, info, warning};
use crate::routes::{self, Chat, Echo, Handler, Inspect, Member, Room};
use crate::stream::SharedStream;

/// Builds the handler of a custom route for each new connection.
pub type HandlerFactory = Arc<dyn Fn() -> Box<dyn Handler> + Send + Sync>;

/// How long a close we started waits for the peer's answer (shutdown excepted).
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Read timeouts are rounded up to this, so a busy connection does not reset its
/// socket timeout on every read.
const TIMEOUT_GRAIN: Duration = Duration::from_millis(50);

struct Shared {
    config: Config,
    local_addr: SocketAddr,
    active: AtomicUsize,
    shutting_down: AtomicBool,
    shutdown_at: OnceLock<Instant>,
    registry: Mutex<HashMap<u64, SharedStream>>,
    next_id: AtomicU64,
    room: Arc<Room>,
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

    /// True once [`shutdown`](ShutdownHandle::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping()
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

    /// The number of connections being served (handshakes included).
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Acquire)
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
                    warning!("accept failed: {e}");
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
            warning!("shutdown: {left} connection(s) did not finish the close handshake in time");
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
            Some(Ok(())) => warning!(
                "{} refused: {max} connections already (503)",
                fmt_peer(peer)
            ),
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                warning!("{} dropped: over the connection limit", fmt_peer(peer))
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

fn refuse(stream: &SharedStream, peer: &str, req: &Request, e: RequestError) {
    info!(
        "{peer} {} {} -> {} ({e})",
        req.method,
        req.target,
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
    let target = req.target.clone();
    let path = target.split('?').next().unwrap_or("").to_string();
    let Some(route) = ws_route(shared, &path) else {
        if req.has_token("upgrade", "websocket") {
            info!("{peer} {} {target} -> 404 (no WebSocket route)", req.method);
            let _ = (&*stream.0).write_all(&http::simple_response(
                404,
                "no WebSocket endpoint here (try /echo, /chat or /inspect)\n",
                "",
            ));
        } else {
            let status = http::serve_file(&mut stream.clone(), &shared.config.web, &req);
            match status {
                Ok(s) => info!("{peer} {} {target} -> {s}", req.method),
                Err(e) => debug!("{peer} {} {target}: write failed: {e}", req.method),
            }
        }
        finish_http(stream.tcp());
        return;
    };
    let offer = match req.validate() {
        Ok(o) => o,
        Err(e) => return refuse(stream, &peer, &req, e),
    };
    let origins = &shared.config.origins;
    if !origins.is_empty() {
        let allowed = offer
            .origin
            .as_deref()
            .map_or(true, |o| origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
        if !allowed {
            return refuse(stream, &peer, &req, RequestError::OriginRefused);
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
        ping_interval: Some(shared.config.ping_interval),
        idle_timeout: Some(shared.config.idle_timeout),
        close_timeout: Some(CLOSE_WAIT),
    };
    let mut conn = Connection::server(codec_config);
    if matches!(route, Route::Inspect) {
        // The first /inspect message: the opening handshake as it crossed the socket.
        let _ = conn.send_text(&routes::handshake_report(&head, &response));
        while conn.poll_wire_frame().is_some() {}
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
        Route::Inspect => (Box::new(Inspect), Sink::Direct),
        Route::Custom(f) => (f(), Sink::Direct),
        Route::Chat => {
            let name = routes::chat_name(&target).unwrap_or_else(|| format!("user-{id}"));
            let member = Member::new(name, stream.clone(), shared.config.chat_queue);
            let m2 = Arc::clone(&member);
            match thread::Builder::new()
                .name(format!("chat-writer-{id}"))
                .stack_size(shared.config.thread_stack)
                .spawn(move || m2.run_writer())
            {
                Ok(h) => writer = Some(h),
                Err(e) => {
                    error!("#{id}: cannot start a chat writer thread: {e}");
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
    // A session that ends before the closing handshake does (the peer dropped TCP, a
    // write failed) ends without the peer's close: 1006.
    let code = conn.close_code().unwrap_or(CloseCode::ABNORMAL);
    info!("#{id} {peer} closed {path}: code {code}; {how}; close sent {sent}, received {received}");
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

/// The session loop: tell the codec the time, decode, react, write, then wait for the
/// next bytes or the codec's next timer. The keepalive ping, the idle drop and the wait
/// for the peer's close are the codec's ([`Connection::handle_timeout`]); the clock is
/// the time since the session started. Returns how the session ended, for the log.
fn run_session(
    shared: &Shared,
    id: u64,
    ws: &mut WebSocket<SharedStream>,
    handler: &mut dyn Handler,
    sink: &Sink,
) -> String {
    let epoch = Instant::now();
    let mut woken = false;
    let mut failed = false;
    let mut timeout_set: Option<Duration> = None;
    loop {
        // The clock first: what is due (a keepalive ping, the idle drop) is queued before
        // the handler's `before_flush`, so /inspect reports it with this batch.
        let conn = ws.connection_mut();
        let was_closed = conn.state() == State::Closed;
        conn.handle_timeout(epoch.elapsed());
        if !was_closed && conn.state() == State::Closed {
            warning!("#{id}: {} after {:?}", conn.close_reason(), epoch.elapsed());
            // A peer that went silent may not read either: do not wait long to tell it.
            let _ = ws
                .get_ref()
                .tcp()
                .set_write_timeout(Some(Duration::from_millis(100)));
        }
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
            }
        }
        let conn = ws.connection_mut();
        if conn.state() == State::Open && conn.close_sent().is_none() {
            if shared.stopping() {
                // Peers get the rest of the shutdown's grace to answer.
                let grace = shared
                    .shutdown_deadline()
                    .saturating_duration_since(Instant::now());
                conn.set_close_timeout(Some(grace));
                let _ = conn.send_close(CloseCode::GOING_AWAY, "server shutting down");
            } else if matches!(sink, Sink::Queued(m) if m.overflowed()) {
                warning!("#{id}: chat member too slow, closing with 1008");
                let _ =
                    conn.send_close(CloseCode::POLICY_VIOLATION, "too slow: outgoing queue full");
            }
        }
        if let Err(e) = write_out(ws, sink) {
            return format!("write failed: {e}");
        }
        let conn = ws.connection();
        if conn.state() == State::Closed {
            return match (conn.error(), conn.close_received()) {
                (Some(e), _) => format!("protocol error: {e}"),
                (None, None) => conn.close_reason().to_string(),
                (None, Some(_)) if failed => "handler panicked".into(),
                (None, Some(_)) => "closing handshake done".into(),
            };
        }
        let now = epoch.elapsed();
        let wake_at = conn
            .poll_timeout()
            .unwrap_or(now + shared.config.idle_timeout);
        let wait = wake_at.saturating_sub(now);
        if woken {
            // After shutdown(SHUT_RD) reads no longer block: poll gently.
            thread::sleep(wait.min(Duration::from_millis(10)));
        } else if !wait.is_zero() {
            let t = round_up(wait);
            if timeout_set != Some(t) {
                let _ = ws.get_ref().tcp().set_read_timeout(Some(t));
                timeout_set = Some(t);
            }
        } else {
            // Due now (or progress to stamp): to the clock before reading.
            continue;
        }
        match ws.read_some() {
            Ok(0) => {
                let overflow = matches!(sink, Sink::Queued(m) if m.overflowed());
                if shared.stopping() || overflow {
                    woken = true;
                } else if !woken {
                    return "the peer closed TCP without a close frame".into();
                }
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return format!("read failed: {e}"),
        }
    }
}
