//! [`Client::split`](crate::Client::split): a [`Reader`] and a [`Writer`] for two threads.
//!
//! The two halves share the connection's state behind one lock, and the socket's write
//! side behind another. The reader waits for bytes on its own handle of the socket,
//! holding no lock, and takes the state lock only to decode what arrived. A writer
//! encodes under the state lock, takes the bytes out, and writes them holding only the
//! write lock. So a writer blocked on a full socket never stops the reader from reading,
//! which is what keeps a peer that waits for us to read (an echo server under load)
//! from deadlocking both sides.
//!
//! What the reader owes the peer (the pong to a ping, the answer to a close) goes out
//! without the caller's help: the reader writes it when the write side is free, and
//! otherwise the writer holding it writes it before letting go. The reader never waits
//! for the write lock.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use wisp_codec::blocking::is_timeout;
use wisp_codec::{CloseCode, Connection, Message, State};

use crate::Error;

/// Bytes the reader asks the socket for at once.
const READ_CHUNK: usize = 64 * 1024;

/// What the two halves share.
struct Shared {
    /// The protocol state: decoding, encoding, timers.
    conn: Mutex<Connection>,
    /// The socket's write side. Whoever holds it writes all that is pending.
    out: Mutex<TcpStream>,
    /// The epoch of the codec's clock.
    epoch: Instant,
}

impl Shared {
    /// The protocol state. A thread that panicked while holding it cannot leave it
    /// half-changed in a way that matters more than the panic itself: carry on.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the connection's pending output (a copy, so that it is written without
    /// the state lock).
    fn take_output(&self) -> Vec<u8> {
        let mut conn = self.conn();
        let mut out = Vec::with_capacity(conn.pending_output_len());
        loop {
            let mut parts: [&[u8]; 8] = [&[]; 8];
            let n = conn.pending_output_slices(&mut parts);
            if n == 0 {
                return out;
            }
            let before = out.len();
            for p in &parts[..n] {
                out.extend_from_slice(p);
            }
            conn.advance_output(out.len() - before);
        }
    }

    /// Writes what the connection has pending. `wait`: block for the write side (a
    /// writer); otherwise write only if it is free (the reader), since whoever holds
    /// it looks again for pending output after letting go.
    fn flush(&self, wait: bool) -> io::Result<()> {
        loop {
            let mut out = if wait {
                self.out.lock().unwrap_or_else(|p| p.into_inner())
            } else {
                match self.out.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::WouldBlock) => return Ok(()),
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                }
            };
            loop {
                let bytes = self.take_output();
                if bytes.is_empty() {
                    break;
                }
                out.write_all(&bytes)?;
            }
            drop(out);
            // Output queued after our last look, by a half that found the lock taken.
            if self.conn().pending_output_len() == 0 {
                return Ok(());
            }
        }
    }

    /// Runs `f` on the connection, then writes what it queued.
    fn send<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, wisp_codec::UsageError>,
    ) -> Result<T, Error> {
        let r = f(&mut self.conn()).map_err(Error::Usage)?;
        self.flush(true)?;
        Ok(r)
    }
}

/// The receiving half of a split [`Client`](crate::Client).
pub struct Reader {
    shared: Arc<Shared>,
    /// The reader's own handle of the socket.
    raw: TcpStream,
    buf: Vec<u8>,
    /// The caller's read timeout.
    timeout: Option<Duration>,
    /// The timeout set on the socket now.
    socket_timeout: Option<Duration>,
}

/// The sending half of a split [`Client`](crate::Client). Clone it to send from
/// more threads; each message goes out whole, in the order the sends were made.
#[derive(Clone)]
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

/// Splits a connected stream and its connection into the two halves.
pub(crate) fn split(
    stream: TcpStream,
    conn: Connection,
    epoch: Instant,
) -> Result<(Reader, Writer), Error> {
    let raw = stream.try_clone()?;
    let timeout = raw.read_timeout()?;
    let shared = Arc::new(Shared {
        conn: Mutex::new(conn),
        out: Mutex::new(stream),
        epoch,
    });
    shared.flush(true)?;
    Ok((
        Reader {
            shared: Arc::clone(&shared),
            raw,
            buf: Vec::new(),
            timeout,
            socket_timeout: timeout,
        },
        Writer { shared },
    ))
}

impl Reader {
    /// The next message. Pings are answered by the reader itself (and also returned),
    /// and so is the server's close (returned as [`Message::Close`]); after it:
    /// [`Error::Closed`].
    /// A read timeout ([`set_read_timeout`](Reader::set_read_timeout)) is an
    /// [`Error::Io`] for which [`wisp_codec::blocking::is_timeout`] is true, after which
    /// the reader goes on as before.
    pub fn receive(&mut self) -> Result<Message, Error> {
        loop {
            {
                let mut conn = self.shared.conn();
                conn.handle_timeout(self.shared.epoch.elapsed());
                match conn.poll_event() {
                    Ok(Some(m)) => {
                        drop(conn);
                        self.shared.flush(false)?;
                        return Ok(m);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        drop(conn);
                        let _ = self.shared.flush(false);
                        return Err(Error::Protocol(e));
                    }
                }
                if conn.state() == State::Closed {
                    let answered = conn.close_received().is_some();
                    drop(conn);
                    let _ = self.shared.flush(false);
                    let _ = self.raw.shutdown(Shutdown::Both);
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
            self.shared.flush(false)?;
            self.read()?;
        }
    }

    /// One read from the socket into the connection, bounded by the caller's timeout
    /// and by the codec's next timer (a close waiting for its answer).
    fn read(&mut self) -> Result<(), Error> {
        let timer = self.shared.conn().poll_timeout().map(|at| {
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
            Ok(0) => Err(Error::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the TCP connection without a close frame",
            ))),
            Ok(n) => {
                self.shared.conn().handle_input(&self.buf[..n]);
                Ok(())
            }
            // The codec's timer, not the caller's: the loop lets the codec act on it.
            Err(e) if is_timeout(&e) && timer.is_some() && wait == timer => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(Error::Io(e)),
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
    /// then [`Error::Closed`] once the server answers (or a timeout error after
    /// [`Config::close_timeout`](wisp_codec::Config::close_timeout)).
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.send(|c| c.send_close(code, reason))
    }

    /// The protocol state right now (it changes as the reader reads).
    pub fn state(&self) -> State {
        self.shared.conn().state()
    }
}
