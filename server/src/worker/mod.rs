//! One worker: an event loop over its connections' non-blocking sockets.
//!
//! This module holds the loop, the slab of connections and the timers; what a
//! connection does lives in one file per phase, each a `Phase` (`state.rs`) that owns
//! its step and returns the next phase (as rustls' `State::handle` does):
//!
//! ```text
//!  head.rs ──(complete head)──> upgrade.rs ──(101)──> session.rs ──(failed)──> linger.rs
//!     │                           │ (refused: 4xx/5xx)     │ (clean close: done)
//!     └──(plain HTTP, errors)─────┴──────> respond.rs ─────┴──(written)──> linger.rs
//! ```
//!
//! - **Engines**: this loop (`Loop::run`) is the epoll one; `uring/` runs the same
//!   slab, phases and timers on io_uring's completions (`--io`, ARCHITECTURE.md).
//! - **Readiness** comes from `mio` (epoll, kqueue or IOCP), edge-triggered: on an
//!   event a connection reads until the socket says `WouldBlock` (or a read comes back
//!   short), handling the events of each read before the next one. After
//!   [`READS_PER_TURN`] reads it yields to the others and is driven again on the next
//!   turn of the loop.
//! - **Reads and writes** go through the codec's IO adapter
//!   (`Connection::read_from`, `Connection::write_to`: the read policy and the
//!   vectored write loop that every driver shares); what the kernel does not take
//!   waits for the next writable edge.
//! - **Timers**: one heap per worker (`timers.rs`); each phase says when it next needs
//!   the clock.
//! - **Wake-ups** from other threads (new connections from the acceptor, a `Sender`'s
//!   messages, shutdown) arrive through the worker's [`Inbox`] and its `mio::Waker`.
//! - **Idle memory**: reads use one scratch buffer per worker; a connection holds an
//!   input or output buffer only while bytes are in it. permessage-deflate without
//!   context takeover (the default, the shared mode) uses one compressor and one
//!   inflater per worker (`wisp_codec::DeflatePool`), lent to a connection for its step
//!   only.

mod head;
mod linger;
mod respond;
mod session;
mod state;
mod timers;
mod upgrade;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use wisp_codec::DeflatePool;

use crate::forwarded::is_trusted;
use crate::limits::Admission;
use crate::metrics::{Holder, WorkerCounts, PUBLISH_EVERY};
use crate::shared::Shared;
use crate::tls::{Stream, Tcp};
use crate::wake::Inbox;

use head::Head;
use state::{Cx, Io, Phase};
use timers::Timers;

const WAKER: Token = Token(usize::MAX);
/// The worker's read buffer, shared by its connections.
const SCRATCH: usize = 64 * 1024;

/// A worker before it runs: its poller and its inbox.
pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    inbox: Arc<Inbox>,
    /// Its io_uring, made before the server says it listens: `None` runs on epoll.
    #[cfg(target_os = "linux")]
    uring: Option<uring::Prepared>,
}

