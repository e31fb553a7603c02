//! [`WebSocketStream`]: the codec's [`Connection`] driven by a task's polls.
//!
//! The IO goes through the codec's adapter ([`Connection::read_from`],
//! [`Connection::write_to`]) over [`Bridge`], a `std::io::Read + Write` view of an
//! `AsyncRead + AsyncWrite` for the length of one poll (as tokio-rustls bridges rustls):
//! `Pending` is `WouldBlock`, and the waker of the poll's `Context` is registered as
//! the poll would have registered it. So the read policy and the vectored write loop
//! are the ones every Wisp driver uses.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use wisp_codec::{CloseCode, Connection, Message, ProtocolError, State, UsageError};

/// Bytes of unsent output above which [`Sink::poll_ready`] waits (the default of
/// [`WebSocketStream::set_write_buffer`]).
pub const DEFAULT_WRITE_BUFFER: usize = 128 * 1024;

/// The stack buffer of the first read after a quiet spell (the adapter's `scratch`).
const SMALL_READ: usize = 4096;

/// Held above this after a read found nothing, the connection's buffers go back once
/// no data came for [`QUIET`] (so a connection that stays busy keeps them: freeing and
/// growing a large buffer again on every message costs more than the reads).
const KEEP_WHEN_QUIET: usize = 64 * 1024;

/// How long without input before buffers over [`KEEP_WHEN_QUIET`] are given back.
const QUIET: Duration = Duration::from_secs(1);

/// What can go wrong on a [`WebSocketStream`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed, or ended without a close frame (`UnexpectedEof`).
    Io(io::Error),
    /// The peer broke RFC 6455; a close frame with the error's code was queued (and is
    /// written as the stream is polled on).
    Protocol(ProtocolError),
    /// Local misuse, e.g. sending after a close.
    Usage(UsageError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io: {e}"),
            Error::Protocol(e) => write!(f, "protocol error ({}): {e}", e.close_code()),
            Error::Usage(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Usage(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// A `std::io` view of an async stream for the length of one poll: `Pending` is
/// `WouldBlock`, with the context's waker registered.
pub(crate) struct Bridge<'a, 'b, S> {
    pub(crate) io: &'a mut S,
    pub(crate) cx: &'a mut Context<'b>,
}

fn pending_is_would_block<T>(p: Poll<io::Result<T>>) -> io::Result<T> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl<S: AsyncRead + Unpin> Read for Bridge<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rb = ReadBuf::new(buf);
        pending_is_would_block(Pin::new(&mut *self.io).poll_read(self.cx, &mut rb))?;
        Ok(rb.filled().len())
    }
}

impl<S: AsyncWrite + Unpin> Write for Bridge<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        pending_is_would_block(Pin::new(&mut *self.io).poll_write(self.cx, buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        pending_is_would_block(Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        pending_is_would_block(Pin::new(&mut *self.io).poll_flush(self.cx))
    }
}

/// Where the stream is in its life, beyond the codec's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Messages flow.
    Running,
    /// The transport failed or ended without a close: the error was returned once,
    /// nothing more comes.
    Failed,
    /// The stream returned `None`.
    Done,
}

/// The driver's state, shared by [`WebSocketStream`] and the halves of its split.
pub(crate) struct Core<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    /// The epoch of the codec's clock.
    epoch: Instant,
    /// The timer for the codec's next deadline, armed at `armed`.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: Option<Duration>,
    write_buffer: usize,
    /// Bytes were written since the last flush of the transport.
    unflushed: bool,
    /// Why writing failed, if it did: every later write reports it.
    write_failed: Option<(io::ErrorKind, String)>,
    /// The peer ended the transport.
    eof: bool,
    phase: Phase,
    pub(crate) protocol: Option<String>,
    /// When to give the buffers back if no input came since (`reads` was `reads_then`).
    shrink_at: Option<Duration>,
    reads: u64,
    reads_then: u64,
}

