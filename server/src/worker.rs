//! One worker: an event loop over its connections' non-blocking sockets.
//!
//! Every connection is a socket plus what it is doing ([`Phase`]): reading its request
//! head, sending an HTTP response (a file is read a chunk at a time as the socket
//! drains), a WebSocket session (a [`Connection`] and its route's [`Handler`]), or
//! lingering after a failure so that our last bytes are not destroyed by a reset.
//!
//! - **Readiness** comes from `mio` (epoll, kqueue or IOCP), edge-triggered: on an
//!   event a connection reads until the socket says `WouldBlock`, a chunk at a time,
//!   handling the events of each chunk before the next read. After
//!   [`READS_PER_TURN`] chunks it yields to the others and is driven again on the next
//!   turn of the loop.
//! - **Writes** go out at once, vectored (`writev` of the codec's output pieces); what
//!   the kernel does not take waits for the next writable edge.
//! - **Backpressure**: a connection whose unsent output passes [`HIGH_WATER`] is not
//!   read until it drains, so a peer that never reads costs bounded memory and slows
//!   no one.
//! - **Timers**: one heap per worker of `(deadline, slot)`. Each connection keeps the
//!   deadline it armed; a popped entry that is no longer a connection's armed deadline
//!   is stale and skipped, so moving a deadline later costs nothing until it fires.
//! - **Wake-ups** from other threads (new connections from the acceptor, `/chat`
//!   broadcasts, shutdown) arrive through the worker's [`Inbox`] and its `mio::Waker`.
//! - **Idle memory**: reads use one scratch buffer per worker; a connection holds an
//!   input or output buffer only while bytes are in it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use wisp_codec::handshake::{self, Request, RequestError, DEFAULT_MAX_HEAD};
use wisp_codec::{CloseCode, Connection, State};

use crate::handler::{Handler, Outbox, Upgrade};
use crate::http;
use crate::routes::{self, Echo};
use crate::shared::{fmt_peer, release, Route, Shared};
use crate::stats::{self, Holder, Refusal};
use crate::tls::Stream;
use crate::wake::{Admit, Inbox, Wake};
use crate::watch::{self, Inspected, Target, Watcher};

const WAKER: Token = Token(usize::MAX);
/// How long a close we started waits for the peer's answer once it is written
/// (shutdown excepted), and how long our last frames may take to leave once closed.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Unsent output above which a connection is not read until it drains.
pub(crate) const HIGH_WATER: usize = 1 << 20;
/// The worker's read buffer, shared by its connections.
const SCRATCH: usize = 64 * 1024;
/// Reads straight into a connection's input buffer once a read filled the scratch
/// buffer (data flows): one copy less per byte for large messages.
const BIG_READ: usize = 256 * 1024;
/// Reads of one connection per turn before the others get theirs.
const READS_PER_TURN: usize = 16;
/// A connection over the limit may send its head this long before its 503.
const REFUSE_WAIT: Duration = Duration::from_millis(100);
/// After a plain HTTP response: drain this long, this much, before closing.
const LINGER_HTTP: (Duration, usize) = (Duration::from_millis(200), 64 * 1024);
/// After failing a connection: the same, so the close frame survives.
const LINGER_FAILED: (Duration, usize) = (Duration::from_secs(1), 4 << 20);
/// A connection quiet this long gives its buffers back (they are kept while traffic
/// flows, so a stream of large messages does not allocate and fault in fresh pages
/// for each one).
const SHRINK_AFTER: Duration = Duration::from_secs(1);
/// Memory is charged against the budget in steps of this size, so that a connection
/// whose buffers stay within one step costs no shared counter updates at all.
const BUDGET_GRAIN: usize = 64 * 1024;
/// A file is sent in chunks of this size.
const FILE_CHUNK: usize = 64 * 1024;

/// A worker before it runs: its poller and its inbox.
pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    inbox: Arc<Inbox>,
}

impl Worker {
    pub(crate) fn new(index: usize) -> io::Result<(Worker, Arc<Inbox>)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let inbox = Arc::new(Inbox::new(waker));
        Ok((
            Worker {
                index,
                poll,
                inbox: Arc::clone(&inbox),
            },
            inbox,
        ))
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Serves connections until the shutdown is over.
    pub(crate) fn run(self, shared: &Arc<Shared>) {
        let mut l = Loop {
            shared,
            poll: self.poll,
            inbox: self.inbox,
            conns: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            again: Vec::new(),
            scratch: vec![0; SCRATCH],
            stopping: false,
            index: self.index,
            holders_changed: false,
            holders_published: Instant::now(),
        };
        if let Err(e) = l.run() {
            error!("worker {}: event loop failed: {e}", self.index);
        }
        l.close_all("the worker stopped");
    }
}

