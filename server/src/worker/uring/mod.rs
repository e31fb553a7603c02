//! The io_uring engine: a second loop over the same phases as the epoll one
//! (`Loop::drive`, the same slab, timers, inbox and shutdown), driven by completions
//! instead of readiness. All of the server's `unsafe` for io_uring lives in this module.
//!
//! - **Receive**: one multishot receive per connection into the worker's provided
//!   buffer ring (`ring.rs`): one submission receives many times. Each completion lends
//!   its buffer to the connection (`Chan::lend`); after the batch of completions each
//!   connection that received takes one step over all its lent buffers, then they go
//!   back to the ring; what the step did not read is copied into the connection's own
//!   `spill`, and receiving pauses (the receive is cancelled) until the connection has
//!   read it: a session over the high-water mark of unsent output reads nothing, so it
//!   gets no more receives until it drains, as on epoll.
//! - **Send**: a step's writes are copied into the connection's `tx`; at the end of the
//!   loop's turn every connection with bytes and no send in flight gets one send, all
//!   in the one `io_uring_enter` that also waits. A connection has one send in flight
//!   at a time (ordered bytes); its buffer is the channel's `inflight`, untouched until
//!   the completion.
//! - **Close**: the connection's phases end as on epoll; its channel (`socket.rs`) then
//!   cancels the receive, finishes its sends (2 s at most, then those are cancelled
//!   too), and closes the socket only once no operation on it is in flight, so no
//!   completion ever names freed memory or a reused descriptor.
//! - **Timers** stay the worker's heap: the wait's timeout (`EXT_ARG`) is the next
//!   deadline, which costs no submission.
//! - **Wake-ups**: the worker's `mio::Poll` still holds its waker; a multishot poll on
//!   the poller's descriptor says when the inbox has something.

mod complete;
mod ring;
pub(crate) mod socket;

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use io_uring::{cqueue, types, IoUring};
use log::{error, warn};
use mio::Events;

use super::Loop;
use crate::limits::Admission;
use crate::metrics::PUBLISH_EVERY;
use crate::tls::{Stream, Tcp};

pub(crate) use ring::check;
use ring::{BufRing, Op};
use socket::{Chan, Socket, Table};

/// Unread input above which a connection stops receiving even while it still reads.
const SPILL_CAP: usize = 256 * 1024;
/// After the loop: how long to wait for the last operations to complete.
const DRAIN: Duration = Duration::from_secs(1);

struct Engine<'l, 'a> {
    l: &'l mut Loop<'a>,
    ring: IoUring,
    bufs: Option<BufRing>,
    table: Rc<RefCell<Table>>,
    /// Channels whose connection is gone and whose operations are not all done.
    closing: Vec<u32>,
    /// Channels to receive again at the end of the turn (out of buffers).
    rearm: Vec<u32>,
    /// Channels that received in this batch of completions: stepped once after it.
    to_step: Vec<u32>,
    cqes: Vec<(u64, i32, u32)>,
    events: Events,
}

/// A worker's io_uring and its buffer ring, made with the server (so its descriptor
/// is there before the server says it listens), enabled by the worker's thread, the
/// only one that submits.
pub(crate) struct Prepared {
    ring: IoUring,
    bufs: BufRing,
}

impl Prepared {
    pub(crate) fn new() -> io::Result<Prepared> {
        let ring = ring::new_ring(true)?;
        let bufs = BufRing::new(&ring)?;
        Ok(Prepared { ring, bufs })
    }
}

/// Runs `l` on io_uring until the shutdown is over.
pub(super) fn run(l: &mut Loop<'_>, prepared: Prepared) -> io::Result<()> {
    let Prepared { ring, bufs } = prepared;
    ring.submitter().register_enable_rings()?;
    let mut e = Engine {
        l,
        ring,
        bufs: Some(bufs),
        table: Rc::default(),
        closing: Vec::new(),
        rearm: Vec::new(),
        to_step: Vec::new(),
        cqes: Vec::with_capacity(1024),
        events: Events::with_capacity(64),
    };
    let r = e.turns();
    e.l.close_all("the worker stopped");
    e.drain();
    r
}

