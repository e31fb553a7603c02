//! [`Client::split`](crate::Client::split): a [`Reader`] and a [`Writer`] for two threads.
//!
//! The halves share the connection's state behind one lock, and a small thread of the
//! split's own (`wisp-client-flush`) owns the socket's write side. The reader waits
//! for bytes on its own handle of the socket, holding no lock, and takes the lock only
//! to decode what arrived. A writer encodes under the lock and waits until the flush
//! thread has written its bytes (so a send returns once its message is with the kernel,
//! as on an unsplit client).
//!
//! So nothing that reads ever waits on a write: what the reader owes the peer (the
//! pong to a ping, the answer to a close) is queued and written by the flush thread,
//! without the caller's help, even while a writer's large message is stuck on a full
//! socket. That is what keeps a peer that waits for us to read (an echo server under
//! load) from deadlocking both sides. The thread ends when the connection is closed
//! and its output written, or when both halves are dropped.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wisp_codec::blocking::is_timeout;
use wisp_codec::{CloseCode, Connection, Message, State};

use crate::tls::TlsLayer;
use crate::Error;

/// Bytes the reader asks the socket for at once.
const READ_CHUNK: usize = 64 * 1024;

/// What the halves and the flush thread share.
struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when output is queued (for the flush thread) and when it is written
    /// or the writing failed (for waiting writers).
    changed: Condvar,
    /// The epoch of the codec's clock.
    epoch: Instant,
    /// A handle of the socket to shut it down with when both halves are gone.
    socket: TcpStream,
}

struct Inner {
    conn: Connection,
    /// `wss://`: the rustls session, between the connection and the socket.
    tls: Option<TlsLayer>,
    /// Bytes the flush thread has taken out of the connection, and of those, written.
    taken: u64,
    written: u64,
    /// Why writing failed, if it did: every later send reports it.
    failed: Option<(io::ErrorKind, String)>,
    /// Halves alive (a `Writer` and its clones count one each).
    halves: usize,
    /// How long a send waits for its bytes to be written.
    write_timeout: Option<Duration>,
}