impl<S> Core<S> {
    pub(crate) fn new(io: S, mut conn: Connection) -> Self {
        conn.handle_timeout(Duration::ZERO);
        Core {
            io,
            conn,
            epoch: Instant::now(),
            sleep: None,
            armed: None,
            write_buffer: DEFAULT_WRITE_BUFFER,
            unflushed: false,
            write_failed: None,
            eof: false,
            phase: Phase::Running,
            protocol: None,
            shrink_at: None,
            reads: 0,
            reads_then: 0,
        }
    }

    fn write_error(&self) -> Option<io::Error> {
        self.write_failed
            .as_ref()
            .map(|(kind, why)| io::Error::new(*kind, why.clone()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Core<S> {
    /// Writes the pending output and flushes the transport: `Ready(Ok)` once nothing
    /// is left.
    pub(crate) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.write_error() {
            return Poll::Ready(Err(e));
        }
        if self.conn.pending_output_len() > 0 {
            let mut bridge = Bridge {
                io: &mut self.io,
                cx,
            };
            let result = self.conn.write_to(&mut bridge);
            match result {
                Ok(n) => self.unflushed |= n > 0,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.unflushed = true;
                    return Poll::Pending;
                }
                Err(e) => {
                    self.write_failed = Some((e.kind(), e.to_string()));
                    return Poll::Ready(Err(e));
                }
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => {
                    self.write_failed = Some((e.kind(), e.to_string()));
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The unsent output is under the write buffer.
    pub(crate) fn has_room(&self) -> bool {
        self.conn.pending_output_len() < self.write_buffer
    }

    /// Room for one more message: the unsent output is under the write buffer.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.pending_output_len() >= self.write_buffer {
            if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                return Poll::Ready(Err(Error::Io(e)));
            }
            if self.conn.pending_output_len() >= self.write_buffer {
                return Poll::Pending;
            }
        }
        if let Some(e) = self.write_error() {
            return Poll::Ready(Err(Error::Io(e)));
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        self.conn.send(message).map_err(Error::Usage)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_write_out(cx).map_err(Error::Io)
    }

    /// Starts the closing handshake (once) and writes it; once both closes crossed, shuts
    /// the transport's write side.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.state() == State::Open {
            let _ = self.conn.send_close(CloseCode::NORMAL, "");
        }
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
            Poll::Pending => return Poll::Pending,
        }
        if self.conn.state() == State::Closed {
            let _ = std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx));
        }
        Poll::Ready(Ok(()))
    }

    /// The codec's clock: time since the epoch.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Runs the timers that are due (the codec's, and the return of quiet buffers) and
    /// arms tokio's timer for the next one. True if a timer ran (the caller looks at the
    /// connection again).
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let due = match (self.conn.poll_timeout(), self.shrink_at) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return false,
        };
        let now = self.now();
        if due <= now {
            self.run_timers(now);
            return true;
        }
        // An armed timer that fires before the deadline is kept: it wakes the task a
        // little early, and the timer is moved then. So progress, which moves the
        // deadline later on every frame, never touches the timer wheel.
        match (&mut self.sleep, self.armed) {
            (Some(_), Some(at)) if at <= due => {}
            (Some(sleep), _) => {
                sleep.as_mut().reset(self.epoch + due);
                self.armed = Some(due);
            }
            (None, _) => {
                self.sleep = Some(Box::pin(tokio::time::sleep_until(self.epoch + due)));
                self.armed = Some(due);
            }
        }
        let sleep = self.sleep.as_mut().expect("armed above");
        if sleep.as_mut().poll(cx).is_ready() {
            // Moved on the next call (the fired timer is kept, not polled again).
            self.armed = None;
            self.run_timers(self.now());
            return true;
        }
        false
    }

    fn run_timers(&mut self, now: Duration) {
        if self.shrink_at.is_some_and(|at| at <= now) {
            self.shrink_at = None;
            if self.reads != self.reads_then {
                // Input came meanwhile: look again after another quiet spell.
                self.arm_shrink(now);
            } else if self.conn.buffered_input() == 0 && self.conn.pending_output_len() == 0 {
                self.conn.shrink_buffers();
            }
        }
        self.conn.handle_timeout(now);
    }

    /// Gives the buffers back after [`QUIET`] without input, if they are large.
    fn arm_shrink(&mut self, now: Duration) {
        if self.shrink_at.is_none() && self.conn.memory_held() > KEEP_WHEN_QUIET {
            self.shrink_at = Some(now + QUIET);
            self.reads_then = self.reads;
        }
    }

    /// [`poll_write_out`](Self::poll_write_out) with `write_waker` if there is one (a
    /// split's reader), else with the task's context.
    fn write_owed(
        &mut self,
        cx: &mut Context<'_>,
        write_waker: Option<&Waker>,
    ) -> Poll<io::Result<()>> {
        match write_waker {
            Some(w) => self.poll_write_out(&mut Context::from_waker(w)),
            None => self.poll_write_out(cx),
        }
    }

    /// The next message. Reads with `cx`; writes (pongs, close answers, queued
    /// messages) with `write_waker` if there is one, else with `cx` too.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        write_waker: Option<&Waker>,
    ) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match self.phase {
                Phase::Running => {}
                Phase::Failed | Phase::Done => return Poll::Ready(None),
            }
            match self.conn.poll_event() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => {
                    // The close frame with the error's code goes out now if it can;
                    // the next polls finish the job.
                    let _ = self.write_owed(cx, write_waker);
                    return Poll::Ready(Some(Err(Error::Protocol(e))));
                }
            }
            if self.conn.state() == State::Closed {
                // Write what is owed (the answer to the peer's close), then end.
                if self.write_owed(cx, write_waker).is_pending() {
                    return Poll::Pending;
                }
                if !self.eof && self.write_failed.is_none() {
                    // The close handshake is over (§7.1.1): end our side of the
                    // transport. A failure here changes nothing: it is over.
                    let shut = match write_waker {
                        Some(w) => {
                            Pin::new(&mut self.io).poll_shutdown(&mut Context::from_waker(w))
                        }
                        None => Pin::new(&mut self.io).poll_shutdown(cx),
                    };
                    if shut.is_pending() {
                        return Poll::Pending;
                    }
                }
                if self.eof && self.conn.close_received().is_none() {
                    self.phase = Phase::Failed;
                    return Poll::Ready(Some(Err(Error::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the TCP connection without a close frame",
                    )))));
                }
                self.phase = Phase::Done;
                return Poll::Ready(None);
            }
            // What the connection owes goes out before it waits for more input.
            if let Poll::Ready(Err(e)) = self.write_owed(cx, write_waker) {
                self.phase = Phase::Failed;
                return Poll::Ready(Some(Err(Error::Io(e))));
            }
            if self.poll_timers(cx) {
                continue;
            }
            if self.eof {
                // The codec ends at the end of input once it has delivered what was
                // buffered; never wait for input that cannot come.
                self.phase = Phase::Failed;
                return Poll::Ready(Some(Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the TCP connection in the middle of a frame",
                )))));
            }
            let mut scratch = [0u8; SMALL_READ];
            let mut bridge = Bridge {
                io: &mut self.io,
                cx,
            };
            match self.conn.read_from(&mut bridge, &mut scratch) {
                Ok(read) if read.bytes == 0 => {
                    self.eof = true;
                    self.conn.handle_eof();
                }
                Ok(_) => self.reads += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.shrink_at.is_none() && self.conn.memory_held() > KEEP_WHEN_QUIET {
                        self.arm_shrink(self.now());
                        if self.poll_timers(cx) {
                            continue;
                        }
                    }
                    return Poll::Pending;
                }
                Err(e) => {
                    self.phase = Phase::Failed;
                    return Poll::Ready(Some(Err(Error::Io(e))));
                }
            }
        }
    }
}