impl Worker {
    pub(crate) fn new(index: usize, uring: bool) -> io::Result<(Worker, Arc<Inbox>)> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let inbox = Arc::new(Inbox::new(waker));
        Ok((
            Worker {
                index,
                poll,
                inbox: Arc::clone(&inbox),
                #[cfg(target_os = "linux")]
                uring: uring.then(uring::Prepared::new).transpose()?,
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
            timers: Timers::default(),
            again: Vec::new(),
            scratch: vec![0; SCRATCH],
            deflate: DeflatePool::new(),
            stopping: false,
            index: self.index,
            holders_changed: false,
            holders_published: Instant::now(),
            counts: WorkerCounts::default(),
        };
        #[cfg(target_os = "linux")]
        let r = match self.uring {
            Some(ring) => uring::run(&mut l, ring),
            None => l.run(),
        };
        #[cfg(not(target_os = "linux"))]
        let r = l.run();
        if let Err(e) = r {
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
    timers: Timers,
    /// Connections to drive again on the next turn (they yielded mid-read).
    again: Vec<usize>,
    scratch: Vec<u8>,
    /// One compressor and one inflater for all this worker's connections without
    /// context takeover (the shared mode of permessage-deflate).
    deflate: DeflatePool,
    stopping: bool,
    index: usize,
    /// A memory charge changed since the largest holders were published.
    holders_changed: bool,
    holders_published: Instant,
    /// This worker's traffic and deflate memory, published once per turn while
    /// `/metrics` is read.
    counts: WorkerCounts,
}

struct Conn {
    io: Io,
    /// Its place in the admission counts, given back when the connection goes.
    admission: Admission,
    /// The deadline this connection has in the timer heap, if any.
    armed: Option<Instant>,
    /// What it is doing; `None` only while its step runs.
    state: Option<Box<dyn Phase>>,
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
            let mut timeout = self.timers.next_in(now);
            if !self.again.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if self.holders_changed {
                let at = self.holders_published + PUBLISH_EVERY;
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
                        c.io.readable = true;
                    }
                    if ev.is_read_closed() || ev.is_error() {
                        c.io.hup = true;
                    }
                    self.drive(slot);
                }
            }
            for slot in std::mem::take(&mut self.again) {
                self.drive(slot);
            }
            self.fire_timers();
            if self.counts.dirty {
                let pool = self.deflate.memory();
                self.shared
                    .metrics
                    .publish_counts(self.index, &mut self.counts, pool);
            }
        }
    }

    fn live(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// The connections holding the most memory, for the server's reports.
    fn publish_holders(&mut self, now: Instant) {
        let holders: Vec<Holder> = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.holder(c.io.peer()))
            .collect();
        self.shared.metrics.publish(self.index, holders);
        self.holders_changed = false;
        self.holders_published = now;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some((t, slot)) = self.timers.pop_due(now) {
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                if c.armed == Some(t) {
                    c.armed = None;
                    self.drive(slot);
                }
            }
        }
    }

    fn take_inbox(&mut self) {
        let pending = self.inbox.take();
        for (stream, admission) in pending.accepted {
            self.add(stream, admission);
        }
        for slot in pending.woken {
            self.drive(slot);
        }
    }

    /// A connection from the acceptor (dropping `admission` uncounts it).
    fn add(&mut self, stream: std::net::TcpStream, admission: Admission) {
        if self.stopping {
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
            warn!("cannot register a new connection with the poller: {e}");
            self.free.push(slot);
            return;
        }
        let stream = match Stream::new(Tcp::Mio(stream), self.shared.config.tls.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot start TLS on a new connection: {e}");
                self.free.push(slot);
                return;
            }
        };
        let addr = stream.peer_addr().ok();
        self.open(slot, stream, addr, admission);
    }

    /// A new connection in `slot`, its transport ready (either engine's): the `Head`
    /// phase, its deadline armed, the worker's count published.
    fn open(
        &mut self,
        slot: usize,
        stream: Stream,
        addr: Option<std::net::SocketAddr>,
        admission: Admission,
    ) {
        let config = &self.shared.config;
        let trusted = addr.is_some_and(|a| is_trusted(&config.trusted_proxies, a.ip()));
        let head = Head::new(admission.refused(), trusted, Instant::now(), config);
        let mut c = Conn {
            io: Io {
                addr,
                proxy: None,
                stream,
                readable: false,
                eof: false,
                hup: false,
            },
            admission,
            armed: None,
            state: Some(Box::new(head)),
        };
        self.arm(slot, &mut c);
        self.conns[slot] = Some(c);
        self.shared.metrics.set_connections(self.index, self.live());
    }

    fn arm(&mut self, slot: usize, c: &mut Conn) {
        if let Some(state) = &c.state {
            let d = state.deadline(self.shared);
            c.armed = Some(self.timers.arm(slot, d, c.armed));
        }
    }

    /// Lets a connection do what it can now: read, react, write, check its timers.
    fn drive(&mut self, slot: usize) {
        let Some(Some(mut c)) = self.conns.get_mut(slot).map(Option::take) else {
            return;
        };
        let Some(state) = c.state.take() else {
            return;
        };
        let charged = state.charged();
        let mut cx = Cx {
            shared: self.shared,
            inbox: &self.inbox,
            admission: &mut c.admission,
            scratch: &mut self.scratch,
            deflate: &mut self.deflate,
            slot,
            now: Instant::now(),
            stopping: self.stopping,
            again: false,
            counts: self.shared.metrics.counting().then_some(&mut self.counts),
        };
        c.state = state.step(&mut c.io, &mut cx);
        if cx.again {
            self.again.push(slot);
        }
        let now_charged = c.state.as_ref().map_or(0, |s| s.charged());
        if now_charged != charged && self.shared.metrics.tracking_holders() {
            self.holders_changed = true;
        }
        if c.state.is_some() {
            self.arm(slot, &mut c);
            self.conns[slot] = Some(c);
        } else {
            self.remove(c, slot);
        }
    }

    /// The connection is over: its session ends ("dropped" if it had not yet), and its
    /// admission goes with it.
    fn remove(&mut self, mut c: Conn, slot: usize) {
        if let Some(s) = &mut c.state {
            s.finish(c.io.peer(), "dropped", self.shared);
        }
        self.free.push(slot);
        self.shared.metrics.set_connections(self.index, self.live());
        drop(c);
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
        drop(self.inbox.take());
        for slot in 0..self.conns.len() {
            if let Some(mut c) = self.conns[slot].take() {
                if let Some(s) = &mut c.state {
                    s.finish(c.io.peer(), why, self.shared);
                }
                self.remove(c, slot);
            }
        }
    }
}