impl Shared {
    /// The shared state. A thread that panicked while holding it leaves the codec in a
    /// state it can always report from: carry on.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection, then waits until what it queued is written.
    fn send<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, wisp_codec::UsageError>,
    ) -> Result<T, Error> {
        let mut g = self.lock();
        if let Some((kind, why)) = &g.failed {
            return Err(Error::Io(io::Error::new(*kind, why.clone())));
        }
        let r = f(&mut g.conn).map_err(Error::Usage)?;
        self.changed.notify_all();
        self.wait_written(g)?;
        Ok(r)
    }

    /// Waits until everything queued so far is written (or the write timeout passes).
    fn wait_written(&self, mut g: MutexGuard<'_, Inner>) -> Result<(), Error> {
        let target = g.taken + g.conn.pending_output_len() as u64;
        let deadline = g.write_timeout.map(|t| Instant::now() + t);
        while g.written < target {
            if let Some((kind, why)) = &g.failed {
                return Err(Error::Io(io::Error::new(*kind, why.clone())));
            }
            g = match deadline {
                None => self.changed.wait(g).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // Still queued: the flush thread writes it when it can.
                        return Err(Error::Timeout);
                    }
                    self.changed
                        .wait_timeout(g, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        Ok(())
    }

    /// One half is gone; with the last one, the socket goes too (which also frees a
    /// flush thread blocked on a peer that reads nothing).
    fn leave(&self) {
        let mut g = self.lock();
        g.halves -= 1;
        if g.halves == 0 {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
        self.changed.notify_all();
    }
}

/// The flush thread: writes what the connection queues, holding no lock while it
/// writes.
fn flush_thread(shared: Arc<Shared>, mut stream: TcpStream) {
    let (mut plain, mut raw) = (Vec::new(), Vec::new());
    loop {
        let taken;
        {
            let mut g = shared.lock();
            loop {
                if g.failed.is_some() {
                    return;
                }
                take_output(&mut g.conn, &mut plain);
                // Writers count plaintext bytes: what this write carries of theirs.
                let carried = plain.len();
                let Inner { tls, failed, .. } = &mut *g;
                match tls {
                    None => std::mem::swap(&mut plain, &mut raw),
                    Some(tls) => {
                        if !plain.is_empty() {
                            if let Err(e) = tls.encrypt(&[io::IoSlice::new(&plain)], &mut raw) {
                                *failed = Some((e.kind(), e.to_string()));
                            }
                        }
                        tls.take_output(&mut raw);
                    }
                }
                if !raw.is_empty() {
                    taken = carried;
                    g.taken += taken as u64;
                    break;
                }
                if g.halves == 0 || g.conn.state() == State::Closed {
                    return;
                }
                g = shared.changed.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        let r = stream.write_all(&raw);
        let mut g = shared.lock();
        match r {
            Ok(()) => g.written += taken as u64,
            Err(e) => g.failed = Some((e.kind(), e.to_string())),
        }
        plain.clear();
        raw.clear();
        shared.changed.notify_all();
    }
}

/// Moves the connection's pending output into `out` (a `Vec` takes it all).
fn take_output(conn: &mut Connection, out: &mut Vec<u8>) {
    let _ = conn.write_to(out);
}

/// The receiving half of a split [`Client`](crate::Client).
///
/// The halves share the connection's state behind one lock, and a small thread of the
/// split's own (`wisp-client-flush`) owns the socket's write side. The reader waits for
/// bytes holding no lock; a writer encodes under the lock and returns once the flush
/// thread has written its bytes. Nothing that reads ever waits on a write: the pong
/// to a ping or the answer to a close is written by the flush thread even while a
/// large message is stuck on a full socket, so a peer that waits for us to read cannot
/// deadlock both sides. The thread ends when the connection is closed and its output
/// written, or when both halves are dropped.
pub struct Reader {
    shared: Arc<Shared>,
    /// The reader's own handle of the socket.
    raw: TcpStream,
    buf: Vec<u8>,
    /// `wss://`: plaintext decrypted from `buf`.
    plain: Vec<u8>,
    /// The caller's read timeout.
    timeout: Option<Duration>,
    /// The timeout set on the socket now.
    socket_timeout: Option<Duration>,
}

/// The sending half of a split [`Client`](crate::Client). Clone it to send from more
/// threads; each message goes out whole, in the order the sends were made.
pub struct Writer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Clone for Writer {
    fn clone(&self) -> Self {
        self.shared.lock().halves += 1;
        Writer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.leave();
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.shared.leave();
    }
}

/// Splits a connected stream and its connection into the two halves and starts the
/// flush thread.
pub(crate) fn split(
    stream: TcpStream,
    tls: Option<TlsLayer>,
    conn: Connection,
    epoch: Instant,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
) -> Result<(Reader, Writer), Error> {
    let raw = stream.try_clone()?;
    let socket = stream.try_clone()?;
    raw.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            conn,
            tls,
            taken: 0,
            written: 0,
            failed: None,
            halves: 2,
            write_timeout,
        }),
        changed: Condvar::new(),
        epoch,
        socket,
    });
    let flusher = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("wisp-client-flush".into())
        .spawn(move || flush_thread(flusher, stream))?;
    Ok((
        Reader {
            shared: Arc::clone(&shared),
            raw,
            buf: Vec::new(),
            plain: Vec::new(),
            timeout: read_timeout,
            socket_timeout: None,
        },
        Writer { shared },
    ))
}