/// A WebSocket over any `AsyncRead + AsyncWrite + Unpin` transport whose opening
/// handshake is done: a [`Stream`] of incoming messages and a [`Sink`] of outgoing
/// ones.
///
/// - **Reading** ([`Stream::poll_next`]) yields every message, control frames included
///   ([`Message::Ping`], [`Message::Pong`], [`Message::Close`]). Pings are answered and
///   the peer's close is answered by the stream itself; after the closing handshake the
///   stream ends (`None`). A protocol error is returned once (its close frame is
///   queued and written as the stream is polled on), then the stream ends. A peer that
///   drops the transport without a close frame ends it with an
///   [`io::ErrorKind::UnexpectedEof`] error.
/// - **Writing** ([`Sink`]): `start_send` queues a message (by value: a large payload
///   is written without a copy); `poll_flush` writes everything queued; `poll_ready`
///   waits while more than the write buffer ([`set_write_buffer`](Self::set_write_buffer),
///   128 KiB by default) is unsent: that is the backpressure. `poll_close` sends a close
///   (1000) and writes it; keep reading until `None` to see the peer's answer.
/// - **Polling the stream writes too**: before it waits for input, `poll_next` writes
///   what is queued (pongs, close answers, and messages fed with `SinkExt::feed`), so an
///   echo loop that `feed`s every reply writes a burst of replies with one `writev`.
/// - **Timers**: keepalive pings, the idle timeout and the close wait of
///   [`Config`](wisp_codec::Config) run on tokio's timer while the stream is polled.
///
/// ## Cancel safety
/// Every bit of state lives in the `WebSocketStream`, none in the futures that
/// `StreamExt::next` or `SinkExt::send` return. Dropping a `next()` future (say, the
/// losing branch of `tokio::select!`) loses nothing: bytes already read stay buffered
/// in the connection and the message comes with the next call. Dropping a `send()`
/// future after it queued the message does not unqueue it: it is written by the next
/// flush, or by the next poll of the stream.
pub struct WebSocketStream<S> {
    pub(crate) core: Core<S>,
}