impl Engine<'_, '_> {
    fn turns(&mut self) -> io::Result<()> {
        ring::poll_in(&mut self.ring, self.l.poll.as_raw_fd())?;
        loop {
            let now = Instant::now();
            if self.l.shared.stopping() && !self.l.stopping {
                self.l.start_shutdown();
                self.settle(now)?;
            }
            if self.l.stopping && (self.l.live() == 0 || now >= self.l.shared.shutdown_deadline()) {
                return Ok(());
            }
            let timeout = self.timeout(now);
            self.wait(timeout)?;
            self.complete()?;
            for slot in std::mem::take(&mut self.l.again) {
                self.l.drive(slot);
            }
            self.l.fire_timers();
            self.settle(Instant::now())?;
        }
    }

    /// How long the next wait may sleep: as in the epoll loop.
    fn timeout(&mut self, now: Instant) -> Option<Duration> {
        let l = &mut *self.l;
        let mut timeout = l.timers.next_in(now);
        if !l.again.is_empty() {
            timeout = Some(Duration::ZERO);
        }
        if l.holders_changed {
            let at = l.holders_published + PUBLISH_EVERY;
            if now >= at {
                l.publish_holders(now);
            } else {
                let left = at - now;
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
        }
        if l.stopping {
            let left = l.shared.shutdown_deadline().saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if !self.closing.is_empty() {
            let tick = Duration::from_millis(100);
            timeout = Some(timeout.map_or(tick, |t| t.min(tick)));
        }
        timeout
    }

    /// Submits what the turn queued and waits for a completion or the timeout, in one
    /// `io_uring_enter`.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let r = match timeout {
            Some(t) if t.is_zero() => self.ring.submit(),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Handles every completion there is.
    fn complete(&mut self) -> io::Result<()> {
        loop {
            self.cqes.clear();
            self.cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            if self.cqes.is_empty() {
                return Ok(());
            }
            let cqes = std::mem::take(&mut self.cqes);
            for &(user_data, res, flags) in &cqes {
                let (op, id) = ring::split(user_data);
                match op {
                    Some(Op::Recv) => self.received(id, res, flags),
                    Some(Op::Send) => self.sent(id, res),
                    Some(Op::Wake) => self.woken(flags)?,
                    Some(Op::Cancel) | None => {}
                }
            }
            self.cqes = cqes;
            self.step_received();
        }
    }

    fn woken(&mut self, flags: u32) -> io::Result<()> {
        // Clears the poller's readiness; the waker is the only thing registered there.
        let _ = self.l.poll.poll(&mut self.events, Some(Duration::ZERO));
        if !cqueue::more(flags) {
            ring::poll_in(&mut self.ring, self.l.poll.as_raw_fd())?;
        }
        let pending = self.l.inbox.take();
        for (stream, admission) in pending.accepted {
            self.add(stream, admission);
        }
        for slot in pending.woken {
            self.l.drive(slot);
        }
        Ok(())
    }

    /// A connection from the acceptor, as `Loop::add` on epoll.
    fn add(&mut self, stream: std::net::TcpStream, admission: Admission) {
        if self.l.stopping {
            return;
        }
        // io_uring waits for the socket itself; non-blocking would only add failures.
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let addr = stream.peer_addr().ok();
        let fd = stream.as_raw_fd();
        let l = &mut *self.l;
        let slot = l.free.pop().unwrap_or_else(|| {
            l.conns.push(None);
            l.conns.len() - 1
        });
        let id = self.table.borrow_mut().insert(Chan::new(stream, slot));
        let socket = Socket::new(Rc::clone(&self.table), id, addr);
        let stream = match Stream::new(Tcp::Uring(Box::new(socket)), l.shared.config.tls.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                // The socket went with the error: its channel closes as released.
                warn!("cannot start TLS on a new connection: {e}");
                l.free.push(slot);
                return;
            }
        };
        l.open(slot, stream, addr, admission);
        let group = self.group();
        if let Some(c) = self.table.borrow_mut().get(id) {
            if ring::recv(&mut self.ring, fd, group, id).is_ok() {
                c.recv_armed = true;
            }
        }
    }

    fn group(&self) -> u16 {
        self.bufs.as_ref().map_or(0, BufRing::group)
    }

    /// The end of a turn: sends for every connection with bytes and none in flight,
    /// receives resumed, connections gone closed once their operations are done.
    fn settle(&mut self, now: Instant) -> io::Result<()> {
        let mut t = self.table.borrow_mut();
        let group = self.bufs.as_ref().map_or(0, BufRing::group);
        for id in std::mem::take(&mut t.released) {
            if let Some(c) = t.get(id) {
                c.spill = Vec::new();
                if c.recv_armed && !c.recv_cancelled {
                    c.recv_cancelled = true;
                    ring::cancel(&mut self.ring, ring::user_data(Op::Recv, id))?;
                }
                if !c.tx.is_empty() || c.send_armed {
                    t.to_send.push(id);
                }
                self.closing.push(id);
            }
        }
        let mut resume = std::mem::take(&mut t.to_resume);
        resume.append(&mut self.rearm);
        for id in resume {
            if let Some(c) = t.get(id) {
                let wanted = c.released.is_none() && !c.paused && !c.eof;
                if wanted && !c.recv_armed && c.recv_error.is_none() {
                    c.recv_cancelled = false;
                    ring::recv(&mut self.ring, c.tcp.as_raw_fd(), group, id)?;
                    c.recv_armed = true;
                }
            }
        }
        for id in std::mem::take(&mut t.to_send) {
            let Some(c) = t.get(id) else {
                continue;
            };
            if c.send_armed {
                continue;
            }
            if c.inflight.is_empty() {
                std::mem::swap(&mut c.inflight, &mut c.tx);
                c.sent = 0;
            }
            if c.inflight.len() > c.sent && c.send_error.is_none() {
                // The bytes of `inflight[sent..]` stay put until this send completes:
                // only `sent` (on that completion) replaces or clears `inflight`.
                let rest = &c.inflight[c.sent..];
                ring::send(
                    &mut self.ring,
                    c.tcp.as_raw_fd(),
                    rest.as_ptr(),
                    rest.len(),
                    id,
                )?;
                c.send_armed = true;
            } else if c.shut_wanted && !c.shut_done && c.tx.is_empty() {
                socket::shutdown(c);
            }
        }
        let mut closing = std::mem::take(&mut self.closing);
        closing.retain(|&id| {
            let Some(c) = t.get(id) else {
                return false;
            };
            if c.released.is_some_and(|d| now >= d) && c.send_armed && !c.send_cancelled {
                c.send_cancelled = true;
                let _ = ring::cancel(&mut self.ring, ring::user_data(Op::Send, id));
            }
            let unsent = c.send_error.is_none() && (!c.tx.is_empty() || c.inflight.len() > c.sent);
            if c.recv_armed || c.send_armed || unsent {
                return true;
            }
            t.remove(id);
            false
        });
        self.closing = closing;
        Ok(())
    }

    /// After the loop: every connection is gone; their last bytes get [`DRAIN`] to
    /// go, then what is still in flight is cancelled. Memory an operation may still
    /// name is leaked rather than freed.
    fn drain(&mut self) {
        let until = Instant::now() + DRAIN;
        let mut cancelled = false;
        loop {
            let now = Instant::now();
            if self.settle(now).is_err() || self.table.borrow().live() == 0 {
                break;
            }
            if now >= until {
                if cancelled {
                    break;
                }
                cancelled = true;
                let mut t = self.table.borrow_mut();
                for id in 0..t.chans.len() as u32 {
                    if let Some(c) = t.get(id) {
                        if c.send_armed {
                            let _ = ring::cancel(&mut self.ring, ring::user_data(Op::Send, id));
                        }
                        if c.recv_armed {
                            let _ = ring::cancel(&mut self.ring, ring::user_data(Op::Recv, id));
                        }
                        c.released = Some(now);
                        c.send_error = Some(libc::ECANCELED);
                    }
                }
            }
            if self.wait(Some(Duration::from_millis(50))).is_err() || self.complete().is_err() {
                break;
            }
        }
        let left = self.table.borrow().live();
        if left == 0 {
            if let Some(b) = self.bufs.take() {
                b.free(&self.ring);
            }
        } else {
            error!(
                "worker {}: {left} socket(s) still had io_uring operations in flight at exit; \
                 their buffers are left allocated",
                self.l.index
            );
            if let Some(b) = self.bufs.take() {
                b.leak();
            }
            std::mem::forget(Rc::clone(&self.table));
        }
    }
}