impl Reader {
    /// The next message. Pings are answered by the split itself (and also returned),
    /// and so is the server's close (returned as [`Message::Close`]); after it:
    /// [`Error::Closed`]. Past the read timeout
    /// ([`set_read_timeout`](Reader::set_read_timeout)): [`Error::Timeout`], after
    /// which the reader goes on as before.
    pub fn receive(&mut self) -> Result<Message, Error> {
        loop {
            {
                let mut g = self.shared.lock();
                g.conn.handle_timeout(self.shared.epoch.elapsed());
                let event = g.conn.poll_event();
                if g.conn.pending_output_len() > 0 {
                    self.shared.changed.notify_all();
                }
                match event {
                    Ok(Some(m)) => return Ok(m),
                    Ok(None) => {}
                    Err(e) => return Err(Error::Protocol(e)),
                }
                if g.conn.state() == State::Closed {
                    let answered = g.conn.close_received().is_some();
                    drop(g);
                    let _ = self.raw.shutdown(Shutdown::Read);
                    return Err(if answered {
                        Error::Closed
                    } else {
                        Error::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no close frame from the server in time",
                        ))
                    });
                }
            }
            self.read()?;
        }
    }

    /// One read from the socket into the connection, bounded by the caller's timeout
    /// and by the codec's next timer (a close waiting for its answer).
    fn read(&mut self) -> Result<(), Error> {
        let timer = self.shared.lock().conn.poll_timeout().map(|at| {
            at.saturating_sub(self.shared.epoch.elapsed())
                .max(Duration::from_millis(1))
        });
        let wait = match (self.timeout, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if wait != self.socket_timeout {
            self.raw.set_read_timeout(wait)?;
            self.socket_timeout = wait;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; READ_CHUNK];
        }
        match self.raw.read(&mut self.buf) {
            Ok(0) => {
                if let Some(tls) = &mut self.shared.lock().tls {
                    tls.end();
                }
                Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the TCP connection without a close frame",
                )))
            }
            Ok(n) => {
                let mut g = self.shared.lock();
                let Inner { conn, tls, .. } = &mut *g;
                match tls {
                    None => conn.handle_input(&self.buf[..n]),
                    Some(tls) => {
                        let r = tls.decrypt(&self.buf[..n], &mut self.plain);
                        conn.handle_input(&self.plain);
                        self.plain.clear();
                        // Records rustls owes the server (an alert, a key update's).
                        self.shared.changed.notify_all();
                        r?;
                    }
                }
                Ok(())
            }
            // The codec's timer, not the caller's: the loop lets the codec act on it.
            Err(e) if is_timeout(&e) && timer.is_some() && wait == timer => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a read timeout for [`receive`](Reader::receive) (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        if timeout == Some(Duration::ZERO) {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero read timeout",
            )));
        }
        self.timeout = timeout;
        Ok(())
    }
}

impl Writer {
    /// Sets how long a send waits for its bytes to be written (`None`: as long as it
    /// takes): past it, [`Error::Timeout`], and the rest still goes out, in order.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.shared.lock().write_timeout = timeout;
    }

    /// Waits until what earlier sends queued is written (after [`Error::Timeout`]).
    pub fn flush(&self) -> Result<(), Error> {
        let g = self.shared.lock();
        self.shared.wait_written(g)
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.shared.send(|c| c.send_text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.shared.send(|c| c.send_binary(data))
    }

    /// Sends a message it takes by value.
    pub fn send(&self, message: Message) -> Result<(), Error> {
        self.shared.send(|c| c.send(message))
    }

    /// Sends a ping; its pong arrives through [`Reader::receive`].
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.shared.send(|c| c.send_ping(payload))
    }

    /// Starts the closing handshake: the [`Reader`] receives what is still in flight,
    /// then the server's [`Message::Close`] and [`Error::Closed`] (or a timeout error
    /// after the close wait, [`Config::close_timeout`](wisp_codec::Config::close_timeout)).
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.send(|c| c.send_close(code, reason))
    }

    /// The protocol state right now (it changes as the reader reads).
    pub fn state(&self) -> State {
        self.shared.lock().conn.state()
    }
}
