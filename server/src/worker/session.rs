//! The session phase: a WebSocket connection ([`Connection`]) and its route's
//! [`Handler`].
//!
//! Each step: react to what is decoded (one message at a time, so replies stay in
//! order), write, then read the next chunk, unless the output is backed up past
//! [`HIGH_WATER`] (a peer that never reads costs bounded memory and slows no one);
//! then the memory budget, the shutdown's close, and the codec's clock.

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use wisp_codec::extension::DeflateParams;
use wisp_codec::{CloseCode, Connection, State, Traffic};

use super::linger::{self, Linger};
use super::state::{drained, would_block, Cx, Io, Phase, READS_PER_TURN};
use crate::handler::{Accept, Handler, Handshake, Session as View};
use crate::limits::Peer;
use crate::metrics::{Holder, Refusal};
use crate::sender::Outbox;
use crate::shared::Shared;
use crate::tls::Stream;

/// Unsent output above which a connection is not read until it drains.
pub(crate) const HIGH_WATER: usize = 1 << 20;
/// Closed, our last frames (a close) may take this long to leave.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// A connection quiet this long gives its buffers back (they are kept while traffic
/// flows, so a stream of large messages does not allocate and fault in fresh pages
/// for each one).
const SHRINK_AFTER: Duration = Duration::from_secs(1);

pub(super) struct Session {
    id: u64,
    /// The route's path, shared with the route table.
    path: Arc<str>,
    conn: Connection,
    handler: Box<dyn Handler>,
    /// The handler panicked: its connection is closing with 1011.
    failed: bool,
    /// The epoch of the codec's clock: the codec keeps the keepalive ping, the idle
    /// timeout and the wait for the peer's close (`Connection::handle_timeout`).
    epoch: Instant,
    /// Closed, with our last frames still going out: until when they may take.
    flush_deadline: Option<Instant>,
    ended: bool,
    /// Bytes charged against the memory budget (a multiple of `BUDGET_GRAIN`).
    charged: usize,
    /// The last read that brought bytes.
    last_io: Instant,
    /// The buffers were given back since the last read.
    shrunk: bool,
    /// The queue of the connection's `Sender`s, if the route asked for one.
    outbox: Option<Arc<Outbox>>,
    /// Messages in, bytes in, messages out, bytes out that its worker took from the
    /// connection's counts for `/metrics` (the end line adds what is left there).
    taken: [u64; 4],
    /// Its own permessage-deflate state as last added to its worker's.
    deflate_reported: usize,
}