impl<S> fmt::Debug for WebSocketStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("conn", &self.core.conn)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wraps a transport and a [`Connection`] whose opening handshake is done (bytes
    /// that followed the handshake already given to it). [`from_raw`](crate::from_raw)
    /// makes the connection for you.
    pub fn new(io: S, conn: Connection) -> Self {
        WebSocketStream {
            core: Core::new(io, conn),
        }
    }

    /// The protocol state (close code, deflate parameters, memory held...).
    pub fn connection(&self) -> &Connection {
        &self.core.conn
    }

    /// The protocol state, to queue frames directly (`send_frame`, `send_close`...);
    /// they go out with the next flush or poll of the stream.
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.core.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.core.io
    }

    /// The transport, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.core.io
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.core.protocol.as_deref()
    }

    /// Sets how many bytes of unsent output make [`Sink::poll_ready`] wait (at least
    /// one message is always accepted when nothing is unsent).
    pub fn set_write_buffer(&mut self, bytes: usize) {
        self.core.write_buffer = bytes.max(1);
    }

    /// Starts the closing handshake with `code` and `reason` and writes it. Keep
    /// reading until the stream ends to see the peer's answer.
    pub async fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core
            .conn
            .send_close(code, reason)
            .map_err(Error::Usage)?;
        std::future::poll_fn(|cx| self.core.poll_flush(cx)).await
    }

    /// Splits the stream into a reader and a writer for two tasks (see
    /// [`split`](crate::split)).
    pub fn split(self) -> (crate::WsReader<S>, crate::WsWriter<S>) {
        crate::split::split(self)
    }

    /// Gives back the transport and the connection.
    pub fn into_parts(self) -> (S, Connection) {
        (self.core.io, self.core.conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().core.poll_next(cx, None)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().core.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.get_mut().core.start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().core.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().core.poll_close(cx)
    }
}