struct Loop<'a> {
    shared: &'a Arc<Shared>,
    poll: Poll,
    inbox: Arc<Inbox>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Connections to drive again on the next turn (they yielded mid-read).
    again: Vec<usize>,
    scratch: Vec<u8>,
    stopping: bool,
    index: usize,
    /// With `--stats`: a memory charge changed since the largest holders were published.
    holders_changed: bool,
    holders_published: Instant,
}

struct Conn {
    /// The socket, or TLS over it (`tls.rs`).
    stream: Stream,
    peer: String,
    /// Admitted over the limit (a 503), counted in `Shared::refusing`.
    refused: bool,
    /// Its address, counted in `Shared::per_ip` (not for a refused one).
    ip: Option<IpAddr>,
    /// Its request head is still arriving (counted as a handshake of its address).
    in_head: bool,
    /// A readable edge was seen and the socket has not said `WouldBlock` since.
    readable: bool,
    /// The peer ended its side (read returned 0).
    eof: bool,
    /// The poller said the peer's side is closed: read until the 0, never stop at a
    /// short read (the FIN raises no second edge).
    hup: bool,
    /// The deadline this connection has in the timer heap, if any.
    armed: Option<Instant>,
    phase: Phase,
}

enum Phase {
    Head(Head),
    Http(HttpOut),
    Ws(Box<Session>),
    Linger(Linger),
}

struct Head {
    buf: Vec<u8>,
    deadline: Instant,
}

struct HttpOut {
    out: Vec<u8>,
    pos: usize,
    body: Option<(File, u64)>,
    /// A peer that does not read the response in time is dropped.
    deadline: Instant,
}

struct Linger {
    until: Instant,
    left: usize,
}

struct Session {
    id: u64,
    path: String,
    conn: Connection,
    handler: Box<dyn Handler>,
    /// The handler panicked: its connection is closing with 1011.
    failed: bool,
    /// The last read filled the scratch buffer: read straight into the connection.
    flowing: bool,
    /// The epoch of the codec's clock: the codec keeps the keepalive ping, the idle
    /// timeout and the wait for the peer's close (`Connection::handle_timeout`).
    epoch: Instant,
    /// Closed, with our last frames still going out: until when they may take.
    flush_deadline: Option<Instant>,
    ended: bool,
    /// An `/inspect` connection: its watchers get the end report when it ends.
    inspected: Option<Arc<Target>>,
    /// Bytes charged against the memory budget (a multiple of `BUDGET_GRAIN`).
    charged: usize,
    /// The last read that brought bytes.
    last_io: Instant,
    /// The buffers were given back since the last read.
    shrunk: bool,
    /// The queue of the connection's `Sender`s, if the route asked for one.
    outbox: Option<Arc<Outbox>>,
}

impl Session {
    fn pending(&self) -> usize {
        self.conn.pending_output_len()
    }
}

impl Conn {
    /// What it has charged against the memory budget.
    fn charged(&self) -> usize {
        match &self.phase {
            Phase::Ws(s) => s.charged,
            _ => 0,
        }
    }