impl Session {
    /// A session behind its 101 (`handshake.1`, queued first in the connection's
    /// output): the handler's `on_open`, then the bytes that came after the head.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        id: u64,
        path: Arc<str>,
        accept: Accept,
        deflate: Option<DeflateParams>,
        handshake: (&[u8], &[u8]),
        rest: &[u8],
        outbox: Option<Arc<Outbox>>,
        cx: &Cx<'_>,
    ) -> Box<Session> {
        let codec_config = wisp_codec::Config {
            record_frames: accept.record_frames,
            ..cx.shared.config.codec
        };
        // The 101 goes out through the connection's own output, ahead of every frame.
        let mut conn = Connection::server_with_response(codec_config, handshake.1);
        if let Some(params) = deflate {
            conn.set_deflate(params);
        }
        let mut s = Box::new(Session {
            id,
            path,
            conn,
            handler: accept.handler,
            failed: false,
            epoch: cx.now,
            flush_deadline: None,
            ended: false,
            charged: 0,
            last_io: cx.now,
            shrunk: false,
            outbox,
            taken: [0; 4],
            deflate_reported: 0,
        });
        let opening = Handshake {
            request: handshake.0,
            response: handshake.1,
        };
        let (conn, handler) = (&mut s.conn, &mut s.handler);
        let opened = catch_unwind(AssertUnwindSafe(|| {
            handler.on_open(&mut View::new(conn, id).opening(opening))
        }));
        if opened.is_err() {
            s.fail("while opening");
        }
        s.conn.handle_input(rest);
        s
    }

    fn pending(&self) -> usize {
        self.conn.pending_output_len()
    }

    /// The next moment this session needs the clock.
    fn next_deadline(&self, shared: &Shared) -> Instant {
        // With every codec timer off, the idle timeout still bounds a sleep.
        let codec = self.conn.poll_timeout().map(|t| self.epoch + t);
        let mut d = codec.unwrap_or_else(|| self.last_io + shared.config.idle_timeout());
        // Buffers go back only once the output is out: while it is backed up, the drive
        // that drains it arms this again (a deadline already past would fire at once, on
        // every turn, as long as the peer reads nothing).
        if !self.shrunk && self.pending() == 0 {
            d = d.min(self.last_io + SHRINK_AFTER);
        }
        if let Some(f) = self.flush_deadline {
            d = d.min(f);
        }
        d
    }

    pub(super) fn run(mut self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        let now = cx.now;
        let mut reads = 0;
        // The worker's compressor and inflater, for this step (shared mode); given back
        // before the memory is charged, so an idle connection is charged none of it.
        self.conn.lend_deflate(cx.deflate);
        loop {
            // React to what is decoded (and to wake-ups), write, then read the next chunk
            // unless the output is backed up: after a writable edge drains it, reading
            // resumes here, with no new readable edge needed.
            self.handle_events();
            if let Err(e) = flush(&mut io.stream, &mut self.conn) {
                return self.end(io, &format!("write failed: {e}"), cx);
            }
            let may_read = io.readable
                && !io.eof
                && self.conn.state() != State::Closed
                && self.pending() < HIGH_WATER;
            if !may_read {
                break;
            }
            if reads == READS_PER_TURN {
                cx.again = true;
                break;
            }
            reads += 1;
            match self.conn.read_from(&mut io.stream, cx.scratch) {
                Ok(read) if read.bytes == 0 => io.eof = true,
                Ok(read) => {
                    self.last_io = now;
                    self.shrunk = false;
                    if drained(read.is_short(), io.hup) {
                        io.readable = false;
                    }
                }
                Err(e) if would_block(&e) => io.readable = false,
                Err(e) => {
                    debug!("#{}: read failed: {e}", self.id);
                    return self.end(io, &format!("read failed: {e}"), cx);
                }
            }
        }
        // Given back before shrinking: shrinking frees a compressor and an inflater kept
        // for no window, which would free the worker's own if they were still lent.
        self.conn.return_deflate(cx.deflate);
        if now >= self.last_io + SHRINK_AFTER && self.pending() == 0 && !self.shrunk {
            self.conn.shrink_buffers();
            self.shrunk = true;
        }
        if !cx
            .shared
            .budget
            .charge(&mut self.charged, self.conn.memory_held())
        {
            return self.over_budget(io, cx);
        }
        if self.conn.close_sent().is_none() && cx.stopping {
            // Peers get the rest of the shutdown's grace to answer.
            let grace = cx.shared.shutdown_deadline().saturating_duration_since(now);
            self.conn.set_close_timeout(Some(grace));
            let _ = self
                .conn
                .send_close(CloseCode::GOING_AWAY, "server shutting down");
        }
        // The clock: the codec sends its keepalive ping, drops an idle peer (close 1001)
        // and gives up on an unanswered close; the wait for the peer's close starts once
        // ours is written (a peer that reads nothing is bounded by the idle timeout).
        let was_closed = self.conn.state() == State::Closed;
        self.conn
            .handle_timeout(now.saturating_duration_since(self.epoch));
        let timed_out = self.conn.error().is_none() && self.conn.close_received().is_none();
        if !was_closed && self.conn.state() == State::Closed && timed_out {
            warn!("#{}: {}, dropping", self.id, self.conn.close_reason());
        }
        // What the clock queued (a ping) is seen by the handler and written now.
        self.handle_events();
        if let Err(e) = flush(&mut io.stream, &mut self.conn) {
            return self.end(io, &format!("write failed: {e}"), cx);
        }
        if self.conn.state() == State::Closed {
            // Our last frames (a close) still going out: wait for them, a little.
            let wait = *self.flush_deadline.get_or_insert(now + CLOSE_WAIT);
            if (self.pending() > 0 || io.stream.unsent()) && now < wait {
                self.conn.return_deflate(cx.deflate);
                self.report(cx, false);
                return Some(self);
            }
            let how = match (self.conn.error(), self.conn.close_received()) {
                (Some(e), _) => format!("protocol error: {e}"),
                (None, None) => self.conn.close_reason().to_string(),
                (None, Some(_)) if self.failed => "handler panicked".into(),
                (None, Some(_)) => "closing handshake done".into(),
            };
            return self.end(io, &how, cx);
        }
        if io.eof {
            return self.end(io, "the peer closed TCP without a close frame", cx);
        }
        // What the clock's turn sent compressed, if anything, goes back too.
        self.conn.return_deflate(cx.deflate);
        self.report(cx, false);
        Some(self)
    }

    /// Takes what the connection carried since its last report into the session's
    /// totals (for its end line; the codec's counts go back after each step, so an idle
    /// connection holds none), and while `/metrics` is read into its worker's totals
    /// (plain adds; the worker publishes them once per turn), with its own deflate state
    /// (none once `ending`).
    fn report(&mut self, cx: &mut Cx<'_>, ending: bool) {
        let t = self.conn.take_traffic();
        let Some(counts) = cx.counts.as_deref_mut() else {
            self.add_taken(&t);
            return;
        };
        if t != Traffic::ZERO {
            self.add_taken(&t);
            counts.traffic += t;
            counts.dirty = true;
        }
        let deflate = if ending {
            0
        } else {
            self.conn.deflate_memory()
        };
        if deflate != self.deflate_reported {
            counts.deflate_held =
                (counts.deflate_held + deflate).saturating_sub(self.deflate_reported);
            self.deflate_reported = deflate;
            counts.dirty = true;
        }
    }

    /// Adds `t`'s totals each way to the session's.
    fn add_taken(&mut self, t: &Traffic) {
        let (received, sent) = (&t.received, &t.sent);
        let now = [
            received.total_messages(),
            received.total_bytes(),
            sent.total_messages(),
            sent.total_bytes(),
        ];
        for (taken, n) in self.taken.iter_mut().zip(now) {
            *taken += n;
        }
    }

    /// Past the memory budget: fail this connection and stop reading it; its buffers
    /// go when it does.
    fn over_budget(mut self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        let held = self.conn.memory_held();
        let (code, why, refusal) = if self.conn.message_memory() * 2 >= held {
            (
                CloseCode::MESSAGE_TOO_BIG,
                "message too big for the server's memory now",
                Refusal::MemoryBudget1009,
            )
        } else {
            (
                CloseCode::TRY_AGAIN_LATER,
                "server out of memory, try again later",
                Refusal::MemoryBudget1013,
            )
        };
        cx.shared.metrics.refused(refusal);
        warn!(
            "#{}: holds {} KiB, over the memory budget of {} MiB: closing with {}",
            self.id,
            held / 1024,
            cx.shared.budget.limit() >> 20,
            code.0
        );
        let _ = self.conn.send_close(code, why);
        let _ = flush(&mut io.stream, &mut self.conn);
        self.end(io, "over the memory budget", cx)
    }

    /// Decodes and reacts, one message at a time, so replies stay in order. A handler
    /// that panics costs its connection a close 1011 and nothing else.
    fn handle_events(&mut self) {
        if self.failed {
            while let Ok(Some(_)) = self.conn.poll_event() {}
            return;
        }
        let id = self.id;
        let (conn, handler, outbox) = (&mut self.conn, &mut self.handler, &self.outbox);
        let r = catch_unwind(AssertUnwindSafe(|| {
            // One view for the whole batch: nothing is built per message.
            let mut view = View::new(conn, id);
            loop {
                match view.connection().poll_event() {
                    Ok(Some(m)) => handler.on_message(&mut view, m),
                    Ok(None) => break,
                    Err(e) => {
                        debug!("#{id}: protocol error: {e} (close {})", e.close_code());
                        break;
                    }
                }
            }
            // What the connection's senders queued.
            if let Some(o) = outbox {
                o.deliver(view.connection());
            }
            handler.before_flush(&mut view);
        }));
        if r.is_err() {
            self.fail("");
        }
    }

    /// The handler panicked: close 1011, with a generic reason only (never leak
    /// internals).
    fn fail(&mut self, when: &str) {
        self.failed = true;
        let when = if when.is_empty() {
            String::new()
        } else {
            format!(" {when}")
        };
        error!("#{}: handler panicked{when}; closing with 1011", self.id);
        let _ = self
            .conn
            .send_close(CloseCode::INTERNAL_ERROR, "internal error");
    }

    /// Ends the session: the handler's `on_end` and the log line, then either closing
    /// TCP at once (a clean close, §7.1.1: the server closes first) or lingering, when
    /// we failed the connection, so that our close frame is not destroyed by a reset
    /// for unread input.
    fn end(mut self: Box<Self>, io: &mut Io, how: &str, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        self.conn.return_deflate(cx.deflate);
        self.report(cx, true);
        self.end_once(io.peer(), how, cx.shared);
        let clean = self.conn.state() == State::Closed && self.conn.error().is_none();
        if clean || self.conn.close_sent().is_none() || io.eof {
            return None;
        }
        Linger::start(io, linger::AFTER_FAILURE, cx)
    }

    /// The handler's `on_end` and the session's log line, once.
    fn end_once(&mut self, peer: Peer, how: &str, shared: &Shared) {
        if self.ended {
            return;
        }
        self.ended = true;
        if let Some(o) = &self.outbox {
            o.end();
        }
        shared.budget.release(&mut self.charged, 0);
        let id = self.id;
        let (conn, handler) = (&mut self.conn, &mut self.handler);
        let ended = catch_unwind(AssertUnwindSafe(|| {
            handler.on_end(&mut View::new(conn, id).ended(how))
        }));
        if ended.is_err() {
            error!("#{id}: handler panicked while ending");
        }
        let conn = &self.conn;
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
        let reason = conn
            .close_received()
            .flatten()
            .or(conn.close_sent())
            .map_or("", |f| f.reason.as_str());
        // What the worker took for `/metrics`, and what is left in the connection's counts.
        let t = conn.traffic();
        let [messages_in, bytes_in, messages_out, bytes_out] = self.taken;
        let (messages_in, bytes_in) = (
            messages_in + t.received.total_messages(),
            bytes_in + t.received.total_bytes(),
        );
        let (messages_out, bytes_out) = (
            messages_out + t.sent.total_messages(),
            bytes_out + t.sent.total_bytes(),
        );
        let duration_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let route = &*self.path;
        let peer_text = peer.to_string();
        let peer = peer_text.as_str();
        // One line per connection, its fields also as key-values (`--log-format json`).
        info!(
            id, peer, route, duration_ms, messages_in, bytes_in, messages_out, bytes_out,
            close_code = code.0, close_reason = reason, how;
            "#{id} {peer} closed {route}: code {code}; {how}; close sent {sent}, received \
             {received}; open {}.{:03} s, in {messages_in} messages ({bytes_in} bytes), out \
             {messages_out} messages ({bytes_out} bytes)",
            duration_ms / 1000,
            duration_ms % 1000
        );
    }
}

impl Phase for Session {
    fn step(self: Box<Self>, io: &mut Io, cx: &mut Cx<'_>) -> Option<Box<dyn Phase>> {
        self.run(io, cx)
    }

    fn deadline(&self, shared: &Shared) -> Instant {
        self.next_deadline(shared)
    }

    fn charged(&self) -> usize {
        self.charged
    }

    fn holder(&self, peer: Peer) -> Option<Holder> {
        (self.charged > 0).then(|| Holder {
            id: self.id,
            peer: peer.to_string(),
            path: self.path.to_string(),
            bytes: self.charged as u64,
        })
    }

    fn finish(&mut self, peer: Peer, why: &str, shared: &Shared) {
        self.end_once(peer, why, shared);
    }
}

/// Writes what the connection has queued until the kernel takes no more.
fn flush(stream: &mut Stream, conn: &mut Connection) -> io::Result<()> {
    // TLS: what rustls still holds goes first (a no-op for a plain socket).
    stream.flush()?;
    match conn.write_to(stream) {
        Err(e) if !would_block(&e) => Err(e),
        _ => Ok(()),
    }
}