    /// The next moment this connection needs the clock.
    fn deadline(&self, shared: &Shared) -> Instant {
        match &self.phase {
            Phase::Head(h) => h.deadline,
            Phase::Http(h) => h.deadline,
            Phase::Linger(l) => l.until,
            Phase::Ws(s) => {
                // With every codec timer off, the idle timeout still bounds a sleep.
                let codec = s.conn.poll_timeout().map(|t| s.epoch + t);
                let mut d = codec.unwrap_or_else(|| s.last_io + shared.config.idle_timeout);
                if !s.shrunk {
                    d = d.min(s.last_io + SHRINK_AFTER);
                }
                if let Some(f) = s.flush_deadline {
                    d = d.min(f);
                }
                d
            }
        }
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Whether a read of `n` bytes into a buffer of `len` drained the socket. With the
/// edge-triggered readiness of epoll and kqueue, a short read took everything there
/// was, and whatever arrives later raises a new edge: the read that would only say
/// `WouldBlock` is skipped (one syscall less per message). Not once the peer's FIN is
/// known (`hup`): it may already wait behind the data, and it raises no second edge.
/// Elsewhere (mio on Windows re-arms only on `WouldBlock`) every socket is read until
/// it says so.
fn drained(n: usize, len: usize, hup: bool) -> bool {
    cfg!(unix) && n < len && !hup
}

impl Loop<'_> {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            if self.shared.stopping() && !self.stopping {
                self.start_shutdown();
            }
            if self.stopping && (self.live() == 0 || now >= self.shared.shutdown_deadline()) {
                return Ok(());
            }
            let mut timeout = self
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(now));
            if !self.again.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if self.holders_changed {
                let at = self.holders_published + stats::PUBLISH_EVERY;
                if now >= at {
                    self.publish_holders(now);
                } else {
                    let left = at - now;
                    timeout = Some(timeout.map_or(left, |t| t.min(left)));
                }
            }
            if self.stopping {
                let left = self
                    .shared
                    .shutdown_deadline()
                    .saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    self.take_inbox();
                    continue;
                }
                let slot = ev.token().0;
                if let Some(Some(c)) = self.conns.get_mut(slot) {
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        c.readable = true;
                    }
                    if ev.is_read_closed() || ev.is_error() {
                        c.hup = true;
                    }
                    self.drive(slot);
                }
            }
            for slot in std::mem::take(&mut self.again) {
                self.drive(slot);
            }
            self.fire_timers();
        }
    }

    fn live(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// With `--stats`: the connections holding the most memory, for `/stats`.
    fn publish_holders(&mut self, now: Instant) {
        let holders: Vec<Holder> = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| match &c.phase {
                Phase::Ws(s) if s.charged > 0 => Some(Holder {
                    id: s.id,
                    peer: c.peer.clone(),
                    path: s.path.clone(),
                    bytes: s.charged as u64,
                }),
                _ => None,
            })
            .collect();
        self.shared.stats.publish(self.index, holders);
        self.holders_changed = false;
        self.holders_published = now;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((t, slot))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let current = matches!(self.conns.get(slot), Some(Some(c)) if c.armed == Some(t));
            if current {
                if let Some(Some(c)) = self.conns.get_mut(slot) {
                    c.armed = None;
                }
                self.drive(slot);
            }
        }
    }

    fn take_inbox(&mut self) {
        let pending = self.inbox.take();
        for (stream, admit) in pending.accepted {
            self.add(stream, admit);
        }
        for slot in pending.woken {
            self.drive(slot);
        }
    }

    fn add(&mut self, stream: std::net::TcpStream, admit: Admit) {
        if self.stopping {
            release(self.shared, &admit);
            return;
        }
        let mut stream = TcpStream::from_std(stream);
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
        {
            warn!("cannot watch a new connection: {e}");
            release(self.shared, &admit);
            self.free.push(slot);
            return;
        }
        let stream = match Stream::new(stream, self.shared.config.tls.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot start TLS on a new connection: {e}");
                release(self.shared, &admit);
                self.free.push(slot);
                return;
            }
        };
        let refused = matches!(admit, Admit::Refuse);
        let ip = match admit {
            Admit::Serve(ip) => ip,
            Admit::Refuse => None,
        };
        let wait = if refused {
            REFUSE_WAIT
        } else {
            self.shared.config.handshake_timeout
        };
        let mut c = Conn {
            peer: fmt_peer(stream.peer_addr().ok()),
            stream,
            refused,
            ip,
            in_head: true,
            readable: false,
            eof: false,
            hup: false,
            armed: None,
            phase: Phase::Head(Head {
                buf: Vec::new(),
                deadline: Instant::now() + wait,
            }),
        };
        self.arm(slot, &mut c);
        self.conns[slot] = Some(c);
        self.shared.stats.set_connections(self.index, self.live());
    }

    fn arm(&mut self, slot: usize, c: &mut Conn) {
        let d = c.deadline(self.shared);
        if c.armed.is_none_or(|a| d < a) {
            self.timers.push(Reverse((d, slot)));
            c.armed = Some(d);
        }
    }

    /// Lets a connection do what it can now: read, react, write, check its timers.
    fn drive(&mut self, slot: usize) {
        let Some(Some(mut c)) = self.conns.get_mut(slot).map(Option::take) else {
            return;
        };
        let charged = c.charged();
        let alive = self.step(&mut c, slot);
        if self.shared.config.stats && c.charged() != charged {
            self.holders_changed = true;
        }
        if alive {
            self.arm(slot, &mut c);
            self.conns[slot] = Some(c);
        } else {
            self.remove(c, slot);
        }
    }

    fn remove(&mut self, mut c: Conn, slot: usize) {
        if let Phase::Ws(s) = &mut c.phase {
            finish(s, &c.peer, "dropped", self.shared);
        }
        if c.refused {
            self.shared.refusing.fetch_sub(1, Ordering::AcqRel);
        } else {
            if let Some(ip) = c.ip {
                self.shared.per_ip.leave(ip, c.in_head);
            }
            self.shared.active.fetch_sub(1, Ordering::AcqRel);
        }
        self.free.push(slot);
        self.shared.stats.set_connections(self.index, self.live());
        drop(c);
    }

    /// One step of a connection; false when it is over.
    fn step(&mut self, c: &mut Conn, slot: usize) -> bool {
        let now = Instant::now();
        match &mut c.phase {
            Phase::Head(_) => self.step_head(c, slot, now),
            Phase::Http(_) => self.step_http(c, now),
            Phase::Linger(_) => self.step_linger(c, now),
            Phase::Ws(_) => self.step_ws(c, slot, now),
        }
    }

    fn step_head(&mut self, c: &mut Conn, slot: usize, now: Instant) -> bool {
        let Phase::Head(head) = &mut c.phase else {
            return false;
        };
        if self.stopping {
            return false;
        }
        // TLS: the handshake's answer may still wait for a writable edge.
        if let Err(e) = c.stream.flush() {
            info!("{} dropped: {e}", c.peer);
            return false;
        }
        while c.readable {
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    debug!("{} closed before a complete request head", c.peer);
                    return false;
                }
                Ok(n) => {
                    head.buf.extend_from_slice(&self.scratch[..n]);
                    c.readable = !drained(n, SCRATCH, c.hup);
                }
                Err(e) if would_block(&e) => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    info!("{} dropped: {e}", c.peer);
                    return false;
                }
            }
            if c.refused {
                let whole = head.buf.windows(4).any(|w| w == b"\r\n\r\n");
                if whole || head.buf.len() >= DEFAULT_MAX_HEAD {
                    break;
                }
                continue;
            }
            let parsed = handshake::parse_request(&head.buf, DEFAULT_MAX_HEAD);
            if !matches!(parsed, Ok(None)) && c.in_head {
                // The head is complete (or refused): no longer a handshake in progress.
                c.in_head = false;
                if let Some(ip) = c.ip {
                    self.shared.per_ip.head_done(ip);
                }
            }
            match parsed {
                Ok(None) => {}
                Ok(Some((req, n))) => {
                    let buf = std::mem::take(&mut head.buf);
                    return self.start(c, slot, req, buf, n);
                }
                Err(e) => {
                    info!("{} bad request head: {} {e}", c.peer, e.status());
                    self.shared.stats.refused(Refusal::BadRequest);
                    return self.respond(c, e.response(), None, now);
                }
            }
        }
        if c.refused {
            // Read what the client sent (briefly), then answer.
            let done = head.buf.windows(4).any(|w| w == b"\r\n\r\n")
                || head.buf.len() >= DEFAULT_MAX_HEAD
                || now >= head.deadline;
            if done {
                return self.respond(c, http::service_unavailable(), None, now);
            }
            return true;
        }
        if now >= head.deadline {
            let what = if c.stream.handshaking() {
                "TLS handshake"
            } else {
                "request head"
            };
            info!(
                "{} dropped: no complete {what} within the handshake timeout",
                c.peer
            );
            self.shared.stats.refused(Refusal::HandshakeTimeout);
            return false;
        }
        true
    }

    /// Sends a plain HTTP response (and a file), then lingers and closes.
    fn respond(
        &mut self,
        c: &mut Conn,
        head: Vec<u8>,
        body: Option<(File, u64)>,
        now: Instant,
    ) -> bool {
        c.phase = Phase::Http(HttpOut {
            out: head,
            pos: 0,
            body,
            deadline: now + self.shared.config.idle_timeout,
        });
        self.step_http(c, now)
    }

    fn step_http(&mut self, c: &mut Conn, now: Instant) -> bool {
        let Phase::Http(h) = &mut c.phase else {
            return false;
        };
        loop {
            if h.pos == h.out.len() {
                h.out.clear();
                h.pos = 0;
                if let Some((file, left)) = &mut h.body {
                    if *left > 0 && http::read_chunk(file, left, &mut h.out, FILE_CHUNK).is_err() {
                        return false;
                    }
                }
                if h.out.is_empty() {
                    // TLS: its last records leave first.
                    if c.stream.flush().is_err() {
                        return false;
                    }
                    if c.stream.unsent() {
                        break;
                    }
                    // All written: half-close, and drain what the peer still sends so
                    // that the response is not destroyed by a reset.
                    c.stream.shutdown_write();
                    c.phase = Phase::Linger(Linger {
                        until: now + LINGER_HTTP.0,
                        left: LINGER_HTTP.1,
                    });
                    return self.step_linger(c, now);
                }
            }
            match c.stream.write(&h.out[h.pos..]) {
                Ok(0) => return false,
                Ok(n) => h.pos += n,
                Err(e) if would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{}: write failed: {e}", c.peer);
                    return false;
                }
            }
        }
        now < h.deadline
    }

    fn step_linger(&mut self, c: &mut Conn, now: Instant) -> bool {
        let Phase::Linger(l) = &mut c.phase else {
            return false;
        };
        while c.readable && l.left > 0 {
            match c.stream.read(&mut self.scratch) {
                Ok(0) => return false,
                Ok(n) => l.left = l.left.saturating_sub(n),
                Err(e) if would_block(&e) => c.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        l.left > 0 && now < l.until
    }

    fn ws_route(&self, path: &str) -> Option<Route> {
        self.shared.routes.lock().ok()?.get(path).cloned()
    }

    /// A complete request head: a file, an error, or the start of a WebSocket session.
    fn start(
        &mut self,
        c: &mut Conn,
        slot: usize,
        req: Request,
        mut buf: Vec<u8>,
        n: usize,
    ) -> bool {
        let now = Instant::now();
        let peer = c.peer.clone();
        let target = req.target.clone();
        let path = target.split('?').next().unwrap_or("").to_string();
        let Some(route) = self.ws_route(&path) else {
            if req.has_token("upgrade", "websocket") {
                info!("{peer} {} {target} -> 404 (no WebSocket route)", req.method);
                self.shared.stats.refused(Refusal::BadRequest);
                let paths = self.shared.route_paths();
                let hint = if paths.is_empty() {
                    "this server has no WebSocket routes".to_string()
                } else {
                    format!("try {}", paths.join(", "))
                };
                let body = format!("no WebSocket endpoint here ({hint})\n");
                let r = http::simple_response(404, &body, "");
                return self.respond(c, r, None, now);
            }
            if path == "/stats"
                && self.shared.config.stats
                && matches!(req.method.as_str(), "GET" | "HEAD")
            {
                self.publish_holders(now);
                let shared = self.shared;
                let body = shared.stats.report(stats::Totals {
                    active: shared.active.load(Ordering::Relaxed),
                    refusing: shared.refusing.load(Ordering::Relaxed),
                    max_connections: shared.config.max_connections,
                    held: shared.held.load(Ordering::Relaxed),
                    budget: shared.config.memory_budget,
                });
                info!("{peer} {} {target} -> 200 (stats)", req.method);
                let r = http::json_response(&body, req.method == "HEAD");
                return self.respond(c, r, None, now);
            }
            let Some(web) = &self.shared.config.web else {
                info!("{peer} {} {target} -> 404 (no static files)", req.method);
                let r = http::simple_response(404, "not found\n", "");
                return self.respond(c, r, None, now);
            };
            let r = http::file_response(web, &req);
            info!("{peer} {} {target} -> {}", req.method, r.status);
            return self.respond(c, r.head, r.body, now);
        };
        let refuse = |this: &mut Self, c: &mut Conn, e: RequestError| {
            info!("{peer} {} {target} -> {} ({e})", req.method, e.status());
            this.shared.stats.refused(Refusal::BadRequest);
            this.respond(c, e.response(), None, now)
        };
        let offer = match req.validate() {
            Ok(o) => o,
            Err(e) => return refuse(self, c, e),
        };
        let origins = &self.shared.config.origins;
        if !origins.is_empty() {
            let allowed = offer
                .origin
                .as_deref()
                .is_none_or(|o| origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
            if !allowed {
                return refuse(self, c, RequestError::OriginRefused);
            }
        }
        let origin = offer.origin.clone();
        let protocol = offer
            .protocols
            .iter()
            .find(|p| self.shared.config.subprotocols.iter().any(|s| s == *p))
            .cloned();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let inspect = matches!(route, Route::Inspect);
        let watching = inspect && watch::watch_param(&target).is_some();
        let deflate = self
            .shared
            .config
            .deflate
            .and_then(|d| d.negotiate(&offer.extensions));
        let upgrade = Upgrade {
            request: &req,
            path: &path,
            protocol: protocol.as_deref(),
            peer: peer.parse().ok(),
            id,
            wake: Wake {
                inbox: Arc::clone(&self.inbox),
                slot,
            },
            queue: self.shared.config.send_queue,
            outbox: OnceLock::new(),
        };
        // The route decides: a handler (and headers for the 101), or a refusal.
        let (accepted, headers) = match &route {
            Route::Inspect => (None, Vec::new()),
            Route::Factory(f) => match catch_unwind(AssertUnwindSafe(|| f(&upgrade))) {
                Ok(Ok(a)) => (Some(a.handler), a.headers),
                Ok(Err(refusal)) => {
                    info!(
                        "{peer} {} {target} -> {} (refused by the route: {})",
                        req.method,
                        refusal.sent_status(),
                        refusal.reason
                    );
                    if let Some(o) = upgrade.outbox.get() {
                        o.end();
                    }
                    return self.respond(c, refusal.to_bytes(), None, now);
                }
                Err(_) => {
                    error!("{peer} {path}: the route's handler factory panicked");
                    if let Some(o) = upgrade.outbox.get() {
                        o.end();
                    }
                    let r = http::simple_response(500, "internal error\n", "");
                    return self.respond(c, r, None, now);
                }
            },
        };
        let mut response = handshake::Response::new(&offer.key);
        if let Some(p) = &protocol {
            response = response.protocol(p);
        }
        if let Some((_, header)) = &deflate {
            response = response.extensions(header);
        }
        for (name, value) in &headers {
            // Checked when the route added them: this cannot fail.
            if let Ok(r) = response.clone().header(name, value) {
                response = r;
            }
        }
        let response = response.to_bytes();
        let mut inspected = None;
        let mut refusal = None;
        let handler: Box<dyn Handler> = match accepted {
            Some(h) => h,
            None if watching => {
                let sender = upgrade.sender_with_limit(self.shared.config.watch_queue);
                match self.shared.watch.attach(&target, origin.as_deref(), sender) {
                    Ok((target, member)) => Box::new(Watcher { target, member }),
                    Err(reason) => {
                        info!("#{id} {peer} {target}: close 1008 ({reason})");
                        refusal = Some(reason);
                        Box::new(Echo)
                    }
                }
            }
            None => {
                let t = self.shared.watch.register(id, origin.clone());
                t.publish_handshake(&buf[..n], &response);
                inspected = Some(Arc::clone(&t));
                Box::new(Inspected { target: t })
            }
        };
        let codec_config = wisp_codec::Config {
            max_frame_size: self.shared.config.max_frame_size,
            max_message_size: self.shared.config.max_message_size,
            auto_pong: true,
            record_frames: inspect && !watching,
            ping_interval: Some(self.shared.config.ping_interval),
            idle_timeout: Some(self.shared.config.idle_timeout),
            close_timeout: Some(CLOSE_WAIT),
        };
        // The 101 goes out through the connection's own output, ahead of every frame.
        let mut conn = Connection::server_with_response(codec_config, &response);
        if let Some((params, _)) = deflate {
            conn.set_deflate(params);
        }
        if inspect && !watching {
            // The first /inspect message: the opening handshake as it crossed the socket.
            let report = routes::handshake_report(&buf[..n], &response, Some(id), None);
            let _ = conn.send_text(&report);
            while conn.poll_wire_frame().is_some() {}
        }
        if let Some(reason) = &refusal {
            let _ = conn.send_close(CloseCode::POLICY_VIOLATION, reason);
        }
        conn.handle_input(&buf[n..]);
        buf.clear();
        info!(
            "#{id} {peer} open {path}{}",
            protocol
                .as_deref()
                .map(|p| format!(" (subprotocol {p})"))
                .unwrap_or_default()
        );
        let outbox = upgrade.outbox.into_inner();
        let mut session = Box::new(Session {
            id,
            path,
            conn,
            handler,
            failed: false,
            flowing: false,
            epoch: now,
            flush_deadline: None,
            ended: false,
            inspected,
            charged: 0,
            last_io: now,
            shrunk: false,
            outbox,
        });
        open(&mut session);
        c.phase = Phase::Ws(session);
        self.step_ws(c, slot, now)
    }

    fn step_ws(&mut self, c: &mut Conn, slot: usize, now: Instant) -> bool {
        let Phase::Ws(s) = &mut c.phase else {
            return false;
        };
        let shared = self.shared;
        let mut reads = 0;
        loop {
            // React to what is decoded (and to wake-ups), write, then read the next chunk
            // unless the output is backed up: after a writable edge drains it, reading
            // resumes here, with no new readable edge needed.
            handle_events(s);
            if let Err(e) = flush(&mut c.stream, s) {
                return end(c, &format!("write failed: {e}"), now, shared);
            }
            let may_read =
                c.readable && !c.eof && s.conn.state() != State::Closed && s.pending() < HIGH_WATER;
            if !may_read {
                break;
            }
            if reads == READS_PER_TURN {
                self.again.push(slot);
                break;
            }
            reads += 1;
            let mut asked = SCRATCH;
            let r = if s.flowing {
                // The space may be more than asked (all the buffer has free): a short
                // read is short of what was offered.
                let buf = s.conn.input_buffer(BIG_READ);
                asked = buf.len();
                let r = c.stream.read(buf);
                if let Ok(n) = r {
                    s.conn.commit_input(n);
                }
                r
            } else {
                let r = c.stream.read(&mut self.scratch);
                if let Ok(n) = r {
                    s.conn.handle_input(&self.scratch[..n]);
                    s.flowing = n == SCRATCH;
                }
                r
            };
            match r {
                Ok(0) => c.eof = true,
                Ok(n) => {
                    s.last_io = now;
                    s.shrunk = false;
                    if drained(n, asked, c.hup) {
                        c.readable = false;
                    }
                }
                Err(e) if would_block(&e) => {
                    c.readable = false;
                    s.flowing = false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("#{}: read failed: {e}", s.id);
                    return end(c, &format!("read failed: {e}"), now, shared);
                }
            }
        }
        if now >= s.last_io + SHRINK_AFTER && s.pending() == 0 && !s.shrunk {
            s.conn.shrink_buffers();
            s.flowing = false;
            s.shrunk = true;
        }
        if !charge(shared, s) {
            // Past the budget: fail this connection and stop reading it; its buffers
            // go when it does.
            let held = s.conn.memory_held();
            let (code, why) = if s.conn.message_memory() * 2 >= held {
                (
                    CloseCode::MESSAGE_TOO_BIG,
                    "message too big for the server's memory now",
                )
            } else {
                (
                    CloseCode::TRY_AGAIN_LATER,
                    "server out of memory, try again later",
                )
            };
            shared.stats.refused(if code == CloseCode::MESSAGE_TOO_BIG {
                Refusal::MemoryBudget1009
            } else {
                Refusal::MemoryBudget1013
            });
            warn!(
                "#{}: holds {} KiB, over the memory budget of {} MiB: closing with {}",
                s.id,
                held / 1024,
                shared.config.memory_budget >> 20,
                code.0
            );
            let _ = s.conn.send_close(code, why);
            let _ = flush(&mut c.stream, s);
            return end(c, "over the memory budget", now, shared);
        }
        if s.conn.close_sent().is_none() && self.stopping {
            // Peers get the rest of the shutdown's grace to answer.
            let grace = self
                .shared
                .shutdown_deadline()
                .saturating_duration_since(now);
            s.conn.set_close_timeout(Some(grace));
            let _ = s
                .conn
                .send_close(CloseCode::GOING_AWAY, "server shutting down");
        }
        // The clock: the codec sends its keepalive ping, drops an idle peer (close 1001)
        // and gives up on an unanswered close; the wait for the peer's close starts once
        // ours is written (a peer that reads nothing is bounded by the idle timeout).
        let was_closed = s.conn.state() == State::Closed;
        s.conn
            .handle_timeout(now.saturating_duration_since(s.epoch));
        let timed_out = s.conn.error().is_none() && s.conn.close_received().is_none();
        if !was_closed && s.conn.state() == State::Closed && timed_out {
            warn!("#{}: {}, dropping", s.id, s.conn.close_reason());
        }
        // What the clock queued (a ping) is reported by /inspect and written now.
        handle_events(s);
        if let Err(e) = flush(&mut c.stream, s) {
            return end(c, &format!("write failed: {e}"), now, shared);
        }
        if s.conn.state() == State::Closed {
            // Our last frames (a close) still going out: wait for them, a little.
            let wait = *s.flush_deadline.get_or_insert(now + CLOSE_WAIT);
            if (s.pending() > 0 || c.stream.unsent()) && now < wait {
                return true;
            }
            let how = match (s.conn.error(), s.conn.close_received()) {
                (Some(e), _) => format!("protocol error: {e}"),
                (None, None) => s.conn.close_reason().to_string(),
                (None, Some(_)) if s.failed => "handler panicked".into(),
                (None, Some(_)) => "closing handshake done".into(),
            };
            return end(c, &how, now, shared);
        }
        if c.eof {
            return end(c, "the peer closed TCP without a close frame", now, shared);
        }
        true
    }

    fn start_shutdown(&mut self) {
        self.stopping = true;
        let live: Vec<usize> = (0..self.conns.len())
            .filter(|&i| self.conns[i].is_some())
            .collect();
        info!(
            "worker: shutting down: closing {} connection(s) with 1001",
            live.len()
        );
        for slot in live {
            self.drive(slot);
        }
    }

    /// Ends every connection still here (the shutdown grace is over, or the loop failed),
    /// and those handed over but not yet taken.
    fn close_all(&mut self, why: &str) {
        for (_, admit) in self.inbox.take().accepted {
            release(self.shared, &admit);
        }
        for slot in 0..self.conns.len() {
            if let Some(mut c) = self.conns[slot].take() {
                if let Phase::Ws(s) = &mut c.phase {
                    finish(s, &c.peer, why, self.shared);
                }
                self.remove(c, slot);
            }
        }
    }
}

/// Decodes and reacts, one message at a time, so replies stay in order. A handler
/// that panics costs its connection a close 1011 and nothing else.
fn handle_events(s: &mut Session) {
    if s.failed {
        while let Ok(Some(_)) = s.conn.poll_event() {}
        return;
    }
    let id = s.id;
    let (conn, handler, outbox) = (&mut s.conn, &mut s.handler, &s.outbox);
    let r = catch_unwind(AssertUnwindSafe(|| {
        loop {
            match conn.poll_event() {
                Ok(Some(m)) => handler.on_message(conn, m),
                Ok(None) => break,
                Err(e) => {
                    debug!("#{id}: protocol error: {e} (close {})", e.close_code());
                    break;
                }
            }
        }
        // What the connection's senders queued (a /chat broadcast, a handler's push).
        if let Some(o) = outbox {
            o.deliver(conn);
        }
        handler.before_flush(conn);
    }));
    if r.is_err() {
        s.failed = true;
        error!("#{id}: handler panicked; closing with 1011");
        // Never leak internals: a generic reason only.
        let _ = s
            .conn
            .send_close(CloseCode::INTERNAL_ERROR, "internal error");
    }
}

/// The handler's `on_open`, before any message; a panic costs the connection a 1011.
fn open(s: &mut Session) {
    let (conn, handler) = (&mut s.conn, &mut s.handler);
    if catch_unwind(AssertUnwindSafe(|| handler.on_open(conn))).is_err() {
        s.failed = true;
        error!(
            "#{}: handler panicked while opening; closing with 1011",
            s.id
        );
        let _ = s
            .conn
            .send_close(CloseCode::INTERNAL_ERROR, "internal error");
    }
}

/// Writes what the session has queued until the kernel takes no more.
fn flush(stream: &mut Stream, s: &mut Session) -> io::Result<()> {
    // TLS: what rustls still holds goes first (a no-op for a plain socket).
    stream.flush()?;
    loop {
        let mut parts: [&[u8]; 8] = [&[]; 8];
        let n = s.conn.pending_output_slices(&mut parts);
        if n == 0 {
            return Ok(());
        }
        let r = if n == 1 {
            stream.write(parts[0])
        } else {
            let slices = parts.map(io::IoSlice::new);
            stream.write_vectored(&slices[..n])
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => s.conn.advance_output(n),
            Err(e) if would_block(&e) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Ends a session: the handler's `on_end`, the log line, then either closing TCP at
/// once (a clean close, §7.1.1: the server closes first) or lingering, when we failed
/// the connection, so that our close frame is not destroyed by a reset for unread
/// input. Returns whether the connection stays (to linger).
fn end(c: &mut Conn, how: &str, now: Instant, shared: &Shared) -> bool {
    let Phase::Ws(s) = &mut c.phase else {
        return false;
    };
    finish(s, &c.peer, how, shared);
    let clean = s.conn.state() == State::Closed && s.conn.error().is_none();
    if clean || s.conn.close_sent().is_none() || c.eof {
        return false;
    }
    c.stream.shutdown_write();
    c.phase = Phase::Linger(Linger {
        until: now + LINGER_FAILED.0,
        left: LINGER_FAILED.1,
    });
    true
}

/// Brings what the session has charged against the memory budget up (or down) to what
/// its connection holds, in `BUDGET_GRAIN` steps. False when growing it would pass the
/// budget (nothing is charged then).
fn charge(shared: &Shared, s: &mut Session) -> bool {
    if shared.config.memory_budget == u64::MAX {
        return true;
    }
    let held = s.conn.memory_held();
    let want = held.div_ceil(BUDGET_GRAIN) * BUDGET_GRAIN;
    if want == s.charged {
        return true;
    }
    if want < s.charged {
        shared
            .held
            .fetch_sub((s.charged - want) as u64, Ordering::AcqRel);
        s.charged = want;
        return true;
    }
    let add = (want - s.charged) as u64;
    let total = shared.held.fetch_add(add, Ordering::AcqRel) + add;
    if total > shared.config.memory_budget {
        shared.held.fetch_sub(add, Ordering::AcqRel);
        return false;
    }
    s.charged = want;
    true
}

/// The handler's `on_end` and the session's log line, once.
fn finish(s: &mut Session, peer: &str, how: &str, shared: &Shared) {
    if s.ended {
        return;
    }
    s.ended = true;
    if let Some(o) = &s.outbox {
        o.end();
    }
    shared.held.fetch_sub(s.charged as u64, Ordering::AcqRel);
    s.charged = 0;
    let registry = &shared.watch;
    let id = s.id;
    if catch_unwind(AssertUnwindSafe(|| s.handler.on_end())).is_err() {
        error!("#{id}: handler panicked while ending");
    }
    let conn = &s.conn;
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
    info!(
        "#{id} {peer} closed {}: code {code}; {how}; close sent {sent}, received {received}",
        s.path
    );
    if let Some(t) = s.inspected.take() {
        t.end(registry, &mut s.conn, how);
    }
}
